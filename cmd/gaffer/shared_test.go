package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gaffer-dev/gaffer"
)

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// testDatabaseURL creates a fresh PostgreSQL database for one test and
// drops it afterwards. The server comes from GAFFER_TEST_DATABASE_URL.
func testDatabaseURL(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("GAFFER_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL is needed (GAFFER_TEST_DATABASE_URL, default 127.0.0.1:5432); run scripts/test, which starts one: %v", err)
	}
	defer conn.Close(ctx)
	name := randomName("gaffer_e2e_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}

// testRedisURL is the shared Redis (GAFFER_TEST_REDIS_URL); tests use their
// own key prefix on it.
func testRedisURL() string {
	if u := os.Getenv("GAFFER_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// privateRedis starts a redis-server of this test's own on a free port, so
// the test may restart it and count its connections.
type privateRedis struct {
	port int
	dir  string
	cmd  *exec.Cmd
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server not found: run scripts/test, or apt-get install -y redis-server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &privateRedis{port: port, dir: t.TempDir()}
	r.start(t)
	t.Cleanup(r.stop)
	return r
}

func (r *privateRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *privateRedis) start(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--maxclients", "10000")
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port)); err == nil {
			c.Close()
			return
		}
	}
	t.Fatal("private redis-server did not start")
}

func (r *privateRedis) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// info returns one field of INFO from the private Redis.
func (r *privateRedis) info(t *testing.T, field string) string {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "INFO\r\n")
	br := bufio.NewReader(c)
	header, _ := br.ReadString('\n')
	n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(header, "$")))
	body := make([]byte, n)
	io.ReadFull(br, body)
	for _, line := range strings.Split(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	return ""
}

// sharedArgs are the flags of one instance among several sharing state.
func sharedArgs(instance, dbURL, redisURL, prefix, archiveDir string, extra ...string) []string {
	return append([]string{"--instance", instance, "--database-url", dbURL, "--redis-url", redisURL,
		"--redis-prefix", prefix, "--archive-dir", archiveDir}, extra...)
}

// startProcess runs gaffer serve as a child process (this test binary acting
// as main), so it can be killed with SIGKILL.
func startProcess(t *testing.T, args ...string) (url string, kill func()) {
	t.Helper()
	p := startServerProcess(t, os.Args[0], []string{"GAFFER_TEST_MAIN=1"}, args...)
	return p.URL, p.kill
}

// Two instances share PostgreSQL, Redis and the archive: a job started on A
// is followed on B; a viewer moved from A to B mid-stream resumes with
// nothing lost or repeated; B serves the finished log and its raw bytes.
func TestSharedInstances(t *testing.T) {
	db, prefix, arch := testDatabaseURL(t), randomName("gaffer-test-")+":", t.TempDir()
	a := startServer(t, sharedArgs("a", db, testRedisURL(), prefix, arch)...)
	b := startServer(t, sharedArgs("b", db, testRedisURL(), prefix, arch)...)

	job := a.startJob(t, slowJob(300))
	if job.Owner != "a" {
		t.Errorf("owner %q", job.Owner)
	}
	s := a.openSSE(t, job.ID, "")
	first, _ := s.readLines(t, 150)
	s.Close()
	s = b.openSSE(t, job.ID, strconv.FormatInt(first[len(first)-1].Seq, 10))
	rest, end := s.readLines(t, -1)
	s.Close()
	if !end {
		t.Fatal("no end event on B")
	}
	checkSeqs(t, append(first, rest...), 402)
	if j := b.waitJob(t, job.ID); j.Status != gaffer.StatusSucceeded {
		t.Fatalf("job on B: %s", j.Status)
	}
	checkSeqs(t, b.ndjson(t, job.ID, ""), 402)
	resp := b.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log?format=raw&stream=stdout", job.ID), nil)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(raw), "line 1\nline 2\n") || !strings.HasSuffix(string(raw), "line 300\n") {
		t.Fatalf("raw from B: %d bytes", len(raw))
	}

	// Cancel through B stops the job running on A.
	job = a.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "echo go; sleep 60"})
	s = b.openSSE(t, job.ID, "")
	s.readLines(t, 2)
	resp = b.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("cancel via B: %s", resp.Status)
	}
	if _, end := s.readLines(t, -1); !end {
		t.Fatal("no end after cancel")
	}
	s.Close()
	if j := a.waitJob(t, job.ID); j.Status != gaffer.StatusCanceled {
		t.Fatalf("canceled via B: %s", j.Status)
	}
}

// kill -9 of the instance running a job: another instance marks it
// interrupted within a few lease periods, and serves its log so far.
func TestSharedInstanceKilled(t *testing.T) {
	db, prefix, arch := testDatabaseURL(t), randomName("gaffer-test-")+":", t.TempDir()
	urlA, killA := startProcess(t, append(sharedArgs("a", db, testRedisURL(), prefix, arch, "--lease-ttl", "2s"), "--data-dir", t.TempDir())...)
	b := startServer(t, sharedArgs("b", db, testRedisURL(), prefix, arch, "--lease-ttl", "2s")...)
	a := &testServer{URL: urlA}
	job := a.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "echo before kill; sleep 60"})
	s := b.openSSE(t, job.ID, "")
	s.readLines(t, 2)
	killed := time.Now()
	killA()
	// B's viewer sees the end once B has interrupted the job.
	rest, end := s.readLines(t, -1)
	s.Close()
	if !end {
		t.Fatalf("viewer on B: no end event (%d more records)", len(rest))
	}
	j := b.waitJob(t, job.ID)
	t.Logf("job interrupted %s after kill -9 (lease 2s)", time.Since(killed).Round(100*time.Millisecond))
	if j.Status != gaffer.StatusInterrupted || !strings.Contains(j.Runs[0].Error, "stopped responding") {
		t.Fatalf("after kill: %s %+v", j.Status, j.Runs[0])
	}
	recs := b.ndjson(t, job.ID, "")
	if len(recs) != 2 || string(recs[1].Data) != "before kill" {
		t.Fatalf("log after kill: %+v", recs)
	}
}

// Redis restarted mid-job (its data lost): the job goes on, the archived log
// is byte-identical to what the command printed, and a viewer recovers.
func TestSharedRedisRestart(t *testing.T) {
	r := startPrivateRedis(t)
	db, arch := testDatabaseURL(t), t.TempDir()
	a := startServer(t, sharedArgs("a", db, r.url(), "g:", arch)...)
	job := a.startJob(t, slowJob(600))
	s := a.openSSE(t, job.ID, "")
	first, _ := s.readLines(t, 100)
	r.stop()
	time.Sleep(300 * time.Millisecond)
	r.start(t)
	rest, end := s.readLines(t, -1)
	s.Close()
	all := append(first, rest...)
	if !end {
		// The stream may break when Redis goes; resume as a browser would.
		s = a.openSSE(t, job.ID, strconv.FormatInt(all[len(all)-1].Seq, 10))
		more, end2 := s.readLines(t, -1)
		s.Close()
		if !end2 {
			t.Fatal("no end after resuming")
		}
		all = append(all, more...)
	}
	j := a.waitJob(t, job.ID)
	if j.Status != gaffer.StatusSucceeded {
		t.Fatalf("job after Redis restart: %s %+v", j.Status, j.Runs[0])
	}
	checkSeqs(t, all, 802)
	resp := a.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log?format=raw&stream=stdout", job.ID), nil)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var want strings.Builder
	for i := 1; i <= 600; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	if string(raw) != want.String() {
		t.Fatalf("archived stdout differs from what the command printed (%d bytes, want %d)", len(raw), want.Len())
	}
}

// 500 viewers on one job through one instance all get every line, and the
// instance's Redis connections do not grow with them.
func TestShared500Viewers(t *testing.T) {
	r := startPrivateRedis(t)
	db, arch := testDatabaseURL(t), filepath.Join(t.TempDir(), "archive")
	const viewers = 500
	// All viewers hold the one admin token: lift its per-credential cap.
	a := startServer(t, sharedArgs("a", db, r.url(), "g:", arch, "--max-streams-per-user", strconv.Itoa(viewers))...)
	before, _ := strconv.Atoi(r.info(t, "connected_clients"))
	job := a.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: `sleep 1; for i in $(seq 1 2000); do echo "line $i"; done; sleep 1`})
	var wg sync.WaitGroup
	counts := make([]int, viewers)
	errs := make(chan error, viewers)
	var reconnects atomic.Int64
	for i := 0; i < viewers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			recs, end, again := a.readResuming(t, job.ID)
			reconnects.Add(int64(again))
			if !end {
				errs <- fmt.Errorf("viewer %d: no end after %d reconnects", i, again)
			}
			for k, rec := range recs {
				if rec.Seq != int64(k+1) {
					errs <- fmt.Errorf("viewer %d: record %d has seq %d", i, k, rec.Seq)
					return
				}
			}
			counts[i] = len(recs)
		}(i)
	}
	maxConns := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(100 * time.Millisecond):
			if n, _ := strconv.Atoi(r.info(t, "connected_clients")); n > maxConns {
				maxConns = n
			}
		}
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, n := range counts {
		if n != 2002 {
			t.Fatalf("viewer %d got %d records, want 2002", i, n)
		}
	}
	t.Logf("Redis connections: %d before, at most %d with %d viewers; %d reconnects", before, maxConns, viewers, reconnects.Load())
	if maxConns > before+40 {
		t.Fatalf("Redis connections grew with viewers: %d before, %d with %d viewers", before, maxConns, viewers)
	}
}

// With Redis or PostgreSQL down at start the server says which and stops.
func TestSharedServicesDownAtStart(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--database-url", testDatabaseURL(t), "--redis-url", "redis://" + closed + "/0"}, "cannot reach Redis at " + closed},
		{[]string{"--database-url", "postgres://postgres@" + closed + "/x?sslmode=disable"}, "cannot reach PostgreSQL at " + closed},
		{[]string{"--redis-url", testRedisURL()}, "--redis-url needs --database-url"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := serve(ctx, append([]string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--admin-token", testToken}, tc.args...), io.Discard, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
}
