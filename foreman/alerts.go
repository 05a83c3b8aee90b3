package foreman

import (
	"regexp"

	"github.com/gaffer-dev/gaffer"
)

// alerter marks the records of one job that match its alert rules
// (Record.Alert) and hands them to the rules' webhooks, which deliver them
// off the capture path: the log never waits for a webhook.
type alerter struct {
	jobID int64
	rules []alertRule
}

type alertRule struct {
	re   *regexp.Regexp
	sink gaffer.AlertSink // nil: mark only
}

// newAlerter returns nil when the job has no alerts. The rules were
// validated with the request.
func newAlerter(jobID int64, rules []gaffer.AlertRule, sinks func(url string) gaffer.AlertSink) *alerter {
	if len(rules) == 0 {
		return nil
	}
	a := &alerter{jobID: jobID}
	for _, r := range rules {
		ar := alertRule{re: regexp.MustCompile(r.Pattern)}
		if r.Webhook != "" && sinks != nil {
			ar.sink = sinks(r.Webhook)
		}
		a.rules = append(a.rules, ar)
	}
	return a
}

// apply marks the matching records of a numbered batch and queues them for
// the webhooks. The server's own lines (system) are never matched.
func (a *alerter) apply(recs []gaffer.Record) {
	if a == nil {
		return
	}
	for _, r := range a.rules {
		var batch []gaffer.Alert
		for i := range recs {
			rec := &recs[i]
			if rec.Stream == gaffer.System || !r.re.Match(rec.Data) {
				continue
			}
			rec.Alert = true
			if r.sink != nil {
				batch = append(batch, gaffer.Alert{Job: a.jobID, Host: rec.Host, File: rec.File, Seq: rec.Seq, TS: rec.TS, Text: rec.Text()})
			}
		}
		if len(batch) > 0 {
			r.sink.Send(batch)
		}
	}
}

// states reports each webhook's state, for the job.
func (a *alerter) states() []gaffer.WebhookState {
	if a == nil {
		return nil
	}
	var out []gaffer.WebhookState
	for _, r := range a.rules {
		if r.sink != nil {
			out = append(out, r.sink.State())
		}
	}
	return out
}

// close stops the webhooks once the job's log is complete.
func (a *alerter) close() {
	if a == nil {
		return
	}
	for _, r := range a.rules {
		if r.sink != nil {
			r.sink.Close()
		}
	}
}
