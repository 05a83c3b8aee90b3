package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// testHook is a webhook on loopback. Its mode says how it answers: "ok",
// "fail" (503) or "hang" (no answer until the mode changes). It keeps the
// alerts of the POSTs it answered 200 to, with the client still there.
type testHook struct {
	srv *httptest.Server
	mu  sync.Mutex
	// changed is closed and replaced when mode changes.
	mode    string
	changed chan struct{}
	got     []gaffer.Alert
	posts   int
	hanging int // POSTs waiting now
	bad     []string
}

func startHook(t *testing.T, mode string) *testHook {
	t.Helper()
	h := &testHook{mode: mode, changed: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(func() { h.setMode("ok"); h.srv.Close() })
	return h
}

func (h *testHook) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.posts++
	if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" || r.URL.Path != "/hook/s3cret" {
		h.bad = append(h.bad, fmt.Sprintf("%s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type")))
	}
	for h.mode == "hang" {
		ch := h.changed
		h.hanging++
		h.mu.Unlock()
		select {
		case <-ch:
		case <-r.Context().Done():
		}
		h.mu.Lock()
		h.hanging--
		if r.Context().Err() != nil {
			h.mu.Unlock()
			return
		}
	}
	defer h.mu.Unlock()
	if h.mode == "fail" {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var batch []gaffer.Alert
	if err := json.Unmarshal(body, &batch); err != nil {
		h.bad = append(h.bad, fmt.Sprintf("body %q: %v", body, err))
	}
	h.got = append(h.got, batch...)
}

func (h *testHook) setMode(m string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mode = m
	close(h.changed)
	h.changed = make(chan struct{})
}

// URL is the webhook's address, with a path that must never be shown.
func (h *testHook) URL() string { return h.srv.URL + "/hook/s3cret" }

func (h *testHook) alerts() []gaffer.Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

func (h *testHook) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.bad) > 0 {
		t.Errorf("the webhook got unexpected requests: %q", h.bad)
	}
}

// eventually polls cond for up to two minutes (the machine is shared).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// checkAlerted checks the webhook got each alert-marked record of the log
// exactly once, as it is in the log, and the marks are those of pattern.
func checkAlerted(t *testing.T, recs []gaffer.Record, got []gaffer.Alert, jobID int64, pattern string) {
	t.Helper()
	re := regexp.MustCompile(pattern)
	var want []gaffer.Alert
	for _, r := range recs {
		if should := r.Stream != gaffer.System && re.MatchString(r.Text()); r.Alert != should {
			t.Errorf("record %d %q: alert %v, want %v", r.Seq, r.Text(), r.Alert, should)
		}
		if r.Alert {
			want = append(want, gaffer.Alert{Job: jobID, Host: r.Host, File: r.File, Seq: r.Seq, TS: r.TS, Text: r.Text()})
		}
	}
	slices.SortFunc(got, func(a, b gaffer.Alert) int { return int(a.Seq - b.Seq) })
	if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the webhook got\n%v\nwant each alert once:\n%v", got, want)
	}
}

// A command job's matching lines are marked in every log format and reach
// the webhook once each; the job shows the webhook's state, redacted, after
// its end; /metrics counts them.
func TestAlertsCommandJob(t *testing.T) {
	hook := startHook(t, "ok")
	ts := startServer(t)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"},
		Command: `for i in $(seq 1 300); do echo "line $i"; [ $((i % 7)) = 0 ] && echo "ERROR $i" >&2; done; true`,
		Alerts:  []gaffer.AlertRule{{Pattern: "ERROR", Webhook: hook.URL()}}})
	if len(job.Alerts) != 1 || job.Alerts[0].Webhook != hook.srv.URL+"/…" {
		t.Errorf("job shows its alerts as %+v, want the webhook redacted", job.Alerts)
	}
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusSucceeded {
		t.Fatalf("job %s", j.Status)
	}
	recs := ts.ndjson(t, job.ID, "")
	eventually(t, "42 alerts delivered", func() bool { return len(hook.alerts()) >= 42 })
	checkAlerted(t, recs, hook.alerts(), job.ID, "ERROR")
	sse, end, _ := ts.readResuming(t, job.ID)
	if !end || fmt.Sprint(sse) != fmt.Sprint(recs) {
		t.Errorf("SSE and NDJSON differ (alert marks included)")
	}
	hook.check(t)

	var j *gaffer.Job
	eventually(t, "the final webhook state", func() bool {
		j = ts.job(t, job.ID)
		return len(j.Webhooks) == 1 && j.Webhooks[0].Sent == 42
	})
	if w := j.Webhooks[0]; w.Webhook != hook.srv.URL+"/…" || w.Pending != 0 || w.Dropped != 0 || w.FailingSince != nil {
		t.Errorf("webhook state %+v", w)
	}
	if n := ts.metric(t, "gaffer_alerts_sent_total"); n != 42 {
		t.Errorf("gaffer_alerts_sent_total %v, want 42", n)
	}
	if n := ts.metric(t, "gaffer_alerts_pending"); n != 0 {
		t.Errorf("gaffer_alerts_pending %v, want 0", n)
	}
	if strings.Contains(ts.Log(), "s3cret") || strings.Contains(ts.Output(), "s3cret") {
		t.Errorf("the server showed the webhook's path")
	}
}

// A webhook that fails (503), then hangs, then answers: the log says it
// fails and shows it in the job and the metrics; the job's lines keep
// coming while it hangs; once it answers it gets every alert once, late.
func TestAlertsWebhookFailsThenRecovers(t *testing.T) {
	hook := startHook(t, "fail")
	ts := startServer(t)
	dir := t.TempDir()
	wait := func(name string) string {
		return fmt.Sprintf(`while [ ! -e %s ]; do sleep 0.05; done; `, filepath.Join(dir, name))
	}
	touch := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"},
		Command: `echo "ERROR one"; echo fine; echo "ERROR two"; ` + wait("hang") +
			`for i in $(seq 1 100); do echo "ERROR late $i"; echo "ok $i"; done; echo "all written"; ` + wait("end"),
		Alerts: []gaffer.AlertRule{{Pattern: "^ERROR", Webhook: hook.URL()}}})

	// Failing: a system line, the job's state, the metrics.
	var failing gaffer.Record
	eventually(t, "a line saying the webhook fails", func() bool {
		for _, r := range ts.ndjson(t, job.ID, "") {
			if strings.Contains(r.Text(), "failing") {
				failing = r
				return true
			}
		}
		return false
	})
	if want := "alerts to " + hook.srv.URL + "/… failing: 503 Service Unavailable; retrying"; failing.Text() != want || failing.Stream != gaffer.System {
		t.Errorf("log says %q (%s), want %q", failing.Text(), failing.Stream, want)
	}
	j := ts.job(t, job.ID)
	if len(j.Webhooks) != 1 || j.Webhooks[0].FailingSince == nil || j.Webhooks[0].LastError != "503 Service Unavailable; retrying" ||
		j.Webhooks[0].Pending != 2 || j.Webhooks[0].Failures == 0 {
		t.Errorf("job's webhooks while failing: %+v", j.Webhooks)
	}
	if n := ts.metric(t, "gaffer_webhooks_failing"); n != 1 {
		t.Errorf("gaffer_webhooks_failing %v, want 1", n)
	}
	if n := ts.metric(t, "gaffer_webhook_failures_total"); n < 1 {
		t.Errorf("gaffer_webhook_failures_total %v", n)
	}

	// Hanging: the job's output goes on regardless.
	hook.setMode("hang")
	eventually(t, "a POST hanging", func() bool { hook.mu.Lock(); defer hook.mu.Unlock(); return hook.hanging > 0 })
	touch("hang")
	eventually(t, "the job's lines while the webhook hangs", func() bool {
		recs := ts.ndjson(t, job.ID, "")
		return len(recs) > 0 && slices.ContainsFunc(recs, func(r gaffer.Record) bool { return r.Text() == "all written" })
	})
	if n := len(hook.alerts()); n != 0 {
		t.Errorf("the webhook took %d alerts before the job's lines came: the test proves nothing", n)
	}

	// Recovering: every alert, once, late; the log says so.
	hook.setMode("ok")
	eventually(t, "102 alerts delivered", func() bool { return len(hook.alerts()) >= 102 })
	eventually(t, "a line saying the webhook delivers again", func() bool {
		return slices.ContainsFunc(ts.ndjson(t, job.ID, ""), func(r gaffer.Record) bool {
			return strings.HasPrefix(r.Text(), "alerts to "+hook.srv.URL+"/… delivered again: ") && strings.HasSuffix(r.Text(), ", 0 dropped")
		})
	})
	touch("end")
	ts.waitJob(t, job.ID)
	checkAlerted(t, ts.ndjson(t, job.ID, ""), hook.alerts(), job.ID, "^ERROR")
	hook.check(t)
}

// A follow job over a real sshd: lines appended to the file that match
// reach the webhook once each, with the file they came from.
func TestAlertsFollowJob(t *testing.T) {
	hook := startHook(t, "ok")
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 1})
	ts := startServer(t, "--inventory", writeInventory(t, sshd.Hosts(), ""), "--known-hosts", sshd.KnownHosts)
	// A directory the test hosts' user can read: t.TempDir is 0700.
	dir, err := os.MkdirTemp("", "alerts-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "app.log")
	if err := os.WriteFile(file, []byte("ERROR before the job: not followed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"host-1"}, Follow: []string{file},
		Alerts: []gaffer.AlertRule{{Pattern: "ERROR|panic", Webhook: hook.URL()}}})
	eventually(t, "the file followed", func() bool {
		j := ts.job(t, job.ID)
		return len(j.Runs) == 1 && j.Runs[0].Follow != nil && len(j.Runs[0].Follow.Files) == 1
	})
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(f, "GET /%d 200\n", i)
		if i%6 == 0 {
			fmt.Fprintf(f, "ERROR %d\n", i)
		}
		if i == 30 {
			fmt.Fprintln(f, "panic: at 30")
		}
	}
	eventually(t, "11 alerts delivered", func() bool {
		if n := len(hook.alerts()); n < 11 {
			if time.Since(start) > 30*time.Second {
				for _, r := range ts.ndjson(t, job.ID, "") {
					t.Logf("%d %s %s %v %q", r.Seq, r.Stream, r.File, r.Alert, r.Text())
				}
				t.Fatalf("%d alerts delivered", n)
			}
			return false
		}
		return true
	})
	ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil).Body.Close()
	ts.waitJob(t, job.ID)
	recs := ts.ndjson(t, job.ID, "")
	checkAlerted(t, recs, hook.alerts(), job.ID, "ERROR|panic")
	for _, a := range hook.alerts() {
		if a.File != file || a.Host != "host-1" {
			t.Errorf("alert %+v: want file %s on host-1", a, file)
		}
	}
	hook.check(t)
}
