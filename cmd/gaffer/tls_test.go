package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/web"
)

// trustingClient is an HTTP client that trusts the certificate file and
// follows no redirects (so the login's Set-Cookie can be read).
func trustingClient(t *testing.T, certFile string) *http.Client {
	t.Helper()
	tr, err := trustingTransport(certFile)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// loginCookie uses the login link and returns the session cookie it sets.
func loginCookie(t *testing.T, client *http.Client, base string) *http.Cookie {
	t.Helper()
	resp, err := client.Get(base + "/login?token=" + testToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login link: %s", resp.Status)
	}
	for _, c := range resp.Cookies() {
		if c.Name == web.CookieName {
			return c
		}
	}
	t.Fatalf("login set no %s cookie: %q", web.CookieName, resp.Header.Values("Set-Cookie"))
	return nil
}

// --tls-self-signed: HTTPS with HTTP/2, a Secure cookie, the fingerprint
// printed, the certificate reused on the next start, and the CLI trusting
// it with --ca-file.
func TestTLSSelfSigned(t *testing.T) {
	dataDir := t.TempDir()
	ts := startServer(t, "--tls-self-signed", "--data-dir", dataDir)
	if !strings.HasPrefix(ts.URL, "https://") {
		t.Fatalf("listening on %s, want https", ts.URL)
	}
	certFile := filepath.Join(dataDir, selfSignedCert)
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ts.Output(), "SHA-256 fingerprint "+certFingerprint(block.Bytes)) {
		t.Errorf("start-up lines lack the fingerprint %s:\n%s", certFingerprint(block.Bytes), ts.Output())
	}
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if err := cert.VerifyHostname(name); err != nil {
			t.Errorf("certificate: %v", err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dataDir, selfSignedKey)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v, want mode 0600", fi.Mode(), err)
	}

	client := trustingClient(t, certFile)
	ts.Client = client
	resp := ts.request(t, "GET", "/api/hosts", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("GET /api/hosts over TLS: %s %s, want 200 over HTTP/2", resp.Status, resp.Proto)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("over TLS: Strict-Transport-Security %q", got)
	}
	// Ten log streams open at once share the one HTTP/2 connection: a
	// stream's response must not end the connection (GOAWAY), which would
	// make a browser open one per stream and stall at six.
	gate := filepath.Join(t.TempDir(), "stop")
	defer os.WriteFile(gate, nil, 0o644)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: `while [ ! -e '` + gate + `' ]; do echo tick; sleep 0.1; done`})
	var conns sync.Map
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/jobs/%d/log", ts.URL, job.ID), nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Accept", "text/event-stream")
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(ci httptrace.GotConnInfo) { conns.Store(ci.Conn.LocalAddr().String(), true) },
		}))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.Header.Get("Connection") != "" {
			t.Fatalf("stream %d: %s, Connection %q", i+1, resp.Proto, resp.Header.Get("Connection"))
		}
		if _, err := resp.Body.Read(make([]byte, 1)); err != nil {
			t.Fatalf("stream %d: %v", i+1, err)
		}
	}
	n := 0
	conns.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Errorf("10 log streams took %d connections, want 1", n)
	}
	if c := loginCookie(t, client, ts.URL); !c.Secure || !c.HttpOnly {
		t.Errorf("session cookie over HTTPS: Secure %v HttpOnly %v, want both", c.Secure, c.HttpOnly)
	}
	// A client that does not trust the certificate is refused.
	if _, err := http.Get(ts.URL + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusting client: %v, want a certificate error", err)
	}

	// The CLI, trusting it by --ca-file and by GAFFER_CA_FILE.
	out, errOut, code := gafferCLI(t, ts, "run", "--ca-file", certFile, "-H", "local", "--", "echo", "over tls")
	if code != 0 || out != "local | over tls\n" {
		t.Fatalf("gaffer run --ca-file: code %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	t.Setenv("GAFFER_CA_FILE", certFile)
	if out, errOut, code = gafferCLI(t, ts, "logs", "2"); code != 0 || out != "local | over tls\n" {
		t.Fatalf("gaffer logs with GAFFER_CA_FILE: code %d %q %q", code, out, errOut)
	}
	t.Setenv("GAFFER_CA_FILE", filepath.Join(dataDir, "nope.pem"))
	if _, errOut, code = gafferCLI(t, ts, "jobs"); code == 0 || !strings.Contains(errOut, "--ca-file") || !strings.Contains(errOut, "no such file") {
		t.Fatalf("missing --ca-file: code %d %q", code, errOut)
	}
	os.Unsetenv("GAFFER_CA_FILE")
	if _, errOut, code = gafferCLI(t, ts, "jobs"); code == 0 || !strings.Contains(errOut, "certificate") {
		t.Fatalf("CLI without --ca-file: code %d %q, want a certificate error", code, errOut)
	}

	// The next start reuses the certificate.
	ts.Stop(t)
	ts2 := startServer(t, "--tls-self-signed", "--data-dir", dataDir)
	again, err := os.ReadFile(certFile)
	if err != nil || !bytes.Equal(again, certPEM) {
		t.Fatalf("certificate not reused (%v)", err)
	}
	ts2.Client = client
	resp = ts2.request(t, "GET", "/healthz", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("after restart: %s %s", resp.Status, resp.Proto)
	}
}

// --tls-cert/--tls-key with files made elsewhere (here: by the same code,
// in another directory): HTTPS over HTTP/2 and a Secure cookie.
func TestTLSCertFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := writeSelfSigned(cert, key, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, "--tls-cert", cert, "--tls-key", key)
	if strings.Contains(ts.Output(), "fingerprint") {
		t.Errorf("a given certificate's fingerprint is printed:\n%s", ts.Output())
	}
	client := trustingClient(t, cert)
	resp, err := client.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}
	if c := loginCookie(t, client, ts.URL); !c.Secure {
		t.Errorf("session cookie over HTTPS is not Secure")
	}
}

// Behind a TLS proxy (--public-url https://…) the server speaks plain HTTP
// but its cookies are Secure and the login link it prints is the public one.
func TestTLSPublicURL(t *testing.T) {
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	plain := startServer(t)
	if c := loginCookie(t, noRedirect, plain.URL); c.Secure {
		t.Errorf("plain HTTP without --public-url: cookie is Secure (a browser would drop it)")
	}
	ts := startServer(t, "--public-url", "https://gaffer.example.com/")
	if !strings.HasPrefix(ts.URL, "http://") {
		t.Fatalf("listening on %s, want plain http", ts.URL)
	}
	session := loginCookie(t, noRedirect, ts.URL)
	if !session.Secure {
		t.Errorf("--public-url https: cookie is not Secure")
	}
	if !strings.Contains(ts.Output(), "log in at https://gaffer.example.com/login") {
		t.Errorf("start-up lines do not use the public URL:\n%s", ts.Output())
	}
	// Logout's expiring cookie matches (a Secure cookie is replaced only by a Secure one).
	req, _ := http.NewRequest("POST", ts.URL+"/logout", nil)
	req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); len(cs) != 1 || !cs[0].Secure {
		t.Errorf("logout: %s, cookie %v, want one Secure", resp.Status, resp.Header.Values("Set-Cookie"))
	}

	// HSTS: behind the TLS proxy yes (the browser sees HTTPS), on a plain
	// server never.
	for _, tc := range []struct {
		ts   *testServer
		want string
	}{{ts, "max-age=31536000"}, {plain, ""}} {
		resp, err := http.Get(tc.ts.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); got != tc.want {
			t.Errorf("%s: Strict-Transport-Security %q, want %q", tc.ts.URL, got, tc.want)
		}
	}

	// `gaffer run` reaching the server at its own address prints the job's
	// page on the public URL (the Link header); without one, on the
	// address it used.
	for _, tc := range []struct {
		ts   *testServer
		want string
	}{{ts, "https://gaffer.example.com/jobs/1\n"}, {plain, plain.URL + "/jobs/1\n"}} {
		if _, errOut, code := gafferCLI(t, tc.ts, "run", "-H", "local", "--", "true"); code != 0 || !strings.Contains(errOut, " host(s): "+tc.want) {
			t.Errorf("gaffer run (exit %d) does not print the page %s:\n%s", code, tc.want, errOut)
		}
	}

	// A generated token's login link uses the public URL too.
	dir := t.TempDir()
	var out bytes.Buffer
	c, err := parseServeFlags([]string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--ssh-config", "", "--public-url", "https://gaffer.example.com"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(c, &out, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer m.Close()
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Log in: https://gaffer.example.com/login?token=") || !strings.Contains(out.String(), "GAFFER_SERVER=https://gaffer.example.com ") {
		t.Errorf("first start lines do not use the public URL:\n%s", out.String())
	}
}

// Bad TLS flags stop the server with a message a person understands.
func TestTLSBadFlags(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	otherCert, otherKey := filepath.Join(dir, "c2.pem"), filepath.Join(dir, "k2.pem")
	for _, files := range [][2]string{{cert, key}, {otherCert, otherKey}} {
		if err := writeSelfSigned(files[0], files[1], "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate\n"), 0o600)
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing cert", []string{"--tls-cert", missing, "--tls-key", key}, []string{"read the TLS certificate (--tls-cert)", missing, "no such file"}},
		{"missing key", []string{"--tls-cert", cert, "--tls-key", missing}, []string{"read the TLS private key (--tls-key)", missing, "no such file"}},
		{"cert without key", []string{"--tls-cert", cert}, []string{"--tls-cert and --tls-key go together"}},
		{"key without cert", []string{"--tls-key", key}, []string{"--tls-cert and --tls-key go together"}},
		{"mismatch", []string{"--tls-cert", cert, "--tls-key", otherKey}, []string{"private key does not match public key", cert, otherKey}},
		{"not PEM", []string{"--tls-cert", junk, "--tls-key", key}, []string{junk, "PEM"}},
		{"key not PEM", []string{"--tls-cert", cert, "--tls-key", junk}, []string{junk, "PEM"}},
		{"self-signed and cert", []string{"--tls-self-signed", "--tls-cert", cert, "--tls-key", key}, []string{"not both"}},
		{"public URL ftp", []string{"--public-url", "ftp://gaffer.example.com"}, []string{`--public-url "ftp://gaffer.example.com"`, "http or https"}},
		{"public URL no scheme", []string{"--public-url", "gaffer.example.com"}, []string{`--public-url "gaffer.example.com"`}},
		{"public URL empty host", []string{"--public-url", "https://"}, []string{`--public-url "https://"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--admin-token", testToken, "--ssh-config", ""}, tc.args...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := run(ctx, args, &out, &errOut)
			code := exitCode(err, &errOut)
			if code == 0 {
				t.Fatalf("exit 0, want an error; stdout %q", out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("error %q lacks %q", errOut.String(), w)
				}
			}
			if strings.Contains(out.String(), "listening") {
				t.Errorf("it listened: %q", out.String())
			}
		})
	}
	// Also from the environment.
	t.Setenv("GAFFER_TLS_CERT", missing)
	t.Setenv("GAFFER_TLS_KEY", key)
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--admin-token", testToken, "--ssh-config", ""}, io.Discard, &errOut)
	if code := exitCode(err, &errOut); code == 0 || !strings.Contains(errOut.String(), missing) {
		t.Errorf("GAFFER_TLS_CERT of a missing file: exit %d %q", code, errOut.String())
	}
}
