package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// auditTrail reads GET /api/audit with a query as the admin.
func (ts *testServer) auditTrail(t *testing.T, query string) []gaffer.AuditEvent {
	t.Helper()
	status, body := ts.get(t, "/api/audit"+query)
	if status != http.StatusOK {
		t.Fatalf("GET /api/audit%s: %d %s", query, status, body)
	}
	var events []gaffer.AuditEvent
	if err := json.Unmarshal(body, &events); err != nil {
		t.Fatalf("GET /api/audit%s: %v: %s", query, err, body)
	}
	return events
}

// A job on a real sshd host records the fingerprint of the host key the
// server trusts for it (from --known-hosts), and none for local.
func TestAuditJobHostKeys(t *testing.T) {
	fleet := sshtest.Start(t, sshtest.Options{Hosts: 2})
	ts := startServer(t, "--inventory", writeInventory(t, fleet.Hosts(), ""), "--known-hosts", fleet.KnownHosts, "--local=true")
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"host-1", "host-2", "local"}, Command: "echo hi"})
	if final := ts.waitJob(t, job.ID); final.Status != gaffer.StatusSucceeded {
		t.Fatalf("job %s: %+v", final.Status, final.Runs)
	}
	events := ts.auditTrail(t, "?action=job.start")
	if len(events) != 1 {
		t.Fatalf("job.start events: %+v", events)
	}
	var d struct {
		Hosts    []string
		HostKeys map[string][]string `json:"host_keys"`
	}
	if err := json.Unmarshal(events[0].Detail, &d); err != nil {
		t.Fatalf("%s: %v", events[0].Detail, err)
	}
	fp := fleet.HostKeyFingerprint()
	want := map[string][]string{"host-1": {fp}, "host-2": {fp}}
	if slices.Sort(d.Hosts); !slices.Equal(d.Hosts, []string{"host-1", "host-2", "local"}) || fmt.Sprint(d.HostKeys) != fmt.Sprint(want) {
		t.Errorf("detail %s; want hosts host-1, host-2, local and host_keys %v", events[0].Detail, want)
	}
}
