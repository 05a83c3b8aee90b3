package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sse"
	"github.com/gaffer-dev/gaffer/web"
)

// fakeLog is job 1 with an in-memory log, answering the range queries the
// way gaffer.LogReader says, in pages of at most `page` records so that
// every multi-read path is taken.
type fakeLog struct {
	stubJobs
	hosts []string
	page  int

	mu      sync.Mutex
	recs    []gaffer.Record
	done    bool
	changed chan struct{}

	readLogRecs atomic.Int64 // records read through ReadLog
	linesReads  atomic.Int64 // ReadLogLines calls
	queries     atomic.Int64 // QueryLog calls
}

var logBase = time.Date(2026, 11, 25, 22, 0, 0, 0, time.UTC)

// fakeFiles are the files of the fake log's stdout records: a rare one
// whose name is hostile markup, and a busy one.
var fakeFiles = []string{"/var/log/<img src=x onerror=alert(1)>.log", "/var/log/app.log"}

// newFakeLog makes a log of n records over hosts web-1 and "we b/2", each
// host's records alternating stdout, stderr and now and then system; the
// stdout records come from two followed files, one of them rare.
func newFakeLog(n int, done bool) *fakeLog {
	f := &fakeLog{hosts: []string{"web-1", "we b/2"}, page: 97, changed: make(chan struct{})}
	f.add(n)
	f.done = done
	return f
}

// add appends n records.
func (f *fakeLog) add(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < n; i++ {
		seq := int64(len(f.recs) + 1)
		st := gaffer.Stdout
		switch {
		case seq%11 == 0:
			st = gaffer.System
		case seq%3 == 0:
			st = gaffer.Stderr
		}
		text := fmt.Sprintf("line %d", seq)
		if seq%50 == 0 {
			text = fmt.Sprintf("ERROR Disk %d", seq)
		}
		rec := gaffer.Record{Seq: seq, TS: logBase.Add(time.Duration(seq) * time.Millisecond),
			Host: f.hosts[int(seq/7)%len(f.hosts)], Stream: st, Data: []byte(text), NL: seq%13 != 0}
		if st == gaffer.Stdout {
			rec.File = fakeFiles[min(seq%17, 1)]
		}
		f.recs = append(f.recs, rec)
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeLog) finish() {
	f.mu.Lock()
	f.done = true
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeLog) all() []gaffer.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]gaffer.Record(nil), f.recs...)
}

func (f *fakeLog) Job(ctx context.Context, id int64) (*gaffer.Job, error) {
	if id != 1 {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "job %d does not exist", id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := gaffer.StatusRunning
	if f.done {
		st = gaffer.StatusSucceeded
	}
	j := &gaffer.Job{ID: 1, Command: "x", Status: st}
	for _, h := range f.hosts {
		j.Runs = append(j.Runs, &gaffer.Run{Host: h, Status: st})
	}
	return j, nil
}

// ReadLogLines reads as ReadLog does, into l (the foreman's way for a
// store that is no gaffer.LinesReader).
func (f *fakeLog) ReadLogLines(ctx context.Context, id, after int64, limit int, l *gaffer.Lines) (bool, error) {
	l.Reset()
	f.linesReads.Add(1)
	recs, end, err := f.ReadLog(ctx, id, after, limit, nil)
	if err == nil {
		l.AddRecords(recs)
	}
	return end, err
}

// ReadLog fills buf as the server's does, records and data, so that a
// reader keeping records past its next read would see them overwritten in
// these tests too.
func (f *fakeLog) ReadLog(ctx context.Context, id, after int64, limit int, buf *gaffer.ReadBuffer) ([]gaffer.Record, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if buf == nil {
		buf = new(gaffer.ReadBuffer)
	}
	out := buf.Recs[:0]
	buf.Data = buf.Data[:0]
	for _, r := range f.recs[min(int(after), len(f.recs)):] {
		if len(out) >= min(limit, f.page) {
			break
		}
		r.Data = buf.CopyData(r.Data)
		out = append(out, r)
	}
	buf.Recs = out
	f.readLogRecs.Add(int64(len(out)))
	last := after
	if len(out) > 0 {
		last = out[len(out)-1].Seq
	}
	return out, f.done && last >= int64(len(f.recs)), nil
}

func (f *fakeLog) WaitLog(ctx context.Context, id, after int64) error {
	f.mu.Lock()
	ch, ready := f.changed, f.done || int64(len(f.recs)) > after
	f.mu.Unlock()
	if ready {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeLog) RawLog(ctx context.Context, id int64, host string, stream gaffer.Stream, w io.Writer) error {
	if host == "" || stream == "" {
		return gaffer.Errorf(gaffer.EINVALID, "raw log without host or stream")
	}
	_, err := w.Write(rawBytes(f.all(), gaffer.LogFilter{Host: host, Stream: stream}))
	return err
}

func (f *fakeLog) QueryLog(ctx context.Context, id int64, r gaffer.LogRange) ([]gaffer.Record, bool, error) {
	f.queries.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	limit := r.Limit
	if limit <= 0 || limit > f.page {
		limit = f.page
	}
	var out []gaffer.Record
	if r.Before > 0 {
		for i := len(f.recs) - 1; i >= 0 && len(out) < limit; i-- {
			if f.recs[i].Seq < r.Before && r.Filter.Match(&f.recs[i]) {
				out = append(out, f.recs[i])
			}
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return out, false, nil
	}
	i := int(r.After)
	for ; i < len(f.recs) && len(out) < limit; i++ {
		if r.Filter.Match(&f.recs[i]) {
			out = append(out, f.recs[i])
		}
	}
	end := f.done
	for ; end && i < len(f.recs); i++ {
		end = !r.Filter.Match(&f.recs[i])
	}
	return out, end, nil
}

func (f *fakeLog) SeqAt(ctx context.Context, id int64, t time.Time) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.recs {
		if !r.TS.Before(t) {
			return r.Seq, nil
		}
	}
	return int64(len(f.recs)) + 1, nil
}

func (f *fakeLog) LogSummary(ctx context.Context, id int64) (*gaffer.LogSummary, error) {
	if _, err := f.Job(ctx, id); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &gaffer.LogSummary{LastSeq: int64(len(f.recs)), Complete: f.done, Streams: []gaffer.StreamSummary{}}
	return s, nil
}

func (f *fakeLog) SearchLog(ctx context.Context, id int64, q gaffer.SearchQuery, emit func(*gaffer.Record) error) (gaffer.SearchResult, error) {
	re, err := q.Compile()
	if err != nil {
		return gaffer.SearchResult{}, err
	}
	res := gaffer.SearchResult{ScannedTo: q.After, Done: true}
	limit := q.Limit
	if limit <= 0 {
		limit = gaffer.DefaultSearchLimit
	}
	for _, r := range f.all()[min(int(q.After), len(f.all())):] {
		res.ScannedTo = r.Seq
		if q.Filter.Match(&r) && re.Match(r.Data) {
			if err := emit(&r); err != nil {
				return res, err
			}
			if res.Matches++; res.Matches == limit {
				res.Done = r.Seq == int64(len(f.all()))
				return res, nil
			}
		}
	}
	return res, nil
}

// rawBytes is what the raw log of those records is.
func rawBytes(recs []gaffer.Record, f gaffer.LogFilter) []byte {
	var b []byte
	for _, r := range recs {
		if f.Match(&r) {
			b = append(b, r.Data...)
			if r.NL {
				b = append(b, '\n')
			}
		}
	}
	return b
}

func newLogServer(t *testing.T, jobs web.JobService) *httptest.Server {
	t.Helper()
	s, err := web.New(jobs, newAuth(token), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.PingInterval = 50 * time.Millisecond
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, path string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readNDJSON(t *testing.T, r io.Reader) []gaffer.Record {
	t.Helper()
	var recs []gaffer.Record
	dec := json.NewDecoder(r)
	for {
		var rec gaffer.Record
		if err := dec.Decode(&rec); err == io.EOF {
			return recs
		} else if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
}

// readSSE reads line events until `end` (or n lines, n >= 0).
func readSSE(t *testing.T, r *sse.Reader, n int) (recs []gaffer.Record, end bool) {
	t.Helper()
	for n < 0 || len(recs) < n {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("after %d lines: %v", len(recs), err)
		}
		switch ev.Type {
		case "line":
			var rec gaffer.Record
			if err := json.Unmarshal(ev.Data, &rec); err != nil {
				t.Fatal(err)
			}
			if ev.ID != fmt.Sprint(rec.Seq) {
				t.Fatalf("event id %q for seq %d", ev.ID, rec.Seq)
			}
			recs = append(recs, rec)
		case "lines":
			var err error
			k := len(recs)
			if recs, err = gaffer.DecodeLines(recs, ev.Data); err != nil {
				t.Fatal(err)
			}
			if ev.ID != fmt.Sprint(recs[len(recs)-1].Seq) {
				t.Fatalf("lines event id %q for seqs %d..%d", ev.ID, recs[k].Seq, recs[len(recs)-1].Seq)
			}
		case "end":
			return recs, true
		case "notice", "gap":
			t.Fatalf("%s event: %s", ev.Type, ev.Data)
		}
	}
	return recs, false
}

func seqsOf(recs []gaffer.Record) []int64 {
	s := make([]int64, len(recs))
	for i := range recs {
		s[i] = recs[i].Seq
	}
	return s
}

func sameSeqs(a, b []gaffer.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Seq != b[i].Seq || a[i].Host != b[i].Host || a[i].Stream != b[i].Stream || a[i].File != b[i].File ||
			!bytes.Equal(a[i].Data, b[i].Data) || a[i].NL != b[i].NL || !a[i].TS.Equal(b[i].TS) {
			return false
		}
	}
	return true
}

// expect computes a range query's answer from the whole log: the records
// that pass the filter, from where the query says, as many as it says.
type expect struct {
	host, stream string
	file         string
	after        int64
	tail         int
	before       int64
	since        time.Time
	limit        int
	rest         bool // SSE: a range goes on to the log's end
}

func (e expect) of(all []gaffer.Record) []gaffer.Record {
	f := gaffer.LogFilter{Host: e.host, Stream: gaffer.Stream(e.stream), File: e.file}
	var m []gaffer.Record
	for _, r := range all {
		if f.Match(&r) {
			m = append(m, r)
		}
	}
	start, stop := 0, len(m)
	switch {
	case e.tail > 0:
		start = max(0, len(m)-e.tail)
	case e.before > 0:
		stop = 0
		for stop < len(m) && m[stop].Seq < e.before {
			stop++
		}
		start = max(0, stop-e.limit)
	case !e.since.IsZero():
		for start < len(m) && m[start].TS.Before(e.since) {
			start++
		}
	default:
		for start < len(m) && m[start].Seq <= e.after {
			start++
		}
	}
	if e.rest {
		stop = len(m)
	} else if e.limit > 0 && e.before == 0 {
		stop = min(stop, start+e.limit)
	}
	return m[start:stop]
}

func TestLogRanges(t *testing.T) {
	f := newFakeLog(2500, true)
	srv := newLogServer(t, f)
	all := f.all()
	since := logBase.Add(1234*time.Millisecond + 500*time.Microsecond)
	for _, tc := range []struct {
		query string
		want  expect
	}{
		{"", expect{}},
		{"tail=1", expect{tail: 1}},
		{"tail=10", expect{tail: 10}},
		{"tail=97", expect{tail: 97}},
		{"tail=98", expect{tail: 98}},
		{"tail=1000", expect{tail: 1000}},
		{"tail=99999", expect{tail: 99999}},
		{"tail=300&host=web-1", expect{tail: 300, host: "web-1"}},
		{"tail=300&host=we+b%2F2&stream=stderr", expect{tail: 300, host: "we b/2", stream: "stderr"}},
		{"tail=5&stream=system", expect{tail: 5, stream: "system"}},
		{"before=100", expect{before: 100, limit: 1000}},
		{"before=2000&limit=10", expect{before: 2000, limit: 10}},
		{"before=2000&limit=500", expect{before: 2000, limit: 500}},
		{"before=1&limit=10", expect{before: 1, limit: 10}},
		{"before=99999&limit=3", expect{before: 99999, limit: 3}},
		{"before=1500&limit=200&host=web-1&stream=stdout", expect{before: 1500, limit: 200, host: "web-1", stream: "stdout"}},
		{"since=" + url.QueryEscape(since.Format(time.RFC3339Nano)), expect{since: since}},
		{"since=" + url.QueryEscape(since.Format(time.RFC3339Nano)) + "&limit=7&stream=stderr", expect{since: since, limit: 7, stream: "stderr"}},
		{"since=2020-01-01T00:00:00Z", expect{since: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"since=2030-01-01T01:00:00%2B01:00", expect{since: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"after=2400", expect{after: 2400}},
		{"after=100&limit=250&host=web-1", expect{after: 100, limit: 250, host: "web-1"}},
		{"host=we+b%2F2", expect{host: "we b/2"}},
		{"stream=stderr&limit=3", expect{stream: "stderr", limit: 3}},
		{"file=%2Fvar%2Flog%2Fapp.log", expect{file: "/var/log/app.log"}},
		{"file=" + url.QueryEscape(fakeFiles[0]), expect{file: fakeFiles[0]}},
		{"tail=30&file=" + url.QueryEscape(fakeFiles[0]), expect{tail: 30, file: fakeFiles[0]}},
		{"tail=300&host=web-1&file=%2Fvar%2Flog%2Fapp.log", expect{tail: 300, host: "web-1", file: "/var/log/app.log"}},
		{"before=2000&limit=20&stream=stdout&file=" + url.QueryEscape(fakeFiles[0]), expect{before: 2000, limit: 20, stream: "stdout", file: fakeFiles[0]}},
		{"since=" + url.QueryEscape(since.Format(time.RFC3339Nano)) + "&file=" + url.QueryEscape(fakeFiles[0]), expect{since: since, file: fakeFiles[0]}},
		{"after=100&limit=25&host=we+b%2F2&file=" + url.QueryEscape(fakeFiles[0]), expect{after: 100, limit: 25, host: "we b/2", file: fakeFiles[0]}},
		{"file=%2Fnope", expect{file: "/nope"}},
		{"stream=stderr&file=%2Fvar%2Flog%2Fapp.log", expect{stream: "stderr", file: "/var/log/app.log"}},
	} {
		resp := get(t, srv, "/api/jobs/1/log?"+tc.query, "Accept", "application/x-ndjson")
		got := readNDJSON(t, resp.Body)
		resp.Body.Close()
		if want := tc.want.of(all); resp.StatusCode != 200 || !sameSeqs(got, want) {
			t.Errorf("NDJSON ?%s: %d, %d records %v, want %d %v", tc.query, resp.StatusCode, len(got), short(got), len(want), short(want))
		}

		// SSE: the range, then on to the end.
		resp = get(t, srv, "/api/jobs/1/log?"+tc.query, "Accept", "text/event-stream")
		ssew := tc.want
		ssew.rest = true
		if tc.want.limit > 0 && tc.want.before == 0 {
			resp.Body.Close() // limit without before is refused there (see TestLogParamErrors)
		} else {
			got, end := readSSE(t, sse.NewReader(resp.Body), -1)
			resp.Body.Close()
			if want := ssew.of(all); !end || !sameSeqs(got, want) {
				t.Errorf("SSE ?%s: %d records %v end=%v, want %d %v", tc.query, len(got), short(got), end, len(want), short(want))
			}
		}

		// Raw: the bytes of one host's stream in that range.
		rawq := tc.query
		rw := tc.want
		if rw.host == "" {
			rawq += "&host=web-1"
			rw.host = "web-1"
		}
		if rw.stream == "" {
			rw.stream = "stdout"
		}
		resp = get(t, srv, "/api/jobs/1/log?format=raw&"+rawq)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := rawBytes(rw.of(all), gaffer.LogFilter{}); resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("raw ?%s: %d, %d bytes, want %d", rawq, resp.StatusCode, len(body), len(want))
		}
	}
}

func short(recs []gaffer.Record) string {
	s := seqsOf(recs)
	if len(s) > 6 {
		return fmt.Sprintf("%v…%v", s[:3], s[len(s)-3:])
	}
	return fmt.Sprint(s)
}

// A filtered read of a finished log goes through the archive's index, not
// through every record from the start.
func TestFilteredReadUsesRangeReads(t *testing.T) {
	f := newFakeLog(3000, true)
	srv := newLogServer(t, f)
	for _, q := range []string{"host=web-1", "stream=system", "tail=50&host=web-1", "format=raw&host=web-1&after=10",
		"file=%2Fvar%2Flog%2Fapp.log", "tail=5&host=web-1&file=%2Fvar%2Flog%2Fapp.log", "format=raw&host=web-1&file=%2Fvar%2Flog%2Fapp.log"} {
		f.readLogRecs.Store(0)
		resp := get(t, srv, "/api/jobs/1/log?"+q, "Accept", "application/x-ndjson")
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n := f.readLogRecs.Load(); resp.StatusCode != 200 || n != 0 {
			t.Errorf("?%s: %d, %d records read through ReadLog, want none", q, resp.StatusCode, n)
		}
	}
}

// SSE with tail on a running job: the tail, then every later record once;
// a reconnect with Last-Event-ID resumes after it, whatever ?tail says.
func TestSSETailThenFollow(t *testing.T) {
	f := newFakeLog(500, false)
	srv := newLogServer(t, f)
	resp := get(t, srv, "/api/jobs/1/log?tail=20&host=web-1", "Accept", "text/event-stream")
	defer resp.Body.Close()
	r := sse.NewReader(resp.Body)
	want := expect{tail: 20, host: "web-1"}.of(f.all())
	got, _ := readSSE(t, r, 20)
	if !sameSeqs(got, want) {
		t.Fatalf("tail: %v, want %v", short(got), short(want))
	}
	last := got[len(got)-1].Seq
	f.add(300)
	f.finish()
	rest, end := readSSE(t, r, -1)
	want = expect{after: last, host: "web-1"}.of(f.all())
	if !end || !sameSeqs(rest, want) {
		t.Fatalf("after the tail: %d records %v end=%v, want %d %v", len(rest), short(rest), end, len(want), short(want))
	}

	// Reconnects: Last-Event-ID wins over every range parameter, even bad ones.
	for _, q := range []string{"tail=20", "tail=0", "before=5&limit=3", "since=yesterday", "tail=3&before=4", "limit=5", "after=2"} {
		resp := get(t, srv, "/api/jobs/1/log?"+q, "Accept", "text/event-stream", "Last-Event-ID", "700")
		got, end := readSSE(t, sse.NewReader(resp.Body), -1)
		resp.Body.Close()
		if want := (expect{after: 700}).of(f.all()); resp.StatusCode != 200 || !end || !sameSeqs(got, want) {
			t.Errorf("?%s with Last-Event-ID 700: %d, %d records %v, want %v", q, resp.StatusCode, len(got), short(got), short(want))
		}
	}
}

// NDJSON tail with follow=1: the tail, then live records until the end.
func TestNDJSONTailFollow(t *testing.T) {
	f := newFakeLog(400, false)
	f.page = 7
	srv := newLogServer(t, f)
	resp := get(t, srv, "/api/jobs/1/log?tail=30&follow=1&stream=stderr", "Accept", "application/x-ndjson")
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var got []gaffer.Record
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var rec gaffer.Record
			if dec.Decode(&rec) != nil {
				return
			}
			got = append(got, rec)
		}
	}()
	time.Sleep(50 * time.Millisecond) // let the tail go out; the answer must not depend on it
	f.add(200)
	f.finish()
	<-done
	tail := expect{tail: 30, stream: "stderr"}.of(f.all()[:400])
	want := append(tail, expect{after: 400, stream: "stderr"}.of(f.all())...)
	if !sameSeqs(got, want) {
		t.Fatalf("got %d %v, want %d %v", len(got), short(got), len(want), short(want))
	}
}

// Bad parameters: 400 with a JSON error a person understands.
func TestLogParamErrors(t *testing.T) {
	srv := newLogServer(t, newFakeLog(10, true))
	forms := map[string][]string{
		"ndjson": {"Accept", "application/x-ndjson"},
		"sse":    {"Accept", "text/event-stream"},
		"raw":    nil,
	}
	for _, tc := range []struct {
		query string
		forms string // which forms refuse it; "" all three
		msg   string
	}{
		{"tail=0", "", `tail="0" must be a whole number from 1 to`},
		{"tail=-3", "", `tail="-3" must be a whole number`},
		{"tail=abc", "", `tail="abc" must be a whole number`},
		{"tail=1e3", "", `tail="1e3" must be a whole number`},
		{"tail=99999999999", "", `tail="99999999999" must be a whole number from 1 to 1073741824`},
		{"tail=99999999999999999999999", "", `must be a whole number`},
		{"before=0", "", `before="0" must be a sequence number from 1`},
		{"before=-1", "", `before="-1" must be a sequence number from 1`},
		{"before=x", "", `before="x"`},
		{"before=99999999999999999999", "", `before="99999999999999999999"`},
		{"after=-1", "", `after="-1" must be a sequence number from 0`},
		{"since=yesterday", "", `since="yesterday" is not an RFC 3339 time`},
		{"since=2026-11-25", "", `is not an RFC 3339 time`},
		{"since=10m", "", `is not an RFC 3339 time`},
		{"tail=5&before=9", "", "tail and before each say where the log starts"},
		{"tail=5&after=9", "", "tail and after each say"},
		{"since=2026-11-25T22:01:02Z&before=9", "", "before and since each say"},
		{"tail=5&limit=3", "", "limit cannot be combined with tail"},
		{"limit=0", "", `limit="0" must be a whole number`},
		{"before=5&limit=0", "", `limit="0"`},
		{"before=5&limit=2000000000", "", `limit="2000000000"`},
		{"host=nope", "", `host="nope" is not a host of job 1; give one of web-1, we b/2`},
		{"stream=out", "", `stream="out" must be stdout, stderr or system`},
		{"file=" + strings.Repeat("x", 5000), "", `file= is 5000 bytes long; a path has at most 4096`},
		{"follow=yes", "ndjson raw sse", `follow="yes" must be 1 or 0`},
		{"limit=5", "sse", "limit has no meaning on an event stream"},
		{"before=5&follow=1", "ndjson", "follow=1 cannot be combined with before"},
		{"follow=1&host=web-1", "raw", "follow=1 is not available with format=raw"},
		{"download=maybe&host=web-1", "raw", `download="maybe" must be 1 or 0`},
		{"tail=3", "raw", `raw log: host="" is not a host of job 1; give one of web-1, we b/2`},
	} {
		for name, hdr := range forms {
			if tc.forms != "" && !strings.Contains(tc.forms, name) {
				continue
			}
			q := tc.query
			if name == "raw" {
				q = "format=raw&" + q
				if !strings.Contains(q, "host=") && !strings.Contains(tc.msg, "raw log") {
					q += "&host=web-1"
				}
			}
			resp := get(t, srv, "/api/jobs/1/log?"+q, hdr...)
			checkError(t, name+" ?"+q, resp, 400, "invalid", tc.msg)
		}
	}
	for _, tc := range []struct {
		path   string
		status int
		code   string
		msg    string
	}{
		{"/api/jobs/1/log/search", 400, "invalid", "q is empty: say what to search for"},
		{"/api/jobs/1/log/search?q=", 400, "invalid", "q is empty"},
		{"/api/jobs/1/log/search?q=a(&regex=1", 400, "invalid", "q is not a valid regular expression (RE2 syntax): missing closing )"},
		{"/api/jobs/1/log/search?q=a**&regex=1", 400, "invalid", "not a valid regular expression"},
		{"/api/jobs/1/log/search?q=" + strings.Repeat("x", 5000), 400, "invalid", "q is 5000 bytes long; the limit is 4096"},
		{"/api/jobs/1/log/search?q=x&regex=2", 400, "invalid", `regex="2" must be 1 or 0`},
		{"/api/jobs/1/log/search?q=x&case=on", 400, "invalid", `case="on" must be 1 or 0`},
		{"/api/jobs/1/log/search?q=x&limit=0", 400, "invalid", `limit="0" must be a whole number from 1 to 100000`},
		{"/api/jobs/1/log/search?q=x&limit=100001", 400, "invalid", `limit="100001"`},
		{"/api/jobs/1/log/search?q=x&after=-1", 400, "invalid", `after="-1"`},
		{"/api/jobs/1/log/search?q=x&host=web-9", 400, "invalid", `host="web-9" is not a host of job 1; give one of web-1, we b/2`},
		{"/api/jobs/1/log/search?q=x&stream=err", 400, "invalid", `stream="err" must be stdout, stderr or system`},
		{"/api/jobs/1/log/search?q=x&file=" + strings.Repeat("y", 4097), 400, "invalid", `file= is 4097 bytes long`},
		{"/api/jobs/7/log/search?q=x", 404, "not_found", "job 7 does not exist"},
		{"/api/jobs/7/log/summary", 404, "not_found", "job 7 does not exist"},
		{"/api/jobs/x/log/summary", 400, "invalid", "not a job id"},
		{"/api/jobs/7/log?tail=5", 404, "not_found", "job 7 does not exist"},
	} {
		checkError(t, tc.path, get(t, srv, tc.path), tc.status, tc.code, tc.msg)
	}
}

func checkError(t *testing.T, what string, resp *http.Response, status int, code, msg string) {
	t.Helper()
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string }
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s: %d %q is not a JSON error", what, resp.StatusCode, raw)
		return
	}
	if resp.StatusCode != status || body.Error.Code != code || !strings.Contains(body.Error.Message, msg) {
		t.Errorf("%s: %d %+v, want %d %s %q", what, resp.StatusCode, body.Error, status, code, msg)
	}
}

func TestLogSearch(t *testing.T) {
	f := newFakeLog(1000, true)
	srv := newLogServer(t, f)
	all := f.all()
	match := func(q gaffer.SearchQuery) []gaffer.Record {
		re, err := q.Compile()
		if err != nil {
			t.Fatal(err)
		}
		var out []gaffer.Record
		for _, r := range all {
			if r.Seq > q.After && q.Filter.Match(&r) && re.Match(r.Data) {
				out = append(out, r)
			}
		}
		return out
	}
	for _, tc := range []struct {
		query string
		q     gaffer.SearchQuery
	}{
		{"q=error", gaffer.SearchQuery{Pattern: "error"}},
		{"q=ERROR&case=1", gaffer.SearchQuery{Pattern: "ERROR", Case: true}},
		{"q=error&case=1", gaffer.SearchQuery{Pattern: "error", Case: true}},
		{"q=disk+%5B0-9%5D%2B0%24&regex=1", gaffer.SearchQuery{Pattern: "disk [0-9]+0$", Regex: true}},
		{"q=%5B0-9%5D&host=web-1&stream=stderr", gaffer.SearchQuery{Pattern: "[0-9]", Filter: gaffer.LogFilter{Host: "web-1", Stream: gaffer.Stderr}}},
		{"q=line+1&after=500", gaffer.SearchQuery{Pattern: "line 1", After: 500}},
		{"q=line&file=" + url.QueryEscape(fakeFiles[0]), gaffer.SearchQuery{Pattern: "line", Filter: gaffer.LogFilter{File: fakeFiles[0]}}},
		{"q=error&host=web-1&file=%2Fvar%2Flog%2Fapp.log", gaffer.SearchQuery{Pattern: "error", Filter: gaffer.LogFilter{Host: "web-1", File: "/var/log/app.log"}}},
	} {
		resp := get(t, srv, "/api/jobs/1/log/search?"+tc.query)
		got, trailer := readSearch(t, resp)
		want := match(tc.q)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" || !sameSeqs(got, want) ||
			trailer != (gaffer.SearchResult{Done: true, ScannedTo: 1000, Matches: len(want)}) {
			t.Errorf("search ?%s: %d, %d matches %v trailer %+v, want %d %v", tc.query, resp.StatusCode, len(got), short(got), trailer, len(want), short(want))
		}
	}
	// Paging: limit, then after=scanned_to until done.
	want := match(gaffer.SearchQuery{Pattern: "0"})
	var got []gaffer.Record
	after, pages := int64(0), 0
	for {
		resp := get(t, srv, fmt.Sprintf("/api/jobs/1/log/search?q=0&limit=40&after=%d", after))
		page, tr := readSearch(t, resp)
		got = append(got, page...)
		pages++
		if tr.Matches != len(page) || tr.ScannedTo < after {
			t.Fatalf("page %d: %d matches, trailer %+v", pages, len(page), tr)
		}
		if tr.Done {
			break
		}
		after = tr.ScannedTo
	}
	if !sameSeqs(got, want) || pages != (len(want)+39)/40 {
		t.Fatalf("paged: %d matches in %d pages, want %d", len(got), pages, len(want))
	}
}

func readSearch(t *testing.T, resp *http.Response) ([]gaffer.Record, gaffer.SearchResult) {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	var tr gaffer.SearchResult
	dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tr); err != nil {
		t.Fatalf("trailer %q: %v", lines[len(lines)-1], err)
	}
	var recs []gaffer.Record
	for _, l := range lines[:len(lines)-1] {
		var r gaffer.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Seq == 0 {
			t.Fatalf("match line %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	return recs, tr
}

func TestLogSummaryAndDownload(t *testing.T) {
	srv := newLogServer(t, newFakeLog(10, true))
	resp := get(t, srv, "/api/jobs/1/log/summary")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"last_seq":10,"complete":true`) || !strings.Contains(string(body), `"streams":[]`) {
		t.Errorf("summary: %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct{ query, disposition string }{
		{"host=web-1", "inline"},
		{"host=web-1&download=1", `attachment; filename="job-1-web-1-stdout.log"`},
		{"host=we+b%2F2&stream=stderr&download=1", `attachment; filename="job-1-we_b_2-stderr.log"`},
		{"host=we+b%2F2&stream=stderr&download=1&tail=3", `attachment; filename="job-1-we_b_2-stderr.log"`},
		{"host=web-1&download=1&file=%2Fvar%2Flog%2Fnginx%2Ferror.log", `attachment; filename="job-1-web-1-error.log"`},
		{"host=web-1&download=1&file=" + url.QueryEscape(fakeFiles[0]), `attachment; filename="job-1-web-1-_img_src_x_onerror_alert_1__.log"`},
	} {
		resp := get(t, srv, "/api/jobs/1/log?format=raw&"+tc.query)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Disposition") != tc.disposition {
			t.Errorf("raw ?%s: %d Content-Disposition %q, want %q", tc.query, resp.StatusCode, resp.Header.Get("Content-Disposition"), tc.disposition)
		}
	}
}

// An event stream that starts past the records it sends (since, a filter)
// marks where it is with an id alone, which an EventSource sends back when
// it reconnects.
func TestSSEMarksWhereItIs(t *testing.T) {
	f := newFakeLog(100, false)
	srv := newLogServer(t, f)
	for _, tc := range []struct{ query, mark string }{
		{"since=2100-01-01T00:00:00Z", "id: 100\n\n"},
		{"tail=5&host=nope", ""},
		{"host=we+b%2F2", "id: 100\n\n"},
		{"stream=stderr", "id: 100\n\n"},
		{"tail=1&stream=system", "id: 100\n\n"},
	} {
		resp := get(t, srv, "/api/jobs/1/log?"+tc.query, "Accept", "text/event-stream")
		if tc.mark == "" {
			checkError(t, tc.query, resp, 400, "invalid", "not a host")
			continue
		}
		stop := time.AfterFunc(10*time.Second, func() { resp.Body.Close() })
		buf := make([]byte, 0, 64<<10)
		for !bytes.Contains(buf, []byte(tc.mark)) {
			n, err := resp.Body.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				t.Errorf("?%s: no %q in %q: %v", tc.query, tc.mark, buf, err)
				break
			}
		}
		stop.Stop()
		resp.Body.Close()
	}
}

// slowSearch finds one match, then waits until the viewer has it.
type slowSearch struct {
	*fakeLog
	seen chan struct{}
}

func (s slowSearch) SearchLog(ctx context.Context, id int64, q gaffer.SearchQuery, emit func(*gaffer.Record) error) (gaffer.SearchResult, error) {
	rec := s.all()[0]
	if err := emit(&rec); err != nil {
		return gaffer.SearchResult{}, err
	}
	select {
	case <-s.seen:
		return gaffer.SearchResult{Done: true, ScannedTo: 10, Matches: 1}, nil
	case <-time.After(10 * time.Second):
		return gaffer.SearchResult{}, gaffer.Errorf(gaffer.EUNAVAILABLE, "the viewer never got the first match")
	}
}

// A search sends each match as it finds it, not when it ends.
func TestSearchStreamsMatches(t *testing.T) {
	s := slowSearch{newFakeLog(10, true), make(chan struct{})}
	srv := newLogServer(t, s)
	resp := get(t, srv, "/api/jobs/1/log/search?q=line")
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var rec gaffer.Record
	if err := dec.Decode(&rec); err != nil || rec.Seq != 1 {
		t.Fatalf("first match: %+v %v", rec, err)
	}
	close(s.seen)
	var tr gaffer.SearchResult
	if err := dec.Decode(&tr); err != nil || tr != (gaffer.SearchResult{Done: true, ScannedTo: 10, Matches: 1}) {
		t.Fatalf("trailer: %+v %v", tr, err)
	}
}
