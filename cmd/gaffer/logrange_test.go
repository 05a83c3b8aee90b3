package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sse"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// Reading a large log anywhere, against a real server: every range
// parameter's answer is checked against the whole log read as NDJSON.

// rangeQuery is one request and the part of the whole log it must give.
type rangeQuery struct {
	query  string
	host   string
	stream gaffer.Stream
	after  int64
	tail   int
	before int64
	since  time.Time
	limit  int
}

// of picks the answer out of the whole log; rest: on to the log's end
// (SSE goes on after its range).
func (q rangeQuery) of(all []gaffer.Record, rest bool) []gaffer.Record {
	f := gaffer.LogFilter{Host: q.host, Stream: q.stream}
	var m []gaffer.Record
	for _, r := range all {
		if f.Match(&r) {
			m = append(m, r)
		}
	}
	start, stop := 0, len(m)
	switch {
	case q.tail > 0:
		start = max(0, len(m)-q.tail)
	case q.before > 0:
		for stop = 0; stop < len(m) && m[stop].Seq < q.before; stop++ {
		}
		start = max(0, stop-q.limit)
	case !q.since.IsZero():
		for start < len(m) && m[start].TS.Before(q.since) {
			start++
		}
	default:
		for start < len(m) && m[start].Seq <= q.after {
			start++
		}
	}
	if rest {
		stop = len(m)
	} else if q.limit > 0 && q.before == 0 {
		stop = min(stop, start+q.limit)
	}
	return m[start:stop]
}

func recordsEqual(a, b []gaffer.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Seq != b[i].Seq || a[i].Host != b[i].Host || a[i].Stream != b[i].Stream ||
			!bytes.Equal(a[i].Data, b[i].Data) || a[i].NL != b[i].NL || !a[i].TS.Equal(b[i].TS) {
			return false
		}
	}
	return true
}

func seqRange(recs []gaffer.Record) string {
	if len(recs) == 0 {
		return "[]"
	}
	return fmt.Sprintf("[%d..%d]", recs[0].Seq, recs[len(recs)-1].Seq)
}

func rawOf(recs []gaffer.Record) []byte {
	var b []byte
	for _, r := range recs {
		b = append(b, r.Data...)
		if r.NL {
			b = append(b, '\n')
		}
	}
	return b
}

// get answers a GET with its status and body.
func (ts *testServer) get(t *testing.T, path string, hdr ...string) (int, []byte) {
	t.Helper()
	resp := ts.request(t, "GET", path, nil, hdr...)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// sseRange reads an SSE log with a query (and a Last-Event-ID) to its end.
func (ts *testServer) sseRange(t *testing.T, id int64, query, lastEventID string) []gaffer.Record {
	t.Helper()
	hdr := []string{"Accept", "text/event-stream"}
	if lastEventID != "" {
		hdr = append(hdr, "Last-Event-ID", lastEventID)
	}
	resp := ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log?%s", id, query), nil, hdr...)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("SSE ?%s: %s %s", query, resp.Status, body)
	}
	recs, end := (&sseStream{resp: resp, r: sse.NewReader(resp.Body)}).readLines(t, -1)
	if !end {
		t.Fatalf("SSE ?%s: no end event after %d records", query, len(recs))
	}
	return recs
}

// checkRanges checks each query's NDJSON, SSE and raw answers on a finished job.
func checkRanges(t *testing.T, ts *testServer, id int64, all []gaffer.Record, queries []rangeQuery) {
	t.Helper()
	for _, q := range queries {
		if got, want := ts.ndjson(t, id, q.query), q.of(all, false); !recordsEqual(got, want) {
			t.Errorf("NDJSON ?%s: %d records %s, want %d %s", q.query, len(got), seqRange(got), len(want), seqRange(want))
		}
		if q.limit == 0 || q.before > 0 {
			if got, want := ts.sseRange(t, id, q.query, ""), q.of(all, true); !recordsEqual(got, want) {
				t.Errorf("SSE ?%s: %d records %s, want %d %s", q.query, len(got), seqRange(got), len(want), seqRange(want))
			}
		}
		if q.host != "" {
			rq := q
			if rq.stream == "" {
				rq.stream = gaffer.Stdout
			}
			code, body := ts.get(t, fmt.Sprintf("/api/jobs/%d/log?format=raw&%s", id, q.query))
			if want := rawOf(rq.of(all, false)); code != 200 || !bytes.Equal(body, want) {
				t.Errorf("raw ?%s: %d, %d bytes, want %d", q.query, code, len(body), len(want))
			}
		}
	}
}

// search runs a search and returns its matches and trailer.
func (ts *testServer) search(t *testing.T, id int64, query string) ([]gaffer.Record, gaffer.SearchResult) {
	t.Helper()
	code, body := ts.get(t, fmt.Sprintf("/api/jobs/%d/log/search?%s", id, query))
	if code != 200 {
		t.Fatalf("search ?%s: %d %s", query, code, body)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	var tr gaffer.SearchResult
	dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tr); err != nil {
		t.Fatalf("search ?%s: trailer %q: %v", query, lines[len(lines)-1], err)
	}
	var recs []gaffer.Record
	for _, l := range lines[:len(lines)-1] {
		var r gaffer.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("search ?%s: line %q: %v", query, l, err)
		}
		recs = append(recs, r)
	}
	return recs, tr
}

// checkSearch compares a search (paged by `page` matches) with the records
// of the whole log that match.
func checkSearch(t *testing.T, ts *testServer, id int64, all []gaffer.Record, query string, q gaffer.SearchQuery, page int) {
	t.Helper()
	re, err := q.Compile()
	if err != nil {
		t.Fatal(err)
	}
	var want []gaffer.Record
	for _, r := range all {
		if q.Filter.Match(&r) && re.Match(r.Data) {
			want = append(want, r)
		}
	}
	var got []gaffer.Record
	after, pages := int64(0), 0
	for ; pages < 1000; pages++ {
		recs, tr := ts.search(t, id, fmt.Sprintf("%s&limit=%d&after=%d", query, page, after))
		if tr.Matches != len(recs) || tr.ScannedTo < after || len(recs) > page {
			t.Fatalf("search ?%s after %d: %d matches, trailer %+v", query, after, len(recs), tr)
		}
		got = append(got, recs...)
		if tr.Done {
			// With a filter, the scan may stop at the last record it selects.
			if tr.ScannedTo > all[len(all)-1].Seq || len(got) > 0 && tr.ScannedTo < got[len(got)-1].Seq {
				t.Errorf("search ?%s: done with scanned_to %d; the log ends at %d", query, tr.ScannedTo, all[len(all)-1].Seq)
			}
			break
		}
		after = tr.ScannedTo
	}
	if !recordsEqual(got, want) {
		t.Errorf("search ?%s by %d: %d matches %s, want %d %s", query, page, len(got), seqRange(got), len(want), seqRange(want))
	}
	t.Logf("search ?%s by %d: %d matches in %d pages", query, page, len(got), pages+1)
}

// checkSummary compares /log/summary with counts made from the whole log.
func checkSummary(t *testing.T, ts *testServer, id int64, all []gaffer.Record) {
	t.Helper()
	code, body := ts.get(t, fmt.Sprintf("/api/jobs/%d/log/summary", id))
	var sum gaffer.LogSummary
	if err := json.Unmarshal(body, &sum); code != 200 || err != nil {
		t.Fatalf("summary: %d %s %v", code, body, err)
	}
	want := map[string]gaffer.StreamSummary{}
	for _, r := range all {
		k := r.Host + "/" + string(r.Stream)
		s := want[k]
		s.Host, s.Stream = r.Host, r.Stream
		s.Records++
		s.Bytes += int64(len(r.Data))
		want[k] = s
	}
	got := map[string]gaffer.StreamSummary{}
	for _, s := range sum.Streams {
		got[s.Host+"/"+string(s.Stream)] = s
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || sum.LastSeq != all[len(all)-1].Seq || !sum.Complete ||
		sum.FirstTS == nil || !sum.FirstTS.Equal(all[0].TS) || sum.LastTS == nil || !sum.LastTS.Equal(all[len(all)-1].TS) {
		t.Errorf("summary %s\nwant last_seq %d, complete, first_ts %s, last_ts %s, streams %v", body, all[len(all)-1].Seq, all[0].TS, all[len(all)-1].TS, want)
	}
}

// A finished job on the local host: every parameter on every form.
func TestLogRangeLocal(t *testing.T) {
	ts := startServer(t)
	// 3000 stdout lines, every 7th also on stderr, a few ERROR/error lines,
	// a batch every 500 lines a few ms apart so that since= falls between.
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: `for i in $(seq 1 3000); do
		echo "line $i"; [ $((i % 7)) = 0 ] && echo "warn $i" >&2
		[ $((i % 250)) = 0 ] && echo "ERROR disk $i" && echo "error net $i" >&2
		[ $((i % 500)) = 0 ] && sleep 0.05
	done; printf 'no newline'`})
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusSucceeded {
		t.Fatalf("job %s", j.Status)
	}
	all := ts.ndjson(t, job.ID, "")
	n := len(all)
	checkSeqs(t, all, n)
	since := all[n/2].TS
	since2 := all[n/3].TS.Add(-time.Nanosecond)
	sinceQ := url.QueryEscape(since.Format(time.RFC3339Nano))
	sinceQ2 := url.QueryEscape(since2.Format(time.RFC3339Nano))
	checkRanges(t, ts, job.ID, all, []rangeQuery{
		{query: ""},
		{query: "tail=1", tail: 1},
		{query: "tail=10", tail: 10},
		{query: "tail=2500", tail: 2500},
		{query: "tail=1000000", tail: 1000000},
		{query: "tail=20&stream=stderr", tail: 20, stream: gaffer.Stderr},
		{query: "tail=3&host=local&stream=system", tail: 3, host: "local", stream: gaffer.System},
		{query: "tail=40&host=local", tail: 40, host: "local"},
		{query: "tail=40&host=local&stream=stderr", tail: 40, host: "local", stream: gaffer.Stderr},
		{query: "before=100&limit=10", before: 100, limit: 10},
		{query: "before=3000", before: 3000, limit: 1000},
		{query: "before=5&limit=100", before: 5, limit: 100},
		{query: "before=1&limit=100", before: 1, limit: 100},
		{query: "before=999999&limit=5", before: 999999, limit: 5},
		{query: "before=2000&limit=30&stream=stderr", before: 2000, limit: 30, stream: gaffer.Stderr},
		{query: "before=2000&limit=1500&host=local", before: 2000, limit: 1500, host: "local"},
		{query: "since=" + sinceQ, since: since},
		{query: "since=" + sinceQ2 + "&limit=25", since: since2, limit: 25},
		{query: "since=" + sinceQ + "&host=local&stream=stderr", since: since, host: "local", stream: gaffer.Stderr},
		{query: "since=2000-01-01T00:00:00Z", since: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{query: "since=2999-01-01T00:00:00%2B02:00", since: time.Date(2998, 12, 31, 22, 0, 0, 0, time.UTC)},
		{query: "after=1234&limit=77", after: 1234, limit: 77},
		{query: "after=100&stream=stderr&limit=5", after: 100, stream: gaffer.Stderr, limit: 5},
		{query: "after=3000&host=local", after: 3000, host: "local"},
	})
	checkSummary(t, ts, job.ID, all)
	for _, s := range []struct {
		query string
		q     gaffer.SearchQuery
	}{
		{"q=error", gaffer.SearchQuery{Pattern: "error"}},
		{"q=ERROR&case=1", gaffer.SearchQuery{Pattern: "ERROR", Case: true}},
		{"q=error&stream=stderr", gaffer.SearchQuery{Pattern: "error", Filter: gaffer.LogFilter{Stream: gaffer.Stderr}}},
		{"q=%5Eline+%5B0-9%5D*99%24&regex=1", gaffer.SearchQuery{Pattern: "^line [0-9]*99$", Regex: true}},
		{"q=WARN+%5B0-9%5D%2B5%24&regex=1&host=local", gaffer.SearchQuery{Pattern: "WARN [0-9]+5$", Regex: true, Filter: gaffer.LogFilter{Host: "local"}}},
		{"q=warn+%5B0-9%5D%2B5%24&regex=1&case=1", gaffer.SearchQuery{Pattern: "warn [0-9]+5$", Regex: true, Case: true}},
		{"q=.&regex=1&stream=stdout", gaffer.SearchQuery{Pattern: ".", Regex: true, Filter: gaffer.LogFilter{Stream: gaffer.Stdout}}},
		{"q=.", gaffer.SearchQuery{Pattern: "."}},
		{"q=nothing+like+this", gaffer.SearchQuery{Pattern: "nothing like this"}},
	} {
		checkSearch(t, ts, job.ID, all, s.query, s.q, gaffer.DefaultSearchLimit)
	}
	checkSearch(t, ts, job.ID, all, "q=line+1", gaffer.SearchQuery{Pattern: "line 1"}, 100)
	checkSearch(t, ts, job.ID, all, "q=error", gaffer.SearchQuery{Pattern: "error"}, 1)

	// Bad parameters: 400 with a JSON error, on a real server too.
	for _, tc := range []struct{ path, msg string }{
		{"log?tail=0", `tail="0" must be a whole number from 1`},
		{"log?before=-1", `before="-1" must be a sequence number from 1`},
		{"log?before=0", `before="0"`},
		{"log?since=yesterday", "not an RFC 3339 time"},
		{"log?tail=3&before=9", "give only one"},
		{"log?host=web-1", `host="web-1" is not a host of job`},
		{"log?format=raw&tail=abc", `tail="abc"`},
		{"log/search?q=a(&regex=1", "not a valid regular expression"},
		{"log/search?q=", "q is empty"},
		{"log/search?q=x&limit=0", `limit="0"`},
	} {
		for _, accept := range []string{"application/x-ndjson", "text/event-stream"} {
			code, body := ts.get(t, fmt.Sprintf("/api/jobs/%d/%s", job.ID, tc.path), "Accept", accept)
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(body, &e); code != 400 || err != nil || e.Error.Code != "invalid" || !strings.Contains(e.Error.Message, tc.msg) {
				t.Errorf("%s (%s): %d %s, want 400 %q", tc.path, accept, code, body, tc.msg)
			}
		}
	}
	code, body := ts.get(t, "/api/jobs/999/log/summary")
	if code != 404 || !strings.Contains(string(body), "job 999 does not exist") {
		t.Errorf("summary of no job: %d %s", code, body)
	}
}

// A job on two hosts over real sshd: host and stream filters combined with
// each range, raw bytes per host, the summary's per-stream counts, search
// by host.
func TestLogRangeSSH(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 2})
	ts := startServer(t, "--inventory", writeInventory(t, sshd.Hosts(), ""), "--known-hosts", sshd.KnownHosts)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"host-1", "host-2"}, Command: `h=$(echo $SSH_CONNECTION | cut -d' ' -f3)
		for i in $(seq 1 1500); do echo "out $h $i"; [ $((i % 5)) = 0 ] && echo "err $h $i" >&2
		[ $((i % 300)) = 0 ] && sleep 0.03; done; true`})
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusSucceeded {
		t.Fatalf("job %s", j.Status)
	}
	all := ts.ndjson(t, job.ID, "")
	checkSeqs(t, all, len(all))
	since := all[len(all)*2/3].TS
	sinceQ := url.QueryEscape(since.Format(time.RFC3339Nano))
	var qs []rangeQuery
	for _, h := range []string{"host-1", "host-2"} {
		for _, st := range []gaffer.Stream{"", gaffer.Stdout, gaffer.Stderr, gaffer.System} {
			f := "host=" + h
			if st != "" {
				f += "&stream=" + string(st)
			}
			qs = append(qs,
				rangeQuery{query: f, host: h, stream: st},
				rangeQuery{query: f + "&tail=7", host: h, stream: st, tail: 7},
				rangeQuery{query: f + "&tail=1200", host: h, stream: st, tail: 1200},
				rangeQuery{query: f + "&before=1800&limit=250", host: h, stream: st, before: 1800, limit: 250},
				rangeQuery{query: f + "&since=" + sinceQ, host: h, stream: st, since: since},
				rangeQuery{query: f + "&after=900&limit=40", host: h, stream: st, after: 900, limit: 40},
			)
		}
	}
	qs = append(qs, rangeQuery{query: "stream=stderr&tail=100", stream: gaffer.Stderr, tail: 100})
	checkRanges(t, ts, job.ID, all, qs)
	checkSummary(t, ts, job.ID, all)
	checkSearch(t, ts, job.ID, all, "q=err&host=host-2", gaffer.SearchQuery{Pattern: "err", Filter: gaffer.LogFilter{Host: "host-2"}}, 50)
	checkSearch(t, ts, job.ID, all, "q=1%24&regex=1&host=host-1&stream=stdout",
		gaffer.SearchQuery{Pattern: "1$", Regex: true, Filter: gaffer.LogFilter{Host: "host-1", Stream: gaffer.Stdout}}, 1000)
	code, body := ts.get(t, fmt.Sprintf("/api/jobs/%d/log?tail=5&host=host-3", job.ID))
	if code != 400 || !strings.Contains(string(body), "give one of host-1, host-2") {
		t.Errorf("unknown host: %d %s", code, body)
	}
}

// SSE and NDJSON follow after a tail on a running job: the tail, then every
// later line exactly once; a reconnect's Last-Event-ID wins over ?tail.
func TestLogRangeTailThenFollow(t *testing.T) {
	ts := startServer(t)
	job := ts.startJob(t, slowJob(600))
	// Open once the job has printed a good part, well before its end.
	for len(ts.ndjson(t, job.ID, "")) < 100 {
		time.Sleep(10 * time.Millisecond)
	}
	type reader struct {
		query string
		host  string
		strm  gaffer.Stream
		tail  int
		recs  chan []gaffer.Record
	}
	readers := []*reader{
		{query: "tail=10", tail: 10},
		{query: "tail=5&stream=stderr", strm: gaffer.Stderr, tail: 5},
		{query: "tail=50&host=local&stream=stdout", host: "local", strm: gaffer.Stdout, tail: 50},
	}
	for _, r := range readers {
		r.recs = make(chan []gaffer.Record, 2)
		ev := ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log?%s", job.ID, r.query), nil, "Accept", "text/event-stream")
		nd := ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log?%s&follow=1", job.ID, r.query), nil, "Accept", "application/x-ndjson")
		go func() {
			defer ev.Body.Close()
			recs, _ := (&sseStream{resp: ev, r: sse.NewReader(ev.Body)}).readLines(t, -1)
			r.recs <- recs
		}()
		go func() {
			defer nd.Body.Close()
			var recs []gaffer.Record
			decodeNDJSON(nd.Body, func(rec gaffer.Record) { recs = append(recs, rec) }, nil)
			r.recs <- recs
		}()
	}
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusSucceeded {
		t.Fatalf("job %s", j.Status)
	}
	all := ts.ndjson(t, job.ID, "")
	checkSeqs(t, all, 802)
	for _, r := range readers {
		want := rangeQuery{host: r.host, stream: r.strm}.of(all, true)
		for _, form := range []string{"one", "other"} {
			got := <-r.recs
			// The tail of what there was when it opened, then the rest:
			// the filtered log's last len(got) records, each once.
			if len(got) <= r.tail || len(got) >= len(want) || !recordsEqual(got, want[len(want)-len(got):]) {
				t.Errorf("?%s (%s form): %d records %s, want a suffix of %d %s longer than %d, begun before the job ended", r.query, form, len(got), seqRange(got), len(want), seqRange(want), r.tail)
			}
			t.Logf("?%s: %d records from seq %d", r.query, len(got), got[0].Seq)
		}
	}
	// An EventSource reconnects with its URL and Last-Event-ID: it goes on
	// after that event, never gets the tail again, and is never refused.
	for _, q := range []string{"tail=10", "tail=5&stream=stderr", "before=700&limit=3", "since=2000-01-01T00:00:00Z", "tail=0", "after=1"} {
		got := ts.sseRange(t, job.ID, q, "300")
		f := rangeQuery{after: 300}
		if strings.Contains(q, "stream=stderr") {
			f.stream = gaffer.Stderr
		}
		if want := f.of(all, true); !recordsEqual(got, want) {
			t.Errorf("?%s with Last-Event-ID 300: %d records %s, want %d %s", q, len(got), seqRange(got), len(want), seqRange(want))
		}
	}
}
