package web_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sse"
	"github.com/gaffer-dev/gaffer/web"
)

// A lone viewer of lines events of the whole log reads it as lines
// (ReadLogLines), live and to its end, records and all their fields as
// they are; a filtered one reads records.
func TestSSEBatchReadsLines(t *testing.T) {
	for _, tc := range []struct {
		query string
		lines bool
	}{{"batch=1", true}, {"batch=1&after=250", true}, {"batch=1&host=web-1", false}} {
		t.Run(tc.query, func(t *testing.T) {
			f := newFakeLog(500, false)
			srv := newLogServer(t, f)
			resp := get(t, srv, "/api/jobs/1/log?"+tc.query, "Accept", "text/event-stream")
			if resp.StatusCode != 200 {
				t.Fatalf("%s", resp.Status)
			}
			defer resp.Body.Close()
			r := sse.NewReader(resp.Body)
			q := expect{}
			if tc.query == "batch=1&after=250" {
				q.after = 250
			} else if !tc.lines {
				q.host = "web-1"
			}
			got, _ := readSSE(t, r, len(q.of(f.all())))
			f.add(200)
			f.finish()
			rest, end := readSSE(t, r, -1)
			got = append(got, rest...)
			want := q.of(f.all())
			if !end || len(got) != len(want) {
				t.Fatalf("%d records, end %v; want %d", len(got), end, len(want))
			}
			for i := range want {
				if g, w := got[i].AppendJSON(nil), want[i].AppendJSON(nil); !bytes.Equal(g, w) {
					t.Fatalf("record %d: %s, want %s", i, g, w)
				}
			}
			if n := f.linesReads.Load(); (n > 0) != tc.lines {
				t.Fatalf("%d reads as lines", n)
			}
		})
	}
}

// With batch=1 an event stream carries the same records as without, in
// lines events (runs of records that differ only in their text), each with
// its last record's seq as id: whole, with a tail, filtered, from a
// Last-Event-ID inside a run, and live as the log grows.
func TestSSEBatch(t *testing.T) {
	f := newFakeLog(600, false)
	// Runs of 40 records share a ts (one read of the host's output).
	f.mu.Lock()
	for i := range f.recs {
		f.recs[i].TS = logBase.Add(time.Duration(i/40) * time.Second)
	}
	f.mu.Unlock()
	srv := newLogServer(t, f)
	tests := []struct {
		query, lastID string
		want          expect
	}{
		{"batch=1", "", expect{}},
		{"batch=1&tail=50", "", expect{tail: 50}},
		{"batch=1&host=web-1", "", expect{host: "web-1"}},
		{"batch=1&stream=stdout&after=100", "", expect{stream: "stdout", after: 100}},
		{"batch=1", "155", expect{after: 155}},
		{"batch=1&tail=5", "333", expect{after: 333}},
	}
	type open struct {
		r    *sse.Reader
		got  []gaffer.Record
		want []gaffer.Record // what was there when it opened
	}
	var opens []*open
	for _, tc := range tests {
		hdr := []string{"Accept", "text/event-stream"}
		if tc.lastID != "" {
			hdr = append(hdr, "Last-Event-ID", tc.lastID)
		}
		resp := get(t, srv, "/api/jobs/1/log?"+tc.query, hdr...)
		if resp.StatusCode != 200 {
			t.Fatalf("?%s: %s", tc.query, resp.Status)
		}
		t.Cleanup(func() { resp.Body.Close() })
		var raw bytes.Buffer
		o := &open{r: sse.NewReader(io.TeeReader(resp.Body, &raw))}
		// What is there now, before the log grows.
		o.want = tc.want.of(f.all())
		o.got, _ = readSSE(t, o.r, len(o.want))
		opens = append(opens, o)
		if bytes.Contains(raw.Bytes(), []byte("event: line\n")) {
			t.Fatalf("?%s: a line event in a batched stream:\n%.400s", tc.query, raw.Bytes())
		}
	}
	f.add(300) // each with its own ts: runs of one
	f.finish()
	for i, tc := range tests {
		o := opens[i]
		rest, end := readSSE(t, o.r, -1)
		got := append(o.got, rest...)
		want := append(o.want, expect{after: 600, host: tc.want.host, stream: tc.want.stream}.of(f.all())...)
		if !end || !sameSeqs(got, want) {
			t.Errorf("?%s (Last-Event-ID %q): %d records %v end=%v, want %d %v", tc.query, tc.lastID, len(got), short(got), end, len(want), short(want))
		}
	}
}

// A batched stream is smaller than a stream of line events by what the
// records of a run share: for 600 short lines in runs of 40, under a third.
func TestSSEBatchIsSmaller(t *testing.T) {
	f := newFakeLog(600, true)
	f.mu.Lock()
	for i := range f.recs {
		f.recs[i].TS = logBase
		f.recs[i].Host, f.recs[i].Stream, f.recs[i].File, f.recs[i].NL = "web-1", gaffer.Stdout, "", true
		f.recs[i].Data = fmt.Appendf(nil, "%d", i+1)
	}
	f.mu.Unlock()
	srv := newLogServer(t, f)
	size := func(q string) int {
		resp := get(t, srv, "/api/jobs/1/log"+q, "Accept", "text/event-stream")
		defer resp.Body.Close()
		var raw bytes.Buffer
		got, end := readSSE(t, sse.NewReader(io.TeeReader(resp.Body, &raw)), -1)
		if !end || len(got) != 600 {
			t.Fatalf("%s: %d records, end %v", q, len(got), end)
		}
		return raw.Len()
	}
	lines, batched := size(""), size("?batch=1")
	if batched*3 > lines {
		t.Errorf("batched stream %d bytes, line events %d", batched, lines)
	}
}

// countingListener counts the writes to the connections it accepts.
type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// A viewer far behind the log reads it a page at a time, and its pages of
// lines events (a few KiB each for short lines) go out gathered, not in a
// write each; what it gets is every record once.
func TestSSEBatchGathersReads(t *testing.T) {
	const n = 20000 // in reads of 97 records: 207 reads
	f := newFakeLog(n, true)
	f.mu.Lock()
	for i := range f.recs {
		// The output of one busy command: runs as long as the reads.
		r := &f.recs[i]
		r.TS, r.Host, r.Stream, r.File, r.NL = logBase.Add(time.Duration(i/1000)*time.Second), "web-1", gaffer.Stdout, "", true
	}
	f.mu.Unlock()
	s, err := web.New(f, newAuth(token), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.PingInterval = time.Minute
	// Only the bound by bytes: a loaded machine's pauses between reads
	// would otherwise end gatherings early (the bound by time).
	web.GatherFor(s, time.Minute)
	var writes atomic.Int64
	srv := httptest.NewUnstartedServer(s)
	srv.Listener = countingListener{srv.Listener, &writes}
	srv.Start()
	t.Cleanup(srv.Close)
	resp := get(t, srv, "/api/jobs/1/log?batch=1", "Accept", "text/event-stream")
	defer resp.Body.Close()
	got, end := readSSE(t, sse.NewReader(resp.Body), -1)
	if want := f.all(); !end || !sameSeqs(got, want) {
		t.Fatalf("%d records, end %v; want %d", len(got), end, len(want))
	}
	reads := (n + f.page - 1) / f.page
	if w := writes.Load(); w > int64(reads/4) {
		t.Errorf("%d writes to the connection for %d reads of the log, want at most %d", w, reads, reads/4)
	}
}

// Viewers with batch=1 read through the shared encoded log too: from the
// ring's start, from inside a chunk and inside a run (Last-Event-ID), from
// after= and a tail, each gets the records a viewer that encodes its own
// gets, in lines events; and while the log grows, the log is read about
// once per batch, not once per viewer.
func TestSharedEncodingLines(t *testing.T) {
	const n = 1000 // in reads of 97 records (fakeLog.page)
	f := newFakeLog(n, false)
	f.mu.Lock()
	for i := range f.recs {
		f.recs[i].TS = logBase.Add(time.Duration(i/40) * time.Second)
	}
	f.mu.Unlock()
	c := &countingLog{fakeLog: f} // the shared server's reads
	shared, own := encServer(t, c, true), encServer(t, f, false)
	paths := []struct{ path, lastID string }{
		{"/api/jobs/1/log?batch=1", ""},
		{"/api/jobs/1/log?batch=1", "150"}, // inside the second read of 97, inside a run
		{"/api/jobs/1/log?batch=1&after=97", ""},
		{"/api/jobs/1/log?batch=1&tail=30", ""},
	}
	first := openBytes(t, shared, "/api/jobs/1/log?batch=1", "Accept", "text/event-stream")
	first.untilSeq(t, n)
	var sv, ov []*byteViewer
	for _, p := range paths {
		vs := openEach(t, n, p.path, p.lastID, shared, own)
		sv, ov = append(sv, vs[0]), append(ov, vs[1])
	}
	// Live: batches of 10 to the viewers of the shared log, a read each.
	start := c.reads.Load()
	const batches = 20
	for b := 1; b <= batches; b++ {
		c.add(10)
		for _, v := range append([]*byteViewer{first}, sv...) {
			v.untilSeq(t, int64(n+10*b))
		}
	}
	if reads := c.reads.Load() - start; reads > int64(batches*(len(sv)+1)/2) {
		t.Errorf("%d reads for %d batches to %d viewers", reads, batches, len(sv)+1)
	}
	c.finish()
	records := func(raw []byte) []gaffer.Record {
		recs, end := readSSE(t, sse.NewReader(bytes.NewReader(raw)), -1)
		if !end {
			t.Fatal("no end event")
		}
		return recs
	}
	for i, p := range paths {
		got, want := records(sv[i].rest(t)), records(ov[i].rest(t))
		if !sameSeqs(got, want) || len(want) == 0 {
			t.Errorf("%s (Last-Event-ID %q): %d records %v through the shared log, %d %v without", p.path, p.lastID, len(got), short(got), len(want), short(want))
		}
		if bytes.Contains(sv[i].raw.Bytes(), []byte("event: line\n")) {
			t.Errorf("%s: a line event in a batched stream", p.path)
		}
	}
	if got, want := records(first.rest(t)), c.all(); !sameSeqs(got, want) {
		t.Errorf("the viewer that filled the shared log: %d records, want %d", len(got), len(want))
	}
}
