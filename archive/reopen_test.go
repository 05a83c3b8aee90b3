package archive_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

// TestReopen: a partial log, damaged as a kill -9 leaves one, is reopened,
// written on with the seqs that follow its last whole record, and
// completed: every reader (plain, filtered, summary) sees one log.
func TestReopen(t *testing.T) {
	const n, more = 1000, 700
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   int // records left before the new ones
	}{
		{"whole", func(t *testing.T, dir string) {}, n},
		{"torn tail", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "6.log.partial")
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			truncate(t, p, fi.Size()-3)
		}, n - 1},
		{"garbage after the tail", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, "6.log.partial"), []byte("\x10\x00\x00\x00junkjunkjunk"))
		}, n},
		{"no indexes", func(t *testing.T, dir string) {
			for _, f := range []string{"6.idx.partial", "6.sdx.partial"} {
				if err := os.Remove(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
		}, n},
		{"torn indexes", func(t *testing.T, dir string) {
			for _, f := range []string{"6.idx.partial", "6.sdx.partial"} {
				p := filepath.Join(dir, f)
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				truncate(t, p, fi.Size()-5)
			}
		}, n},
		{"torn magic", func(t *testing.T, dir string) { truncate(t, filepath.Join(dir, "6.log.partial"), 5) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, dir := newArchive(t)
			writeNumbered(t, a, 6, n, false)
			tt.damage(t, dir)
			w, last, err := a.Reopen(ctx, 6)
			if err != nil {
				t.Fatal(err)
			}
			if last != int64(tt.want) {
				t.Fatalf("last seq %d, want %d", last, tt.want)
			}
			// Readable as it is before anything is written.
			assertNumbered(t, readSome(t, a, 6, 0, 5000), 1, tt.want)
			if err := w.Write(numberedRange(last, 1)); gaffer.ErrorCode(err) != gaffer.EINVALID {
				t.Fatalf("a seq already written: %v, want EINVALID", err)
			}
			for seq := last + 1; seq <= last+more; seq += 300 {
				if err := w.Write(numberedRange(seq, int(min(300, last+more-seq+1)))); err != nil {
					t.Fatal(err)
				}
			}
			total := tt.want + more
			// Partial and written on: readers see every record.
			assertNumbered(t, readSome(t, a, 6, 0, 5000), 1, total)
			if err := w.Complete(); err != nil {
				t.Fatal(err)
			}
			assertFiles(t, dir, "6.idx", "6.log", "6.sdx")
			for _, after := range []int64{0, 255, 256, int64(tt.want) - 1, int64(tt.want), int64(total) - 1} {
				after = max(after, 0)
				assertNumbered(t, readAll(t, a, 6, after), after+1, total-int(after))
			}
			// The stream index goes on where the rebuilt one ended.
			got, _, err := a.ReadRange(ctx, 6, gaffer.LogRange{Filter: gaffer.LogFilter{Host: "host-1"}, Limit: 5000})
			if err != nil {
				t.Fatal(err)
			}
			var want []gaffer.Record
			for seq := int64(1); seq <= int64(total); seq++ {
				if r := numbered(seq); r.Host == "host-1" {
					want = append(want, r)
				}
			}
			assertRecords(t, got, want)
			sum, err := a.Summary(ctx, 6)
			if err != nil {
				t.Fatal(err)
			}
			var recs int64
			for _, s := range sum.Streams {
				recs += s.Records
			}
			if recs != int64(total) || sum.LastSeq != int64(total) || !sum.Complete {
				t.Fatalf("summary %+v: %d records, want %d, complete", sum, recs, total)
			}
		})
	}
}

// TestReopenRefused: a complete log, none, and a segmented one (a job
// with a retention) are not reopened, and the segmented one is left as
// it was.
func TestReopenRefused(t *testing.T) {
	a, dir := newArchive(t)
	writeNumbered(t, a, 1, 10, true)
	if _, _, err := a.Reopen(ctx, 1); gaffer.ErrorCode(err) != gaffer.ECONFLICT {
		t.Fatalf("complete log: %v, want ECONFLICT", err)
	}
	if _, _, err := a.Reopen(ctx, 2); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("no log: %v, want ENOTFOUND", err)
	}
	w, err := a.CreateRetained(ctx, 3, gaffer.Retention{Bytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(numberedRange(1, 10)); err != nil {
		t.Fatal(err)
	}
	finish(t, w, false)
	if _, _, err := a.Reopen(ctx, 3); gaffer.ErrorCode(err) != gaffer.EINVALID {
		t.Fatalf("segmented log: %v, want EINVALID", err)
	}
	assertNumbered(t, readSome(t, a, 3, 0, 100), 1, 10)
	assertFiles(t, dir, "1.idx", "1.log", "1.sdx", "3.idx.partial", "3.log.partial", "3.sdx.partial", "3.seg")
}

// readSome reads a log that may have no end yet, until it has no more.
func readSome(t *testing.T, a *archive.Archive, jobID, after int64, limit int) []gaffer.Record {
	t.Helper()
	var all []gaffer.Record
	for {
		recs, _, err := a.Read(ctx, jobID, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return all
		}
		all = append(all, recs...)
		after = recs[len(recs)-1].Seq
	}
}
