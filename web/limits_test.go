package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer/web"
)

// One credential may hold MaxStreamsPerUser log streams; past it, 429 with
// Retry-After and a JSON error, counted. Other credentials still get
// theirs, and a stream that ends makes room.
func TestMaxStreamsPerUser(t *testing.T) {
	auth := newAuth(token)
	s, err := web.New(idleJobs{}, auth, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.MaxStreams, s.MaxStreamsPerUser = 10, 2
	srv := httptest.NewServer(s)
	defer srv.Close()
	viewer := auth.SessionFor(web.User{Name: "ann", Role: web.RoleViewer})
	open := func(path string, cookie string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Accept", "text/event-stream")
		if strings.Contains(path, "follow=1") {
			req.Header.Set("Accept", "application/x-ndjson")
		}
		if cookie == "" {
			req.Header.Set("Authorization", "Bearer "+token)
		} else {
			req.AddCookie(&http.Cookie{Name: web.CookieName, Value: cookie})
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	a := open("/api/jobs/1/log", "")
	// An NDJSON follow counts too.
	b := open("/api/jobs/2/log?follow=1", "")
	defer b.Body.Close()
	if a.StatusCode != 200 || b.StatusCode != 200 {
		t.Fatalf("first two: %d %d", a.StatusCode, b.StatusCode)
	}
	c := open("/api/jobs/1/log", "")
	body, _ := io.ReadAll(c.Body)
	c.Body.Close()
	if c.StatusCode != 429 || c.Header.Get("Retry-After") == "" || !strings.HasPrefix(c.Header.Get("Content-Type"), "application/json") ||
		!strings.Contains(string(body), `"too_many_requests"`) || !strings.Contains(string(body), "2 open log streams") {
		t.Fatalf("third of one credential: %d Retry-After %q %s", c.StatusCode, c.Header.Get("Retry-After"), body)
	}
	if n := s.StreamsRefused(web.RefusedPerUser); n != 1 {
		t.Fatalf("refused per user: %d", n)
	}
	// Another credential is not held back by the first's streams.
	d := open("/api/jobs/1/log", viewer)
	defer d.Body.Close()
	if d.StatusCode != 200 {
		t.Fatalf("another credential: %d", d.StatusCode)
	}
	a.Body.Close()
	for deadline := time.Now().Add(10 * time.Second); s.OpenStreams() > 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	e := open("/api/jobs/1/log", "")
	e.Body.Close()
	if e.StatusCode != 200 {
		t.Fatalf("after one closed: %d", e.StatusCode)
	}
}

// A concurrency that overflows int, or is not whole, is a 400 naming the field.
func TestConcurrencyNotAnInt(t *testing.T) {
	s := newServer(t)
	for _, v := range []string{"99999999999999999999", "1e30", "1.5", `"10"`} {
		req := httptest.NewRequest("POST", "/api/jobs", strings.NewReader(`{"command":"true","hosts":["local"],"concurrency":`+v+`}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), `concurrency`) {
			t.Errorf("concurrency %s: %d %s", v, rec.Code, rec.Body)
		}
	}
}
