package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gaffer-dev/gaffer"
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// sessionCookie logs in with the login link and returns the session cookie.
func (ts *testServer) sessionCookie(t *testing.T) *http.Cookie {
	t.Helper()
	resp, err := noRedirect.Get(ts.URL + "/login?token=" + testToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "gaffer_session" {
			return c
		}
	}
	t.Fatalf("login link: %s, no session cookie", resp.Status)
	return nil
}

// jobCount is how many jobs the server has.
func (ts *testServer) jobCount(t *testing.T) int {
	t.Helper()
	resp := ts.request(t, "GET", "/api/jobs", nil)
	defer resp.Body.Close()
	var jobs []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&jobs); err != nil {
		t.Fatalf("list jobs: %s %v", resp.Status, err)
	}
	return len(jobs)
}

// The review's findings, against a real server: a cross-origin POST with
// the session cookie (another site, a sibling port), the off-site redirect
// after login, and unlimited token guessing.
func TestXOriginServer(t *testing.T) {
	ts := startServer(t)
	cookie := ts.sessionCookie(t)
	host := strings.TrimPrefix(ts.URL, "http://")
	_, port, _ := net.SplitHostPort(host)
	sibling := fmt.Sprintf("http://127.0.0.1:%d", atoi(t, port)+1)
	post := func(origin, ctype string, bearer bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", ts.URL+"/api/jobs", strings.NewReader(`{"command":"echo pwned","hosts":["local"]}`))
		req.Header.Set("Content-Type", ctype)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if bearer {
			req.Header.Set("Authorization", "Bearer "+testToken)
		} else {
			req.AddCookie(cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Error struct{ Code string } }
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error.Code
	}
	for _, origin := range []string{"http://evil.example", sibling, "null"} {
		if st, code := post(origin, "text/plain", false); st != 403 || code != "forbidden" {
			t.Errorf("cookie, text/plain, Origin %s: %d %q, want 403 forbidden", origin, st, code)
		}
		if st, code := post(origin, "application/json", false); st != 403 || code != "forbidden" {
			t.Errorf("cookie, JSON, Origin %s: %d %q, want 403 forbidden", origin, st, code)
		}
	}
	if n := ts.jobCount(t); n != 0 {
		t.Fatalf("%d jobs started by cross-origin requests", n)
	}
	if st, _ := post(ts.URL, "application/json", false); st != 201 {
		t.Errorf("cookie, same origin: %d, want 201", st)
	}
	if st, _ := post("", "application/json", true); st != 201 {
		t.Errorf("Bearer: %d, want 201", st)
	}
	if st, _ := post("http://evil.example", "application/json", true); st != 201 {
		t.Errorf("Bearer with a cross Origin: %d, want 201", st)
	}
	if st, code := post("", "text/plain", true); st != 415 || code != "unsupported_media_type" {
		t.Errorf("Bearer, text/plain: %d %q, want 415", st, code)
	}

	// The open redirect of the review.
	resp, err := noRedirect.Get(ts.URL + "/login?token=" + testToken + "&next=/%09/evil.example/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "/" {
		t.Errorf("login with next=/%%09/evil.example/x: %s to %q, want 303 to /", resp.Status, loc)
	}

	// Guessing from 127.0.0.2: the 11th bad token is refused; the admin
	// from 127.0.0.1 is not affected.
	guesser := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}).DialContext}}
	defer guesser.CloseIdleConnections()
	for i := 1; i <= 11; i++ {
		req, _ := http.NewRequest("GET", ts.URL+"/api/jobs", nil)
		req.Header.Set("Authorization", fmt.Sprintf("Bearer guess-%d", i))
		resp, err := guesser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := 401
		if i == 11 {
			want = 429
			if ra := resp.Header.Get("Retry-After"); ra == "" || !strings.Contains(string(body), "too_many_requests") {
				t.Errorf("429 without Retry-After (%q) or JSON error: %s", ra, body)
			}
		}
		if resp.StatusCode != want {
			t.Fatalf("bad token %d from 127.0.0.2: %s, want %d", i, resp.Status, want)
		}
	}
	if n := ts.jobCount(t); n != 3 {
		t.Errorf("the admin from 127.0.0.1 sees %d jobs, want 3", n)
	}
	resp = ts.request(t, "GET", "/metrics", nil)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"gaffer_auth_failures_total 10", "gaffer_auth_limited_total 1", "gaffer_auth_limiter_addresses 1"} {
		if !strings.Contains(string(metrics), m+"\n") {
			t.Errorf("metrics lack %q", m)
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// In a real browser: a page on a sibling port of the same host (same site,
// so the SameSite=Lax cookie goes along) posts a job as text/plain, by
// fetch and by a form; nothing starts. The job page's own cancel button
// still works (the new-job form: TestBrowserNewJobForm; the login form:
// TestBrowserLoginRequired).
func TestBrowserCrossOrigin(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)

	const payload = `{"command":"echo pwned","hosts":["local"]}`
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>evil</title>
<iframe name="sink" id="sink"></iframe>
<form id="f" method="post" enctype="text/plain" target="sink" action="%[1]s/api/jobs"><input name='{"command":"echo pwned","hosts":["local"],"x":"' value='"}'></form>
<script>
window.done = {fetch: false, form: false};
fetch(%[2]q, {method: "POST", mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"}, body: %[3]q})
  .then(function () { done.fetch = true; }, function () { done.fetch = true; });
document.getElementById("sink").addEventListener("load", function () { done.form = true; });
document.getElementById("f").submit();
</script>`, ts.URL, ts.URL+"/api/jobs", payload)
	}))
	defer evil.Close()
	if !strings.HasPrefix(evil.URL, "http://127.0.0.1:") || evil.URL == ts.URL {
		t.Fatalf("the other page is at %s, want a sibling port of %s", evil.URL, ts.URL)
	}
	v := b.newTab(t)
	v.do(chromedp.Navigate(evil.URL))
	v.waitJS("both requests of the other page", `window.done && done.fetch && done.form`)
	if n := ts.jobCount(t); n != 0 {
		t.Fatalf("a page on a sibling port started %d jobs", n)
	}

	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "sleep 120"})
	v.openJob(ts, job.ID)
	v.waitJS("the cancel button", `!document.getElementById("cancel").hidden`)
	v.do(chromedp.Click(chromedp.CSS("#cancel")))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		if j := ts.job(t, job.ID); j.Status.Done() {
			if j.Status != gaffer.StatusCanceled {
				t.Fatalf("after the cancel button the job is %s", j.Status)
			}
			v.mu.Lock()
			defer v.mu.Unlock()
			if len(v.dialogs) != 1 || !strings.HasPrefix(v.dialogs[0], "confirm") || len(v.exceptions) > 0 {
				t.Errorf("want only the cancel button's confirm; dialogs %v, exceptions %v", v.dialogs, v.exceptions)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the cancel button did not cancel the job")
}
