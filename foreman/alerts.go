package foreman

import (
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// alerter marks the records of one job that match its alert rules
// (Record.Alert) and hands them to the rules' webhooks, which deliver them
// off the capture path: the log never waits for a webhook. While the job
// runs it looks at its webhooks every alertWatchEvery and says in the log
// when one starts failing and when it delivers again.
type alerter struct {
	jobID int64
	rules []alertRule
	hooks []*hook // one per webhook URL
	log   *jobLog

	mu       sync.Mutex
	watching bool // the watch goroutine was started
	stopped  bool
	stopc    chan struct{}
	done     chan struct{} // the watch goroutine ended
	closed   []gaffer.WebhookState
}

type alertRule struct {
	re   *regexp.Regexp
	hook int // index in hooks; -1: mark only
}

// hook is one webhook and what the watch last saw of it. Only the watch
// goroutine touches the fields, and close once it has ended.
type hook struct {
	sink gaffer.AlertSink
	seen gaffer.WebhookState
	// failing: a failure was reported in the log; sent and dropped then.
	failing             bool
	failSent, failDrops int64
	lastDropNote        time.Time
}

// alertWatchEvery is how often a job's webhooks are looked at: state
// changes reach the log and the metrics within it.
const alertWatchEvery = time.Second

// dropNoteEvery spaces out the log lines about a full queue.
const dropNoteEvery = time.Minute

// newAlerter returns nil when the job has no alerts. The rules were
// validated with the request. Rules with the same webhook share one sink,
// and a record matching several of them is sent to it once.
func newAlerter(jobID int64, rules []gaffer.AlertRule, sinks func(url string) gaffer.AlertSink, log *jobLog) *alerter {
	if len(rules) == 0 {
		return nil
	}
	a := &alerter{jobID: jobID, log: log, stopc: make(chan struct{}), done: make(chan struct{})}
	byURL := map[string]int{}
	for _, r := range rules {
		ar := alertRule{re: regexp.MustCompile(r.Pattern), hook: -1}
		if r.Webhook != "" && sinks != nil {
			i, ok := byURL[r.Webhook]
			if !ok {
				i = len(a.hooks)
				byURL[r.Webhook] = i
				a.hooks = append(a.hooks, &hook{sink: sinks(r.Webhook)})
			}
			ar.hook = i
		}
		a.rules = append(a.rules, ar)
	}
	return a
}

// apply marks the matching records of a numbered batch and queues them for
// the webhooks. The server's own lines (system) are never matched. It runs
// under the log's lock: Send never waits.
func (a *alerter) apply(recs []gaffer.Record) {
	if a == nil {
		return
	}
	var batches [][]gaffer.Alert
	for i := range recs {
		rec := &recs[i]
		if rec.Stream == gaffer.System {
			continue
		}
		var sent uint64 // hooks this record went to (MaxAlertRules ≤ 64)
		for _, r := range a.rules {
			if !r.re.Match(rec.Data) {
				continue
			}
			rec.Alert = true
			if r.hook < 0 || sent&(1<<r.hook) != 0 {
				continue
			}
			sent |= 1 << r.hook
			if batches == nil {
				batches = make([][]gaffer.Alert, len(a.hooks))
			}
			batches[r.hook] = append(batches[r.hook], gaffer.Alert{Job: a.jobID, Host: rec.Host, File: rec.File, Seq: rec.Seq, TS: rec.TS, Text: rec.Text()})
		}
	}
	for i, b := range batches {
		if len(b) > 0 {
			a.hooks[i].sink.Send(b)
		}
	}
	if batches != nil {
		a.watch()
	}
}

// watch starts the watch goroutine once the webhooks have something to do.
func (a *alerter) watch() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.watching || a.stopped {
		return
	}
	a.watching = true
	go a.watchLoop()
}

func (a *alerter) watchLoop() {
	defer close(a.done)
	t := time.NewTicker(alertWatchEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.look(false)
		case <-a.stopc:
			a.look(true)
			return
		}
	}
}

// look reads each webhook's state into the metrics and writes a system
// line when one starts failing, delivers again, or drops alerts; at the
// job's end (last), about those still failing.
func (a *alerter) look(last bool) {
	now := time.Now()
	for _, h := range a.hooks {
		st := h.sink.State()
		prev := a.account(h, st)
		switch {
		case st.FailingSince != nil && !h.failing:
			h.failing, h.failSent, h.failDrops = true, st.Sent, st.Dropped
			a.note("alerts to %s failing: %s", st.Webhook, st.LastError)
		case st.FailingSince == nil && h.failing:
			h.failing = false
			a.note("alerts to %s delivered again: %d delivered late, %d dropped", st.Webhook, st.Sent-h.failSent, st.Dropped-h.failDrops)
		case st.FailingSince == nil && st.Failures > prev.Failures:
			// Failed and recovered between two looks.
			a.note("alerts to %s: %d POST(s) failed, then delivered; %d dropped", st.Webhook, st.Failures-prev.Failures, st.Dropped-prev.Dropped)
		case st.Dropped > prev.Dropped && !h.failing && now.Sub(h.lastDropNote) >= dropNoteEvery:
			h.lastDropNote = now
			a.note("alerts to %s: %d dropped: more alerts than the webhook takes", st.Webhook, st.Dropped-prev.Dropped)
		}
		if last && h.failing {
			a.note("alerts to %s still failing as the job ends (%s): %d pending get one last try", st.Webhook, st.LastError, st.Pending)
		}
	}
}

func (a *alerter) note(format string, args ...any) {
	a.log.system("", fmt.Sprintf(format, args...))
}

// account adds what changed since the last look to the metrics and returns
// the state seen then.
func (a *alerter) account(h *hook, st gaffer.WebhookState) gaffer.WebhookState {
	s, prev := a.log.stats, h.seen
	s.AlertsSent.Add(st.Sent - prev.Sent)
	s.AlertsDropped.Add(st.Dropped - prev.Dropped)
	s.WebhookFailures.Add(st.Failures - prev.Failures)
	s.AlertsPending.Add(st.Pending - prev.Pending)
	if was, is := prev.FailingSince != nil, st.FailingSince != nil; was != is {
		if is {
			s.WebhooksFailing.Add(1)
		} else {
			s.WebhooksFailing.Add(-1)
		}
	}
	h.seen = st
	return prev
}

// states reports each webhook's state, for the job.
func (a *alerter) states() []gaffer.WebhookState {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	if closed != nil {
		return closed
	}
	var out []gaffer.WebhookState
	for _, h := range a.hooks {
		out = append(out, h.sink.State())
	}
	return out
}

// stop ends the watch, writing its last lines: called before the log is
// completed.
func (a *alerter) stop() {
	if a == nil {
		return
	}
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return
	}
	a.stopped = true
	watching := a.watching
	a.mu.Unlock()
	close(a.stopc)
	if watching {
		<-a.done
	}
}

// close stops the webhooks once the job's log is complete, each giving what
// it holds one last short try (all at once), and returns their final states.
func (a *alerter) close() []gaffer.WebhookState {
	if a == nil {
		return nil
	}
	a.stop()
	var wg sync.WaitGroup
	for _, h := range a.hooks {
		wg.Go(h.sink.Close)
	}
	wg.Wait()
	var out []gaffer.WebhookState
	for _, h := range a.hooks {
		st := h.sink.State()
		a.account(h, st)
		if st.FailingSince != nil { // the job is over: nothing fails any more
			a.log.stats.WebhooksFailing.Add(-1)
			h.seen.FailingSince = nil
		}
		a.log.stats.AlertsPending.Add(-st.Pending) // a closed sink holds none
		h.seen.Pending = 0
		out = append(out, st)
	}
	a.mu.Lock()
	a.closed = out
	a.mu.Unlock()
	return out
}

// closeAlerts closes a finished job's webhooks (off its log: that is
// complete) and keeps their final states on the job for as long as the
// foreman remembers it.
func (f *Foreman) closeAlerts(aj *activeJob) {
	states := aj.log.alerts.close()
	if states == nil {
		return
	}
	id := aj.job.ID
	f.mu.Lock()
	defer f.mu.Unlock()
	if j := f.finished[id]; j != nil {
		// Readers copy the entry outside the lock: replace, never change it.
		c := copyJob(j)
		c.Webhooks = states
		f.finished[id] = c
	}
}
