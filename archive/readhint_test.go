package archive_test

import (
	"reflect"
	"testing"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

// readAllPages reads job 1 from after 0 to its end in pages of limit,
// returning each page and its end flag.
func readAllPages(t *testing.T, a *archive.Archive, limit int) ([][]gaffer.Record, []bool) {
	t.Helper()
	var pages [][]gaffer.Record
	var ends []bool
	var after int64
	for i := 0; ; i++ {
		got, end, err := a.Read(ctx, 1, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		pages, ends = append(pages, got), append(ends, end)
		if len(got) == 0 || end {
			return pages, ends
		}
		after = got[len(got)-1].Seq
		if i > 1_000_000 {
			t.Fatal("no end")
		}
	}
}

// A log read from start to end, each read going on where the last left off
// (through the hints), gives exactly the pages that reads searching the
// index each time give: on consecutive and on sparse seqs, with limits
// that end reads inside frames and at their ends.
func TestReadHintsGiveTheSamePages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sparse bool
		n      int
		limit  int
	}{
		{"consecutive, limit 1000", false, 60_000, 1000},
		{"consecutive, limit 7", false, 6_000, 7},
		{"consecutive, limit 1024", false, 60_000, 1024},
		{"sparse, limit 333", true, 60_000, 333},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, dir := newArchive(t)
			n := tc.n
			if tc.sparse {
				recs := make([]gaffer.Record, n)
				for i := range recs {
					recs[i] = numbered(int64(i+1) * 3)
				}
				writeLog(t, a, 1, recs, true)
			} else {
				writeNumbered(t, a, 1, n, true)
			}
			hinted, hintedEnds := readAllPages(t, a, tc.limit)
			// The same pages, each read searching the index: a fresh
			// archive on the same files per read has no hints.
			var after int64
			for i, page := range hinted {
				fresh, err := archive.Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				want, end, err := fresh.Read(ctx, 1, after, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(page, want) || end != hintedEnds[i] {
					t.Fatalf("read %d (after %d): %d records end %v through hints, %d end %v searching", i, after, len(page), hintedEnds[i], len(want), end)
				}
				if len(page) > 0 {
					after = page[len(page)-1].Seq
				}
			}
			total := 0
			for _, p := range hinted {
				total += len(p)
			}
			if total != n {
				t.Fatalf("%d records read, want %d", total, n)
			}
		})
	}
}

// A hint that does not point at the frame holding the seq (the header, the
// middle of a frame, another frame, past the end) costs a search, not a
// wrong answer.
func TestReadHintWrongIsIgnored(t *testing.T) {
	a, dir := newArchive(t)
	writeNumbered(t, a, 1, 20_000, true)
	fresh, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []int64{0, 1, 999, 5000, 19_999} {
		want, wantEnd, err := fresh.Read(ctx, 1, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range []int64{0, 3, 8, 100, 12_345, 1 << 40} {
			archive.PlantReadHint(a, 1, after+1, off)
			got, end, err := a.Read(ctx, 1, after, 500)
			if err != nil {
				t.Fatalf("after %d, hint at %d: %v", after, off, err)
			}
			if !reflect.DeepEqual(got, want) || end != wantEnd {
				t.Fatalf("after %d, hint at %d: %d records end %v, want %d end %v", after, off, len(got), end, len(want), wantEnd)
			}
		}
	}
}
