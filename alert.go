package gaffer

import (
	"encoding/json"
	"net/url"
	"regexp"
	"time"
)

// AlertRule is one of a job's "alerts": records whose text matches Pattern
// (RE2) are marked (Record.Alert) and POSTed to Webhook.
type AlertRule struct {
	Pattern string `json:"pattern"`
	Webhook string `json:"webhook,omitempty"` // none: mark only
}

// MaxAlertRules bounds a job's alerts.
const MaxAlertRules = 16

// Validate checks the pattern compiles and the webhook is an absolute http(s)
// URL. Messages never hold the URL's path or query: they may be secret.
func (a *AlertRule) Validate() error {
	if a.Pattern == "" {
		return Errorf(EINVALID, "alerts: a pattern is empty")
	}
	if len(a.Pattern) > 4096 {
		return Errorf(EINVALID, "alerts: pattern is %d bytes long; the limit is 4096", len(a.Pattern))
	}
	if _, err := regexp.Compile(a.Pattern); err != nil {
		return Errorf(EINVALID, "alerts: pattern %q is not a valid regular expression (RE2): %v", a.Pattern, err)
	}
	if a.Webhook == "" {
		return nil // mark the records only
	}
	u, err := url.Parse(a.Webhook)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Errorf(EINVALID, "alerts: webhook must be an absolute http:// or https:// URL")
	}
	if len(a.Webhook) > 2048 {
		return Errorf(EINVALID, "alerts: webhook URL is %d bytes long; the limit is 2048", len(a.Webhook))
	}
	return nil
}

// RedactURL shows a webhook without what may be a secret (its user, path and
// query): "https://hooks.example/…". Jobs are shown with it to anyone who may
// read them.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "…"
	}
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		s += "/…"
	}
	return s
}

// MarshalJSON shows the rule with its webhook redacted (RedactURL). Stores
// keep the whole URL in a type of their own.
func (a AlertRule) MarshalJSON() ([]byte, error) {
	type plain AlertRule
	p := plain(a)
	if p.Webhook != "" {
		p.Webhook = RedactURL(p.Webhook)
	}
	return json.Marshal(p)
}

// Alert is what a webhook receives for one matching record (a POST's body
// is a JSON array of these).
type Alert struct {
	Job  int64     `json:"job"`
	Host string    `json:"host"`
	File string    `json:"file,omitempty"`
	Seq  int64     `json:"seq"`
	TS   time.Time `json:"ts"`
	Text string    `json:"text"`
}

// AlertSink delivers one webhook's alerts: batched, rate-limited, retried
// with backoff. Send never blocks: when its bounded queue is full the
// oldest alerts are dropped and counted.
type AlertSink interface {
	Send(alerts []Alert)
	State() WebhookState
	// Close stops delivering; what is still queued gets one short last try.
	Close()
}

// WebhookState is how one of a job's webhooks is doing, for the job's page,
// the API and metrics.
type WebhookState struct {
	Webhook string `json:"webhook"` // redacted (RedactURL)
	Sent    int64  `json:"sent"`    // alerts delivered
	Pending int64  `json:"pending"` // queued or being retried
	Dropped int64  `json:"dropped"` // lost: the queue was full
	// Failures counts failed POSTs; FailingSince is set while the
	// webhook fails, with LastError saying how (status or network error).
	Failures     int64      `json:"failures"`
	LastError    string     `json:"last_error,omitempty"`
	FailingSince *time.Time `json:"failing_since,omitempty"`
}
