package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sse"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// appendFile appends text to a file the test user can read.
func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Error(err)
	}
}

// logWatch reads a job's log as the page does (SSE, resuming with
// Last-Event-ID when the server closes the stream), noting when each
// record arrived, until the log ends or the test does.
type logWatch struct {
	mu      sync.Mutex
	recs    []gaffer.Record
	arrived []time.Time
	end     bool
	err     error
}

func watchLog(t *testing.T, ts *testServer, id int64) *logWatch {
	t.Helper()
	w := &logWatch{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil && !w.ended() {
			w.read(ctx, ts, id)
		}
	}()
	return w
}

// read follows one SSE stream until it closes.
func (w *logWatch) read(ctx context.Context, ts *testServer, id int64) {
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/jobs/%d/log", ts.URL, id), nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept", "text/event-stream")
	w.mu.Lock()
	if n := len(w.recs); n > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(w.recs[n-1].Seq, 10))
	}
	w.mu.Unlock()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.fail(err)
		return
	}
	defer resp.Body.Close()
	r := sse.NewReader(resp.Body)
	for {
		ev, err := r.Next()
		if err != nil {
			return
		}
		switch ev.Type {
		case "line":
			var rec gaffer.Record
			if err := json.Unmarshal(ev.Data, &rec); err != nil {
				w.fail(err)
				return
			}
			w.mu.Lock()
			w.recs = append(w.recs, rec)
			w.arrived = append(w.arrived, time.Now())
			w.mu.Unlock()
		case "end":
			w.mu.Lock()
			w.end = true
			w.mu.Unlock()
			return
		}
	}
}

func (w *logWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
	time.Sleep(50 * time.Millisecond) // before trying again
}

func (w *logWatch) ended() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.end
}

// all returns the records so far.
func (w *logWatch) all() []gaffer.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.recs)
}

// arrival is when a record matched by logWatch.wait arrived, and its
// server time stamp (when the server received it from the host).
type arrival struct{ at, ts time.Time }

// wait waits until every one of wants matches a record, and returns
// when each of those records arrived.
func (w *logWatch) wait(t *testing.T, what string, timeout time.Duration, wants ...func(gaffer.Record) bool) []arrival {
	t.Helper()
	at := make([]arrival, len(wants))
	found, from := 0, 0
	for deadline := time.Now().Add(timeout); ; time.Sleep(2 * time.Millisecond) {
		w.mu.Lock()
		for ; from < len(w.recs); from++ {
			for i, want := range wants {
				if at[i].at.IsZero() && want(w.recs[from]) {
					at[i] = arrival{w.arrived[from], w.recs[from].TS}
					found++
					break
				}
			}
		}
		err := w.err
		w.mu.Unlock()
		if found == len(wants) {
			return at
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d records after %s (stream error: %v); log:\n%s", what, found, len(wants), timeout, err, dumpRecords(w.all()))
		}
	}
}

func dumpRecords(recs []gaffer.Record) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "%d %s %s %s %q\n", r.Seq, r.Host, r.Stream, r.File, r.Data)
	}
	return b.String()
}

// line matches a followed file's record.
func line(host, file, text string) func(gaffer.Record) bool {
	return func(r gaffer.Record) bool {
		return r.Stream == gaffer.Stdout && r.Host == host && r.File == file && string(r.Data) == text && r.NL
	}
}

// systemLine matches a system record holding text.
func systemLine(host, text string) func(gaffer.Record) bool {
	return func(r gaffer.Record) bool {
		return r.Stream == gaffer.System && r.Host == host && strings.Contains(string(r.Data), text)
	}
}

// waitFollowing waits until every run of the job follows the files.
func (ts *testServer) waitFollowing(t *testing.T, id int64, files int) *gaffer.Job {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		j := ts.job(t, id)
		n := 0
		for _, r := range j.Runs {
			st := r.Follow
			if st == nil || st.State != gaffer.FollowFollowing {
				continue
			}
			following := 0
			for _, f := range st.Files {
				if f.State == gaffer.FileFollowing {
					following++
				}
			}
			if following == files {
				n++
			}
		}
		if n == len(j.Runs) {
			return j
		}
		if j.Status.Done() || time.Now().After(deadline) {
			b, _ := json.Marshal(j)
			t.Fatalf("job not following %d files on each host: %s", files, b)
		}
	}
}

// latencies are, for lines appended to followed files, the time from the
// write to the line parsed from SSE, and how that splits: write → the
// server has it (the record's ts: the host's poll and the connection),
// and the server → SSE.
type latencies struct{ total, host, server []time.Duration }

func (l *latencies) add(wrote time.Time, a arrival) {
	l.total = append(l.total, a.at.Sub(wrote))
	l.host = append(l.host, a.ts.Sub(wrote))
	l.server = append(l.server, a.at.Sub(a.ts))
}

func (l latencies) String() string {
	return fmt.Sprintf("append → SSE %s; append → server %s; server → SSE %s", percentiles(l.total), percentiles(l.host), percentiles(l.server))
}

// percentiles says p50, p99 and max of durations.
func percentiles(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("n=%d p50 %s p99 %s max %s", len(s), r(at(0.5)), r(at(0.99)), r(s[len(s)-1]))
}

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// A follow job over real sshd: appended lines show in the log with their
// file (the latency is logged, not asserted); a new file matching the glob
// is followed from its start; a connection cut while lines are appended
// loses and repeats nothing, and the log says the host was away and back;
// a cancel ends the job as canceled and leaves no script on the host.
func TestFollowEndToEnd(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 1})
	proxy := sshtest.StartProxy(t, sshd.Addrs[0])
	hosts := sshd.Hosts()
	hosts[0].Address, hosts[0].Port = "127.0.0.1", proxy.Port()
	known := sshd.WriteKnownHosts(t, sshtest.KnownHostsOptions{Addrs: []string{proxy.Addr()}})
	ts := startServer(t, "--inventory", writeInventory(t, hosts, ""), "--known-hosts", known)

	dir := sshtest.SharedDir(t, "gaffer-follow-")
	app := filepath.Join(dir, "app.log")
	appendFile(t, app, "before the job\n")
	job := ts.startJob(t, gaffer.JobRequest{Follow: []string{dir + "/*.log"}, Hosts: []string{"host-1"}})
	if job.Command != "follow "+dir+"/*.log" || job.From != "end" {
		t.Errorf("job command %q from %q", job.Command, job.From)
	}
	w := watchLog(t, ts, job.ID)
	ts.waitFollowing(t, job.ID, 1)

	// Append → SSE, one line at a time.
	var lat latencies
	for i := 0; i < 20; i++ {
		text := fmt.Sprintf("append %d", i)
		wrote := time.Now()
		appendFile(t, app, text+"\n")
		lat.add(wrote, w.wait(t, "appended line", 60*time.Second, line("host-1", app, text))[0])
	}
	t.Logf("1 host: %s (load average %s)", lat, loadAverage())

	// A new file matching the glob: from its first line.
	other := filepath.Join(dir, "other.log")
	appendFile(t, other, "first of other\nsecond of other\n")
	w.wait(t, "new file", 60*time.Second, line("host-1", other, "first of other"), line("host-1", other, "second of other"))

	// Cut the connection (twice) while lines are appended.
	const cutLines = 150
	var wants []func(gaffer.Record) bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < cutLines; i++ {
			appendFile(t, app, fmt.Sprintf("cut %03d\n", i))
			if i == 40 || i == 100 {
				proxy.Cut()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for i := 0; i < cutLines; i++ {
		wants = append(wants, line("host-1", app, fmt.Sprintf("cut %03d", i)))
	}
	wg.Wait()
	w.wait(t, "lines across cuts", 120*time.Second, wants...)
	w.wait(t, "away and back", 30*time.Second, systemLine("host-1", "host-1 unreachable since"), systemLine("host-1", "host-1 back after"))
	ts.waitFollowing(t, job.ID, 2)
	// Every line exactly once, in order, each file's own.
	var got []string
	for _, r := range w.all() {
		if r.Stream == gaffer.System {
			continue
		}
		if r.Stream != gaffer.Stdout || r.Host != "host-1" || (r.File != app && r.File != other) || !r.NL {
			t.Errorf("record %+v", r)
		}
		if r.File == app {
			got = append(got, string(r.Data))
		}
	}
	var want []string
	for i := 0; i < 20; i++ {
		want = append(want, fmt.Sprintf("append %d", i))
	}
	for i := 0; i < cutLines; i++ {
		want = append(want, fmt.Sprintf("cut %03d", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("lines of app.log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	for _, r := range w.all() {
		if r.Stream == gaffer.System {
			t.Logf("system line: %s", r.Data)
		}
	}

	// Cancel: the job ends as canceled, and the script is gone from the host.
	if len(sshd.ProcessesWith(t, dir)) == 0 {
		t.Errorf("no follow script found on the host: %v", sshd.Processes(t))
	}
	resp := ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil)
	resp.Body.Close()
	j := ts.waitJob(t, job.ID)
	if j.Status != gaffer.StatusCanceled || j.Runs[0].Status != gaffer.StatusCanceled {
		t.Fatalf("after cancel: job %s run %+v", j.Status, j.Runs[0])
	}
	sshd.WaitNoProcessesWith(t, dir)
}

// A follow job of 40 hosts (three sshd daemons, 40 addresses) × 3 files in
// three directories: one SSH connection per host, and each line written
// reaches the log once from every host. The latency from the write to the
// SSE line is logged, not asserted.
func TestFollowFleet40x3(t *testing.T) {
	const nHosts, rounds = 40, 8
	sshd := sshtest.Start(t, sshtest.Options{Hosts: nHosts})
	ts := startServer(t, "--inventory", writeInventory(t, sshd.Hosts(), ""), "--known-hosts", sshd.KnownHosts)
	base := sshtest.SharedDir(t, "gaffer-follow-")
	var files []string
	for _, d := range []string{"nginx", "app", "sys"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(base, d, d+".log")
		appendFile(t, f, "old\n")
		files = append(files, f)
	}
	job := ts.startJob(t, gaffer.JobRequest{Follow: files, Selector: "role=web"})
	if len(job.Runs) != nHosts || job.Concurrency != nHosts {
		t.Fatalf("%d runs, concurrency %d", len(job.Runs), job.Concurrency)
	}
	w := watchLog(t, ts, job.ID)
	ts.waitFollowing(t, job.ID, 3)

	var lat latencies
	for r := 0; r < rounds; r++ {
		wrote := make([]time.Time, len(files))
		var wants []func(gaffer.Record) bool
		var which []int
		for i, f := range files {
			wrote[i] = time.Now()
			appendFile(t, f, fmt.Sprintf("round %d of %s\n", r, filepath.Base(f)))
			for h := 1; h <= nHosts; h++ {
				wants = append(wants, line(fmt.Sprintf("host-%d", h), f, fmt.Sprintf("round %d of %s", r, filepath.Base(f))))
				which = append(which, i)
			}
		}
		at := w.wait(t, fmt.Sprintf("round %d from every host", r), 120*time.Second, wants...)
		for k, a := range at {
			lat.add(wrote[which[k]], a)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("%d hosts × %d files: %s (load average %s)", nHosts, len(files), lat, loadAverage())

	// Each line once per host, and no more.
	count := map[string]int{}
	for _, r := range w.all() {
		if r.Stream == gaffer.Stdout {
			count[r.Host+" "+string(r.Data)]++
		}
		if r.Stream == gaffer.System && strings.Contains(string(r.Data), "unreachable") {
			t.Logf("a host was away (its reconnect adds a connection): %s %s", r.Host, r.Data)
		}
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("%q %d times", k, n)
		}
	}
	if len(count) != nHosts*len(files)*rounds {
		t.Errorf("%d distinct lines, want %d", len(count), nHosts*len(files)*rounds)
	}
	// One connection per host: sshd logs each login.
	if n := strings.Count(sshd.Log(), "Accepted publickey for"); n != nHosts {
		t.Errorf("%d ssh logins for %d hosts", n, nHosts)
	}
	resp := ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil)
	resp.Body.Close()
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusCanceled {
		t.Fatalf("after cancel: %s", j.Status)
	}
	sshd.WaitNoProcessesWith(t, base)
}

// A follow job on the host local (the server's own machine, no SSH): from
// the files' start, a path with no file is said to be missing (in the log
// and the run's state), appended lines come, and a cancel ends it.
func TestFollowLocal(t *testing.T) {
	ts := startServer(t)
	dir := sshtest.SharedDir(t, "gaffer-follow-local-")
	app, absent := filepath.Join(dir, "app.log"), filepath.Join(dir, "absent.log")
	appendFile(t, app, "one\ntwo\n")
	job := ts.startJob(t, gaffer.JobRequest{Follow: []string{app, absent}, From: "start", Hosts: []string{"local"}})
	w := watchLog(t, ts, job.ID)
	w.wait(t, "whole file and missing path", 60*time.Second, line("local", app, "one"), line("local", app, "two"),
		systemLine("local", absent+": no such file"), systemLine("local", "following on local (this server): "+app+", "+absent+", from their start"))
	appendFile(t, app, "three\n")
	w.wait(t, "appended line", 60*time.Second, line("local", app, "three"))
	j := ts.job(t, job.ID)
	st := j.Runs[0].Follow
	if j.Status != gaffer.StatusRunning || st == nil || st.State != gaffer.FollowFollowing || len(st.Files) != 2 ||
		st.Files[0].Path != absent || st.Files[0].State != gaffer.FileMissing || st.Files[1].Path != app || st.Files[1].State != gaffer.FileFollowing {
		b, _ := json.Marshal(j)
		t.Errorf("job while following: %s", b)
	}
	resp := ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil)
	resp.Body.Close()
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusCanceled {
		t.Fatalf("after cancel: %s", j.Status)
	}
}
