package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sse"
	"github.com/gaffer-dev/gaffer/web"
)

// encServer is a log server whose viewers read through the shared encoded
// log from the first (shared) or each encode their own records (!shared),
// with pings rare enough that no test here sees one.
func encServer(t *testing.T, jobs web.JobService, shared bool) *httptest.Server {
	t.Helper()
	s, err := web.New(jobs, newAuth(token), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.PingInterval = time.Minute
	if shared {
		web.SharedEncodingFrom(s, 1)
	} else {
		web.NoSharedEncoding(s)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

// byteViewer is an SSE viewer that keeps every byte it was sent.
type byteViewer struct {
	raw  bytes.Buffer
	body io.ReadCloser
	r    *sse.Reader
}

func openBytes(t *testing.T, srv *httptest.Server, path string, hdr ...string) *byteViewer {
	t.Helper()
	resp := get(t, srv, path, hdr...)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	v := &byteViewer{body: resp.Body}
	v.r = sse.NewReader(io.TeeReader(resp.Body, &v.raw))
	return v
}

// untilSeq reads line events up to and including seq.
func (v *byteViewer) untilSeq(t *testing.T, seq int64) {
	t.Helper()
	for {
		recs, _ := readSSE(t, v.r, 1)
		if recs[0].Seq == seq {
			return
		}
	}
}

// openEach opens path as an event stream (from Last-Event-ID lastID, if
// not "") on each server, in turn, and reads each up to seq n.
func openEach(t *testing.T, n int64, path, lastID string, srvs ...*httptest.Server) []*byteViewer {
	t.Helper()
	hdr := []string{"Accept", "text/event-stream"}
	if lastID != "" {
		hdr = append(hdr, "Last-Event-ID", lastID)
	}
	var vs []*byteViewer
	for _, srv := range srvs {
		v := openBytes(t, srv, path, hdr...)
		v.untilSeq(t, n)
		vs = append(vs, v)
	}
	return vs
}

// rest reads to the end event and the end of the body, and returns every
// byte of the stream.
func (v *byteViewer) rest(t *testing.T) []byte {
	t.Helper()
	if _, end := readSSE(t, v.r, -1); !end {
		t.Fatal("no end event")
	}
	io.Copy(&v.raw, v.body)
	v.body.Close()
	return v.raw.Bytes()
}

// The shared encoded log changes no byte of a stream: each SSE stream and
// NDJSON body is the same read through it (a viewer filling it, viewers
// reading what another filled, from its start and from inside a chunk) as
// from a server where every viewer encodes its own.
func TestSharedEncodingIsByteForByte(t *testing.T) {
	const n = 1000 // in reads of 97 records (fakeLog.page)
	f := newFakeLog(n, false)
	shared, own := encServer(t, f, true), encServer(t, f, false)
	paths := []struct{ path, lastID string }{
		{"/api/jobs/1/log", ""},
		{"/api/jobs/1/log", "150"}, // inside the second read of 97
		{"/api/jobs/1/log?after=97", ""},
		{"/api/jobs/1/log?tail=30", ""},
	}
	// On the shared server a first viewer fills the encoded log before the
	// others open; all wait at the log's end until it finishes.
	first := openBytes(t, shared, "/api/jobs/1/log", "Accept", "text/event-stream")
	first.untilSeq(t, n)
	var sv, ov []*byteViewer
	for _, p := range paths {
		vs := openEach(t, n, p.path, p.lastID, shared, own)
		sv, ov = append(sv, vs[0]), append(ov, vs[1])
	}
	f.add(250)
	f.finish()
	want0 := ov[0]
	for i, p := range paths {
		got, want := sv[i].rest(t), ov[i].rest(t)
		if !bytes.Equal(got, want) {
			t.Errorf("SSE %s (Last-Event-ID %q): %d bytes through the shared log, %d without; first difference at %d", p.path, p.lastID, len(got), len(want), diffAt(got, want))
		}
	}
	if got, want := first.rest(t), want0.raw.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("SSE, the viewer that filled the shared log: %d bytes, %d without; first difference at %d", len(got), len(want), diffAt(got, want))
	}
	if !bytes.Contains(want0.raw.Bytes(), []byte("event: line\ndata: ")) || !bytes.Contains(want0.raw.Bytes(), []byte("event: end")) {
		t.Fatalf("the reference stream has no line or end events:\n%.500s", want0.raw.Bytes())
	}

	// NDJSON: whole, from inside a read, cut by limit inside a read, a tail.
	for _, q := range []string{"", "?after=150", "?limit=250", "?after=40&limit=100", "?tail=120&follow=1"} {
		body := func(srv *httptest.Server) []byte {
			resp := get(t, srv, "/api/jobs/1/log"+q)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("NDJSON %s: %s %v", q, resp.Status, err)
			}
			return b
		}
		got, want := body(shared), body(own)
		if !bytes.Equal(got, want) {
			t.Errorf("NDJSON %q: %d bytes through the shared log, %d without; first difference at %d", q, len(got), len(want), diffAt(got, want))
		}
		if len(want) == 0 {
			t.Errorf("NDJSON %q: empty", q)
		}
	}
}

func diffAt(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// 200 viewers follow a log while it is written, reading through the shared
// encoded log: each gets every record exactly once, in order, then the end.
func TestSharedEncoding200Viewers(t *testing.T) {
	const viewers, batches, per = 200, 40, 25
	f := newFakeLog(0, false)
	s, err := web.New(f, newAuth(token), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.MaxStreamsPerUser = viewers
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	var wg sync.WaitGroup
	errs := make(chan error, viewers)
	opened := make(chan struct{}, viewers)
	for v := 0; v < viewers; v++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := get(t, srv, "/api/jobs/1/log", "Accept", "text/event-stream")
			defer resp.Body.Close()
			opened <- struct{}{}
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("viewer %d: %s", v, resp.Status)
				return
			}
			r := sse.NewReader(resp.Body)
			next := int64(1)
			for {
				ev, err := r.Next()
				if err != nil {
					errs <- fmt.Errorf("viewer %d after seq %d: %v", v, next-1, err)
					return
				}
				switch ev.Type {
				case "line":
					var rec struct{ Seq int64 }
					if err := json.Unmarshal(ev.Data, &rec); err != nil || rec.Seq != next || ev.ID != fmt.Sprint(next) {
						errs <- fmt.Errorf("viewer %d: event id %q seq %d (%v), want %d", v, ev.ID, rec.Seq, err, next)
						return
					}
					next++
				case "end":
					if next != batches*per+1 {
						errs <- fmt.Errorf("viewer %d: end after %d records, want %d", v, next-1, batches*per)
					}
					return
				case "gap", "notice":
					errs <- fmt.Errorf("viewer %d: %s %s", v, ev.Type, ev.Data)
					return
				}
			}
		}()
	}
	for range viewers {
		<-opened
	}
	for range batches {
		f.add(per)
		time.Sleep(2 * time.Millisecond)
	}
	f.finish()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// countingLog counts Job and ReadLog calls.
type countingLog struct {
	*fakeLog
	jobs, reads atomic.Int64
}

func (c *countingLog) Job(ctx context.Context, id int64) (*gaffer.Job, error) {
	c.jobs.Add(1)
	return c.fakeLog.Job(ctx, id)
}

func (c *countingLog) ReadLog(ctx context.Context, id, after int64, limit int, buf *gaffer.ReadBuffer) ([]gaffer.Record, bool, error) {
	c.reads.Add(1)
	return c.fakeLog.ReadLog(ctx, id, after, limit, buf)
}

// Viewers that the ring just gave its newest records wait for more rather
// than each reading the log's end to find nothing: reads are about one per
// batch, not one per viewer per batch; every viewer still gets every
// record, in order, and the end.
func TestSharedEncodingReadsOncePerBatch(t *testing.T) {
	const viewers, batches = 50, 20
	c := &countingLog{fakeLog: newFakeLog(0, false)}
	srv := encServer(t, c, true)
	vs := make([]*byteViewer, viewers)
	for i := range vs {
		vs[i] = openBytes(t, srv, "/api/jobs/1/log", "Accept", "text/event-stream")
	}
	time.Sleep(100 * time.Millisecond) // let every viewer reach its first wait
	start := c.reads.Load()
	for b := 1; b <= batches; b++ {
		c.add(10)
		for _, v := range vs {
			v.untilSeq(t, int64(10*b))
		}
	}
	reads := c.reads.Load() - start
	c.finish()
	for i, v := range vs {
		if b := v.rest(t); !bytes.Contains(b, []byte("event: end")) {
			t.Fatalf("viewer %d: no end", i)
		}
	}
	if reads > viewers*batches/4 {
		t.Errorf("%d reads for %d batches to %d viewers", reads, batches, viewers)
	}
	t.Logf("%d reads for %d batches to %d viewers", reads, batches, viewers)
}

// Viewers at one position share the job's status as well as its lines: a
// read with a system line (a run started or ended) costs one job lookup for
// all of them, not one each, and each still gets the status and, at the
// end, the final one.
func TestSharedEncodingSharesStatus(t *testing.T) {
	const viewers = 50
	c := &countingLog{fakeLog: newFakeLog(0, false)}
	c.page = 1000
	srv := encServer(t, c, true)
	vs := make([]*byteViewer, viewers)
	for i := range vs {
		vs[i] = openBytes(t, srv, "/api/jobs/1/log", "Accept", "text/event-stream")
	}
	opened := c.jobs.Load() // each request looks its job up once
	c.add(100)              // a read of 100 records, system ones among them
	for _, v := range vs {
		v.untilSeq(t, 100)
	}
	c.finish()
	for i, v := range vs {
		b := v.rest(t)
		if !bytes.Contains(b, []byte(`event: end`+"\n"+`data: {"status":"succeeded"}`)) {
			t.Fatalf("viewer %d: no end event with the final status:\n%s", i, b[max(0, len(b)-300):])
		}
	}
	// One lookup for the read with system lines, one at the end; a few
	// more where viewers raced past each other is fine, one each is not.
	if n := c.jobs.Load() - opened; n > viewers/5 {
		t.Errorf("%d job lookups for %d viewers of one log", n, viewers)
	}
}
