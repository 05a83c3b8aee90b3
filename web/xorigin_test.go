package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// sessionCookie logs in with the login link and returns the cookie it sets.
func sessionCookie(t *testing.T, h http.Handler) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/login?token="+token, nil))
	cs := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || len(cs) != 1 {
		t.Fatalf("login: %d %v", rec.Code, cs)
	}
	return cs[0]
}

// jsonError reads the API's JSON error body.
func jsonError(t *testing.T, rec *httptest.ResponseRecorder) (code, msg string) {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not a JSON error: %v", rec.Body, err)
	}
	return body.Error.Code, body.Error.Message
}

// A browser on another origin (another site, a sibling port or subdomain of
// this host) cannot make the server change anything with the session
// cookie; the server's own pages, and API clients with a Bearer token, can.
func TestCrossOriginRequests(t *testing.T) {
	s := newServer(t)
	cookie := sessionCookie(t, s)
	const jobJSON = `{"command":"true","hosts":["local"]}`
	for _, tc := range []struct {
		name, method, path, body string
		header                   map[string]string // "" values are left out
		bearer                   bool
		status                   int
		code                     string
	}{
		// The review's finding: a simple (no-preflight) cross-site POST.
		{"text/plain from another site", "POST", "/api/jobs", jobJSON,
			map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, false, 403, "forbidden"},
		{"fetch metadata says cross-site", "POST", "/api/jobs", jobJSON,
			map[string]string{"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, false, 403, "forbidden"},
		{"sibling port (same-site, not same-origin)", "POST", "/api/jobs", jobJSON,
			map[string]string{"Content-Type": "application/json", "Origin": "http://example.com:8081"}, false, 403, "forbidden"},
		{"sibling port, fetch metadata", "POST", "/api/jobs", jobJSON,
			map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-site", "Origin": "http://example.com:8081"}, false, 403, "forbidden"},
		{"sibling subdomain", "POST", "/api/jobs/1/cancel", "",
			map[string]string{"Origin": "http://other.example.com"}, false, 403, "forbidden"},
		{"cross-site form to cancel", "POST", "/api/jobs/1/cancel", "a=b",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"}, false, 403, "forbidden"},
		{"cross-site logout", "POST", "/logout", "",
			map[string]string{"Origin": "http://evil.example"}, false, 403, "forbidden"},
		{"origin null (sandboxed frame)", "POST", "/api/jobs", jobJSON,
			map[string]string{"Content-Type": "application/json", "Origin": "null"}, false, 403, "forbidden"},
		// The new-job form and the cancel button of the job page.
		{"the new-job form", "POST", "/api/jobs", jobJSON,
			map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}, false, 201, ""},
		{"same origin, older browser (Origin only)", "POST", "/api/jobs", jobJSON,
			map[string]string{"Content-Type": "application/json", "Origin": "http://example.com"}, false, 201, ""},
		{"the cancel button", "POST", "/api/jobs/1/cancel", "",
			map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}, false, 202, ""},
		// Same origin but not JSON: refused, so a body the page never sends
		// cannot start a job even if a check upstream is bypassed.
		{"same origin, text/plain body", "POST", "/api/jobs", jobJSON,
			map[string]string{"Content-Type": "text/plain", "Sec-Fetch-Site": "same-origin"}, false, 415, "unsupported_media_type"},
		{"same origin, form body", "POST", "/api/jobs", "command=true&hosts=local",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"}, false, 415, "unsupported_media_type"},
		{"JSON with charset", "POST", "/api/jobs", jobJSON,
			map[string]string{"Content-Type": "application/json; charset=utf-8"}, false, 201, ""},
		// API clients: curl and the CLI send no Origin; a Bearer token is no
		// ambient credential, so even a cross Origin header does not matter.
		{"CLI, Bearer", "POST", "/api/jobs", jobJSON,
			map[string]string{"Content-Type": "application/json"}, true, 201, ""},
		{"CLI cancel, no body", "POST", "/api/jobs/1/cancel", "", nil, true, 202, ""},
		{"Bearer with a cross origin", "POST", "/api/jobs", jobJSON,
			map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, true, 201, ""},
		{"Bearer, text/plain", "POST", "/api/jobs", jobJSON,
			map[string]string{"Content-Type": "text/plain"}, true, 415, "unsupported_media_type"},
		// Reading is allowed from anywhere the cookie goes (SameSite=Lax and
		// no CORS headers keep the answer from another origin's script).
		{"cross-site GET", "GET", "/api/jobs/1", "",
			map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, false, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://example.com"+tc.path, strings.NewReader(tc.body))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if tc.bearer {
				req.Header.Set("Authorization", "Bearer "+token)
			} else {
				req.AddCookie(cookie)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.code == "" {
				return
			}
			code, msg := jsonError(t, rec)
			if code != tc.code || msg == "" {
				t.Fatalf("error %q %q, want code %q", code, msg, tc.code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
		})
	}
}

// The login form posts to /login from the login page; another site cannot
// log a browser in with its own token (login CSRF).
func TestCrossOriginLogin(t *testing.T) {
	s := newServer(t)
	post := func(header map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "http://example.com/login", strings.NewReader("token="+token+"&next=/jobs/1"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	rec := post(map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "same-origin", "Accept": "text/html"})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/jobs/1" || len(rec.Result().Cookies()) != 1 {
		t.Fatalf("same-origin login form: %d %v", rec.Code, rec.Header())
	}
	rec = post(map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Accept": "text/html"})
	if rec.Code != http.StatusForbidden || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("cross-site login form: %d %v", rec.Code, rec.Header())
	}
	if !strings.Contains(rec.Body.String(), "another site") {
		t.Errorf("cross-site login form: the page does not say why: %s", rec.Body)
	}
}
