package web_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer/web"
)

// The security headers every response carries, whatever its route, status
// or credential.
var alwaysHeaders = map[string]string{
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "same-origin",
	"X-Frame-Options":              "DENY",
	"Content-Security-Policy":      web.ContentSecurityPolicy,
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
}

// headerCase is one request of TestSecurityHeaders.
type headerCase struct {
	name, method, path string
	set                func(*http.Request)
}

// headerCases are a request with and without a credential to every route
// of the router's table (so a new route cannot forget them), and the
// answers that do not come from a route handler: 404, 405, 403, 415,
// redirects, a failed login, static files.
func headerCases(s *web.Server) []headerCase {
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	var cases []headerCase
	for _, rt := range s.Routes() {
		path := strings.NewReplacer("{id}", "1", "{name}", "local", "{$}", "").Replace(rt.Pattern)
		if rt.Pattern == "/static/" {
			path = "/static/style.css"
		}
		cases = append(cases,
			headerCase{rt.Method + " " + path + " bearer", rt.Method, path, bearer},
			headerCase{rt.Method + " " + path + " none", rt.Method, path, func(*http.Request) {}})
	}
	return append(cases,
		headerCase{"page redirects to login", "GET", "/jobs/1", func(r *http.Request) { r.Header.Set("Accept", "text/html") }},
		headerCase{"login link", "GET", "/login?token=" + token, func(*http.Request) {}},
		headerCase{"wrong login link", "GET", "/login?token=nope", func(*http.Request) {}},
		headerCase{"not found", "GET", "/nothing-here", bearer},
		headerCase{"wrong method", "PUT", "/api/jobs", bearer},
		headerCase{"cross origin", "POST", "/api/jobs/1/cancel", func(r *http.Request) {
			r.Header.Set("Origin", "http://evil.example")
			r.AddCookie(&http.Cookie{Name: web.CookieName, Value: "x"})
		}},
		headerCase{"not JSON", "POST", "/api/jobs", func(r *http.Request) { bearer(r); r.Header.Set("Content-Type", "text/plain") }},
		headerCase{"missing job", "GET", "/api/jobs/2", bearer},
		headerCase{"bad id page", "GET", "/jobs/x", func(r *http.Request) { bearer(r); r.Header.Set("Accept", "text/html") }},
		headerCase{"static missing", "GET", "/static/nope.js", func(*http.Request) {}},
		headerCase{"HEAD", "HEAD", "/healthz", func(*http.Request) {}},
		headerCase{"SSE", "GET", "/api/jobs/1/log", func(r *http.Request) { bearer(r); r.Header.Set("Accept", "text/event-stream") }},
		headerCase{"raw log", "GET", "/api/jobs/1/log?format=raw&host=local&stream=stdout", bearer},
	)
}

// HSTS is sent exactly when people reach the server over HTTPS: the request
// came over TLS, or a TLS proxy is in front (--public-url https://…, which
// sets SecureCookies). Never on plain HTTP otherwise.
func TestSecurityHeaders(t *testing.T) {
	for _, tc := range []struct {
		name          string
		tls, secure   bool // request over TLS; Server.SecureCookies
		wantHSTS      bool
		remoteAddrNet int
	}{
		{name: "plain HTTP", wantHSTS: false, remoteAddrNet: 1},
		{name: "TLS", tls: true, wantHSTS: true, remoteAddrNet: 2},
		{name: "plain HTTP behind a TLS proxy (--public-url https)", secure: true, wantHSTS: true, remoteAddrNet: 3},
		{name: "TLS and proxy", tls: true, secure: true, wantHSTS: true, remoteAddrNet: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			s.SecureCookies = tc.secure
			cases := headerCases(s)
			if len(cases) < 40 {
				t.Fatalf("only %d requests", len(cases))
			}
			for i, c := range cases {
				req := httptest.NewRequest(c.method, c.path, strings.NewReader(`{"command":"true","hosts":["local"]}`))
				req.Header.Set("Content-Type", "application/json")
				// Each from its own address: failed attempts are limited.
				req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1234", tc.remoteAddrNet, i/256, i%256)
				if tc.tls {
					req.TLS = &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
				}
				c.set(req)
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, req)
				h := rec.Result().Header
				for k, v := range alwaysHeaders {
					if got := h.Values(k); len(got) != 1 || got[0] != v {
						t.Errorf("%s (status %d): %s = %q, want %q", c.name, rec.Code, k, got, v)
					}
				}
				got := h.Get("Strict-Transport-Security")
				switch {
				case tc.wantHSTS && got != "max-age=31536000":
					t.Errorf("%s (status %d): Strict-Transport-Security = %q, want max-age=31536000", c.name, rec.Code, got)
				case !tc.wantHSTS && got != "":
					t.Errorf("%s (status %d): Strict-Transport-Security %q on plain HTTP", c.name, rec.Code, got)
				}
			}
		})
	}
}

// The policy lets the pages load only this origin's files and never be
// framed; checked as text so a loosening is a visible change.
func TestContentSecurityPolicy(t *testing.T) {
	directives := map[string]bool{}
	for _, d := range strings.Split(web.ContentSecurityPolicy, ";") {
		directives[strings.TrimSpace(d)] = true
	}
	for _, want := range []string{"default-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"} {
		if !directives[want] {
			t.Errorf("policy %q lacks %q", web.ContentSecurityPolicy, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "data:", "http:", "https:"} {
		if strings.Contains(web.ContentSecurityPolicy, bad) {
			t.Errorf("policy %q allows %s", web.ContentSecurityPolicy, bad)
		}
	}
}
