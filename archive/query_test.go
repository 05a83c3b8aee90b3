package archive_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
)

var t0 = time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)

// interleaved is a log of three hosts: web-1 busy on stdout, web-2 on
// stderr every 7th record, db rare (every 1000th), and system lines.
func interleaved(n int) []gaffer.Record {
	recs := make([]gaffer.Record, n)
	for i := range recs {
		seq := int64(i + 1)
		r := gaffer.Record{Seq: seq, TS: t0.Add(time.Duration(seq) * time.Millisecond), Host: "web-1", Stream: gaffer.Stdout, NL: true}
		switch {
		case seq%1000 == 500:
			r.Host = "db"
		case seq%7 == 0:
			r.Host, r.Stream = "web-2", gaffer.Stderr
		case seq%401 == 0:
			r.Host, r.Stream = "", gaffer.System
		}
		r.Data = fmt.Appendf(nil, "%s %s line %d", r.Host, r.Stream, seq)
		recs[i] = r
	}
	return recs
}

// TestReadRangeTable reads an interleaved log by every kind of range.
func TestReadRangeTable(t *testing.T) {
	const n = 20_000
	a, _ := newArchive(t)
	all := interleaved(n)
	writeLog(t, a, 1, all, true)
	web2 := gaffer.LogFilter{Host: "web-2"}
	db := gaffer.LogFilter{Host: "db"}
	stderr := gaffer.LogFilter{Stream: gaffer.Stderr}
	sys := gaffer.LogFilter{Stream: gaffer.System}
	tests := []struct {
		name string
		r    gaffer.LogRange
	}{
		{"first", gaffer.LogRange{Limit: 10}},
		{"middle", gaffer.LogRange{After: 9000, Limit: 10}},
		{"past the end", gaffer.LogRange{After: n + 5, Limit: 10}},
		{"tail", gaffer.LogRange{Before: gaffer.TailSeq, Limit: 10}},
		{"tail default", gaffer.LogRange{Before: gaffer.TailSeq}},
		{"before", gaffer.LogRange{Before: 5000, Limit: 300}},
		{"before the start", gaffer.LogRange{Before: 3, Limit: 10}},
		{"before 1", gaffer.LogRange{Before: 1, Limit: 10}},
		{"host forward", gaffer.LogRange{Filter: web2, After: 100, Limit: 50}},
		{"host tail", gaffer.LogRange{Filter: web2, Before: gaffer.TailSeq, Limit: 50}},
		{"rare host forward", gaffer.LogRange{Filter: db, After: 10_600, Limit: 3}},
		{"rare host back", gaffer.LogRange{Filter: db, Before: 10_500, Limit: 4}},
		{"rare host tail", gaffer.LogRange{Filter: db, Before: gaffer.TailSeq, Limit: 100}},
		{"rare host, none after", gaffer.LogRange{Filter: db, After: 19_500, Limit: 3}},
		{"stream forward", gaffer.LogRange{Filter: stderr, After: 7, Limit: 20}},
		{"stream back", gaffer.LogRange{Filter: sys, Before: 2000, Limit: 20}},
		{"host and stream", gaffer.LogRange{Filter: gaffer.LogFilter{Host: "web-1", Stream: gaffer.Stdout}, Before: 15_000, Limit: 700}},
		{"no such host", gaffer.LogRange{Filter: gaffer.LogFilter{Host: "nope"}, Limit: 10}},
		{"no such host back", gaffer.LogRange{Filter: gaffer.LogFilter{Host: "nope"}, Before: gaffer.TailSeq, Limit: 10}},
		{"host of another stream", gaffer.LogRange{Filter: gaffer.LogFilter{Host: "db", Stream: gaffer.Stderr}, Limit: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, end, err := a.ReadRange(ctx, 1, tt.r)
			if err != nil {
				t.Fatal(err)
			}
			want, wantEnd := modelRange(all, true, tt.r)
			assertRecords(t, got, want)
			if end != wantEnd {
				t.Fatalf("end = %v, want %v", end, wantEnd)
			}
		})
	}
}

// modelRange is ReadRange done naively over the whole log.
func modelRange(all []gaffer.Record, complete bool, r gaffer.LogRange) ([]gaffer.Record, bool) {
	limit := r.Limit
	if limit <= 0 {
		limit = archive.DefaultReadLimit
	}
	var sel []gaffer.Record
	for _, rec := range all {
		if r.Filter.Match(&rec) {
			sel = append(sel, rec)
		}
	}
	if r.Before > 0 {
		i := len(sel)
		for i > 0 && sel[i-1].Seq >= r.Before {
			i--
		}
		j, size := i, 0
		for j > 0 && i-j < limit && size < gaffer.MaxReadBytes {
			j--
			size += sel[j].Size()
		}
		return sel[j:i], complete && i == len(sel)
	}
	i := 0
	for i < len(sel) && sel[i].Seq <= r.After {
		i++
	}
	j, size := i, 0
	for j < len(sel) && j-i < limit && size < gaffer.MaxReadBytes {
		size += sel[j].Size()
		j++
	}
	return sel[i:j], complete && j == len(sel)
}

func modelSeqAt(all []gaffer.Record, t time.Time) int64 {
	for _, r := range all {
		if !r.TS.IsZero() && !r.TS.Before(t) {
			return r.Seq
		}
	}
	if len(all) == 0 {
		return 1
	}
	return all[len(all)-1].Seq + 1
}

func modelSummary(all []gaffer.Record, complete bool) *gaffer.LogSummary {
	s := &gaffer.LogSummary{Complete: complete, Streams: []gaffer.StreamSummary{}}
	counts := map[[3]string]*gaffer.StreamSummary{}
	for _, r := range all {
		k := [3]string{r.Host, string(r.Stream), r.File}
		c := counts[k]
		if c == nil {
			c = &gaffer.StreamSummary{Host: r.Host, Stream: r.Stream, File: r.File}
			counts[k] = c
		}
		c.Records++
		c.Bytes += int64(len(r.Data))
	}
	for _, c := range counts {
		s.Streams = append(s.Streams, *c)
	}
	slices.SortFunc(s.Streams, func(x, y gaffer.StreamSummary) int {
		if c := strings.Compare(x.Host, y.Host); c != 0 {
			return c
		} else if c := strings.Compare(string(x.Stream), string(y.Stream)); c != 0 {
			return c
		}
		return strings.Compare(x.File, y.File)
	})
	if len(all) > 0 {
		s.LastSeq = all[len(all)-1].Seq
		if ts := all[0].TS; !ts.IsZero() {
			s.FirstTS = &ts
		}
		if ts := all[len(all)-1].TS; !ts.IsZero() {
			s.LastTS = &ts
		}
	}
	return s
}

func modelSearch(all []gaffer.Record, q gaffer.SearchQuery) ([]gaffer.Record, gaffer.SearchResult) {
	re, err := q.Compile()
	if err != nil {
		panic(err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = gaffer.DefaultSearchLimit
	}
	res := gaffer.SearchResult{ScannedTo: max(q.After, 0), Done: true}
	var out []gaffer.Record
	for _, r := range all {
		if r.Seq <= q.After || !q.Filter.Match(&r) || !re.Match(r.Data) {
			continue
		}
		out = append(out, r)
		res.ScannedTo = r.Seq
		if len(out) == limit {
			res.Done = false // stopped at the limit, whatever follows
			break
		}
	}
	res.Matches = len(out)
	return out, res
}

func sameSummary(a, b *gaffer.LogSummary) bool {
	ts := func(t *time.Time) string {
		if t == nil {
			return "nil"
		}
		return t.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(a.LastSeq, a.Complete, ts(a.FirstTS), ts(a.LastTS), a.Streams) ==
		fmt.Sprint(b.LastSeq, b.Complete, ts(b.FirstTS), ts(b.LastTS), b.Streams)
}

// randomLog makes a log of hosts whose shares differ a lot: some busy,
// some rare, in bursts.
func randomLog(rnd *rand.Rand, n int, sparse bool) []gaffer.Record {
	nhosts := 1 + rnd.IntN(5)
	weights := make([]float64, nhosts)
	for i := range weights {
		weights[i] = []float64{1, 0.2, 0.01, 0.001}[rnd.IntN(4)]
	}
	streams := []gaffer.Stream{gaffer.Stdout, gaffer.Stderr, gaffer.System}
	recs := make([]gaffer.Record, 0, n)
	seq := int64(0)
	ts := t0
	host, stream := 0, gaffer.Stdout
	for range n {
		seq++
		if sparse {
			seq += rnd.Int64N(3)
		}
		ts = ts.Add(time.Duration(rnd.IntN(3)) * time.Millisecond)
		if rnd.IntN(20) == 0 { // a burst of one host ends
			var sum float64
			for _, w := range weights {
				sum += w
			}
			x := rnd.Float64() * sum
			for host = 0; host < nhosts-1 && x > weights[host]; host++ {
				x -= weights[host]
			}
			stream = streams[rnd.IntN(len(streams))]
		}
		h, s := fmt.Sprintf("h%d", host), stream
		if rnd.IntN(10) == 0 {
			h, s = fmt.Sprintf("h%d", rnd.IntN(nhosts)), streams[rnd.IntN(3)]
		}
		data := fmt.Appendf(nil, "%s %s %d %x", h, s, seq, rnd.Uint32())
		if rnd.IntN(50) == 0 {
			data = append(data, bytes.Repeat([]byte("Needle"), rnd.IntN(2000))...)
		}
		rec := gaffer.Record{Seq: seq, TS: ts, Host: h, Stream: s, Data: data, NL: rnd.IntN(9) > 0}
		if s == gaffer.Stdout && (h == "h0" || h == "h1") {
			// Followed files: a busy one and a rare one, in every stream of
			// their host's stdout.
			rec.File = "/var/log/a.log"
			if rnd.IntN(30) == 0 {
				rec.File = "/var/log/b.log"
			}
		}
		recs = append(recs, rec)
	}
	return recs
}

// TestQueriesModel compares every query with a naive model over the whole
// log, on many random logs: complete, partial, torn, without stream index.
func TestQueriesModel(t *testing.T) {
	rnd := rand.New(rand.NewPCG(8, 8))
	for i := range 40 {
		n := []int{0, 1, 5, 300, 3000, 12_000}[rnd.IntN(6)]
		all := randomLog(rnd, n, rnd.IntN(5) == 0)
		if i%2 == 1 {
			all = batched(all) // batch frames
		}
		complete := rnd.IntN(2) == 0
		damage := []string{"none", "torn data", "no sdx", "torn sdx", "no idx"}[rnd.IntN(5)]
		name := fmt.Sprintf("%d/n=%d/batched=%v/complete=%v/%s", i, n, i%2 == 1, complete, damage)
		t.Run(name, func(t *testing.T) {
			a, dir := newArchive(t)
			w, err := a.Create(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			for rest := all; len(rest) > 0; {
				k := min(len(rest), 1+rnd.IntN(400))
				if err := w.Write(rest[:k]); err != nil {
					t.Fatal(err)
				}
				rest = rest[k:]
			}
			finish(t, w, complete)
			suffix := ""
			if !complete {
				suffix = ".partial"
			}
			switch damage {
			case "torn data":
				if !complete && n > 0 {
					p := filepath.Join(dir, "1.log"+suffix)
					fi, _ := os.Stat(p)
					truncate(t, p, fi.Size()-1-rnd.Int64N(min(fi.Size()-8, 5000)))
					all = readValid(t, a, 1)
				}
			case "no sdx":
				os.Remove(filepath.Join(dir, "1.sdx"+suffix))
			case "torn sdx":
				p := filepath.Join(dir, "1.sdx"+suffix)
				fi, _ := os.Stat(p)
				truncate(t, p, rnd.Int64N(fi.Size()+1))
			case "no idx":
				os.Remove(filepath.Join(dir, "1.idx"+suffix))
			}
			checkModel(t, rnd, a, all, complete, true)
			if !complete {
				// Sealed after a crash: complete, with indexes rebuilt.
				if err := a.Seal(ctx, 1); err != nil {
					t.Fatal(err)
				}
				checkModel(t, rnd, a, all, true, true)
			}
		})
	}
}

// TestStreamIndexV1: a stream index written before records had files
// (its names have none) still serves host and stream filters; a file
// filter scans, and every query answers as the model. Its summary counts
// streams without files, as such a log's records have none.
func TestStreamIndexV1(t *testing.T) {
	rnd := rand.New(rand.NewPCG(10, 1))
	a, _ := newArchive(t)
	all := randomLog(rnd, 5000, false)
	writeLog(t, a, 1, all, true)
	if err := archive.WriteIndexV1(a, 1); err != nil {
		t.Fatal(err)
	}
	checkModel(t, rnd, a, all, true, false)
}

// checkModel runs random queries of every kind against the model; files
// says whether the summary counts files apart.
func checkModel(t *testing.T, rnd *rand.Rand, a *archive.Archive, all []gaffer.Record, complete, files bool) {
	t.Helper()
	last := int64(0)
	if len(all) > 0 {
		last = all[len(all)-1].Seq
	}
	filters := []gaffer.LogFilter{{}, {Host: "h0"}, {Host: "h1"}, {Host: "h3"}, {Stream: gaffer.Stderr},
		{Host: "h2", Stream: gaffer.System}, {Host: "zz"},
		{File: "/var/log/a.log"}, {File: "/var/log/b.log"}, {Host: "h1", File: "/var/log/b.log"},
		{Host: "h0", Stream: gaffer.Stdout, File: "/var/log/a.log"}, {Host: "h2", File: "/var/log/a.log"}, {File: "/nope"}}
	for range 40 {
		r := gaffer.LogRange{Filter: filters[rnd.IntN(len(filters))], Limit: []int{0, 1, 3, 50, 1000}[rnd.IntN(5)]}
		switch rnd.IntN(3) {
		case 0:
			r.After = rnd.Int64N(last+3) - 1
		case 1:
			r.Before = 1 + rnd.Int64N(last+3)
		case 2:
			r.Before = gaffer.TailSeq
		}
		got, end, err := a.ReadRange(ctx, 1, r)
		if err != nil {
			t.Fatalf("ReadRange(%+v): %v", r, err)
		}
		want, wantEnd := modelRange(all, complete, r)
		if !slices.EqualFunc(got, want, sameRecord) || end != wantEnd {
			t.Fatalf("ReadRange(%+v) = %d records %v, end %v; want %d %v, %v", r, len(got), seqs(got), end, len(want), seqs(want), wantEnd)
		}
	}
	for range 10 {
		at := t0.Add(time.Duration(rnd.Int64N(int64(len(all)+10))) * time.Millisecond)
		got, err := a.SeqAt(ctx, 1, at)
		if err != nil {
			t.Fatal(err)
		} else if want := modelSeqAt(all, at); got != want {
			t.Fatalf("SeqAt(%v) = %d, want %d", at, got, want)
		}
	}
	sum, err := a.Summary(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	counted := all
	if !files {
		counted = slices.Clone(all)
		for i := range counted {
			counted[i].File = ""
		}
	}
	if want := modelSummary(counted, complete); !sameSummary(sum, want) {
		t.Fatalf("Summary = %+v, want %+v", sum, want)
	}
	for range 10 {
		q := gaffer.SearchQuery{
			Pattern: []string{"needle", "Needle", "h1 std", "nothing", `\d7 `, "(?i)H0.*e", "1"}[rnd.IntN(7)],
			Filter:  filters[rnd.IntN(len(filters))],
			After:   rnd.Int64N(last+2) - 1,
			Limit:   []int{0, 1, 5}[rnd.IntN(3)],
			Case:    rnd.IntN(2) == 0,
		}
		q.Regex = strings.ContainsAny(q.Pattern, `\(`)
		var got []gaffer.Record
		res, err := a.Search(ctx, 1, q, func(r *gaffer.Record) error {
			got = append(got, *r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want, wantRes := modelSearch(all, q)
		if !slices.EqualFunc(got, want, sameRecord) || res.Matches != wantRes.Matches || res.Done != wantRes.Done {
			t.Fatalf("Search(%+v) = %v %+v, want %v %+v", q, seqs(got), res, seqs(want), wantRes)
		}
		if res.ScannedTo < wantRes.ScannedTo || !res.Done && res.ScannedTo != wantRes.ScannedTo {
			t.Fatalf("Search(%+v) scanned to %d, want %d", q, res.ScannedTo, wantRes.ScannedTo)
		}
	}
}

// readValid reads what a partial log holds.
func readValid(t *testing.T, a *archive.Archive, jobID int64) []gaffer.Record {
	t.Helper()
	var all []gaffer.Record
	for after := int64(0); ; {
		got, _, err := a.Read(ctx, jobID, after, 0)
		if err != nil {
			t.Fatal(err)
		} else if len(got) == 0 {
			return all
		}
		all = append(all, got...)
		after = got[len(got)-1].Seq
	}
}

func seqs(recs []gaffer.Record) string {
	if len(recs) > 10 {
		return fmt.Sprint(seqs(recs[:5]), "…", seqs(recs[len(recs)-5:]))
	}
	var s []int64
	for _, r := range recs {
		s = append(s, r.Seq)
	}
	return fmt.Sprint(s)
}

// TestQueriesNotFound: every query of a job without a log is ENOTFOUND,
// and a bad pattern EINVALID.
func TestQueriesNotFound(t *testing.T) {
	a, _ := newArchive(t)
	if _, _, err := a.ReadRange(ctx, 9, gaffer.LogRange{}); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("ReadRange: %v", err)
	} else if _, err := a.SeqAt(ctx, 9, t0); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("SeqAt: %v", err)
	} else if _, err := a.Summary(ctx, 9); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("Summary: %v", err)
	} else if _, err := a.Search(ctx, 9, gaffer.SearchQuery{Pattern: "x"}, nil); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("Search: %v", err)
	}
	writeLog(t, a, 1, interleaved(10), true)
	if _, err := a.Search(ctx, 1, gaffer.SearchQuery{Pattern: "(", Regex: true}, nil); gaffer.ErrorCode(err) != gaffer.EINVALID {
		t.Fatalf("Search of a bad pattern: %v", err)
	}
	errStop := errors.New("stop")
	if _, err := a.Search(ctx, 1, gaffer.SearchQuery{Pattern: "line"}, func(*gaffer.Record) error { return errStop }); !errors.Is(err, errStop) {
		t.Fatalf("Search with a failing emit: %v", err)
	}
}

// TestSeqAtTable looks up times in an interleaved log (1 ms apart), an
// empty one, and one whose TS go back a little now and then.
func TestSeqAtTable(t *testing.T) {
	a, _ := newArchive(t)
	all := interleaved(20_000)
	writeLog(t, a, 1, all, true)
	writeLog(t, a, 2, nil, true)
	ms := func(n int64) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		name string
		job  int64
		at   time.Time
		want int64
	}{
		{"long before", 1, t0.Add(-time.Hour), 1},
		{"the first", 1, ms(1), 1},
		{"between two", 1, ms(5000).Add(-time.Microsecond), 5000},
		{"exactly", 1, ms(12_345), 12_345},
		{"the last", 1, ms(20_000), 20_000},
		{"after the last", 1, ms(20_000).Add(1), 20_001},
		{"zero time", 1, time.Time{}, 1},
		{"empty log", 2, t0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := a.SeqAt(ctx, tt.job, tt.at); err != nil {
				t.Fatal(err)
			} else if got != tt.want {
				t.Fatalf("SeqAt(%v) = %d, want %d", tt.at, got, tt.want)
			}
		})
	}

	// Out of order by up to 5 ms: the answer is a record stamped at or
	// after t, and every record more than 5 ms older is before it.
	jit := interleaved(5000)
	for i := range jit {
		if i%10 == 3 {
			jit[i].TS = jit[i].TS.Add(-5 * time.Millisecond)
		}
	}
	writeLog(t, a, 3, jit, true)
	for n := int64(0); n < 5010; n += 37 {
		got, err := a.SeqAt(ctx, 3, ms(n))
		if err != nil {
			t.Fatal(err)
		}
		if got <= 5000 && jit[got-1].TS.Before(ms(n)) {
			t.Fatalf("SeqAt(%d ms) = %d, stamped %v", n, got, jit[got-1].TS)
		}
		for _, r := range jit[got-1:] {
			if r.TS.Before(ms(n - 5)) {
				t.Fatalf("SeqAt(%d ms) = %d, but record %d stamped %v follows", n, got, r.Seq, r.TS)
			}
		}
	}
}

// TestSummaryTable describes logs: complete, partial (with records the
// stream index does not describe yet), empty, old ones without a stream
// index, and a log being written.
func TestSummaryTable(t *testing.T) {
	a, dir := newArchive(t)
	all := interleaved(10_000)
	writeLog(t, a, 1, all, true)
	writeLog(t, a, 2, all, false)
	writeLog(t, a, 3, nil, true)
	writeLog(t, a, 4, all, true)
	if err := os.Remove(filepath.Join(dir, "4.sdx")); err != nil {
		t.Fatal(err)
	}
	w, err := a.Create(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i, rec := range all[:777] { // one record a write, as a slow job writes
		if err := w.Write([]gaffer.Record{rec}); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			got, err := a.Summary(ctx, 5)
			if err != nil {
				t.Fatal(err)
			} else if want := modelSummary(all[:i+1], false); !sameSummary(got, want) {
				t.Fatalf("Summary after %d records = %+v, want %+v", i+1, got, want)
			}
			for _, r := range []gaffer.LogRange{
				{Filter: gaffer.LogFilter{Host: "db"}, Before: gaffer.TailSeq, Limit: 2},
				{Filter: gaffer.LogFilter{Host: "web-2"}, Before: gaffer.TailSeq, Limit: 5},
				{Filter: gaffer.LogFilter{Stream: gaffer.System}, After: 300, Limit: 5},
			} {
				got, end, err := a.ReadRange(ctx, 5, r)
				if err != nil {
					t.Fatal(err)
				} else if want, wantEnd := modelRange(all[:i+1], false, r); !slices.EqualFunc(got, want, sameRecord) || end != wantEnd {
					t.Fatalf("ReadRange(%+v) after %d records = %s, want %s", r, i+1, seqs(got), seqs(want))
				}
			}
		}
	}
	tests := []struct {
		name     string
		job      int64
		recs     []gaffer.Record
		complete bool
	}{
		{"complete", 1, all, true},
		{"partial", 2, all, false},
		{"empty", 3, nil, true},
		{"without stream index", 4, all, true},
		{"being written", 5, all[:777], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Summary(ctx, tt.job)
			if err != nil {
				t.Fatal(err)
			} else if want := modelSummary(tt.recs, tt.complete); !sameSummary(got, want) {
				t.Fatalf("Summary = %+v, want %+v", got, want)
			}
		})
	}
}

// TestQueriesWhileWriting runs every query while a writer appends, in
// one-record and larger writes: each answer is right for some prefix of
// the log at least as long as what was written before the query began.
func TestQueriesWhileWriting(t *testing.T) {
	all := interleaved(30_000)
	a, _ := newArchive(t)
	w, err := a.Create(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var written atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < len(all); {
			k := min(len(all)-i, 1+i%300)
			if err := w.Write(all[i : i+k]); err != nil {
				t.Error(err)
				return
			}
			i += k
			written.Store(int64(i))
		}
		if err := w.Complete(); err != nil {
			t.Error(err)
		}
	}()
	filters := []gaffer.LogFilter{{Host: "db"}, {Host: "web-2"}, {Stream: gaffer.System}, {}}
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				n := written.Load()
				r := gaffer.LogRange{Filter: filters[(i+g)%len(filters)], Before: gaffer.TailSeq, Limit: 5}
				if i%2 == 1 {
					r = gaffer.LogRange{Filter: r.Filter, After: n / 2, Limit: 5}
				}
				got, _, err := a.ReadRange(ctx, 1, r)
				if err != nil {
					t.Error(err)
					return
				}
				if want, _ := modelRange(all[:n], false, r); r.Before == 0 && len(got) < len(want) {
					t.Errorf("ReadRange(%+v) with %d written = %s, want at least %s", r, n, seqs(got), seqs(want))
					return
				}
				for _, rec := range got {
					if !sameRecord(rec, all[rec.Seq-1]) || !r.Filter.Match(&rec) {
						t.Errorf("ReadRange(%+v) returned %+v", r, rec)
						return
					}
				}
				sum, err := a.Summary(ctx, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if want := modelSummary(all[:sum.LastSeq], sum.Complete); sum.LastSeq < n || !sameSummary(sum, want) {
					t.Errorf("Summary with %d written = %+v, want %+v", n, sum, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	<-done
}
