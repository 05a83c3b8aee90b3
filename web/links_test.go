package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The job's answers name its page in a Link header: absolute on the
// public URL when the server has one (the CLI prints it), relative
// otherwise.
func TestJobPageLink(t *testing.T) {
	for _, tc := range []struct {
		publicURL, want string
	}{
		{"", `</jobs/1>; rel="alternate"; type="text/html"`},
		{"https://gaffer.example.com", `<https://gaffer.example.com/jobs/1>; rel="alternate"; type="text/html"`},
		{"https://gaffer.example.com/", `<https://gaffer.example.com/jobs/1>; rel="alternate"; type="text/html"`},
		{"https://example.com/ops/gaffer/", `<https://example.com/ops/gaffer/jobs/1>; rel="alternate"; type="text/html"`},
	} {
		s := newServer(t)
		s.PublicURL = tc.publicURL
		for _, req := range []*http.Request{
			httptest.NewRequest("POST", "/api/jobs", strings.NewReader(`{"command":"true","hosts":["local"]}`)),
			httptest.NewRequest("GET", "/api/jobs/1", nil),
		} {
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code >= 300 {
				t.Fatalf("%s %s: %d %s", req.Method, req.URL, rec.Code, rec.Body)
			}
			if got := rec.Header().Get("Link"); got != tc.want {
				t.Errorf("--public-url %q, %s %s: Link %q, want %q", tc.publicURL, req.Method, req.URL, got, tc.want)
			}
		}
	}
}
