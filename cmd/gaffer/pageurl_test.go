package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The job page gaffer run prints: the server's Link when absolute http(s),
// else on the address the CLI used.
func TestPageURL(t *testing.T) {
	c := &client{server: "http://127.0.0.1:8080"}
	for _, tc := range []struct{ link, want string }{
		{`<https://gaffer.example.com/jobs/7>; rel="alternate"; type="text/html"`, "https://gaffer.example.com/jobs/7"},
		{`<https://example.com/ops/gaffer/jobs/7>; rel="alternate"`, "https://example.com/ops/gaffer/jobs/7"},
		{`</jobs/7>; rel="alternate"; type="text/html"`, "http://127.0.0.1:8080/jobs/7"},
		{"", "http://127.0.0.1:8080/jobs/7"},
		{`<javascript:alert(1)>`, "http://127.0.0.1:8080/jobs/7"},
		{`<https:///jobs/7>`, "http://127.0.0.1:8080/jobs/7"},
		{`<https://gaffer.example.com/jobs/7`, "http://127.0.0.1:8080/jobs/7"},
		{` <https://gaffer.example.com/jobs/7>`, "http://127.0.0.1:8080/jobs/7"},
	} {
		h := http.Header{}
		if tc.link != "" {
			h.Set("Link", tc.link)
		}
		if got := c.pageURL(h, 7); got != tc.want {
			t.Errorf("Link %q: %q, want %q", tc.link, got, tc.want)
		}
	}
}

// Whatever the server sends, the CLI prints an absolute http(s) URL.
func FuzzPageURL(f *testing.F) {
	for _, s := range []string{`<https://gaffer.example.com/jobs/7>; rel="alternate"`, `</jobs/7>`, "", "<>", "<http://a b>"} {
		f.Add(s)
	}
	c := &client{server: "http://127.0.0.1:8080"}
	f.Fuzz(func(t *testing.T, link string) {
		got := c.pageURL(http.Header{"Link": {link}}, 7)
		u, err := url.Parse(got)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(got, "\r\n") {
			t.Fatalf("Link %q: printed %q", link, got)
		}
	})
}
