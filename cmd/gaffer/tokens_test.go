package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/web"
)

// tokensCLI runs `gaffer tokens SUB args...` against ts with the admin
// token (a later --token in args wins) and returns stdout, stderr and the
// exit code.
func tokensCLI(t *testing.T, ts *testServer, args ...string) (string, string, int) {
	t.Helper()
	if len(args) == 0 {
		return gafferCLI(t, ts, "tokens")
	}
	var out, errOut strings.Builder
	all := append([]string{"tokens", args[0], "--server", ts.URL, "--token", testToken}, args[1:]...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, all, &out, &errOut)
	code := exitCode(err, &errOut)
	return out.String(), errOut.String(), code
}

// createToken makes a token with `gaffer tokens create` and returns its id
// and secret.
func createToken(t *testing.T, ts *testServer, name, role string, extra ...string) (int64, string) {
	t.Helper()
	out, errOut, code := tokensCLI(t, ts, append([]string{"create", name, "--role", role}, extra...)...)
	if code != 0 {
		t.Fatalf("tokens create %s: exit %d: %s", name, code, errOut)
	}
	secret := strings.TrimSpace(out)
	if !regexp.MustCompile(`^gft_[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Fatalf("tokens create printed %q, want the token alone", out)
	}
	m := regexp.MustCompile(`token (\d+) "` + regexp.QuoteMeta(name) + `" \(` + role + `, .*\) created\. It is shown only this once`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("tokens create said %q", errOut)
	}
	var id int64
	fmt.Sscan(m[1], &id)
	return id, secret
}

// requestAs makes a request with a Bearer token or a session cookie.
func requestAs(t *testing.T, ts *testServer, method, path, body, bearer string, cookie *http.Cookie) *http.Response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, ts.URL+path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func statusAs(t *testing.T, ts *testServer, method, path, body, bearer string, cookie *http.Cookie) int {
	t.Helper()
	resp := requestAs(t, ts, method, path, body, bearer, cookie)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// loginAs logs in with a token as a browser does and returns the
// session cookie.
func loginAs(t *testing.T, url, token string) *http.Cookie {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(url + "/login?token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == web.CookieName {
			return c
		}
	}
	t.Fatalf("login: %s, no session cookie", resp.Status)
	return nil
}

// An operator token made with the CLI runs a job, which is created by its
// name; a viewer token may read but not start one; the list shows both
// without secrets.
func TestTokensCLI(t *testing.T) {
	ts := startServer(t)
	opID, op := createToken(t, ts, "alice", "operator", "--expires", "30d")
	_, viewer := createToken(t, ts, "ci viewer", "viewer")

	out, errOut, code := gafferCLI(t, ts, "run", "--token", op, "-H", "local", "--", "echo", "hi")
	if code != 0 || out != "local | hi\n" {
		t.Fatalf("run with the operator token: %d %q %q", code, out, errOut)
	}
	m := regexp.MustCompile(`job (\d+) on`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("no job id in %q", errOut)
	}
	var id int64
	fmt.Sscan(m[1], &id)
	if job := ts.job(t, id); job.CreatedBy != "alice" {
		t.Fatalf("created_by %q, want alice", job.CreatedBy)
	}

	if code := statusAs(t, ts, "POST", "/api/jobs", `{"hosts":["local"],"command":"true"}`, viewer, nil); code != 403 {
		t.Fatalf("viewer starts a job: %d, want 403", code)
	}
	if code := statusAs(t, ts, "GET", fmt.Sprintf("/api/jobs/%d", id), "", viewer, nil); code != 200 {
		t.Fatalf("viewer reads a job: %d", code)
	}
	_, errOut, code = gafferCLI(t, ts, "run", "--token", viewer, "-H", "local", "--", "true")
	if code != 1 || !strings.Contains(errOut, "needs the operator role") {
		t.Fatalf("run as viewer: %d %q", code, errOut)
	}
	_, errOut, code = tokensCLI(t, ts, "list", "--token", op)
	if code != 1 || !strings.Contains(errOut, "needs the admin role") {
		t.Fatalf("list as operator: %d %q", code, errOut)
	}

	out, _, code = tokensCLI(t, ts, "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") ||
		!regexp.MustCompile(fmt.Sprintf(`^%d\s+alice\s+operator\s+active\s+.*admin\s+\d{4}-`, opID)).MatchString(lines[1]) ||
		!regexp.MustCompile(`ci viewer\s+viewer\s+active\s+.*\s+admin\s+never$`).MatchString(lines[2]) {
		t.Fatalf("tokens list:\n%s", out)
	}
	for _, secret := range []string{op, viewer, gaffer.HashSecret(op)} {
		if strings.Contains(out, secret) {
			t.Fatalf("tokens list shows a secret: %s", out)
		}
	}

	out, _, code = tokensCLI(t, ts, "revoke", fmt.Sprint(opID))
	if code != 0 || out != fmt.Sprintf("token %d (alice) revoked: its requests, browser sessions and log streams end now\n", opID) {
		t.Fatalf("revoke: %d %q", code, out)
	}
	_, errOut, code = gafferCLI(t, ts, "run", "--token", op, "-H", "local", "--", "true")
	if code != 1 || !strings.Contains(errOut, "invalid credential") {
		t.Fatalf("run with a revoked token: %d %q", code, errOut)
	}
	out, _, _ = tokensCLI(t, ts, "list")
	if !regexp.MustCompile(`alice\s+operator\s+revoked \d{4}-`).MatchString(out) {
		t.Fatalf("list after revoke:\n%s", out)
	}
	_, errOut, code = tokensCLI(t, ts, "revoke", "999")
	if code != 1 || !strings.Contains(errOut, "no token 999") {
		t.Fatalf("revoke 999: %d %q", code, errOut)
	}
	// Nothing the server logged holds a secret.
	for _, secret := range []string{op, viewer} {
		if strings.Contains(ts.Log(), secret) || strings.Contains(ts.Output(), secret) {
			t.Fatalf("the server logged a token")
		}
	}
}

// Bad arguments exit 2 naming what is wrong, before asking the server.
func TestTokensCLIUsage(t *testing.T) {
	ts := &testServer{URL: "http://127.0.0.1:1"} // nothing listens: usage errors come first
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tokens"}, "gaffer tokens create NAME"},
		{[]string{"tokens", "make"}, `unknown subcommand "make"`},
		{[]string{"tokens", "create", "alice"}, "--role is required"},
		{[]string{"tokens", "create", "alice", "--role", "root"}, `--role "root": give viewer, operator or admin`},
		{[]string{"tokens", "create", "alice", "--role", "viewer", "--expires", "0d"}, `--expires "0d"`},
		{[]string{"tokens", "create", "alice", "--role", "viewer", "--expires", "soon"}, `--expires "soon"`},
		{[]string{"tokens", "create", "--role", "viewer"}, "takes one NAME"},
		{[]string{"tokens", "create", "a", "b", "--role", "viewer"}, "takes one NAME"},
		{[]string{"tokens", "create", "admin", "--role", "viewer"}, "reserved"},
		{[]string{"tokens", "create", "alice", "--role", "viewer", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"tokens", "revoke"}, "takes one token ID"},
		{[]string{"tokens", "revoke", "x"}, `"x" is not a token ID`},
		{[]string{"tokens", "list", "extra"}, "takes no arguments"},
	} {
		_, errOut, code := tokensCLI(t, ts, tc.args[1:]...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 saying %q", tc.args, code, errOut, tc.want)
		}
	}
}

// Revoking a token ends its open SSE stream and its browser session; other
// credentials go on.
func TestTokensRevokeEndsStreamAndSession(t *testing.T) {
	ts := startServer(t)
	id, secret := createToken(t, ts, "bob", "viewer")
	cookie := loginAs(t, ts.URL, secret)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "echo started; sleep 60"})
	defer func() { ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil).Body.Close() }()

	open := func(bearer string, cookie *http.Cookie) *bufio.Reader {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/jobs/%d/log", ts.URL, job.ID), nil)
		req.Header.Set("Accept", "text/event-stream")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("open stream: %v %v", resp, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("stream ended before its first line: %v", err)
			}
			if strings.Contains(line, "started") {
				return br
			}
		}
	}
	byToken, bySession, admin := open(secret, nil), open("", cookie), open(testToken, nil)
	if code := statusAs(t, ts, "GET", "/api/jobs", "", "", cookie); code != 200 {
		t.Fatalf("session before revoke: %d", code)
	}

	if _, errOut, code := tokensCLI(t, ts, "revoke", fmt.Sprint(id)); code != 0 {
		t.Fatalf("revoke: %s", errOut)
	}
	for what, br := range map[string]*bufio.Reader{"token's stream": byToken, "session's stream": bySession} {
		done := make(chan error, 1)
		go func() { _, err := io.Copy(io.Discard, br); done <- err }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("the revoked %s is still open a minute later", what)
		}
	}
	if j := ts.job(t, job.ID); j.Status.Done() {
		t.Fatalf("the job ended (%s): the streams must have ended by the revoke, not the job", j.Status)
	}
	if code := statusAs(t, ts, "GET", "/api/jobs", "", "", cookie); code != 401 {
		t.Fatalf("session after revoke: %d, want 401", code)
	}
	if code := statusAs(t, ts, "GET", "/api/jobs", "", secret, nil); code != 401 {
		t.Fatalf("token after revoke: %d, want 401", code)
	}
	// The admin's stream is still served: the job's end reaches it.
	ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil).Body.Close()
	rest, _ := io.ReadAll(admin)
	if !strings.Contains(string(rest), "event: end") {
		t.Fatalf("the admin's stream after the revoke: %q", rest)
	}
}

// --reset-admin-token ends every session: the old admin's cookie and a
// named token's get 401; the named token itself still works.
func TestResetAdminTokenEndsSessions(t *testing.T) {
	dir := t.TempDir()
	url, out, stop := startBare(t, dir)
	m := regexp.MustCompile(`login\?token=([0-9a-f]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no login link in %q", out)
	}
	adminCookie := loginAs(t, url, m[1])
	ts := &testServer{URL: url}
	var created struct {
		Token string `json:"token"`
	}
	req, _ := http.NewRequest("POST", url+"/api/tokens", strings.NewReader(`{"name":"carol","role":"operator"}`))
	req.Header.Set("Authorization", "Bearer "+m[1])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create token: %v %v", resp, err)
	}
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	carolCookie := loginAs(t, url, created.Token)
	for _, c := range []*http.Cookie{adminCookie, carolCookie} {
		if code := statusAs(t, ts, "GET", "/api/jobs", "", "", c); code != 200 {
			t.Fatalf("session before the reset: %d", code)
		}
	}
	stop()

	url, out, stop = startBare(t, dir, "--reset-admin-token")
	defer stop()
	if !strings.Contains(out, "token=") {
		t.Fatalf("reset printed no new token: %q", out)
	}
	ts.URL = url
	for name, c := range map[string]*http.Cookie{"admin": adminCookie, "carol": carolCookie} {
		if code := statusAs(t, ts, "GET", "/api/jobs", "", "", c); code != 401 {
			t.Errorf("%s's session after --reset-admin-token: %d, want 401", name, code)
		}
	}
	if code := statusAs(t, ts, "GET", "/api/jobs", "", created.Token, nil); code != 200 {
		t.Errorf("carol's token after the reset: %d", code)
	}
	// The reset is in the audit trail, with how many sessions it ended.
	m2 := regexp.MustCompile(`login\?token=([0-9a-f]+)`).FindStringSubmatch(out)
	resp = requestAs(t, ts, "GET", "/api/audit?action=sessions.reset", "", m2[1], nil)
	var events []gaffer.AuditEvent
	json.NewDecoder(resp.Body).Decode(&events)
	resp.Body.Close()
	if len(events) != 1 || string(events[0].Detail) != `{"sessions":2}` {
		t.Errorf("audit of the reset: %s %+v", resp.Status, events)
	}
	// A browser logs in again with the new link.
	jar, _ := cookiejar.New(nil)
	m = regexp.MustCompile(`Log in: (\S+)`).FindStringSubmatch(out)
	r2, err := (&http.Client{Jar: jar}).Get(m[1])
	if err != nil || r2.StatusCode != 200 {
		t.Fatalf("new login link: %v %v", r2, err)
	}
	r2.Body.Close()
}

// A short --admin-token is refused at start, saying why.
func TestAdminTokenTooShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errOut strings.Builder
	err := run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--admin-token", "short-token-15c"}, io.Discard, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--admin-token is 15 characters long; give at least 16") || !strings.Contains(err.Error(), "guessed") {
		t.Fatalf("serve with a 15-character admin token: %v", err)
	}
}

// A new --admin-token ends the old admin token's sessions (the old one may
// have leaked); a restart with the same one keeps them, and named tokens'
// sessions are untouched.
func TestNewAdminTokenEndsAdminSessions(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, "--data-dir", dir)
	_, secret := createToken(t, ts, "dana", "viewer")
	admin, dana := loginAs(t, ts.URL, testToken), loginAs(t, ts.URL, secret)
	ts.Stop(t)

	ts = startServer(t, "--data-dir", dir)
	for name, c := range map[string]*http.Cookie{"admin": admin, "dana": dana} {
		if code := statusAs(t, ts, "GET", "/api/jobs", "", "", c); code != 200 {
			t.Fatalf("%s's session after a restart with the same admin token: %d", name, code)
		}
	}
	ts.Stop(t)

	const newToken = "another-admin-token-9876543210"
	ts = startServer(t, "--data-dir", dir, "--admin-token", newToken)
	if code := statusAs(t, ts, "GET", "/api/jobs", "", "", admin); code != 401 {
		t.Fatalf("the old admin token's session after a new --admin-token: %d, want 401", code)
	}
	if code := statusAs(t, ts, "GET", "/api/jobs", "", "", dana); code != 200 {
		t.Fatalf("a named token's session after a new --admin-token: %d", code)
	}
	if code := statusAs(t, ts, "GET", "/api/jobs", "", "", loginAs(t, ts.URL, newToken)); code != 200 {
		t.Fatalf("the new admin token's session: %d", code)
	}
}

// Instances sharing PostgreSQL: a token made and revoked on A is refused on
// B at its next request, B's session of it too, and B's open log stream of
// it ends at B's next check of its streams (every 10 s).
func TestTokensRevokeAcrossInstances(t *testing.T) {
	db, prefix, arch := testDatabaseURL(t), randomName("gaffer-test-")+":", t.TempDir()
	a := startServer(t, sharedArgs("a", db, testRedisURL(), prefix, arch)...)
	b := startServer(t, sharedArgs("b", db, testRedisURL(), prefix, arch)...)
	id, secret := createToken(t, a, "erin", "operator")
	cookie := loginAs(t, b.URL, secret)
	job := b.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "echo started; sleep 120"})
	defer func() { b.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil).Body.Close() }()
	resp := requestAs(t, b, "GET", fmt.Sprintf("/api/jobs/%d/log?follow=1", job.ID), "", secret, nil)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "started") {
		t.Fatalf("B's stream: %q %v", line, err)
	}
	if code := statusAs(t, b, "POST", "/api/jobs", `{"hosts":["local"],"command":"true"}`, secret, nil); code != 201 {
		t.Fatalf("B before the revoke: %d", code)
	}

	if _, errOut, code := tokensCLI(t, a, "revoke", fmt.Sprint(id)); code != 0 {
		t.Fatalf("revoke on A: %s", errOut)
	}
	if code := statusAs(t, b, "GET", "/api/jobs", "", secret, nil); code != 401 {
		t.Fatalf("the token on B after the revoke on A: %d, want 401", code)
	}
	if code := statusAs(t, b, "GET", "/api/jobs", "", "", cookie); code != 401 {
		t.Fatalf("its session on B after the revoke on A: %d, want 401", code)
	}
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, br); done <- err }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("B's stream of the token revoked on A is still open a minute later")
	}
	if j := b.job(t, job.ID); j.Status.Done() {
		t.Fatalf("the job ended (%s): the stream must have ended by the revoke, not the job", j.Status)
	}
}
