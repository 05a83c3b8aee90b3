package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/memstore"
	"github.com/gaffer-dev/gaffer/web"
)

func offered(host, fp string) *gaffer.HostKey {
	return &gaffer.HostKey{Host: host, Address: "10.0.0.1", Type: "ssh-ed25519", Fingerprint: fp,
		Key: "ssh-ed25519 AAAAnot-shown", LastSeen: time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)}
}

// newHostKeyServer: web-1 offered A (pending); web-2 offered B and C
// (pending); web-3 has D approved and offered E; web-4's key F is trusted
// by the known_hosts file and it offered G; web-5 (a jump host: no
// HostKeyFingerprints) has H approved and offered I.
func newHostKeyServer(t *testing.T) (*web.Server, *memstore.Store, *memAudit) {
	t.Helper()
	s, m := newAuditServer(t)
	store := memstore.New()
	ctx := context.Background()
	for _, k := range []*gaffer.HostKey{offered("web-1", "SHA256:A"), offered("web-2", "SHA256:B"), offered("web-2", "SHA256:C"),
		offered("web-3", "SHA256:D"), offered("web-3", "SHA256:E"), offered("web-4", "SHA256:G"),
		offered("web-5", "SHA256:H"), offered("web-5", "SHA256:I")} {
		store.OfferHostKey(ctx, k)
	}
	for _, k := range []string{"web-3 SHA256:D", "web-5 SHA256:H"} {
		host, fp, _ := strings.Cut(k, " ")
		if _, _, err := store.ApproveHostKey(ctx, host, fp, "alice", time.Now(), false); err != nil {
			t.Fatal(err)
		}
	}
	s.HostKeys = store
	s.HostKeyFingerprints = func(ctx context.Context, host string) []string {
		switch host {
		case "web-3":
			return []string{"SHA256:D"}
		case "web-4":
			return []string{"SHA256:F"}
		}
		return nil
	}
	return s, store, m
}

func TestHostKeyRoutes(t *testing.T) {
	s := newServer(t)
	want := map[string]web.Role{"GET /api/hosts/keys": web.RoleViewer, "POST /api/hosts/{name}/keys/approve": web.RoleAdmin, "GET /hosts": web.RoleViewer}
	for _, rt := range s.Routes() {
		k := rt.Method + " " + rt.Pattern
		if role, ok := want[k]; ok {
			delete(want, k)
			if rt.Public || rt.Role != role {
				t.Errorf("%s: public %v, role %q; want %q", k, rt.Public, rt.Role, role)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("no route for %v", want)
	}
}

func TestListHostKeys(t *testing.T) {
	s, _, _ := newHostKeyServer(t)
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{"web-1 SHA256:A pending", "web-2 SHA256:B pending", "web-2 SHA256:C pending", "web-3 SHA256:D approved", "web-3 SHA256:E pending", "web-4 SHA256:G pending", "web-5 SHA256:H approved", "web-5 SHA256:I pending"}},
		{"?host=web-3", []string{"web-3 SHA256:D approved", "web-3 SHA256:E pending"}},
		{"?host=nope", []string{}},
	} {
		rec := do(t, s, "GET", "/api/hosts/keys"+tt.query, "", "192.0.2.1:1")
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", tt.query, rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "AAAA") {
			t.Errorf("the key itself is in the answer: %s", rec.Body)
		}
		var keys []gaffer.HostKey
		if err := json.Unmarshal(rec.Body.Bytes(), &keys); err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, k := range keys {
			got = append(got, k.Host+" "+k.Fingerprint+" "+k.State)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("GET /api/hosts/keys%s = %v, want %v", tt.query, got, tt.want)
		}
	}
	// Without a store: a clear 404.
	rec := do(t, newServer(t), "GET", "/api/hosts/keys", "", "192.0.2.1:1")
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "does not keep host keys") {
		t.Fatalf("no store: %d %s", rec.Code, rec.Body)
	}
}

func TestApproveHostKey(t *testing.T) {
	tests := []struct {
		name, host, body string
		status           int
		want             []string // in the body
		replaced         []string // audit detail, when 200
	}{
		{"the one pending key, no body", "web-1", "", 200, []string{`"fingerprint":"SHA256:A"`, `"state":"approved"`, `"approved_by":"admin"`}, []string{}},
		{"by fingerprint", "web-2", `{"fingerprint": "SHA256:C"}`, 200, []string{`"fingerprint":"SHA256:C"`}, []string{}},
		{"two pending, none named", "web-2", `{}`, 400, []string{"offered 2 keys", "SHA256:B, SHA256:C"}, nil},
		{"not a SHA256 fingerprint", "web-1", `{"fingerprint": "MD5:aa:bb"}`, 400, []string{"not a SHA256 fingerprint"}, nil},
		{"never offered", "web-1", `{"fingerprint": "SHA256:Z"}`, 404, []string{`host \"web-1\" has not offered the key SHA256:Z`}, nil},
		{"no pending key", "web-9", ``, 404, []string{"web-9 has no host key waiting"}, nil},
		{"changed, approved in the store", "web-3", `{"fingerprint": "SHA256:E"}`, 409, []string{"SHA256:D", "never replaced automatically", "gaffer hosts approve web-3 --replace"}, nil},
		{"changed, the store's conflict", "web-5", `{"fingerprint": "SHA256:I"}`, 409, []string{`already has the approved key SHA256:H, not SHA256:I`, "never replaced unasked", "(gaffer hosts approve web-5 --replace, or Replace… on the Hosts page)"}, nil},
		{"changed, replaced", "web-3", `{"fingerprint": "SHA256:E", "replace": true}`, 200, []string{`"replaced":["SHA256:D"]`}, []string{"SHA256:D"}},
		{"changed, in the known_hosts file", "web-4", `{}`, 409, []string{"SHA256:F", "offered SHA256:G", "never replaced automatically"}, nil},
		{"changed, file key replaced", "web-4", `{"replace": true}`, 200, []string{`"fingerprint":"SHA256:G"`}, []string{}},
		{"unknown field", "web-1", `{"fingerprint": "SHA256:A", "force": true}`, 400, []string{"unknown field", "force"}, nil},
		{"not JSON", "web-1", `{"fingerprint":`, 400, []string{"not valid JSON"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, store, audit := newHostKeyServer(t)
			rec := do(t, s, "POST", "/api/hosts/"+tt.host+"/keys/approve", tt.body, "192.0.2.7:4242")
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			for _, w := range tt.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("answer lacks %q: %s", w, rec.Body)
				}
			}
			events, _ := audit.FindAudit(context.Background(), gaffer.AuditFilter{Action: gaffer.AuditHostKeyApprove})
			if tt.status != 200 {
				if len(events) != 0 {
					t.Errorf("a refused approval was recorded: %+v", events[0])
				}
				return
			}
			if len(events) != 1 {
				t.Fatalf("%d audit events, want 1", len(events))
			}
			e := events[0]
			var d struct {
				Fingerprint string   `json:"fingerprint"`
				Replaced    []string `json:"replaced"`
			}
			json.Unmarshal(e.Detail, &d)
			var key gaffer.HostKey
			json.Unmarshal(rec.Body.Bytes(), &key)
			if e.Actor != "admin" || e.Target != "host "+tt.host || e.RemoteAddr != "192.0.2.7:4242" ||
				d.Fingerprint != key.Fingerprint || !slices.Equal(d.Replaced, tt.replaced) {
				t.Errorf("audit event %+v, detail %s", e, e.Detail)
			}
			if keys, _ := store.FindHostKeys(context.Background(), tt.host); !slices.ContainsFunc(keys, func(k *gaffer.HostKey) bool {
				return k.Fingerprint == key.Fingerprint && k.State == gaffer.HostKeyApproved
			}) {
				t.Errorf("store not approved: %+v", keys)
			}
		})
	}
}

// The page lists every host with its keys; names and fingerprints are text,
// never markup; admins get the Approve buttons.
func TestHostsPage(t *testing.T) {
	s, store, _ := newHostKeyServer(t)
	store.OfferHostKey(context.Background(), offered(`<img src=x onerror=alert(1)>`, `SHA256:"><b>x</b>`))
	rec := do(t, s, "GET", "/hosts", "", "192.0.2.1:1")
	body := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, body)
	}
	for _, w := range []string{`data-host="web-1" data-fingerprint="SHA256:A" data-state="pending"`, "SHA256:F", "known_hosts",
		`class="approve danger" data-host="web-3"`, `data-fingerprint="SHA256:E" data-replace="true"`, "Replace…", "Approve…",
		"&lt;img src=x onerror=alert(1)&gt;", "(not in the inventory)", "no SSH", `src="/static/hosts.js"`} {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if strings.Contains(body, "<img src=x") || strings.Contains(body, "<b>x</b>") {
		t.Errorf("a name became markup:\n%s", body)
	}
	if strings.Contains(body, "AAAA") {
		t.Errorf("the key itself is on the page")
	}
	if rec.Header().Get("Content-Security-Policy") == "" {
		t.Error("no CSP")
	}
}

var _ http.Handler = (*web.Server)(nil)

// A viewer sees the keys and their state, with no button; an operator's
// approval is refused.
func TestHostsPageViewer(t *testing.T) {
	s, store, _ := newHostKeyServer(t)
	get := func(role web.Role, method, path, body string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.AddCookie(&http.Cookie{Name: web.CookieName, Value: s.Auth.SessionFor(web.User{Name: "ann", Role: role})})
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	rec := get(web.RoleViewer, "GET", "/hosts", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "SHA256:A") || strings.Contains(rec.Body.String(), `class="approve`) {
		t.Fatalf("viewer's page: %d, fingerprint shown %v, buttons %v", rec.Code, strings.Contains(rec.Body.String(), "SHA256:A"), strings.Contains(rec.Body.String(), `class="approve`))
	}
	rec = get(web.RoleOperator, "POST", "/api/hosts/web-1/keys/approve", `{}`)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("operator's approval: %d %s", rec.Code, rec.Body)
	}
	if k, _ := store.FindHostKeys(context.Background(), "web-1"); k[0].State != gaffer.HostKeyPending {
		t.Fatalf("approved by an operator: %+v", k[0])
	}
}
