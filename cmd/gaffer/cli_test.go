package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// gafferCLI runs a client command against ts and returns stdout, stderr and
// the exit code.
func gafferCLI(t *testing.T, ts *testServer, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append([]string{args[0], "--server", ts.URL, "--token", testToken}, args[1:]...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, all, &out, &errOut)
	code := exitCode(err, &errOut)
	return out.String(), errOut.String(), code
}

func TestCLIRunLogsJobs(t *testing.T) {
	ts := startServer(t)
	out, errOut, code := gafferCLI(t, ts, "run", "-H", "local", "--", "echo", "hello;", "echo", "oops", ">&2")
	if code != 0 || out != "local | hello\n" || !strings.Contains(errOut, "local ! oops\n") {
		t.Fatalf("run: code %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	// The job's exit code is passed on; failed runs are summarised.
	_, errOut, code = gafferCLI(t, ts, "run", "-H", "local", "--", "exit 3")
	if code != 3 || !strings.Contains(errOut, "local failed: exit status 3") {
		t.Fatalf("exit 3: code %d, stderr %q", code, errOut)
	}
	out, _, code = gafferCLI(t, ts, "logs", "1")
	if code != 0 || out != "local | hello\n" {
		t.Fatalf("logs: %d %q", code, out)
	}
	// logs -f follows a running job live to its end.
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "for i in 1 2 3; do echo $i; sleep 0.1; done"})
	out, _, code = gafferCLI(t, ts, "logs", "-f", fmt.Sprint(job.ID))
	if code != 0 || out != "local | 1\nlocal | 2\nlocal | 3\n" {
		t.Fatalf("logs -f: %d %q", code, out)
	}
	out, _, _ = gafferCLI(t, ts, "logs", "--after", "4", "1")
	if out != "" {
		t.Fatalf("logs --after: %q", out)
	}
	out, _, code = gafferCLI(t, ts, "jobs")
	if code != 0 || !strings.Contains(out, "exit 3") || !strings.Contains(out, "succeeded") {
		t.Fatalf("jobs: %q", out)
	}
	out, _, code = gafferCLI(t, ts, "hosts")
	if code != 0 || !strings.Contains(out, "local") {
		t.Fatalf("hosts: %q", out)
	}
	_, errOut, code = gafferCLI(t, ts, "run", "-H", "nope", "--", "true")
	if code != 1 || !strings.Contains(errOut, "unknown host: nope") {
		t.Fatalf("unknown host: %d %q", code, errOut)
	}
	_, errOut, code = gafferCLI(t, ts, "logs", "999")
	if code != 1 || !strings.Contains(errOut, "job 999 does not exist") {
		t.Fatalf("unknown job: %d %q", code, errOut)
	}
}

// SIGTERM stops the server cleanly: running jobs become interrupted, it says
// so, and their logs stay readable after a restart.
func TestShutdownInterruptsRunningJobs(t *testing.T) {
	ts := startServer(t)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "echo started; sleep 60"})
	s := ts.openSSE(t, job.ID, "")
	s.readLines(t, 2)
	ts.Stop(t)
	if out := ts.Output(); !strings.Contains(out, fmt.Sprintf("interrupted 1 running job(s): %d", job.ID)) {
		t.Fatalf("shutdown output:\n%s", out)
	}
	// The open stream got the final status and end event.
	rest, end := s.readLines(t, -1)
	s.Close()
	if !end || len(rest) == 0 {
		t.Fatalf("viewer after shutdown: %d records, end=%v", len(rest), end)
	}
	ts2 := startServer(t, "--data-dir", ts.DataDir)
	j := ts2.job(t, job.ID)
	if j.Status != gaffer.StatusInterrupted || j.Runs[0].Status != gaffer.StatusInterrupted || j.Runs[0].Error == "" {
		t.Fatalf("after restart: %+v %+v", j, j.Runs[0])
	}
	recs := ts2.ndjson(t, job.ID, "")
	if len(recs) < 2 || string(recs[1].Data) != "started" {
		t.Fatalf("log after restart: %+v", recs)
	}
}

// kill -9 of the server: on the next start the job left running is marked
// interrupted and its log so far is served.
func TestCrashLeavesJobInterrupted(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "serve", "--listen", "127.0.0.1:0", "--data-dir", dir, "--admin-token", testToken)
	cmd.Env = append(os.Environ(), "GAFFER_TEST_MAIN=1")
	var out safeBuffer
	cmd.Stdout = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	var url string
	for deadline := time.Now().Add(60 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(out.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, "gaffer: listening on "); ok {
				url = strings.Fields(rest)[0]
			}
		}
	}
	if url == "" {
		t.Fatalf("server did not start: %s", out.String())
	}
	crashed := &testServer{URL: url}
	job := crashed.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "echo before crash; sleep 60"})
	s := crashed.openSSE(t, job.ID, "")
	s.readLines(t, 2)
	s.Close()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()

	ts := startServer(t, "--data-dir", dir)
	if !strings.Contains(ts.Output(), "now marked interrupted") {
		t.Errorf("start-up output: %s", ts.Output())
	}
	j := ts.job(t, job.ID)
	if j.Status != gaffer.StatusInterrupted {
		t.Fatalf("job after crash: %s", j.Status)
	}
	recs := ts.ndjson(t, job.ID, "")
	if len(recs) != 2 || string(recs[1].Data) != "before crash" {
		t.Fatalf("log after crash: %+v", recs)
	}
	// The SSE stream of the interrupted job ends instead of waiting forever.
	s = ts.openSSE(t, job.ID, "")
	got, end := s.readLines(t, -1)
	s.Close()
	if !end || len(got) != 2 {
		t.Fatalf("sse after crash: %d records end=%v", len(got), end)
	}
	if _, err := os.Stat(filepath.Join(dir, "gaffer.db")); err != nil {
		t.Fatal(err)
	}
}

// safeBuffer is a bytes.Buffer that a child process and the test share.
type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Server and token come from flags, then the environment, then the config file.
func TestClientConfigFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("GAFFER_TOKEN", "")
	os.Unsetenv("GAFFER_TOKEN")
	os.MkdirAll(filepath.Join(dir, "gaffer"), 0o700)
	os.WriteFile(filepath.Join(dir, "gaffer", "config"), []byte("# gaffer\nserver = http://example.invalid:1\ntoken = \"from-file\"\n"), 0o600)
	c := &client{}
	if err := c.check(); err != nil || c.server != "http://example.invalid:1" || c.token != "from-file" {
		t.Fatalf("config file: %v %+v", err, c)
	}
	c = &client{server: "http://127.0.0.1:2", token: "flag"}
	if err := c.check(); err != nil || c.server != "http://127.0.0.1:2" || c.token != "flag" {
		t.Fatalf("flags: %v %+v", err, c)
	}
	os.WriteFile(filepath.Join(dir, "gaffer", "config"), []byte("nonsense\n"), 0o600)
	if err := (&client{}).check(); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad config: %v", err)
	}
}

// On a terminal the progress line stays at the bottom and is cleared before
// each line of output.
func TestCLIPrinterProgress(t *testing.T) {
	var out, errOut bytes.Buffer
	p := &printer{out: bufio.NewWriter(&out), errOut: bufio.NewWriter(&errOut), progress: true}
	p.job(&gaffer.Job{Runs: []*gaffer.Run{{Host: "web-1", Status: gaffer.StatusSucceeded}, {Host: "web-22", Status: gaffer.StatusRunning}}})
	p.printRecord(gaffer.Record{Host: "web-1", Stream: gaffer.Stdout, Data: []byte("hi"), NL: true})
	p.job(&gaffer.Job{Runs: []*gaffer.Run{{Host: "web-1", Status: gaffer.StatusSucceeded}, {Host: "web-22", Status: gaffer.StatusFailed}}})
	p.finish()
	if out.String() != "web-1  | hi\n" {
		t.Errorf("stdout %q", out.String())
	}
	if want := "\r\x1b[K1/2 done\r\x1b[K\r\x1b[K1/2 done\r\x1b[K\r\x1b[K2/2 done, 1 failed\r\x1b[K"; errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}
}
