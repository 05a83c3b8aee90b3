package foreman_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/foreman"
)

// fakeSink records what it is sent and reports the state the test sets.
type fakeSink struct {
	mu     sync.Mutex
	got    []gaffer.Alert
	st     gaffer.WebhookState
	closed bool
}

func (s *fakeSink) Send(a []gaffer.Alert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, a...)
	s.st.Pending += int64(len(a))
}

func (s *fakeSink) State() gaffer.WebhookState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

func (s *fakeSink) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.st.Sent += s.st.Pending
	s.st.Pending = 0
}

func (s *fakeSink) set(f func(st *gaffer.WebhookState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.st)
}

// gatedExec prints its output, then waits for the gate (or the job's end).
type gatedExec struct {
	output string
	gate   chan struct{}
}

func (e *gatedExec) Exec(ctx context.Context, h *gaffer.Host, spec gaffer.ExecSpec, stdout, stderr io.Writer) gaffer.Result {
	io.WriteString(stdout, e.output)
	select {
	case <-e.gate:
	case <-ctx.Done():
	}
	return gaffer.Result{}
}

// waitLine waits for a record of job id whose text contains s.
func waitLine(t *testing.T, f *foreman.Foreman, id int64, s string) gaffer.Record {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		recs, _, err := f.ReadLog(context.Background(), id, 0, 1000, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if strings.Contains(r.Text(), s) {
				return r
			}
		}
	}
	t.Fatalf("job %d: no line with %q", id, s)
	return gaffer.Record{}
}

// A job's alerts mark matching records and go to their webhook once each;
// the log says when the webhook starts failing and when it recovers; the
// job keeps the webhook's final state, and the metrics follow.
func TestAlertsMarkSendAndReport(t *testing.T) {
	exec := &gatedExec{output: "ERROR a\nok\nERROR b\n", gate: make(chan struct{})}
	sink := &fakeSink{}
	var made []string
	f := newForemanWith(t, exec, func(c *foreman.Config) {
		c.Webhooks = func(url string) gaffer.AlertSink {
			made = append(made, url)
			sink.st.Webhook = gaffer.RedactURL(url)
			return sink
		}
	})
	const hook = "https://hooks.example/T0/secret"
	job, err := f.Start(context.Background(), gaffer.JobRequest{Command: "x", Hosts: []string{"h"},
		Alerts: []gaffer.AlertRule{{Pattern: "ERROR", Webhook: hook}, {Pattern: "b$", Webhook: hook}, {Pattern: "^ok"}}}, "t")
	if err != nil {
		t.Fatal(err)
	}
	waitLine(t, f, job.ID, "ERROR b")
	if !slices.Equal(made, []string{hook}) {
		t.Errorf("sinks made for %q, want one for the two rules with the same webhook", made)
	}
	sink.mu.Lock()
	var texts []string
	for _, a := range sink.got {
		if a.Job != job.ID || a.Host != "h" || a.Seq == 0 || a.TS.IsZero() {
			t.Errorf("alert %+v", a)
		}
		texts = append(texts, a.Text)
	}
	sink.mu.Unlock()
	if !slices.Equal(texts, []string{"ERROR a", "ERROR b"}) {
		t.Errorf("webhook got %q, want each matching line once", texts)
	}

	since := time.Now().UTC()
	sink.set(func(st *gaffer.WebhookState) {
		st.FailingSince, st.LastError, st.Failures = &since, "503 Service Unavailable; retrying", 3
	})
	rec := waitLine(t, f, job.ID, "failing")
	if want := "alerts to https://hooks.example/… failing: 503 Service Unavailable; retrying"; rec.Text() != want || rec.Stream != gaffer.System {
		t.Errorf("log says %q (%s), want %q", rec.Text(), rec.Stream, want)
	}
	j, _ := f.Job(context.Background(), job.ID)
	if len(j.Webhooks) != 1 || j.Webhooks[0].FailingSince == nil || j.Webhooks[0].Webhook != "https://hooks.example/…" {
		t.Errorf("job's webhooks %+v", j.Webhooks)
	}
	if n := f.Stats().WebhooksFailing.Load(); n != 1 {
		t.Errorf("webhooks failing: %d", n)
	}
	sink.set(func(st *gaffer.WebhookState) {
		st.FailingSince, st.LastError, st.Sent, st.Pending, st.Dropped = nil, "", 2, 0, 1
	})
	rec = waitLine(t, f, job.ID, "delivered again")
	if want := "alerts to https://hooks.example/… delivered again: 2 delivered late, 1 dropped"; rec.Text() != want {
		t.Errorf("log says %q, want %q", rec.Text(), want)
	}
	sink.Send([]gaffer.Alert{{Seq: 99}}) // left for Close
	close(exec.gate)
	waitDone(t, f, job.ID)

	recs := allLines(t, f, job.ID)
	for _, r := range recs {
		want := r.Stream != gaffer.System && (strings.Contains(r.Text(), "ERROR") || r.Text() == "ok")
		if r.Alert != want {
			t.Errorf("record %q alert %v, want %v", r.Text(), r.Alert, want)
		}
	}
	// The sinks close just after the job ends (off its log).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		j, _ = f.Job(context.Background(), job.ID)
		if len(j.Webhooks) == 1 && j.Webhooks[0].Sent == 3 && j.Webhooks[0].Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("finished job's webhooks %+v, want the state after Close", j.Webhooks)
		}
	}
	sink.mu.Lock()
	closed := sink.closed
	sink.mu.Unlock()
	if !closed {
		t.Errorf("the sink was not closed at the job's end")
	}
	st := f.Stats()
	if st.AlertsSent.Load() != 3 || st.AlertsDropped.Load() != 1 || st.WebhookFailures.Load() != 3 ||
		st.AlertsPending.Load() != 0 || st.WebhooksFailing.Load() != 0 {
		t.Errorf("metrics sent %d dropped %d failures %d pending %d failing %d", st.AlertsSent.Load(), st.AlertsDropped.Load(),
			st.WebhookFailures.Load(), st.AlertsPending.Load(), st.WebhooksFailing.Load())
	}
}
