package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// The limits end to end: a job past --max-running-jobs is 503 with
// Retry-After, a concurrency past --max-concurrency is 400 naming it, a
// log stream past --max-streams-per-user is 429 with Retry-After; each
// counted in /metrics.
func TestLimitsEndToEnd(t *testing.T) {
	ts := startServer(t, "--max-running-jobs", "1", "--max-concurrency", "10", "--max-streams-per-user", "1")
	post := func(body string) (*http.Response, string) {
		t.Helper()
		resp := ts.request(t, "POST", "/api/jobs", strings.NewReader(body), "Content-Type", "application/json")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	job := ts.startJob(t, gaffer.JobRequest{Command: "sleep 60", Hosts: []string{"local"}})

	resp, body := post(`{"command":"true","hosts":["local"]}`)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "--max-running-jobs") {
		t.Errorf("past --max-running-jobs: %s Retry-After %q %s", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	if v := metric(t, ts, `gaffer_jobs_refused_total{reason="max_running"}`); v != 1 {
		t.Errorf("gaffer_jobs_refused_total: %v", v)
	}
	for _, c := range []string{"11", "1000000000000", "99999999999999999999"} {
		resp, body = post(`{"command":"true","hosts":["local"],"concurrency":` + c + `}`)
		if resp.StatusCode != 400 || !strings.Contains(body, "concurrency") {
			t.Errorf("concurrency %s: %s %s", c, resp.Status, body)
		}
	}
	if _, body = post(`{"command":"true","hosts":["local"],"concurrency":11}`); !strings.Contains(body, "limit of 10") {
		t.Errorf("the 400 does not name the limit: %s", body)
	}

	s := ts.openSSE(t, job.ID, "")
	defer s.Close()
	resp = ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log", job.ID), nil, "Accept", "text/event-stream")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "too_many_requests") {
		t.Errorf("past --max-streams-per-user: %s Retry-After %q %s", resp.Status, resp.Header.Get("Retry-After"), b)
	}
	if v := metric(t, ts, `gaffer_log_streams_refused_total{reason="per_user"}`); v != 1 {
		t.Errorf("gaffer_log_streams_refused_total per_user: %v", v)
	}
	resp = ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil)
	resp.Body.Close()
	ts.waitJob(t, job.ID)
}
