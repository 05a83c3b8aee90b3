package archive

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// TestSeekScansLittle checks that the index puts a Read within IndexEvery-1
// records of the record it wants, plus those before its index entry's
// record in the same frame (fewer than maxBatchRecords), so no Read scans
// a long log from the start: with a frame per record (each its own time)
// and with batch frames (records that share their time).
func TestSeekScansLittle(t *testing.T) {
	const n = 100_000
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			a := writeComplete(t, n, 1000, func(s int64) gaffer.Record {
				r := gaffer.Record{Seq: s, Host: "h", Stream: gaffer.Stdout, Data: fmt.Appendf(nil, "line %d", s)}
				if !batched {
					r.TS = t0.Add(time.Duration(s))
				}
				return r
			})

			lf, err := a.open(1)
			if err != nil {
				t.Fatal(err)
			} else if want := int64((n + IndexEvery - 1) / IndexEvery); lf.entries != want {
				t.Fatalf("index has %d entries, want %d", lf.entries, want)
			}
			defer lf.close()
			bound := IndexEvery - 1
			if batched {
				bound += maxBatchRecords - 1
			}
			for _, seq := range []int64{1, 2, 256, 257, 258, 50_000, 90_001, n, n + 1} {
				off, err := lf.seek(seq)
				if err != nil {
					t.Fatal(err)
				}
				r := newFrameReader(lf.log, off)
				frames, skipped := 0, 0
				for {
					b, ok, err := r.nextBlock()
					if err != nil {
						t.Fatal(err)
					} else if !ok || b.last() >= seq {
						if ok && seq > b.seq {
							skipped += int(seq - b.seq)
						}
						break
					}
					frames++
					skipped += b.n
				}
				if frames >= IndexEvery || skipped > bound {
					t.Errorf("seek(%d) lands %d records (%d frames) before it, want at most %d", seq, skipped, frames, bound)
				}
			}

			// And Read agrees.
			recs, _, err := a.Read(context.Background(), 1, 90_000, 2)
			if err != nil || len(recs) != 2 || recs[0].Seq != 90_001 || string(recs[1].Data) != "line 90002" {
				t.Fatalf("Read = %v, %v", recs, err)
			}
		})
	}
}

// writeComplete writes records 1..n, made by rec, as job 1's complete log in
// a new archive, batch records to a Write, and returns the archive.
func writeComplete(t *testing.T, n, batch int64, rec func(seq int64) gaffer.Record) *Archive {
	t.Helper()
	a, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := a.create(1)
	if err != nil {
		t.Fatal(err)
	}
	for seq := int64(1); seq <= n; seq += batch {
		recs := make([]gaffer.Record, 0, batch)
		for s := seq; s < seq+batch && s <= n; s++ {
			recs = append(recs, rec(s))
		}
		if err := w.Write(recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Complete(); err != nil {
		t.Fatal(err)
	}
	return a
}
