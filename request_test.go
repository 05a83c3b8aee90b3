package gaffer_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

func TestJobRequestValidateFollow(t *testing.T) {
	ok := gaffer.JobRequest{Follow: []string{"/var/log/*.log"}, Hosts: []string{"web-1"}}
	tests := []struct {
		name string
		edit func(r *gaffer.JobRequest)
		want string // "" for valid
	}{
		{"follow", func(r *gaffer.JobRequest) {}, ""},
		{"from start", func(r *gaffer.JobRequest) { r.From = "start" }, ""},
		{"from end", func(r *gaffer.JobRequest) { r.From = "end" }, ""},
		{"retain size", func(r *gaffer.JobRequest) { r.Retain = "1GB" }, ""},
		{"retain age", func(r *gaffer.JobRequest) { r.Retain = "7d" }, ""},
		{"alert", func(r *gaffer.JobRequest) {
			r.Alerts = []gaffer.AlertRule{{Pattern: "ERROR|panic", Webhook: "https://hooks.example/x?k=1"}}
		}, ""},
		{"alert without webhook", func(r *gaffer.JobRequest) { r.Alerts = []gaffer.AlertRule{{Pattern: "x"}} }, ""},
		{"both", func(r *gaffer.JobRequest) { r.Command = "uptime" }, "not both"},
		{"pty", func(r *gaffer.JobRequest) { r.PTY = true }, "pty"},
		{"no hosts", func(r *gaffer.JobRequest) { r.Hosts = nil }, "no hosts"},
		{"negative concurrency", func(r *gaffer.JobRequest) { r.Concurrency = -1 }, "concurrency"},
		{"bad from", func(r *gaffer.JobRequest) { r.From = "middle" }, "from \"middle\""},
		{"from without follow", func(r *gaffer.JobRequest) { r.Follow, r.Command, r.From = nil, "ls", "start" }, "follow jobs"},
		{"empty path", func(r *gaffer.JobRequest) { r.Follow = []string{" "} }, "path is empty"},
		{"newline path", func(r *gaffer.JobRequest) { r.Follow = []string{"a\nb"} }, "newline"},
		{"bad retain", func(r *gaffer.JobRequest) { r.Retain = "lots" }, "neither a size"},
		{"tiny retain", func(r *gaffer.JobRequest) { r.Retain = "10KB" }, "smallest"},
		{"bad pattern", func(r *gaffer.JobRequest) { r.Alerts = []gaffer.AlertRule{{Pattern: "("}} }, "regular expression"},
		{"bad webhook", func(r *gaffer.JobRequest) {
			r.Alerts = []gaffer.AlertRule{{Pattern: "x", Webhook: "ftp://secret@host/path"}}
		}, "http"},
		{"too many alerts", func(r *gaffer.JobRequest) {
			r.Alerts = make([]gaffer.AlertRule, gaffer.MaxAlertRules+1)
		}, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.edit(&r)
			err := r.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error with %q", err, tt.want)
			case err != nil && gaffer.ErrorCode(err) != gaffer.EINVALID:
				t.Fatalf("code %s, want invalid", gaffer.ErrorCode(err))
			case err != nil && strings.Contains(err.Error(), "secret"):
				t.Fatalf("message shows the webhook's secret: %v", err)
			}
		})
	}
}

func TestParseRetention(t *testing.T) {
	tests := []struct {
		in   string
		want gaffer.Retention
		bad  bool
	}{
		{"", gaffer.Retention{}, false},
		{"1GB", gaffer.Retention{Bytes: 1e9}, false},
		{"500MB", gaffer.Retention{Bytes: 500e6}, false},
		{"64MiB", gaffer.Retention{Bytes: 64 << 20}, false},
		{"1.5gb", gaffer.Retention{Bytes: 1.5e9}, false},
		{"7d", gaffer.Retention{Age: 7 * 24 * time.Hour}, false},
		{"12h", gaffer.Retention{Age: 12 * time.Hour}, false},
		{"90m", gaffer.Retention{Age: 90 * time.Minute}, false},
		{"2w", gaffer.Retention{Age: 14 * 24 * time.Hour}, false},
		{"10s", gaffer.Retention{}, true},
		{"1KB", gaffer.Retention{}, true},
		{"GB", gaffer.Retention{}, true},
		{"-1GB", gaffer.Retention{}, true},
		{"1 parsec", gaffer.Retention{}, true},
	}
	for _, tt := range tests {
		got, err := gaffer.ParseRetention(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseRetention(%q) = %+v, %v; want %+v, bad %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.example/services/T000/B000/XXXX": "https://hooks.example/…",
		"http://127.0.0.1:9999/":                        "http://127.0.0.1:9999",
		"https://user:pw@hooks.example?token=abc":       "https://hooks.example/…",
		"not a url": "…",
	} {
		if got := gaffer.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A request is its author's on its way to the server: its webhooks go whole
// (the CLI sent "https://hooks.example/…" and the server posted there),
// while the job shows them redacted.
func TestJobRequestKeepsWebhooks(t *testing.T) {
	const hook = "https://hooks.example/T0/B1/s3cret?x=1"
	req := gaffer.JobRequest{Follow: []string{"/var/log/x.log"}, Alerts: []gaffer.AlertRule{{Pattern: "ERROR", Webhook: hook}, {Pattern: "panic"}}}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var back gaffer.JobRequest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Alerts) != 2 || back.Alerts[0].Webhook != hook || back.Alerts[1] != req.Alerts[1] || back.Follow[0] != "/var/log/x.log" {
		t.Errorf("request round trip: %s", b)
	}
	job, _ := json.Marshal(gaffer.Job{Alerts: req.Alerts})
	if strings.Contains(string(job), "s3cret") {
		t.Errorf("the job shows its webhook whole: %s", job)
	}
}

// A rule without a webhook only marks records: the job shows it without a
// "webhook" key, not with an empty URL.
func TestMarkOnlyRuleHasNoWebhook(t *testing.T) {
	for _, v := range []any{gaffer.AlertRule{Pattern: "panic"}, gaffer.JobRequest{Alerts: []gaffer.AlertRule{{Pattern: "panic"}}}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "webhook") {
			t.Errorf("%T: %s", v, b)
		}
	}
}
