package web_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sse"
)

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
