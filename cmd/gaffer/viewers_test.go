package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// rss is the process's resident memory now, in bytes.
func (p *serverProcess) rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS for process %d", p.PID)
	return 0
}

// peakRSS samples the process's RSS until stop is closed and returns the
// highest value seen.
func (p *serverProcess) peakRSS(t *testing.T, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID)); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
						kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
						peak = max(peak, kb<<10)
					}
				}
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// raiseFileLimit makes sure this process (and the programs it starts, which
// inherit it) may open n files. The tests run as root, which may raise the
// hard limit too: failing to is an error, not a reason to skip.
func raiseFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		// Set anyway: a limit set by the program is what children inherit.
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		return
	}
	cur, hard := lim.Cur, lim.Max
	lim.Cur, lim.Max = n, max(lim.Max, n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("cannot raise the file limit from %d (hard %d) to %d: %v; run the tests as root (scripts/test does) or raise it first: ulimit -Hn %d", cur, hard, n, err, n)
	}
}

// 10 000 SSE viewers of one job that prints 10 lines a second, on the
// embedded database: none is ever answered 500 (the database pool is
// bounded and the running job's lookups never reach it), and each gets
// every line, once, in order. The viewers are a program of their own
// (internal/sse/sseviewers) and the server a binary of its own, both built
// without the race detector, which allows only 8128 goroutines.
func TestTenThousandViewers(t *testing.T) {
	if testing.Short() {
		t.Skip("10 000 connections")
	}
	const viewers = 10000
	raiseFileLimit(t, 2*viewers) // for the server and, inherited, the viewers
	load := goBinary(t, "github.com/gaffer-dev/gaffer/internal/sse/sseviewers")
	// All viewers hold the one admin token: lift its per-credential cap.
	srv := startServerProcess(t, gafferBinary(t), nil, "--ssh-config", "", "--data-dir", t.TempDir(), "--max-streams-per-user", strconv.Itoa(viewers))
	ts := &testServer{URL: srv.URL}
	idle := srv.rss(t)

	// The job waits until every viewer is watching (sseviewers creates
	// goFile then), then prints 10 lines a second for 5 seconds: all 10 000
	// are connected when it prints and when it ends.
	goFile := t.TempDir() + "/go"
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"},
		Command: fmt.Sprintf(`while [ ! -e %s ]; do sleep 0.1; done; for i in $(seq 1 50); do echo "line $i"; sleep 0.1; done`, goFile)})
	stop := make(chan struct{})
	peak := srv.peakRSS(t, stop)

	start := time.Now()
	cmd := exec.CommandContext(t.Context(), load, "-url", srv.URL, "-token", testToken,
		"-job", strconv.FormatInt(job.ID, 10), "-viewers", strconv.Itoa(viewers), "-ready", goFile, "-deadline", "3m")
	var stderr safeBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	took := time.Since(start)
	close(stop)
	if err != nil {
		t.Fatalf("sseviewers: %v\n%s\nserver log:\n%s", err, stderr.String(), tail(srv.Out.String(), 30))
	}
	var sum struct {
		Viewers, Complete, Disordered, NoEnd int
		Watching, Reconnects                 int64
		Statuses                             map[int]int
		LastSeqs                             map[int64]int `json:"last_seqs"`
		AllWatchingS                         float64       `json:"all_watching_s"`
		MaxConnectS                          float64       `json:"max_connect_s"`
		EndedS                               float64       `json:"ended_after_ready_s"`
	}
	if err := json.Unmarshal(out, &sum); err != nil || sum.Viewers != viewers {
		t.Fatalf("sseviewers printed %q (%v), want its JSON summary of %d viewers", out, err, viewers)
	}
	final := ts.waitJob(t, job.ID)
	lines := int64(len(ts.ndjson(t, job.ID, "")))
	if final.Status != gaffer.StatusSucceeded || lines < 3 {
		t.Fatalf("job %s with %d records", final.Status, lines)
	}
	t.Logf("sseviewers: %s", bytes.TrimSpace(out))
	t.Logf("%d viewers all watching after %.1f s (longest connection set-up %.1f s); all had the end %.1f s after the job began printing; %d got all %d records; statuses %v; %d reconnects; %.1f s in all; server RSS idle %.0f MiB, peak %.0f MiB",
		viewers, sum.AllWatchingS, sum.MaxConnectS, sum.EndedS, sum.LastSeqs[lines], lines, sum.Statuses, sum.Reconnects, took.Seconds(), float64(idle)/(1<<20), float64(<-peak)/(1<<20))
	if n := sum.Statuses[http.StatusInternalServerError]; n > 0 {
		t.Errorf("%d requests answered 500", n)
	}
	if n := sum.Statuses[0]; n > 0 {
		t.Errorf("%d connections failed", n)
	}
	if sum.Watching != viewers {
		t.Errorf("only %d of %d viewers were ever answered", sum.Watching, viewers)
	}
	if got := sum.LastSeqs[lines]; got != viewers {
		t.Errorf("%d of %d viewers got all %d records once each, in order, and the end: %d got records out of order or lost, %d no end, by last seq %v",
			got, viewers, lines, sum.Disordered, sum.NoEnd, sum.LastSeqs)
	}
	if t.Failed() {
		t.Logf("sseviewers stderr:\n%s\nserver log:\n%s", tail(stderr.String(), 30), tail(srv.Out.String(), 30))
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// openStreams reads the server's gauge of open log streams from /metrics.
func openStreams(t *testing.T, ts *testServer) int {
	t.Helper()
	resp := ts.request(t, "GET", "/metrics", nil)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "gaffer_log_streams "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	t.Fatal("no gaffer_log_streams in /metrics")
	return 0
}

// 100 viewers open the SSE stream of a 40 MB log and never read: the
// server holds little for each (one bounded read, a small buffer), cuts
// them off once a write has waited for the stream write timeout, and a
// viewer that reads meanwhile gets the whole log.
func TestStuckViewersAreCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("a 40 MB log read by 101 viewers")
	}
	const stuck, lines = 100, 5000
	srv := startServerProcess(t, gafferBinary(t), nil, "--ssh-config", "", "--data-dir", t.TempDir(), "--stream-write-timeout", "5s")
	ts := &testServer{URL: srv.URL}
	u, _ := url.Parse(srv.URL)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"},
		Command: fmt.Sprintf(`yes "$(head -c 8000 /dev/zero | tr '\0' x)" | head -n %d`, lines)})
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusSucceeded {
		t.Fatalf("job %s", j.Status)
	}
	before := srv.rss(t)
	stop := make(chan struct{})
	peak := srv.peakRSS(t, stop)

	start := time.Now()
	for range stuck {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET /api/jobs/%d/log HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nAuthorization: Bearer %s\r\n\r\n", job.ID, u.Host, testToken)
	}
	// A viewer that reads, meanwhile, is not held up by them.
	s := ts.openSSE(t, job.ID, "")
	recs, end := s.readLines(t, -1)
	s.Close()
	if !end {
		t.Fatal("the reading viewer got no end event")
	}

	// The stuck ones are disconnected well within two minutes.
	open := openStreams(t, ts)
	for open > 0 && time.Since(start) < 2*time.Minute {
		time.Sleep(200 * time.Millisecond)
		open = openStreams(t, ts)
	}
	closedIn := time.Since(start)
	close(stop)
	grew := <-peak - before
	t.Logf("server RSS %.0f MiB before, grew by %.1f MiB at most with %d stuck viewers; they were cut off within %.1f s",
		float64(before)/(1<<20), float64(grew)/(1<<20), stuck, closedIn.Seconds())
	if grew > 64<<20 {
		t.Errorf("RSS grew by %.0f MiB with %d viewers that do not read; want well under 100 MiB", float64(grew)/(1<<20), stuck)
	}
	if open > 0 {
		t.Errorf("%d streams still open after 2 minutes", open)
	}
	// (A line may come as two records, split by a pause in the output.)
	checkSeqs(t, recs, len(ts.ndjson(t, job.ID, "")))
}
