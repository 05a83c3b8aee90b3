package main

// The leak test: a real `gaffer serve` process over HTTPS with a generated
// admin token, a --secret-file and a host on a real sshd, driven through a
// whole session (wrong tokens, logins, jobs with secrets started and
// canceled, every log form, pages, metrics, error paths, the CLI, a
// restart with --reset-admin-token). Every
// answer the server gave (status, headers, bodies as read), its stdout and
// stderr (debug log), the CLI's output and every file of its data dir are
// then searched for every secret of the run, in clear and hashed.
//
// Where a secret may appear (anything else fails the test):
//   - a generated admin token: the two start-up lines that print it
//     ("Log in: …/login?token=…" and "CLI: export … GAFFER_TOKEN=…") of
//     the start that made it (the first, then a --reset-admin-token one);
//   - a session cookie's value: the Set-Cookie header of the login that
//     made it;
//   - a named token's secret: the answer to the POST /api/tokens that made
//     it, or the stdout of the `gaffer tokens create` that made it;
//   - hashes of tokens and sessions, and the session_secret setting: the
//     database files only;
//   - the TLS private key: its own file in the data dir;
//   - job secrets, server-wide secrets, SSH private keys: nowhere (output
//     shows *** instead).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sse"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
	"github.com/gaffer-dev/gaffer/sqlite"
	"github.com/gaffer-dev/gaffer/web"
)

// Kinds of place where something was captured; a needle lists the kinds
// it is allowed in.
const (
	placeStartLogin   = "start-up login line"
	placeRestartLogin = "restart's login line"
	placeOutput       = "server output"
	placeHeader       = "response header"
	placeSetCookie    = "Set-Cookie header"
	placeBody         = "response body"
	placeTokenAnswer  = "POST /api/tokens answer"
	placeCLI          = "CLI output"
	placeCLIToken     = "gaffer tokens create output"
	placeDatabase     = "database file"
	placeTLSKey       = "TLS key file"
	placeFile         = "data dir file"
)

// leakPlace is one captured text.
type leakPlace struct{ kind, where, text string }

// leakNeedle is a secret in every form it could leak in.
type leakNeedle struct {
	what    string
	forms   map[string]string // form name → text
	allowed map[string]bool   // kinds of place it may be in
}

// credential is a token's or session id's needles: itself (and
// URL-escaped) where it is allowed, and its SHA-256 (gaffer.HashSecret's
// hex, as stored, or base64) in the database only.
func credential(what, s string, allowed ...string) []leakNeedle {
	sum := sha256.Sum256([]byte(s))
	h := gaffer.HashSecret(s)
	return []leakNeedle{
		{what, map[string]string{"clear": s, "URL-escaped": url.QueryEscape(s)}, allow(allowed...)},
		{what + "'s hash", map[string]string{"hex": h, "HEX": strings.ToUpper(h),
			"base64":    base64.StdEncoding.EncodeToString(sum[:])[:40],
			"base64url": base64.RawURLEncoding.EncodeToString(sum[:])[:40]}, allow(placeDatabase)},
	}
}

// valueForms are a job secret's forms: itself and base64 (as the masking
// test: the characters that depend on the value alone).
func valueForms(s string) map[string]string {
	return map[string]string{"clear": s,
		"base64":    base64.StdEncoding.EncodeToString([]byte(s))[:20],
		"base64url": base64.URLEncoding.EncodeToString([]byte(s))[:20]}
}

// pemForms are the body lines of a PEM file (a private key), each long
// enough to be the key's own bytes.
func pemForms(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); len(line) >= 24 && !strings.HasPrefix(line, "-----") {
			forms[fmt.Sprintf("PEM line %d", i+1)] = line
		}
	}
	if len(forms) == 0 {
		t.Fatalf("%s: no PEM body", path)
	}
	return forms
}

func allow(kinds ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range kinds {
		m[k] = true
	}
	return m
}

// recorded is one answer of the server as this test received it.
type recorded struct {
	where  string // method and path (the query may hold a token sent)
	status string
	header http.Header
	mu     sync.Mutex
	body   bytes.Buffer
}

// recordingTransport keeps every answer and the body bytes read from it.
type recordingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	all  []*recorded
}

func (rt *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rec := &recorded{where: req.Method + " " + req.URL.Path, status: resp.Status, header: resp.Header.Clone()}
	rt.mu.Lock()
	rt.all = append(rt.all, rec)
	rt.mu.Unlock()
	resp.Body = &teeBody{ReadCloser: resp.Body, rec: rec}
	return resp, nil
}

type teeBody struct {
	io.ReadCloser
	rec *recorded
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.rec.mu.Lock()
	b.rec.body.Write(p[:n])
	b.rec.mu.Unlock()
	return n, err
}

// places turns the answers into places: the header (without Set-Cookie),
// the Set-Cookie lines and the body, each its own kind.
func (rt *recordingTransport) places() []leakPlace {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []leakPlace
	for i, r := range rt.all {
		where := fmt.Sprintf("answer %d (%s, %s)", i+1, r.where, r.status)
		var hdr strings.Builder
		hdr.WriteString(r.status + "\n")
		for k, vs := range r.header {
			if k == "Set-Cookie" {
				out = append(out, leakPlace{placeSetCookie, where, strings.Join(vs, "\n")})
				continue
			}
			for _, v := range vs {
				hdr.WriteString(k + ": " + v + "\n")
			}
		}
		out = append(out, leakPlace{placeHeader, where, hdr.String()})
		r.mu.Lock()
		kind := placeBody
		if r.where == "POST /api/tokens" && strings.HasPrefix(r.status, "201") {
			kind = placeTokenAnswer
		}
		out = append(out, leakPlace{kind, where, r.body.String()})
		r.mu.Unlock()
	}
	return out
}

// leakSession drives the server as a browser, the CLI and scripts would.
type leakSession struct {
	t      *testing.T
	url    string
	client *http.Client
	rt     *recordingTransport
	clis   []leakPlace
	caFile string
}

// do sends a request and reads the whole answer.
func (s *leakSession) do(method, path, body string, hdr ...string) (int, http.Header, string) {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Cookie" {
			req.AddCookie(&http.Cookie{Name: web.CookieName, Value: hdr[i+1]})
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// expect is do that fails the test unless the status is want.
func (s *leakSession) expect(want int, method, path, body string, hdr ...string) (http.Header, string) {
	s.t.Helper()
	code, h, b := s.do(method, path, body, hdr...)
	if code != want {
		s.t.Fatalf("%s %s: %d, want %d: %.300s", method, path, code, want, b)
	}
	return h, b
}

// sessionCookie is the session cookie's value set by an answer.
func (s *leakSession) sessionCookie(h http.Header) string {
	s.t.Helper()
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == web.CookieName && c.Value != "" {
			return c.Value
		}
	}
	s.t.Fatalf("no %s cookie set: %q", web.CookieName, h.Values("Set-Cookie"))
	return ""
}

// cli runs a client command in this process and keeps its output.
func (s *leakSession) cli(kind string, token string, args ...string) (string, int) {
	s.t.Helper()
	var out, errOut bytes.Buffer
	// The client flags go after the command and its subcommand, if any.
	n := 1
	if len(args) > 1 && (args[0] == "tokens" || args[0] == "hosts") {
		n = 2
	}
	all := append(append(append([]string{}, args[:n]...), "--server", s.url, "--token", token, "--ca-file", s.caFile), args[n:]...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := exitCode(run(ctx, all, &out, &errOut), &errOut)
	where := "gaffer " + strings.Join(args, " ")
	s.clis = append(s.clis, leakPlace{kind, where + " (stdout)", out.String()}, leakPlace{placeCLI, where + " (stderr)", errOut.String()})
	return out.String(), code
}

// startJob posts a job with the admin token and returns it.
func (s *leakSession) startJob(token string, req gaffer.JobRequest) *gaffer.Job {
	s.t.Helper()
	b, _ := json.Marshal(req)
	_, body := s.expect(201, "POST", "/api/jobs", string(b), "Authorization", "Bearer "+token, "Content-Type", "application/json")
	var job gaffer.Job
	if err := json.Unmarshal([]byte(body), &job); err != nil {
		s.t.Fatal(err)
	}
	return &job
}

// waitJob polls the job until it is done.
func (s *leakSession) waitJob(token string, id int64) *gaffer.Job {
	s.t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		_, body := s.expect(200, "GET", fmt.Sprintf("/api/jobs/%d", id), "", "Authorization", "Bearer "+token)
		var job gaffer.Job
		if err := json.Unmarshal([]byte(body), &job); err != nil {
			s.t.Fatal(err)
		}
		if job.Status.Done() {
			return &job
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %d still %s", id, job.Status)
		}
	}
}

// readSSE reads a job's SSE stream to its end event.
func (s *leakSession) readSSE(id int64, hdr ...string) int {
	s.t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/jobs/%d/log", s.url, id), nil)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Cookie" {
			req.AddCookie(&http.Cookie{Name: web.CookieName, Value: hdr[i+1]})
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		s.t.Fatalf("SSE of job %d: %s", id, resp.Status)
	}
	r := sse.NewReader(resp.Body)
	lines := 0
	for {
		ev, err := r.Next()
		if err != nil {
			s.t.Fatalf("SSE of job %d ended without its end event: %v", id, err)
		}
		switch ev.Type {
		case "line":
			lines++
		case "end":
			return lines
		}
	}
}

// stopGracefully stops a server process as a service manager would
// (SIGTERM), so its shutdown lines and every archive write are in.
func stopGracefully(t *testing.T, p *serverProcess) {
	t.Helper()
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); !strings.Contains(p.Out.String(), "gaffer: stopped"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not stop:\n%s", p.Out.String())
		}
	}
	p.kill() // waits for the process
}

// outputPlaces are a server's output lines; the two start-up lines that
// print a generated admin token are of the kind login.
func outputPlaces(t *testing.T, what, out, login string) []leakPlace {
	t.Helper()
	var places []leakPlace
	logins := 0
	for i, line := range strings.Split(out, "\n") {
		kind := placeOutput
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "Log in: ") || strings.HasPrefix(l, "CLI: ") {
			kind = login
			logins++
		}
		places = append(places, leakPlace{kind, fmt.Sprintf("%s line %d", what, i+1), line})
	}
	if logins != 2 {
		t.Errorf("%s: %d start-up login lines, want 2 (Log in, CLI)", what, logins)
	}
	return places
}

// loginLine finds the generated admin token in the start-up lines.
var loginLine = regexp.MustCompile(`Log in: \S+/login\?token=(\S+)`)

// waitLoginLine waits a while for the login line: the server prints it
// after the "listening" line that startServerProcess returns on, so a
// loaded machine may not have passed it on yet. Nil if it never comes.
func waitLoginLine(p *serverProcess) []string {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := loginLine.FindStringSubmatch(p.Out.String()); m != nil || time.Now().After(deadline) {
			return m
		}
	}
}

func TestNoSecretLeaks(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 1})
	dataDir := t.TempDir()
	secretFile := filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(secretFile, []byte(srvSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// --admin-token "" after the harness's own: the server generates one
	// and prints it once, the case with an allowed place.
	serveArgs := []string{"--admin-token", "", "--data-dir", dataDir, "--tls-self-signed", "--ssh-config", "",
		"--inventory", writeInventory(t, sshd.Hosts(), ""), "--known-hosts", filepath.Join(t.TempDir(), "none"),
		"--secret-file", secretFile, "--log-level", "debug"}
	p := startServerProcess(t, os.Args[0], []string{"GAFFER_TEST_MAIN=1"}, serveArgs...)
	m := waitLoginLine(p)
	if m == nil {
		t.Fatalf("no generated admin token in the start-up lines:\n%s", p.Out.String())
	}
	admin := m[1]
	caFile := filepath.Join(dataDir, selfSignedCert)
	tr, err := trustingTransport(caFile)
	if err != nil {
		t.Fatal(err)
	}
	rt := &recordingTransport{base: tr}
	s := &leakSession{t: t, url: p.URL, rt: rt, caFile: caFile,
		client: &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	var cookies []string

	// Wrong credentials, each holding the real token (an echo would show
	// it): fewer than the 10 failures a minute the limiter allows.
	s.expect(401, "GET", "/api/jobs", "", bearer(admin+"x")...)
	s.expect(401, "GET", "/login?token="+url.QueryEscape("x"+admin), "")
	s.expect(401, "POST", "/login", url.Values{"token": {admin + "-"}, "next": {"/"}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	s.expect(401, "GET", "/api/hosts", "", "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("admin:"+admin)))
	s.expect(303, "GET", "/jobs/new", "", "Cookie", admin, "Accept", "text/html")
	if _, code := s.cli(placeCLI, admin+"0", "jobs"); code == 0 {
		t.Errorf("gaffer jobs with a wrong token succeeded")
	}

	// Logins with the admin token: the printed link and the form.
	h, _ := s.expect(303, "GET", "/login?token="+admin+"&next=/jobs/new", "")
	cookies = append(cookies, s.sessionCookie(h))
	h, _ = s.expect(303, "POST", "/login", url.Values{"token": {admin}, "next": {"/"}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	cookies = append(cookies, s.sessionCookie(h))
	for _, c := range cookies {
		for _, path := range []string{"/", "/jobs/new", "/api/jobs", "/api/hosts", "/metrics"} {
			s.expect(200, "GET", path, "", "Cookie", c, "Accept", "text/html")
		}
	}

	// host-1's key is unknown: a job on it fails, an admin approves the key.
	refused := s.startJob(admin, gaffer.JobRequest{Hosts: []string{"host-1"}, Command: "echo $S", Secrets: map[string]string{"S": jobSecret}})
	if j := s.waitJob(admin, refused.ID); j.Status != gaffer.StatusFailed {
		t.Fatalf("job on a host with an unknown key: %s", j.Status)
	}
	s.expect(200, "GET", "/api/hosts/keys", "", bearer(admin)...)
	s.expect(200, "GET", "/hosts", "", "Cookie", cookies[0], "Accept", "text/html")
	if out, code := s.cli(placeCLI, admin, "hosts", "keys"); code != 0 || !strings.Contains(out, "pending") {
		t.Errorf("gaffer hosts keys: exit %d %q", code, out)
	}
	s.expect(200, "POST", "/api/hosts/host-1/keys/approve", "{}", append(bearer(admin), "Content-Type", "application/json")...)

	// A job with a secret on local and the sshd host, read live over SSE
	// from its start, then in every other form.
	secrets := map[string]string{"S": jobSecret}
	job := s.startJob(admin, gaffer.JobRequest{Hosts: []string{"local", "host-1"}, Command: secretCommand, Secrets: secrets})
	if n := s.readSSE(job.ID, bearer(admin)...); n == 0 {
		t.Errorf("SSE of job %d: no lines", job.ID)
	}
	if j := s.waitJob(admin, job.ID); j.Status != gaffer.StatusSucceeded {
		t.Fatalf("job %d: %s", job.ID, j.Status)
	}
	base := fmt.Sprintf("/api/jobs/%d", job.ID)
	s.readSSE(job.ID, "Cookie", cookies[0])
	s.expect(200, "GET", base+"/log", "", append(bearer(admin), "Accept", "application/x-ndjson")...)
	s.expect(200, "GET", base+"/log?follow=1", "", append(bearer(admin), "Accept", "application/x-ndjson")...)
	s.expect(200, "GET", base+"/log?tail=3", "", append(bearer(admin), "Accept", "application/x-ndjson")...)
	masked := 0
	for _, host := range []string{"local", "host-1"} {
		for _, stream := range []string{"stdout", "stderr"} {
			_, raw := s.expect(200, "GET", base+"/log?format=raw&host="+host+"&stream="+stream, "", bearer(admin)...)
			masked += strings.Count(raw, "***")
		}
	}
	if masked < 8 {
		t.Errorf("the raw logs hold *** %d times: the secrets were not printed (or not masked)", masked)
	}
	s.expect(200, "GET", base+"/log/search?q=s3cr3t", "", bearer(admin)...)
	s.expect(200, "GET", base+"/log/search?q=%5C*%5C*%5C*&regex=1", "", bearer(admin)...)
	s.expect(200, "GET", base+"/log/summary", "", bearer(admin)...)
	s.expect(200, "GET", base, "", bearer(admin)...)
	s.expect(200, "GET", fmt.Sprintf("/jobs/%d", job.ID), "", "Cookie", cookies[1], "Accept", "text/html")

	// A long job with secrets, canceled from the page (cookie, same
	// origin); another canceled with the token.
	for _, viaCookie := range []bool{true, false} {
		long := s.startJob(admin, gaffer.JobRequest{Hosts: []string{"local", "host-1"},
			Command: `echo "start $S"; sleep 60`, Secrets: secrets})
		path := fmt.Sprintf("/api/jobs/%d/cancel", long.ID)
		if viaCookie {
			s.expect(202, "POST", path, "", "Cookie", cookies[0], "Origin", p.URL, "Sec-Fetch-Site", "same-origin")
		} else {
			s.expect(202, "POST", path, "", bearer(admin)...)
		}
		if j := s.waitJob(admin, long.ID); j.Status != gaffer.StatusCanceled {
			t.Errorf("job %d: %s, want canceled", long.ID, j.Status)
		}
		s.readSSE(long.ID, bearer(admin)...)
	}

	// The CLI: a run with a secret from its environment, logs, lists.
	t.Setenv("LEAK_SECRET", jobSecret)
	if out, code := s.cli(placeCLI, admin, "run", "-H", "host-1", "--secret", "LEAK_SECRET", "--", `echo "cli $LEAK_SECRET"`); code != 0 || !strings.Contains(out, "cli ***") {
		t.Errorf("gaffer run: exit %d, %q", code, out)
	}
	s.cli(placeCLI, admin, "logs", fmt.Sprint(job.ID))
	s.cli(placeCLI, admin, "logs", "-o", "json", fmt.Sprint(job.ID))
	for _, cmd := range [][]string{{"jobs"}, {"hosts"}, {"audit"}} {
		if _, code := s.cli(placeCLI, admin, cmd...); code != 0 {
			t.Errorf("gaffer %s: exit %d", cmd[0], code)
		}
	}

	// Error paths: a secret's value is never echoed, whatever is wrong.
	json400 := append(bearer(admin), "Content-Type", "application/json")
	for _, body := range []string{
		`{"command":"true","hosts":["local"],"secrets":{"1BAD":"` + jobSecret + `"}}`,
		`{"command":"true","hosts":["nowhere"],"secrets":{"S":"` + jobSecret + `"}}`,
		`{"command":"true","hosts":["local"],"secrets":{"S":"` + jobSecret + `","T":"x"}}`,
		`{"command":"true","hosts":["local"],"secrets":{"S":"` + jobSecret + `"},"concurrency":1000000000000}`,
		`{"command":"true","hosts":["local"],"secrets":{"S":"` + jobSecret + `"},"nope":1}`,
		`{"command":"true","hosts":["local"],"secrets":{"S":` + jobSecret + `}}`,
		`{"command":"true","hosts":["local"],"secrets":"` + jobSecret + `"}`,
	} {
		s.expect(400, "POST", "/api/jobs", body, json400...)
	}
	s.expect(415, "POST", "/api/jobs", `{"command":"true","secrets":{"S":"`+jobSecret+`"}}`, append(bearer(admin), "Content-Type", "text/plain")...)
	s.expect(403, "POST", "/api/jobs", `{"command":"true"}`, "Cookie", cookies[0], "Content-Type", "application/json", "Origin", "https://evil.example")
	s.expect(404, "GET", "/api/jobs/99999", "", bearer(admin)...)
	s.expect(404, "GET", "/nothing", "", bearer(admin)...)
	s.expect(405, "DELETE", "/api/jobs", "", bearer(admin)...)
	s.expect(400, "GET", base+"/log/search?q=(&regex=1", "", bearer(admin)...)
	s.expect(200, "GET", "/healthz", "")
	s.expect(200, "GET", "/static/job.js", "")
	_, metrics := s.expect(200, "GET", "/metrics", "", bearer(admin)...)
	if !strings.Contains(metrics, "gaffer_auth_failures_total") {
		t.Errorf("metrics lack gaffer_auth_failures_total:\n%.2000s", metrics)
	}
	s.expect(200, "GET", "/api/jobs", "", bearer(admin)...)
	s.expect(200, "GET", "/api/hosts", "", bearer(admin)...)
	s.expect(200, "GET", "/api/audit", "", bearer(admin)...)
	s.expect(200, "GET", "/audit", "", "Cookie", cookies[0], "Accept", "text/html")
	s.expect(303, "POST", "/logout", "", "Cookie", cookies[1], "Origin", p.URL, "Sec-Fetch-Site", "same-origin")

	// Named tokens: one made with the CLI, one with the API; used, logged
	// in with, listed, revoked.
	out, code := s.cli(placeCLIToken, admin, "tokens", "create", "leak-op", "--role", "operator", "--expires", "1d")
	operator := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(operator, web.TokenPrefix) {
		t.Fatalf("gaffer tokens create: exit %d %q", code, out)
	}
	_, body := s.expect(201, "POST", "/api/tokens", `{"name":"leak-viewer","role":"viewer"}`, json400...)
	var viewerTok struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(body), &viewerTok); err != nil || viewerTok.Token == "" {
		t.Fatalf("POST /api/tokens: %v %q", err, body)
	}
	opJob := s.startJob(operator, gaffer.JobRequest{Hosts: []string{"local"}, Command: secretCommand, Secrets: secrets})
	s.readSSE(opJob.ID, bearer(viewerTok.Token)...)
	s.expect(403, "POST", "/api/jobs", `{"command":"true","hosts":["local"]}`, append(bearer(viewerTok.Token), "Content-Type", "application/json")...)
	h, _ = s.expect(303, "GET", "/login?token="+url.QueryEscape(operator), "")
	cookies = append(cookies, s.sessionCookie(h))
	h, _ = s.expect(303, "POST", "/login", url.Values{"token": {viewerTok.Token}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	cookies = append(cookies, s.sessionCookie(h))
	s.expect(200, "GET", "/api/jobs", "", "Cookie", cookies[len(cookies)-1])
	s.expect(401, "GET", "/api/jobs", "", bearer(operator+"x")...)
	s.expect(409, "POST", "/api/tokens", `{"name":"leak-viewer","role":"viewer"}`, json400...)
	s.expect(400, "POST", "/api/tokens", `{"name":"admin","role":"viewer"}`, json400...)
	s.expect(403, "GET", "/api/tokens", "", bearer(operator)...)
	s.expect(200, "GET", "/api/tokens", "", bearer(admin)...)
	if out, code := s.cli(placeCLI, admin, "tokens", "list"); code != 0 || !strings.Contains(out, "leak-op") {
		t.Errorf("gaffer tokens list: exit %d %q", code, out)
	}
	s.expect(200, "DELETE", fmt.Sprintf("/api/tokens/%d", viewerTok.ID), "", bearer(admin)...)
	s.expect(401, "GET", "/api/jobs", "", bearer(viewerTok.Token)...)
	s.expect(401, "GET", "/api/jobs", "", "Cookie", cookies[len(cookies)-1])

	stopGracefully(t, p)

	// A restart with --reset-admin-token: a new token is printed (on the
	// restart's own login lines), the old one is refused and printed
	// nowhere.
	args := append([]string{"--reset-admin-token"}, serveArgs...)
	p2 := startServerProcess(t, os.Args[0], []string{"GAFFER_TEST_MAIN=1"}, args...)
	m = waitLoginLine(p2)
	if m == nil || m[1] == admin {
		t.Fatalf("no new admin token in the restart's lines:\n%s", p2.Out.String())
	}
	admin2 := m[1]
	s.url = p2.URL
	s.expect(401, "GET", "/api/jobs", "", bearer(admin)...)
	s.expect(401, "GET", "/api/jobs", "", "Cookie", cookies[0])
	s.expect(200, "GET", "/api/jobs", "", bearer(admin2)...)
	stopGracefully(t, p2)

	// Every place captured.
	places := rt.places()
	places = append(places, s.clis...)
	places = append(places, outputPlaces(t, "server output", p.Out.String(), placeStartLogin)...)
	places = append(places, outputPlaces(t, "restarted server output", p2.Out.String(), placeRestartLogin)...)
	files := 0
	err = filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		kind := placeFile
		switch name := d.Name(); {
		case strings.HasPrefix(name, "gaffer.db"):
			kind = placeDatabase
		case name == selfSignedKey:
			kind = placeTLSKey
		}
		files++
		places = append(places, leakPlace{kind, "file " + strings.TrimPrefix(path, dataDir+"/"), string(b)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	archived := 0
	for _, pl := range places {
		if strings.HasPrefix(pl.where, "file archive/") {
			archived++
		}
	}
	if archived == 0 {
		t.Errorf("no archive file in %s (%d files)", dataDir, files)
	}

	// Every secret of the run, in every form.
	db, err := sqlite.Open(filepath.Join(dataDir, "gaffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	sessionSecret, err := db.Setting(context.Background(), "session_secret")
	db.Close()
	if err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatal(err)
	}
	needles := []leakNeedle{
		{"the job secret", valueForms(jobSecret), allow()},
		{"the --secret-file secret", valueForms(srvSecret), allow()},
		{"the SSH client key", pemForms(t, sshd.KeyFile), allow()},
		{"the SSH host key", pemForms(t, filepath.Join(filepath.Dir(sshd.KeyFile), "ssh_host_ed25519_key")), allow()},
		{"the TLS key", pemForms(t, filepath.Join(dataDir, selfSignedKey)), allow(placeTLSKey)},
	}
	needles = append(needles, credential("the admin token", admin, placeStartLogin)...)
	needles = append(needles, credential("the new admin token", admin2, placeRestartLogin)...)
	for i, c := range cookies {
		needles = append(needles, credential(fmt.Sprintf("session cookie %d", i+1), c, placeSetCookie)...)
	}
	needles = append(needles, credential("the operator token", operator, placeCLIToken)...)
	needles = append(needles, credential("the viewer token", viewerTok.Token, placeTokenAnswer)...)
	if sessionSecret != "" {
		forms := map[string]string{"hex": sessionSecret}
		if key, err := hex.DecodeString(sessionSecret); err == nil {
			forms["base64"] = base64.StdEncoding.EncodeToString(key)[:24]
			forms["base64url"] = base64.RawURLEncoding.EncodeToString(key)[:24]
		}
		needles = append(needles, leakNeedle{"the session_secret setting", forms, allow(placeDatabase)})
	}

	found := checkLeaks(t, places, needles)
	// The allowed places do hold them: the capture sees what it should.
	if !found["the admin token"][placeStartLogin] {
		t.Errorf("the admin token was not seen in its start-up line: the capture is broken")
	}
	if !found["the new admin token"][placeRestartLogin] {
		t.Errorf("the new admin token was not seen in the restart's start-up line: the capture is broken")
	}
	if !found["session cookie 1"][placeSetCookie] {
		t.Errorf("the session cookie was not seen in its Set-Cookie: the capture is broken")
	}
	if !found["the operator token"][placeCLIToken] || !found["the viewer token"][placeTokenAnswer] || !found["the operator token's hash"][placeDatabase] {
		t.Errorf("a named token was not seen where it was made, or its hash in the database: the capture is broken")
	}
	t.Logf("searched %d places (%d answers, %d files, %d server output lines) for %d secrets", len(places), len(rt.all), files, strings.Count(p.Out.String()+p2.Out.String(), "\n"), len(needles))
}

// checkLeaks fails the test for every needle form found in a place of a
// kind it is not allowed in, and returns where each needle was found.
func checkLeaks(t *testing.T, places []leakPlace, needles []leakNeedle) map[string]map[string]bool {
	t.Helper()
	found := map[string]map[string]bool{}
	for _, n := range needles {
		found[n.what] = map[string]bool{}
		for form, v := range n.forms {
			for _, pl := range places {
				i := strings.Index(pl.text, v)
				if i < 0 {
					continue
				}
				found[n.what][pl.kind] = true
				if !n.allowed[pl.kind] {
					lo, hi := max(0, i-80), min(len(pl.text), i+len(v)+80)
					t.Errorf("%s (%s) is in %s (%s): …%q…", n.what, form, pl.where, pl.kind, pl.text[lo:hi])
				}
			}
		}
	}
	return found
}
