package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// serverProcess is `gaffer serve` running as a child process (this test
// binary acting as main), so its memory and file descriptors are its own.
type serverProcess struct {
	URL  string
	PID  int
	Out  *safeBuffer // its stdout and stderr
	kill func()
}

func startServerProcess(t *testing.T, args ...string) *serverProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-token", testToken, "--log-level", "warn", "--ssh-config", ""}, args...)...)
	cmd.Env = append(os.Environ(), "GAFFER_TEST_MAIN=1")
	p := &serverProcess{Out: &safeBuffer{}}
	cmd.Stdout = p.Out
	cmd.Stderr = p.Out
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
	t.Cleanup(p.kill)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(p.Out.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, "gaffer: listening on "); ok {
				p.URL = strings.Fields(rest)[0]
				return p
			}
		}
	}
	t.Fatalf("server process did not start:\n%s", p.Out.String())
	return nil
}

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

// raiseFileLimit makes sure this process (and the servers it starts, which
// inherit it) may open n files.
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
	lim.Cur, lim.Max = n, max(lim.Max, n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("needs a file limit of %d (ulimit -n): %v", n, err)
	}
}

// rawViewer is an EventSource in a few kilobytes: a raw HTTP/1.1 request
// on its own TCP connection, its response read with the client's SSE parser.
// It resumes with Last-Event-ID after a dropped stream or an error status,
// as a browser does, and records every status it was answered.
type rawViewer struct {
	addr     string
	jobID    int64
	deadline time.Time // of the whole test
	last     int64     // seq of the last line received
	seqOK    bool      // every line came in order, none repeated or missing
	ended    bool
}

type statusCounts struct {
	mu sync.Mutex
	m  map[int]int
}

func (c *statusCounts) add(code int) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[int]int{}
	}
	c.m[code]++
	c.mu.Unlock()
}

func (c *statusCounts) get(code int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[code]
}

// once makes one connection and reads it until the end event or the stream
// drops. It returns the HTTP status (0 when the connection failed), and
// calls answered once the response's header came (ok: a 200), or the
// attempt failed.
func (v *rawViewer) once(answered func(ok bool)) int {
	defer answered(false)
	conn, err := net.DialTimeout("tcp", v.addr, 30*time.Second)
	if err != nil {
		return 0
	}
	defer conn.Close()
	conn.SetDeadline(v.deadline)
	req := fmt.Sprintf("GET /api/jobs/%d/log HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nAuthorization: Bearer %s\r\n", v.jobID, v.addr, testToken)
	if v.last > 0 {
		req += fmt.Sprintf("Last-Event-ID: %d\r\n", v.last)
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), nil)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.StatusCode
	}
	answered(true)
	readEvents(resp.Body, func(ev sseEvent) bool {
		switch ev.event {
		case "line":
			var r gaffer.Record
			if json.Unmarshal(ev.data, &r) != nil || r.Seq != v.last+1 {
				v.seqOK = false
			}
			v.last = r.Seq
		case "end":
			v.ended = true
			return false
		}
		return true
	})
	return 200
}

// 10 000 SSE viewers of one job that prints 10 lines a second, on the
// embedded database: none is ever answered 500 (the database pool is
// bounded and the running job's lookups never reach it), and each gets
// every line, once, in order.
func TestTenThousandViewers(t *testing.T) {
	if testing.Short() {
		t.Skip("10 000 connections")
	} else if raceEnabled {
		t.Skip("the race detector allows 8128 goroutines; run without -race")
	}
	const viewers = 10000
	raiseFileLimit(t, 20000)
	srv := startServerProcess(t, "--data-dir", t.TempDir())
	ts := &testServer{URL: srv.URL}
	u, _ := url.Parse(srv.URL)
	idle := srv.rss(t)

	// The job waits until every viewer is watching, then prints 10 lines a
	// second for 5 seconds: all 10 000 are connected when it prints and
	// when it ends.
	goFile := t.TempDir() + "/go"
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"},
		Command: fmt.Sprintf(`while [ ! -e %s ]; do sleep 0.1; done; for i in $(seq 1 50); do echo "line $i"; sleep 0.1; done`, goFile)})
	stop := make(chan struct{})
	peak := srv.peakRSS(t, stop)

	var (
		statuses   statusCounts
		reconnects atomic.Int64
		watching   atomic.Int64
		done       sync.WaitGroup
		dial       = make(chan struct{}, 200) // connections being set up at once
		deadline   = time.Now().Add(4 * time.Minute)
		results    = make([]*rawViewer, viewers)
	)
	start := time.Now()
	for i := range viewers {
		v := &rawViewer{addr: u.Host, jobID: job.ID, seqOK: true, deadline: deadline}
		results[i] = v
		done.Add(1)
		dial <- struct{}{}
		go func() {
			defer done.Done()
			var dialed sync.Once
			release := func(ok bool) {
				dialed.Do(func() {
					<-dial
					if ok {
						watching.Add(1)
					}
				})
			}
			defer release(false)
			first := true
			for !v.ended && time.Now().Before(deadline) {
				if !first {
					reconnects.Add(1)
					time.Sleep(2 * time.Second) // the stream's retry: 2000
				}
				code := v.once(release)
				first = false
				statuses.add(code)
			}
		}()
	}
	for watching.Load() < viewers && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	connected := time.Since(start)
	os.WriteFile(goFile, nil, 0o644)
	ended := time.Now()
	done.Wait()
	endedIn := time.Since(ended)
	close(stop)
	final := ts.waitJob(t, job.ID)
	lines := int64(len(ts.ndjson(t, job.ID, "")))
	if final.Status != gaffer.StatusSucceeded || lines < 3 {
		t.Fatalf("job %s with %d records", final.Status, lines)
	}

	got, incomplete, disordered := 0, 0, 0
	for _, v := range results {
		switch {
		case !v.seqOK:
			disordered++
		case !v.ended || v.last != lines:
			incomplete++
		default:
			got++
		}
	}
	t.Logf("%d viewers watching %d of them after %.1f s; all had the end %.1f s after the job began printing; %d got all %d records; statuses %v; %d reconnects; server RSS idle %.0f MiB, peak %.0f MiB",
		viewers, watching.Load(), connected.Seconds(), endedIn.Seconds(), got, lines, statuses.m, reconnects.Load(), float64(idle)/(1<<20), float64(<-peak)/(1<<20))
	if n := statuses.get(500); n > 0 {
		t.Errorf("%d requests answered 500", n)
	}
	if disordered > 0 || incomplete > 0 {
		t.Errorf("%d viewers got lines out of order, %d did not get every line and the end", disordered, incomplete)
	}
	if n := statuses.get(0); n > 0 {
		t.Errorf("%d connections failed", n)
	}
	if t.Failed() {
		t.Logf("server log:\n%s", tail(srv.Out.String(), 30))
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
	srv := startServerProcess(t, "--data-dir", t.TempDir(), "--stream-write-timeout", "5s")
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
