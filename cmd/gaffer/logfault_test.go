package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// A server started by startLimited (this test binary acting as main) puts
// GAFFER_TEST_FSIZE on itself as RLIMIT_FSIZE before anything else: every
// file it writes beyond that size fails with EFBIG ("file too large"), as on
// a data directory with a size limit. (Go ignores SIGXFSZ.)
func init() {
	if os.Getenv("GAFFER_TEST_MAIN") != "1" {
		return
	}
	if v := os.Getenv("GAFFER_TEST_FSIZE"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err == nil {
			err = syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: n})
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "GAFFER_TEST_FSIZE=%q: %v\n", v, err)
			os.Exit(2)
		}
	}
}

// startLimited runs gaffer serve as a child process whose files may grow to
// at most fsize bytes. It returns the server and the process id.
func startLimited(t *testing.T, fsize int64, args ...string) (*testServer, int) {
	t.Helper()
	p := startServerProcess(t, os.Args[0], []string{"GAFFER_TEST_MAIN=1", "GAFFER_TEST_FSIZE=" + strconv.FormatInt(fsize, 10)},
		append([]string{"--ssh-config", ""}, args...)...)
	return p.testServer, p.PID
}

// cpuTime is the CPU time a process has used so far.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th, in clock ticks (100 per second on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// metric returns one unlabelled value from /metrics, or -1.
func (ts *testServer) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp := ts.request(t, "GET", "/metrics", nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// viewer reads a whole SSE stream in the background: line events, gap
// events, and whether it ended with `end`.
type viewer struct {
	mu     sync.Mutex
	recs   []gaffer.Record
	gaps   [][2]int64
	end    bool
	other  []string // notices and the like
	closed chan struct{}
}

func (ts *testServer) view(t *testing.T, id int64) *viewer {
	t.Helper()
	s := ts.openSSE(t, id, "")
	v := &viewer{closed: make(chan struct{})}
	go func() {
		defer close(v.closed)
		defer s.Close()
		for {
			ev, ok := s.next()
			if !ok {
				return
			}
			v.mu.Lock()
			switch ev.Type {
			case "line":
				var r gaffer.Record
				if json.Unmarshal(ev.Data, &r) == nil {
					v.recs = append(v.recs, r)
				}
			case "gap":
				var g struct{ From, To int64 }
				json.Unmarshal(ev.Data, &g)
				v.gaps = append(v.gaps, [2]int64{g.From, g.To})
			case "end":
				v.end = true
			case "status":
			default:
				v.other = append(v.other, ev.Type+" "+string(ev.Data))
			}
			v.mu.Unlock()
			if ev.Type == "end" {
				return
			}
		}
	}()
	return v
}

func (v *viewer) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.recs) + len(v.gaps)
}

// wait waits for the stream to close.
func (v *viewer) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-v.closed:
	case <-time.After(d):
		t.Errorf("viewer: stream still open after %s (%d records, last %s)", d, len(v.recs), v.lastSeq())
	}
}

func (v *viewer) lastSeq() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.recs) == 0 {
		return "none"
	}
	return strconv.FormatInt(v.recs[len(v.recs)-1].Seq, 10)
}

// check asserts that the viewer saw seqs 1..n in order, each once, as
// records or inside a reported gap, and then the end event.
func (v *viewer) check(t *testing.T, name string, n int64) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	next, gi := int64(1), 0
	for _, r := range v.recs {
		for gi < len(v.gaps) && v.gaps[gi][0] == next {
			next = v.gaps[gi][1] + 1
			gi++
		}
		if r.Seq != next {
			t.Errorf("%s: got seq %d, want %d (gaps reported: %v)", name, r.Seq, next, v.gaps)
			return
		}
		next++
	}
	if next != n+1 {
		t.Errorf("%s: stream stopped after seq %d of %d (end=%v, gaps %v, other events %q)", name, next-1, n, v.end, v.gaps, v.other)
	} else if !v.end {
		t.Errorf("%s: all %d records but no end event (other events %q)", name, n, v.other)
	}
}

// The archive fails mid-job ("file too large": the data directory has a
// size limit): a viewer behind the live buffer is told about the lost
// records in a gap event and goes on with the live buffer's records, without
// spinning, and never gets `end` before the log's last record; the job fails
// saying its log is incomplete, a metric counts it, and the archive is
// sealed, not left partial.
func TestArchiveFull(t *testing.T) {
	dataDir := t.TempDir()
	// 1 MiB holds about 170 000 of the job's records (in batch frames, a
	// number costs a byte besides its digits); the live buffer the newest
	// few thousand.
	ts, pid := startLimited(t, 1<<20, "--data-dir", dataDir, "--live-buffer", "65536")
	// The job waits after its burst until the test is done measuring.
	goFile := filepath.Join(t.TempDir(), "go")
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: fmt.Sprintf(
		"seq 1 250000; while [ ! -e %s ]; do sleep 0.1; done; echo done", goFile)})
	const total = 250003 // running line, 250 000 numbers, done, exit status

	for deadline := time.Now().Add(time.Minute); ts.metric(t, "gaffer_log_records_total") < 250001; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the job did not print its 250 000 lines in a minute")
		}
	}
	v := ts.view(t, job.ID)
	// Once the viewer has read all it can for now, the server should idle
	// while the job sleeps.
	for n := -1; n != v.count(); time.Sleep(300 * time.Millisecond) {
		n = v.count()
	}
	before, t0 := cpuTime(t, pid), time.Now()
	time.Sleep(2 * time.Second)
	cpu, wall := cpuTime(t, pid)-before, time.Since(t0)
	t.Logf("server CPU while the viewer waited: %s in %s; viewer at seq %s", cpu, wall.Round(time.Millisecond), v.lastSeq())
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if cpu > wall/8 {
		t.Errorf("the server used %s of CPU in %s while a viewer waited: it spins", cpu, wall.Round(time.Millisecond))
	}

	v.wait(t, time.Minute)
	v.check(t, "viewer", total)
	t.Logf("viewer: %d records, gaps %v", len(v.recs), v.gaps)
	if len(v.gaps) == 0 {
		t.Errorf("no gap event although the archive failed")
	}

	j := ts.waitJob(t, job.ID)
	if j.Status != gaffer.StatusFailed || !strings.Contains(j.Runs[0].Error, "log is incomplete") {
		t.Errorf("job %s, run error %q: want failed with \"the log is incomplete…\"", j.Status, j.Runs[0].Error)
	}
	t.Logf("run error: %q", j.Runs[0].Error)
	if n := ts.metric(t, "gaffer_log_incomplete_total"); n != 1 {
		t.Errorf("gaffer_log_incomplete_total %v, want 1", n)
	}
	// The command line shows the lost records where they are, in the
	// NDJSON log as in the followed one.
	if len(v.gaps) > 0 {
		// (The live buffer has dropped a few more records by now.)
		want := fmt.Sprintf("\ngaffer: records %d–", v.gaps[0][0])
		for _, args := range [][]string{{"logs"}, {"logs", "-f"}} {
			out, errOut, _ := gafferCLI(t, ts, append(args, fmt.Sprint(job.ID))...)
			if !strings.Contains(errOut, want) || !strings.Contains(errOut, "of this log were lost") || !strings.HasSuffix(out, "local | 250000\nlocal | done\n") {
				t.Errorf("gaffer %s: stderr %.300q, stdout ends %q; want %q and the last lines", strings.Join(args, " "), errOut, out[max(0, len(out)-40):], want)
			}
		}
	}
	partial, _ := filepath.Glob(filepath.Join(dataDir, "archive", "*.partial"))
	if len(partial) > 0 {
		t.Errorf("archive left partial: %v", partial)
	}
}

// Redis paused (SIGSTOP) for 10 s in the middle of a job: capture never
// waits on it, so the job takes about as long as without the pause; the
// archived log is byte-exact; every viewer, on one connection, gets every
// line and the end.
func TestRedisPause(t *testing.T) {
	r := startPrivateRedis(t)
	ts := startServer(t, sharedArgs("a", testDatabaseURL(t), r.url(), "g:", t.TempDir())...)
	const lines = 400
	req := gaffer.JobRequest{Hosts: []string{"local"}, Command: fmt.Sprintf(
		`i=0; while [ $i -lt %d ]; do i=$((i+1)); echo "line $i"; sleep 0.01; done`, lines)}
	took := func(j *gaffer.Job) time.Duration { return j.FinishedAt.Sub(*j.StartedAt) }

	base := took(ts.waitJob(t, ts.startJob(t, req).ID))

	job := ts.startJob(t, req)
	viewers := make([]*viewer, 3)
	for i := range viewers {
		viewers[i] = ts.view(t, job.ID)
	}
	for deadline := time.Now().Add(time.Minute); viewers[0].count() < 20; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no output from the job in a minute")
		}
	}
	r.cmd.Process.Signal(syscall.SIGSTOP)
	atPause := make([]int, len(viewers))
	for i, v := range viewers {
		atPause[i] = v.count()
	}
	t.Logf("Redis paused; viewers at %v records", atPause)
	time.Sleep(10 * time.Second)
	// Viewers go on from the archive while Redis is away.
	running := !ts.job(t, job.ID).Status.Done()
	for i, v := range viewers {
		if n := v.count(); running && n < atPause[i]+20 {
			t.Errorf("viewer %d: %d records when Redis paused, %d after 10 s of the job running: viewers stall with Redis", i, atPause[i], n)
		}
	}
	r.cmd.Process.Signal(syscall.SIGCONT)
	t.Logf("Redis resumed; viewers at %d, %d, %d records", viewers[0].count(), viewers[1].count(), viewers[2].count())

	j := ts.waitJob(t, job.ID)
	paused := took(j)
	t.Logf("job took %s without the pause, %s with Redis paused for 10 s", base.Round(time.Millisecond), paused.Round(time.Millisecond))
	if j.Status != gaffer.StatusSucceeded {
		t.Errorf("job %s: %+v", j.Status, j.Runs[0])
	}
	// The job prints every 10 ms, and each record's ts is when the server
	// read it: capture that waited on Redis shows as a pause in the ts as
	// long as Redis's. (The two durations above are logged only: on a
	// loaded machine they vary by more than that.)
	viewers[0].wait(t, time.Minute)
	var held time.Duration
	var at int64
	for k, recs := 1, viewers[0].recs; k < len(recs); k++ {
		if d := recs[k].TS.Sub(recs[k-1].TS); d > held {
			held, at = d, recs[k].Seq
		}
	}
	t.Logf("longest pause in the output as captured: %s, before seq %d", held.Round(time.Millisecond), at)
	if held > 5*time.Second {
		t.Errorf("the output was not read for %s (before seq %d) while Redis was paused: capture waited on Redis", held, at)
	}
	for i, v := range viewers {
		v.wait(t, time.Minute)
		v.check(t, fmt.Sprintf("viewer %d", i), lines+2)
		if len(v.gaps) > 0 {
			t.Errorf("viewer %d: gaps %v, but the archive was complete", i, v.gaps)
		}
	}
	// A viewer of the finished job while Redis is paused again: the live
	// log cannot be read, the archive has it all.
	r.cmd.Process.Signal(syscall.SIGSTOP)
	late := ts.view(t, job.ID)
	late.wait(t, time.Minute)
	r.cmd.Process.Signal(syscall.SIGCONT)
	late.check(t, "viewer of the finished job, Redis paused", lines+2)

	resp := ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log?format=raw&stream=stdout", job.ID), nil)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var want strings.Builder
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if string(raw) != want.String() {
		t.Errorf("archived stdout differs from what the command printed (%d bytes, want %d)", len(raw), want.Len())
	}
}
