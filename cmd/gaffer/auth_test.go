package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startBare runs serve without --admin-token and returns its first output.
func startBare(t *testing.T, dir string, extra ...string) (url, out string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		serve(ctx, append([]string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "error"}, extra...), pw, io.Discard)
		pw.Close()
		close(done)
	}()
	buf := make([]byte, 4096)
	var b strings.Builder
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		n, err := pr.Read(buf)
		b.Write(buf[:n])
		if strings.Contains(b.String(), "log in") || strings.Contains(b.String(), "Log in") || err != nil {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(b.String())
	if m == nil {
		cancel()
		t.Fatalf("no address in %q", b.String())
	}
	return m[1], b.String(), func() { cancel(); <-done }
}

// Without --admin-token a token is generated on first start, printed once
// as a login link, kept hashed, and reset only on request.
func TestGeneratedAdminToken(t *testing.T) {
	dir := t.TempDir()
	url, out, stop := startBare(t, dir)
	m := regexp.MustCompile(`Log in: (\S+/login\?token=([0-9a-f]+))`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no login link in %q", out)
	}
	link, token := m[1], m[2]
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/" {
		t.Fatalf("login link: %s at %s", resp.Status, resp.Request.URL)
	}
	// The cookie now opens the API and the metrics.
	resp, _ = c.Get(url + "/metrics")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "gaffer_jobs_started_total 0") {
		t.Fatalf("metrics: %s %.300s", resp.Status, body)
	}
	stop()

	// Second start: no new token; the old one still works.
	url, out, stop = startBare(t, dir)
	if strings.Contains(out, "token=") {
		t.Fatalf("token printed again: %q", out)
	}
	req, _ := http.NewRequest("GET", url+"/api/jobs", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("after restart: %v (output %q)", err, out)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("old token after restart: %s", resp.Status)
	}
	stop()

	// --reset-admin-token replaces it.
	url, out, stop = startBare(t, dir, "--reset-admin-token")
	defer stop()
	if !strings.Contains(out, "token=") || strings.Contains(out, token) {
		t.Fatalf("reset: %q", out)
	}
	req, _ = http.NewRequest("GET", url+"/api/jobs", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("old token after reset: %s", resp.Status)
	}
}
