package archive_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

// TestSearchTable searches an interleaved log with every kind of query.
func TestSearchTable(t *testing.T) {
	all := interleaved(20_000)
	// Text that a byte search could get wrong.
	extra := []string{"Kelvin \u212a and long \u017fign", "invalid \xff\xfe bytes", "MiXeD CaSe Error", "tab\tand\rcr"}
	for i, s := range extra {
		all[1000*i+3].Data = []byte(s)
	}
	a, _ := newArchive(t)
	writeLog(t, a, 1, all, true)
	tests := []struct {
		name string
		q    gaffer.SearchQuery
	}{
		{"literal", gaffer.SearchQuery{Pattern: "line 1234", Case: true}},
		{"literal without case", gaffer.SearchQuery{Pattern: "LINE 1234"}},
		{"literal, wrong case", gaffer.SearchQuery{Pattern: "LINE 1234", Case: true}},
		{"limit", gaffer.SearchQuery{Pattern: "web-2", Limit: 10}},
		{"after", gaffer.SearchQuery{Pattern: "web-2", After: 15_000, Limit: 10}},
		{"after the end", gaffer.SearchQuery{Pattern: "web-2", After: 30_000}},
		{"host filter", gaffer.SearchQuery{Pattern: "line 1", Filter: gaffer.LogFilter{Host: "db"}, Limit: 5}},
		{"rare host, after", gaffer.SearchQuery{Pattern: "line", Filter: gaffer.LogFilter{Host: "db"}, After: 12_000}},
		{"stream filter", gaffer.SearchQuery{Pattern: "9", Filter: gaffer.LogFilter{Stream: gaffer.System}}},
		{"regex", gaffer.SearchQuery{Pattern: `line 1\d{3}5$`, Regex: true, Case: true}},
		{"regex without case", gaffer.SearchQuery{Pattern: `(WEB|db)-?\d? STD`, Regex: true}},
		{"regex without literal", gaffer.SearchQuery{Pattern: `^\S+ \S+ line \d{2}$`, Regex: true}},
		{"kelvin sign matches k", gaffer.SearchQuery{Pattern: "kelvin k"}},
		{"long s matches s", gaffer.SearchQuery{Pattern: "SIGN"}},
		{"U+FFFD matches invalid bytes", gaffer.SearchQuery{Pattern: "invalid \ufffd\ufffd", Case: true}},
		{"mixed case", gaffer.SearchQuery{Pattern: "mixed case error"}},
		{"control bytes", gaffer.SearchQuery{Pattern: "\tand\r", Case: true}},
		{"nothing", gaffer.SearchQuery{Pattern: "no such text"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []gaffer.Record
			res, err := a.Search(ctx, 1, tt.q, func(r *gaffer.Record) error {
				got = append(got, *r)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want, wantRes := modelSearch(all, tt.q)
			if !slices.EqualFunc(got, want, sameRecord) || res.Matches != wantRes.Matches || res.Done != wantRes.Done {
				t.Fatalf("Search = %s %+v, want %s %+v", seqs(got), res, seqs(want), wantRes)
			} else if !res.Done && res.ScannedTo != wantRes.ScannedTo || res.Done && res.ScannedTo < wantRes.ScannedTo {
				t.Fatalf("scanned to %d, want %d", res.ScannedTo, wantRes.ScannedTo)
			}
		})
	}
}

// TestSearchTimeout: a search that runs out of time stops with Done false
// and says how far it got; going on from there finds the rest.
func TestSearchTimeout(t *testing.T) {
	all := interleaved(50_000)
	a, _ := newArchive(t)
	writeLog(t, a, 1, all, true)
	defer func(d time.Duration) { archive.SearchTimeout = d }(archive.SearchTimeout)
	archive.SearchTimeout = 0
	var got []gaffer.Record
	q := gaffer.SearchQuery{Pattern: "line 4"}
	for rounds := 0; ; rounds++ {
		res, err := a.Search(ctx, 1, q, func(r *gaffer.Record) error {
			got = append(got, *r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Done {
			t.Logf("%d rounds", rounds)
			break
		}
		if res.ScannedTo < q.After || rounds > 1000 {
			t.Fatalf("round %d: scanned to %d after %d", rounds, res.ScannedTo, q.After)
		}
		q.After = res.ScannedTo
		archive.SearchTimeout = time.Millisecond
	}
	want, _ := modelSearch(all, gaffer.SearchQuery{Pattern: "line 4", Limit: gaffer.MaxSearchLimit})
	if !slices.EqualFunc(got, want, sameRecord) {
		t.Fatalf("found %s, want %s", seqs(got), seqs(want))
	}
}

// FuzzSearch checks Search against the regexp over each record, on any
// records and any pattern: the literal prefilter never loses a match.
func FuzzSearch(f *testing.F) {
	f.Add([]byte("hello\nworld\nHELLO there\n"), "hello", false, false, uint8(0))
	f.Add([]byte("Kelvin \u212a\nlong \u017f\nbad \xff\n"), "k", false, false, uint8(1))
	f.Add([]byte("a\x00b\nab\n"), `a.?b`, true, true, uint8(2))
	f.Add([]byte("x\ufffdy\nx\xffy\n"), "x\ufffdy", false, true, uint8(0))
	f.Add([]byte("error: 42\nERROR 7\n"), `(?i)error:? \d+`, true, false, uint8(3))
	f.Fuzz(func(t *testing.T, input []byte, pattern string, regex, caseSens bool, hostBits uint8) {
		q := gaffer.SearchQuery{Pattern: pattern, Regex: regex, Case: caseSens, Limit: gaffer.MaxSearchLimit}
		if _, err := q.Compile(); err != nil {
			return
		}
		var all []gaffer.Record
		for i, l := range bytes.Split(input, []byte("\n")) {
			all = append(all, gaffer.Record{Seq: int64(i + 1), TS: t0, Host: fmt.Sprintf("h%d", (int(hostBits)>>(i%8))&1), Stream: gaffer.Stdout, Data: l, NL: true})
		}
		a, _ := newArchive(t)
		writeLog(t, a, 1, all, true)
		for _, fl := range []gaffer.LogFilter{{}, {Host: "h1"}} {
			q.Filter = fl
			var got []gaffer.Record
			if _, err := a.Search(ctx, 1, q, func(r *gaffer.Record) error {
				got = append(got, *r)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if want, _ := modelSearch(all, q); !slices.EqualFunc(got, want, sameRecord) {
				t.Fatalf("Search(%+v) = %s, want %s", q, seqs(got), seqs(want))
			}
		}
	})
}

// TestSearchBigRecords searches records larger than a search's chunk
// buffers, between small ones, with matches at their ends.
func TestSearchBigRecords(t *testing.T) {
	var all []gaffer.Record
	// Slow under the race detector: no time bound.
	defer func(d time.Duration) { archive.SearchTimeout = d }(archive.SearchTimeout)
	archive.SearchTimeout = time.Hour
	for i, size := range []int{10, 300 << 10, 20, 2<<20 + 5, 5, 100, 1} {
		data := bytes.Repeat([]byte("x"), size)
		copy(data[size-1:], "N")
		copy(data, "n")
		all = append(all, gaffer.Record{Seq: int64(i + 1), TS: t0, Host: "h", Stream: gaffer.Stdout, Data: data, NL: true})
	}
	a, _ := newArchive(t)
	writeLog(t, a, 1, all, true)
	for _, q := range []gaffer.SearchQuery{{Pattern: "xN"}, {Pattern: "nx", Case: true}} {
		var got []gaffer.Record
		if _, err := a.Search(ctx, 1, q, func(r *gaffer.Record) error {
			got = append(got, *r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if want, _ := modelSearch(all, q); !slices.EqualFunc(got, want, sameRecord) {
			t.Fatalf("Search(%q) = %s, want %s", q.Pattern, seqs(got), seqs(want))
		}
	}
}
