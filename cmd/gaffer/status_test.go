package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// Timeouts and cancels end runs as timed_out and canceled, never running,
// and say so in the log.
func TestTimeoutAndCancel(t *testing.T) {
	ts := startServer(t)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "echo start; sleep 30", Timeout: gaffer.Duration(300e6)})
	j := ts.waitJob(t, job.ID)
	if j.Status != gaffer.StatusTimedOut || j.Runs[0].Status != gaffer.StatusTimedOut || j.Runs[0].Error == "" {
		t.Fatalf("timeout: %s %+v", j.Status, j.Runs[0])
	}

	job = ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "echo start; sleep 30"})
	s := ts.openSSE(t, job.ID, "")
	s.readLines(t, 2)
	resp := ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("cancel: %s", resp.Status)
	}
	rest, end := s.readLines(t, -1)
	s.Close()
	if !end || !strings.Contains(string(rest[len(rest)-1].Data), "canceled") {
		t.Fatalf("cancel: end=%v last %+v", end, rest)
	}
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusCanceled {
		t.Fatalf("canceled job: %s", j.Status)
	}
	// Canceling a finished job is a conflict with a clear message.
	resp = ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil)
	resp.Body.Close()
	if resp.StatusCode != 409 {
		t.Fatalf("cancel of finished job: %s", resp.Status)
	}
}
