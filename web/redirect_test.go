package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// browserResolve resolves a Location the way a browser's URL parser does
// before following it: tabs and newlines are dropped, leading and trailing
// spaces and controls trimmed, and "\" counts as "/" in http(s) URLs.
func browserResolve(base *url.URL, loc string) (*url.URL, error) {
	loc = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, loc)
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= ' ' })
	u, err := url.Parse(loc)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(u), nil
}

// The page after login (next=) is always on this site, however it is
// spelled; local pages keep their query and fragment.
func TestLoginRedirectStaysOnSite(t *testing.T) {
	s := newServer(t)
	base, _ := url.Parse("http://example.com/login")
	bad := []string{ // as they appear in the login link's query, already encoded
		"//evil", "/%5Cevil", "/%09/evil", "/%0a/evil", "/%0d/evil", "https:evil", "https://evil",
		"%5C%5Cevil", "/%09/evil.example/x", "javascript:alert(1)", "%20//evil", "/%5C/evil",
		"http:/evil", "///evil", "//evil%2F..", "/%00/evil", "evil", "./evil", "%2F%2Fevil",
		"/%E3%80%80/evil", "data:text/html,x", "%09//evil", "/%7F/evil",
	}
	for _, raw := range []string{"/\\evil", "\\\\evil", "/\t/evil", "/\n/evil", "/ /evil"} {
		bad = append(bad, url.QueryEscape(raw))
	}
	good := map[string]string{
		"/jobs/3%23L5": "/jobs/3#L5", "/jobs/3%3Fx%3D1": "/jobs/3?x=1", "/": "/", "/jobs/new": "/jobs/new",
		"%2Fjobs%2F3": "/jobs/3",
	}
	check := func(name, next, want string, rec *httptest.ResponseRecorder) {
		t.Helper()
		loc := rec.Header().Get("Location")
		if rec.Code != http.StatusSeeOther {
			t.Errorf("%s next=%s: status %d", name, next, rec.Code)
			return
		}
		u, err := browserResolve(base, loc)
		if err != nil || u.Scheme != "http" || u.Host != "example.com" {
			t.Errorf("%s next=%s: Location %q leaves the site (%v)", name, next, loc, u)
			return
		}
		if want != "" && loc != want {
			t.Errorf("%s next=%s: Location %q, want %q", name, next, loc, want)
		}
	}
	try := func(next, want string) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "http://example.com/login?token="+token+"&next="+next, nil))
		check("login link", next, want, rec)
		// The login form carries next in a hidden field.
		rec = httptest.NewRecorder()
		req := httptest.NewRequest("POST", "http://example.com/login", strings.NewReader("token="+token+"&next="+next))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		s.ServeHTTP(rec, req)
		check("login form", next, want, rec)
	}
	for _, next := range bad {
		try(next, "/")
	}
	for next, want := range good {
		try(next, want)
	}
}

// Whatever next is, the login link leads to this site: to next itself or to "/".
func FuzzLoginRedirect(f *testing.F) {
	for _, s := range []string{"/jobs/3#L5", "//evil", "/\\evil", "/\t/evil", "https:evil", "/%2F/evil", "/a?b=//c", "\x00", "/\u3000/x"} {
		f.Add(s)
	}
	s := newServerF(f)
	base, _ := url.Parse("http://example.com/login")
	f.Fuzz(func(t *testing.T, next string) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "http://example.com/login?token="+token+"&next="+url.QueryEscape(next), nil))
		loc := rec.Header().Get("Location")
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("next=%q: status %d", next, rec.Code)
		}
		u, err := browserResolve(base, loc)
		if err != nil || u.Scheme != "http" || u.Host != "example.com" {
			t.Fatalf("next=%q: Location %q leaves the site (%v, %v)", next, loc, u, err)
		}
	})
}
