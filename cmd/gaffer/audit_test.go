package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
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

// A real server (SQLite, PostgreSQL) records a login, a job started with
// a secret and its cancel once each, with who and from where, the job's
// hosts, never the secret's value; the trail survives a restart.
func TestAuditEndToEnd(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var args []string
			if db == "postgres" {
				args = []string{"--database-url", testDatabaseURL(t)}
			}
			dataDir := t.TempDir()
			ts := startServer(t, append(args, "--data-dir", dataDir)...)
			ts.sessionCookie(t) // the login link
			const secret = "audit-secret-value-42"
			job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "sleep 60",
				Secrets: map[string]string{"AUDIT_SECRET": secret}})
			resp := ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("cancel: %s", resp.Status)
			}
			ts.waitJob(t, job.ID)

			check := func(events []gaffer.AuditEvent) {
				t.Helper()
				var got []string
				for _, e := range events {
					got = append(got, e.Action)
					if e.Actor != "admin" || !strings.HasPrefix(e.RemoteAddr, "127.0.0.1:") || e.TS.IsZero() || e.ID <= 0 {
						t.Errorf("event %+v: want actor admin from 127.0.0.1", e)
					}
				}
				// Newest first; the login is recorded by the login page.
				if want := []string{gaffer.AuditJobCancel, gaffer.AuditJobStart, gaffer.AuditLogin}; !slices.Equal(got, want) {
					t.Fatalf("actions %q, want %q", got, want)
				}
				target := fmt.Sprintf("job %d", job.ID)
				for _, e := range events[:2] {
					var d struct{ Hosts []string }
					if e.Target != target || json.Unmarshal(e.Detail, &d) != nil || !slices.Equal(d.Hosts, []string{"local"}) {
						t.Errorf("%s: target %q detail %s; want %s on local", e.Action, e.Target, e.Detail, target)
					}
				}
				if !strings.Contains(string(events[1].Detail), `"command":"sleep 60"`) || !strings.Contains(string(events[1].Detail), `"secrets":["AUDIT_SECRET"]`) {
					t.Errorf("job.start detail %s", events[1].Detail)
				}
			}
			check(ts.auditTrail(t, ""))
			_, body := ts.get(t, "/api/audit")
			if strings.Contains(string(body), secret) {
				t.Fatalf("the secret's value is in the audit trail: %s", body)
			}
			// Filters and paging reach the store.
			if ev := ts.auditTrail(t, "?action=job.start"); len(ev) != 1 || ev[0].Action != gaffer.AuditJobStart {
				t.Errorf("action=job.start: %+v", ev)
			}
			if ev := ts.auditTrail(t, "?actor=nobody"); len(ev) != 0 {
				t.Errorf("actor=nobody: %+v", ev)
			}
			all := ts.auditTrail(t, "")
			if ev := ts.auditTrail(t, fmt.Sprintf("?limit=1&before=%d", all[0].ID)); len(ev) != 1 || ev[0].ID != all[1].ID {
				t.Errorf("limit=1&before=%d: %+v, want event %d", all[0].ID, ev, all[1].ID)
			}
			if status, body := ts.get(t, "/api/audit?limit=5000"); status != http.StatusBadRequest || !strings.Contains(string(body), "limit") {
				t.Errorf("limit=5000: %d %s", status, body)
			}

			// Append-only and kept: after a restart the same trail.
			ts.Stop(t)
			ts = startServer(t, append(args, "--data-dir", dataDir)...)
			after := ts.auditTrail(t, "")
			check(after)
			if after[0].ID != all[0].ID {
				t.Errorf("after a restart the newest event is %d, was %d", after[0].ID, all[0].ID)
			}
		})
	}
}

// createToken makes a named token with a role as the admin and returns it.
func (ts *testServer) createToken(t *testing.T, name string, role gaffer.Role) string {
	t.Helper()
	resp := ts.request(t, "POST", "/api/tokens", strings.NewReader(fmt.Sprintf(`{"name":%q,"role":%q}`, name, role)), "Content-Type", "application/json")
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated || out.Token == "" {
		t.Fatalf("create token %s: %s %v", name, resp.Status, err)
	}
	return out.Token
}

// The trail names the token that acted; only an admin reads it, and only
// an admin's pages link to it.
func TestAuditRoles(t *testing.T) {
	ts := startServer(t)
	tokens := map[gaffer.Role]string{}
	for _, role := range []gaffer.Role{gaffer.RoleViewer, gaffer.RoleOperator} {
		tokens[role] = ts.createToken(t, "alice-"+string(role), role)
	}
	as := func(role gaffer.Role, method, path, body string, hdr ...string) (int, string) {
		t.Helper()
		h := append([]string{"Authorization", "Bearer " + tokens[role]}, hdr...)
		if body != "" {
			h = append(h, "Content-Type", "application/json")
		}
		resp := ts.request(t, method, path, strings.NewReader(body), h...)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := as(gaffer.RoleOperator, "POST", "/api/jobs", `{"command":"true","hosts":["local"]}`)
	if status != http.StatusCreated {
		t.Fatalf("operator starts a job: %d %s", status, body)
	}
	for _, role := range []gaffer.Role{gaffer.RoleViewer, gaffer.RoleOperator} {
		if status, body := as(role, "GET", "/api/audit", ""); status != http.StatusForbidden {
			t.Errorf("%s: GET /api/audit: %d %s, want 403", role, status, body)
		}
		if status, _ := as(role, "GET", "/audit", "", "Accept", "text/html"); status != http.StatusForbidden {
			t.Errorf("%s: GET /audit: %d, want 403", role, status)
		}
		if _, page := as(role, "GET", "/", "", "Accept", "text/html"); strings.Contains(page, `href="/audit"`) {
			t.Errorf("%s: the job list links to the audit page", role)
		}
	}
	if _, page := ts.get(t, "/", "Accept", "text/html"); !strings.Contains(string(page), `href="/audit"`) {
		t.Errorf("the admin's job list has no link to the audit page")
	}
	events := ts.auditTrail(t, "?action=job.start")
	if len(events) != 1 || events[0].Actor != "alice-operator" {
		t.Fatalf("job.start events %+v, want one by alice-operator", events)
	}
	if ev := ts.auditTrail(t, "?actor=alice-operator"); len(ev) != 1 {
		t.Errorf("actor=alice-operator: %+v", ev)
	}
	for _, tok := range tokens {
		if _, body := ts.get(t, "/api/audit"); strings.Contains(string(body), tok) {
			t.Fatalf("a token is in the audit trail")
		}
	}
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
