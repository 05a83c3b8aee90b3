package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sse"
)

const testToken = "test-admin-token-0123456789"

// TestMain lets a test re-run this binary as the gaffer command itself (for
// kill -9 tests): GAFFER_TEST_MAIN=1 makes it behave as main.
func TestMain(m *testing.M) {
	if os.Getenv("GAFFER_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	removeBuiltBinaries()
	os.Exit(code)
}

// testServer is a real `gaffer serve`, in this process, on a free port.
type testServer struct {
	URL     string
	DataDir string
	cancel  context.CancelFunc
	done    chan error
	stop    sync.Once
	mu      sync.Mutex
	out     strings.Builder
	log     *logWriter
	// Client makes ts.request's requests; nil is http.DefaultClient.
	Client *http.Client
}

// startServer runs serve with a fresh data dir (unless given) and extra flags.
func startServer(t *testing.T, args ...string) *testServer {
	t.Helper()
	ts := &testServer{DataDir: t.TempDir(), done: make(chan error, 1)}
	for i, a := range args {
		if a == "--data-dir" && i+1 < len(args) {
			ts.DataDir = args[i+1]
		}
	}
	all := append([]string{"--listen", "127.0.0.1:0", "--data-dir", ts.DataDir, "--admin-token", testToken, "--log-level", "warn", "--ssh-config", ""}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	lw := &logWriter{t: t}
	ts.log = lw
	t.Cleanup(lw.close) // runs after Stop below: cleanups run last-in first-out
	pr, pw := io.Pipe()
	go func() {
		err := serve(ctx, all, pw, lw)
		pw.Close()
		ts.done <- err
	}()
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			ts.mu.Lock()
			ts.out.WriteString(line + "\n")
			ts.mu.Unlock()
			if rest, ok := strings.CutPrefix(line, "gaffer: listening on "); ok {
				urlc <- strings.Fields(rest)[0]
			}
		}
	}()
	select {
	case ts.URL = <-urlc:
	case err := <-ts.done:
		t.Fatalf("gaffer serve stopped at start: %v\n%s", err, ts.Output())
	case <-time.After(60 * time.Second):
		t.Fatalf("gaffer serve did not start in 60 s:\n%s", ts.Output())
	}
	t.Cleanup(func() { ts.Stop(t) })
	return ts
}

// Stop sends the equivalent of SIGTERM and waits for serve to return.
func (ts *testServer) Stop(t *testing.T) {
	t.Helper()
	ts.stop.Do(func() {
		ts.cancel()
		select {
		case err := <-ts.done:
			if err != nil {
				t.Errorf("gaffer serve: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("gaffer serve did not stop in 60 s")
		}
	})
}

func (ts *testServer) Output() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.out.String()
}

// logWriter sends the server's log to the test log, until the test ends
// (background work such as the archive check may still log after that).
type logWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
	all  strings.Builder // what the server logged, for tests that grep it
}

// Log returns what the server logged so far.
func (ts *testServer) Log() string {
	ts.log.mu.Lock()
	defer ts.log.mu.Unlock()
	return ts.log.all.String()
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	w.all.Write(p)
	return len(p), nil
}

func (w *logWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

func (ts *testServer) request(t *testing.T, method, path string, body io.Reader, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := ts.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// startJob posts a job and returns it.
func (ts *testServer) startJob(t *testing.T, req gaffer.JobRequest) *gaffer.Job {
	t.Helper()
	b, _ := json.Marshal(req)
	resp := ts.request(t, "POST", "/api/jobs", strings.NewReader(string(b)), "Content-Type", "application/json")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("start job: %s %s", resp.Status, body)
	}
	var job gaffer.Job
	if err := json.NewDecoder(resp.Body).Decode(&job); err != nil {
		t.Fatal(err)
	}
	return &job
}

func (ts *testServer) job(t *testing.T, id int64) *gaffer.Job {
	t.Helper()
	resp := ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d", id), nil)
	defer resp.Body.Close()
	var job gaffer.Job
	if resp.StatusCode != 200 {
		t.Fatalf("get job %d: %s", id, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&job); err != nil {
		t.Fatal(err)
	}
	return &job
}

// waitJob polls until the job is done.
func (ts *testServer) waitJob(t *testing.T, id int64) *gaffer.Job {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		job := ts.job(t, id)
		if job.Status.Done() {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d still %s after 2 minutes", id, job.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ndjson reads the whole log so far.
func (ts *testServer) ndjson(t *testing.T, id int64, query string) []gaffer.Record {
	t.Helper()
	resp := ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log?%s", id, query), nil, "Accept", "application/x-ndjson")
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ndjson: %s", resp.Status)
	}
	var recs []gaffer.Record
	if err := decodeNDJSON(resp.Body, func(r gaffer.Record) { recs = append(recs, r) }, nil); err != nil {
		t.Fatal(err)
	}
	return recs
}

// sseStream is an open SSE connection read event by event.
type sseStream struct {
	resp *http.Response
	r    *sse.Reader
}

func (ts *testServer) openSSE(t *testing.T, id int64, lastEventID string) *sseStream {
	t.Helper()
	hdr := []string{"Accept", "text/event-stream"}
	if lastEventID != "" {
		hdr = append(hdr, "Last-Event-ID", lastEventID)
	}
	resp := ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log", id), nil, hdr...)
	if resp.StatusCode != 200 {
		t.Fatalf("sse: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("sse content type %q", ct)
	}
	return &sseStream{resp: resp, r: sse.NewReader(resp.Body)}
}

// next returns the next event; ok is false when the stream closed.
func (s *sseStream) next() (ev sse.Event, ok bool) {
	ev, err := s.r.Next()
	return ev, err == nil
}

func (s *sseStream) Close() { s.resp.Body.Close() }

// readLines reads line events until n lines were read (n < 0: until end).
// It returns the records and whether the end event came.
func (s *sseStream) readLines(t *testing.T, n int) ([]gaffer.Record, bool) {
	t.Helper()
	var recs []gaffer.Record
	for n < 0 || len(recs) < n {
		ev, ok := s.next()
		if !ok {
			return recs, false
		}
		switch ev.Type {
		case "line":
			var r gaffer.Record
			if err := json.Unmarshal(ev.Data, &r); err != nil {
				t.Fatalf("bad line event %q: %v", ev.Data, err)
			}
			if ev.ID != strconv.FormatInt(r.Seq, 10) {
				t.Fatalf("event id %q for seq %d", ev.ID, r.Seq)
			}
			recs = append(recs, r)
		case "end":
			return recs, true
		}
	}
	return recs, false
}

// readResuming reads a job's SSE log to its end as EventSource does: a
// stream the server closes early (a write that waited past the stream write
// timeout, under load) is reopened with Last-Event-ID. It returns the
// records, whether the end came, and how many times it reconnected.
func (ts *testServer) readResuming(t *testing.T, id int64) (recs []gaffer.Record, end bool, reconnects int) {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		last := ""
		if len(recs) > 0 {
			last = strconv.FormatInt(recs[len(recs)-1].Seq, 10)
			reconnects++
		}
		s := ts.openSSE(t, id, last)
		more, ok := s.readLines(t, -1)
		s.Close()
		recs = append(recs, more...)
		if ok {
			return recs, true, reconnects
		}
	}
	return recs, false, reconnects
}

// checkSeqs asserts that recs are exactly seq 1..n, each once, in order.
func checkSeqs(t *testing.T, recs []gaffer.Record, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("got %d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d has seq %d: lost or repeated records", i, r.Seq)
		}
	}
}

// serverProcess is a `gaffer serve` running as a child process: this test
// binary acting as main, or a build without the race detector
// (gafferBinary), whose memory, file descriptors and goroutines are its own.
type serverProcess struct {
	*testServer
	PID  int
	Out  *safeBuffer // its stdout and stderr
	kill func()      // SIGKILL to its process group; also run when the test ends
}

// startServerProcess runs `bin serve` on a free port with the test's admin
// token and args, in a process group of its own, with env added to this
// process's environment, and waits until it listens. Its output is logged
// if the test fails. bin is os.Args[0] (with GAFFER_TEST_MAIN=1 in env) or
// gafferBinary(t).
func startServerProcess(t *testing.T, bin string, env []string, args ...string) *serverProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-token", testToken, "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	p := &serverProcess{Out: &safeBuffer{}}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.PID = cmd.Process.Pid
	var once sync.Once
	p.kill = func() {
		once.Do(func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		})
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("server output:\n%s", p.Out.String())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(p.Out.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, "gaffer: listening on "); ok {
				p.testServer = &testServer{URL: strings.Fields(rest)[0]}
				return p
			}
		}
	}
	t.Fatalf("server process did not start:\n%s", p.Out.String())
	return nil
}
