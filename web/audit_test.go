package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/memstore"
	"github.com/gaffer-dev/gaffer/web"
)

// memAudit is the in-memory audit trail (internal/memstore), remembering
// the filter of the last FindAudit.
type memAudit struct {
	memstore.Store
	mu   sync.Mutex
	last gaffer.AuditFilter
}

func (m *memAudit) FindAudit(ctx context.Context, f gaffer.AuditFilter) ([]*gaffer.AuditEvent, error) {
	m.mu.Lock()
	m.last = f
	m.mu.Unlock()
	return m.Store.FindAudit(ctx, f)
}

// events returns every stored event, oldest first.
func (m *memAudit) events(t *testing.T) []*gaffer.AuditEvent {
	t.Helper()
	events, err := m.Store.FindAudit(context.Background(), gaffer.AuditFilter{Limit: gaffer.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(events)
	return events
}

// fleetJobs is stubJobs with three hosts, whose Start gives the job a run
// per host picked.
type fleetJobs struct{ stubJobs }

func (fleetJobs) Hosts() []gaffer.Host {
	return []gaffer.Host{{Name: "local", Local: true}, {Name: "web-1", Address: "10.0.0.1"}, {Name: "web-2", Address: "10.0.0.2"}}
}

func (fleetJobs) Start(ctx context.Context, req gaffer.JobRequest, by string) (*gaffer.Job, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	hosts, err := gaffer.ResolveHosts(fleetJobs{}.Hosts(), req.Hosts, req.Selector)
	if err != nil {
		return nil, err
	}
	job := &gaffer.Job{ID: 1, Command: req.Command, Status: gaffer.StatusQueued, CreatedBy: by}
	for _, h := range hosts {
		job.Runs = append(job.Runs, &gaffer.Run{Host: h.Name, Status: gaffer.StatusQueued})
	}
	return job, nil
}

func (fleetJobs) Cancel(ctx context.Context, id int64) (*gaffer.Job, error) {
	return &gaffer.Job{ID: id, Status: gaffer.StatusCanceled, Runs: []*gaffer.Run{{Host: "web-1"}, {Host: "web-2"}}}, nil
}

func newAuditServer(t *testing.T) (*web.Server, *memAudit) {
	t.Helper()
	s, err := web.New(fleetJobs{}, newAuth(token), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &memAudit{}
	s.Audit = m
	return s, m
}

// do sends an admin request from addr and returns the recorder.
func do(t *testing.T, s http.Handler, method, path, body, addr string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func auditEvents(t *testing.T, s http.Handler, query string) []gaffer.AuditEvent {
	t.Helper()
	rec := do(t, s, "GET", "/api/audit"+query, "", "192.0.2.9:5555")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/audit%s: %d %s", query, rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var events []gaffer.AuditEvent
	if err := json.Unmarshal(rec.Body.Bytes(), &events); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	return events
}

// The audit trail and its page are the admin's alone: the router's table
// says so (TestEveryRouteNeedsCredentials and the role matrix enforce it).
func TestAuditRoutesAreAdminOnly(t *testing.T) {
	s, _ := newAuditServer(t)
	want := map[string]bool{"/api/audit": true, "/audit": true}
	for _, rt := range s.Routes() {
		if want[rt.Pattern] {
			delete(want, rt.Pattern)
			if rt.Public || rt.Role != web.RoleAdmin || rt.Method != "GET" {
				t.Errorf("%s %s: public %v, role %q; want GET, admin", rt.Method, rt.Pattern, rt.Public, rt.Role)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("no route for %v", want)
	}
}

// Starting and canceling a job each leave one event: who, from where, the
// job, its hosts, the host keys trusted for them, the command and the names
// of its secrets, never their values.
func TestAuditJobStartAndCancel(t *testing.T) {
	const secret = "hunter2-very-secret"
	for _, withKeys := range []bool{true, false} {
		t.Run(fmt.Sprintf("fingerprints=%v", withKeys), func(t *testing.T) {
			s, m := newAuditServer(t)
			if withKeys {
				s.HostKeyFingerprints = func(ctx context.Context, host string) []string {
					if host == "web-1" {
						return []string{"SHA256:aaaa", "SHA256:bbbb"}
					}
					return nil // no key known (web-2), or no SSH at all (local)
				}
			}
			body := `{"command":"deploy --fast <x>","hosts":["web-1","web-2"],"secrets":{"DEPLOY_KEY":"` + secret + `","API":"` + secret + `2"}}`
			if rec := do(t, s, "POST", "/api/jobs", body, "198.51.100.7:4000"); rec.Code != http.StatusCreated {
				t.Fatalf("start: %d %s", rec.Code, rec.Body)
			}
			if rec := do(t, s, "POST", "/api/jobs/1/cancel", "", "198.51.100.8:4001"); rec.Code != http.StatusAccepted {
				t.Fatalf("cancel: %d %s", rec.Code, rec.Body)
			}
			// A refused start records nothing.
			if rec := do(t, s, "POST", "/api/jobs", `{"command":"x","hosts":["nope"]}`, "198.51.100.7:4000"); rec.Code != http.StatusBadRequest {
				t.Fatalf("bad start: %d %s", rec.Code, rec.Body)
			}
			rec := do(t, s, "GET", "/api/audit", "", "192.0.2.9:5555")
			if strings.Contains(rec.Body.String(), secret) {
				t.Fatalf("a secret's value is in the audit trail: %s", rec.Body)
			}
			for _, e := range m.events(t) {
				if strings.Contains(string(e.Detail), secret) {
					t.Fatalf("a secret's value is stored in the audit trail: %s", e.Detail)
				}
			}
			events := auditEvents(t, s, "")
			if len(events) != 2 {
				t.Fatalf("%d events, want 2: %+v", len(events), events)
			}
			cancel, start := events[0], events[1]
			check := func(e gaffer.AuditEvent, action, addr string) {
				t.Helper()
				if e.Action != action || e.Actor != "admin" || e.Target != "job 1" || e.RemoteAddr != addr || e.TS.IsZero() {
					t.Errorf("event %+v, want %s by admin from %s of job 1", e, action, addr)
				}
			}
			check(cancel, gaffer.AuditJobCancel, "198.51.100.8:4001")
			check(start, gaffer.AuditJobStart, "198.51.100.7:4000")
			if cancel.ID <= start.ID {
				t.Errorf("not newest first: ids %d, %d", cancel.ID, start.ID)
			}
			var sd struct {
				Hosts    []string            `json:"hosts"`
				HostKeys map[string][]string `json:"host_keys"`
				Command  string              `json:"command"`
				Secrets  []string            `json:"secrets"`
			}
			if err := json.Unmarshal(start.Detail, &sd); err != nil {
				t.Fatalf("start detail %s: %v", start.Detail, err)
			}
			if !slices.Equal(sd.Hosts, []string{"web-1", "web-2"}) || sd.Command != "deploy --fast <x>" || !slices.Equal(sd.Secrets, []string{"API", "DEPLOY_KEY"}) {
				t.Errorf("start detail %s", start.Detail)
			}
			// Stored as written, not HTML-escaped: the page shows it as text.
			if stored := string(m.events(t)[0].Detail); !strings.Contains(stored, `"command":"deploy --fast <x>"`) {
				t.Errorf("stored detail %s", stored)
			}
			wantKeys := map[string][]string{"web-1": {"SHA256:aaaa", "SHA256:bbbb"}}
			if !withKeys {
				wantKeys = nil
				if strings.Contains(string(start.Detail), "host_keys") {
					t.Errorf("host_keys without HostKeyFingerprints: %s", start.Detail)
				}
			}
			if fmt.Sprint(sd.HostKeys) != fmt.Sprint(wantKeys) {
				t.Errorf("host_keys %v, want %v", sd.HostKeys, wantKeys)
			}
			if string(cancel.Detail) != `{"hosts":["web-1","web-2"]}` {
				t.Errorf("cancel detail %s", cancel.Detail)
			}
		})
	}
}

// The parameters reach the store as they were asked; bad ones are a 400
// naming what is wrong.
func TestAuditParams(t *testing.T) {
	s, m := newAuditServer(t)
	for _, tc := range []struct {
		query string
		want  gaffer.AuditFilter
	}{
		{"", gaffer.AuditFilter{Limit: 100}},
		{"?limit=1000", gaffer.AuditFilter{Limit: 1000}},
		{"?limit=1&before=7", gaffer.AuditFilter{Limit: 1, Before: 7}},
		{"?action=job.start&actor=alice", gaffer.AuditFilter{Action: "job.start", Actor: "alice", Limit: 100}},
		{"?action=", gaffer.AuditFilter{Limit: 100}},
	} {
		auditEvents(t, s, tc.query)
		m.mu.Lock()
		last := m.last
		m.mu.Unlock()
		if last != tc.want {
			t.Errorf("%q: filter %+v, want %+v", tc.query, last, tc.want)
		}
	}
	for _, tc := range []struct{ query, msg string }{
		{"?limit=0", `limit="0" must be a whole number from 1 to 1000`},
		{"?limit=1001", `limit="1001" must be a whole number from 1 to 1000`},
		{"?limit=ten", `limit="ten" must be a whole number`},
		{"?limit=-5", `limit="-5" must be`},
		{"?before=0", `before="0" must be a whole number from 1`},
		{"?before=x", `before="x" must be a whole number`},
		{"?action=job.delete", `action="job.delete" is not one of login, login.failed, job.start, job.cancel`},
		{"?action=JOB.START", `action="JOB.START" is not one of`},
		{"?actor=" + strings.Repeat("a", 201), "actor is 201 bytes long"},
	} {
		rec := do(t, s, "GET", "/api/audit"+tc.query, "", "192.0.2.9:5555")
		var body struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusBadRequest || body.Error.Code != gaffer.EINVALID || !strings.Contains(body.Error.Message, tc.msg) {
			t.Errorf("%s: %d %s; want 400 saying %q", tc.query, rec.Code, rec.Body, tc.msg)
		}
	}
}

// Paging with before= walks the whole trail once, newest first.
func TestAuditPaging(t *testing.T) {
	s, m := newAuditServer(t)
	for i := range 25 {
		action := gaffer.AuditJobStart
		if i%3 == 0 {
			action = gaffer.AuditJobCancel
		}
		m.AppendAudit(context.Background(), &gaffer.AuditEvent{TS: time.Now(), Actor: "admin", Action: action, Target: fmt.Sprintf("job %d", i+1)})
	}
	var ids []int64
	query := "?limit=4&action=job.start"
	for range 10 {
		page := auditEvents(t, s, query)
		for _, e := range page {
			if e.Action != gaffer.AuditJobStart {
				t.Fatalf("action %s with action=job.start", e.Action)
			}
			ids = append(ids, e.ID)
		}
		if len(page) < 4 {
			break
		}
		query = fmt.Sprintf("?limit=4&action=job.start&before=%d", page[len(page)-1].ID)
	}
	if len(ids) != 16 || !slices.IsSortedFunc(ids, func(a, b int64) int { return int(b - a) }) {
		t.Fatalf("ids %v: want the 16 job.start events, newest first", ids)
	}
}

// A server without an audit trail says so rather than showing an empty one.
func TestAuditWithoutTrail(t *testing.T) {
	s, _ := newAuditServer(t)
	s.Audit = nil
	rec := do(t, s, "GET", "/api/audit", "", "192.0.2.9:5555")
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "keeps no audit trail") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	// Recording into no trail is a no-op, not a failure.
	if rec := do(t, s, "POST", "/api/jobs", `{"command":"x","hosts":["web-1"]}`, "192.0.2.9:5555"); rec.Code != http.StatusCreated {
		t.Fatalf("start without a trail: %d %s", rec.Code, rec.Body)
	}
}

// The page shows every value as text: an actor, target or detail holding
// markup is escaped, never markup.
func TestAuditPage(t *testing.T) {
	s, m := newAuditServer(t)
	ctx := context.Background()
	m.AppendAudit(ctx, &gaffer.AuditEvent{TS: time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC), Actor: "admin", Action: gaffer.AuditLogin, RemoteAddr: "192.0.2.1:1"})
	m.AppendAudit(ctx, &gaffer.AuditEvent{TS: time.Date(2026, 12, 1, 20, 1, 0, 0, time.UTC), Actor: `<b>eve</b>`, Action: gaffer.AuditJobStart,
		Target: `job <script>alert(1)</script>`, RemoteAddr: "192.0.2.2:2", Detail: json.RawMessage(`{"command":"<img src=x onerror=alert(2)>"}`)})
	page := func(query string) string {
		t.Helper()
		req := httptest.NewRequest("GET", "/audit"+query, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "text/html")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("/audit%s: %d %s", query, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	body := page("")
	for _, bad := range []string{"<script>alert", "<b>eve", "<img src"} {
		if strings.Contains(body, bad) {
			t.Errorf("page holds %q as markup", bad)
		}
	}
	for _, want := range []string{"&lt;b&gt;eve&lt;/b&gt;", "job &lt;script&gt;alert(1)&lt;/script&gt;", "2026-12-01 20:01:00", "192.0.2.2:2", `href="/audit"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Index(body, "job.start") > strings.LastIndex(body, ">login<") || strings.Contains(body, `id="older"`) {
		t.Errorf("not newest first, or an Older link on the only page:\n%s", body)
	}
	// A full page links to the next, keeping the filter.
	body = page("?limit=1&actor=admin")
	if !strings.Contains(body, `href="/audit?actor=admin&amp;before=1&amp;limit=1"`) {
		t.Errorf("no Older link keeping the filter:\n%s", body)
	}
	body = page("?action=login")
	if !strings.Contains(body, `<option value="login" selected>`) || strings.Contains(body, "eve") {
		t.Errorf("filter by action:\n%s", body)
	}
	// A bad parameter is the error page, 400.
	req := httptest.NewRequest("GET", "/audit?limit=0", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/html")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "limit") {
		t.Errorf("/audit?limit=0: %d %s", rec.Code, rec.Body)
	}
}
