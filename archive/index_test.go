package archive

import (
	"context"
	"fmt"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// TestSeekScansLittle checks that the index puts a Read within IndexEvery-1
// frames of the record it wants, so no Read scans a long log from the start.
func TestSeekScansLittle(t *testing.T) {
	const n = 100_000
	a, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := a.create(1)
	if err != nil {
		t.Fatal(err)
	}
	for seq := int64(1); seq <= n; seq += 1000 {
		batch := make([]gaffer.Record, 1000)
		for i := range batch {
			batch[i] = gaffer.Record{Seq: seq + int64(i), Host: "h", Stream: gaffer.Stdout, Data: fmt.Appendf(nil, "line %d", seq+int64(i))}
		}
		if err := w.Write(batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Complete(); err != nil {
		t.Fatal(err)
	}

	lf, err := a.open(1)
	if err != nil {
		t.Fatal(err)
	} else if want := int64((n + IndexEvery - 1) / IndexEvery); lf.entries != want {
		t.Fatalf("index has %d entries, want %d", lf.entries, want)
	}
	defer lf.close()
	for _, seq := range []int64{1, 2, 256, 257, 258, 50_000, 90_001, n, n + 1} {
		off, err := lf.seek(seq)
		if err != nil {
			t.Fatal(err)
		}
		r := newFrameReader(lf.log, off)
		skipped := 0
		for {
			f, ok, err := r.next()
			if err != nil {
				t.Fatal(err)
			} else if !ok || f.seq >= seq {
				break
			}
			skipped++
		}
		if skipped >= IndexEvery {
			t.Errorf("seek(%d) lands %d frames before it", seq, skipped)
		}
	}

	// And Read agrees.
	recs, _, err := a.Read(context.Background(), 1, 90_000, 2)
	if err != nil || len(recs) != 2 || recs[0].Seq != 90_001 {
		t.Fatalf("Read = %v, %v", recs, err)
	}
}
