package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
	"github.com/gaffer-dev/gaffer/sqlite"
)

// Command lines gaffer follow refuses before it asks the server anything
// (the server given is not there): exit status 2 and why.
func TestCLIFollowFlags(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no paths", []string{"-H", "local"}, "follow needs the files to follow"},
		{"no hosts", []string{"/var/log/syslog"}, "no hosts: give -H host,host or -l label=value"},
		{"from", []string{"-H", "local", "--from", "middle", "/var/log/syslog"}, `from "middle": use "end"`},
		{"retain", []string{"-H", "local", "--retain", "1XB", "/var/log/syslog"}, `retain "1XB" is neither a size`},
		{"retain too small", []string{"-H", "local", "--retain", "1KB", "/var/log/syslog"}, "retain"},
		{"alert pattern", []string{"-H", "local", "--alert", "a(b=https://hooks.example/x", "/var/log/syslog"}, "not a valid regular expression"},
		{"alert scheme", []string{"-H", "local", "--alert", "ERROR=ftp://hooks.example/x", "/var/log/syslog"}, "webhook must be an absolute http:// or https:// URL"},
		{"alert no host", []string{"-H", "local", "--alert", "ERROR=https://", "/var/log/syslog"}, "webhook must be an absolute"},
		{"pty", []string{"-H", "local", "--pty", "/var/log/syslog"}, "flag provided but not defined: -pty"},
		{"empty path", []string{"-H", "local", " "}, "follow: a path is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"follow", "--server", "http://127.0.0.1:1", "--token", testToken}, tt.args...)
			code := exitCode(run(context.Background(), args, &out, &errOut), &errOut)
			if code != 2 || !strings.Contains(errOut.String(), tt.want) || out.Len() != 0 {
				t.Fatalf("exit status %d, stdout %q\nstderr %q\nwant 2 and %q", code, out.String(), errOut.String(), tt.want)
			}
		})
	}
}

// --alert PATTERN=URL: the URL starts at the first "=" before "scheme://",
// so a pattern may hold "=" itself; a pattern alone only marks lines.
func TestCLIFollowParseAlert(t *testing.T) {
	for _, tt := range []struct {
		in, pattern, webhook string
	}{
		{"ERROR=https://hooks.example/T0/B0?token=a=b", "ERROR", "https://hooks.example/T0/B0?token=a=b"},
		{"status=5[0-9][0-9]=http://127.0.0.1:9000/hook", "status=5[0-9][0-9]", "http://127.0.0.1:9000/hook"},
		{"(?i)panic|fatal", "(?i)panic|fatal", ""},
		{"level=error", "level=error", ""},
		{"url=https?://x=https://hooks.example/", "url=https?://x", "https://hooks.example/"},
	} {
		a, err := parseAlert(tt.in)
		if err != nil || a.Pattern != tt.pattern || a.Webhook != tt.webhook {
			t.Errorf("parseAlert(%q) = %+v, %v; want pattern %q webhook %q", tt.in, a, err, tt.pattern, tt.webhook)
		}
	}
}

// gaffer follow on the host local, end to end: the request it makes (paths,
// from, retain, alerts with the webhook whole), each line printed with its
// host and file (files matching the glob later too), alert marks, gaffer
// logs and logs --file on the job, and exit status 0 once it is canceled.
func TestCLIFollowLocal(t *testing.T) {
	ts := startServer(t)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	dir := sshtest.SharedDir(t, "gaffer-cli-follow-")
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendFile(t, a, "old\n")
	webhook := hook.URL + "/secret/path?token=s3cret"

	var out, errOut safeBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan int, 1)
	go func() {
		err := run(ctx, []string{"follow", "--server", ts.URL, "--token", testToken, "-H", "local", "--from", "start",
			"--retain", "1GB", "--alert", "ERR=" + webhook, filepath.Join(dir, "*.log")}, &out, &errOut)
		done <- exitCode(err, &errOut)
	}()
	waitOutput(t, &out, "local "+a+" | old\n")
	job := ts.job(t, 1)
	if len(job.Follow) != 1 || job.From != "start" || job.Retain != "1GB" || len(job.Alerts) != 1 || job.Alerts[0].Pattern != "ERR" {
		t.Fatalf("job as the server holds it: %+v", job)
	}
	if job.Alerts[0].Webhook != gaffer.RedactURL(webhook) {
		t.Errorf("webhook shown as %q, want %q", job.Alerts[0].Webhook, gaffer.RedactURL(webhook))
	}
	appendFile(t, a, "one\nERR two\n")
	waitOutput(t, &out, "local "+a+" | ERR two\n")
	appendFile(t, b, "three\n")
	waitOutput(t, &out, "local "+b+" | three\n")
	if !strings.Contains(errOut.String(), "gaffer: follow job 1 on 1 host(s)") {
		t.Errorf("stderr: %q", errOut.String())
	}

	resp := ts.request(t, "POST", "/api/jobs/1/cancel", nil)
	resp.Body.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit status %d after cancel, want 0\nstderr:\n%s", code, errOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("gaffer follow did not end after cancel; stderr:\n%s", errOut.String())
	}
	want := fmt.Sprintf("local %s | old\nlocal %s | one\nlocal %s | ERR two\nlocal %s | three\n", a, a, a, b)
	if out.String() != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s", out.String(), want)
	}
	// The marks are in the log.
	var alerts []string
	for _, r := range ts.ndjson(t, 1, "") {
		if r.Alert {
			alerts = append(alerts, r.File+":"+string(r.Data))
		}
	}
	if len(alerts) != 1 || alerts[0] != a+":ERR two" {
		t.Errorf("alert records: %q", alerts)
	}

	// gaffer logs prints the files too, and --file picks one; logs -f of
	// the canceled follow job ends as follow did.
	stdout, _, code := gafferCLI(t, ts, "logs", "1")
	if code != 0 || stdout != want {
		t.Errorf("logs: %d\n%s", code, stdout)
	}
	stdout, _, code = gafferCLI(t, ts, "logs", "--file", b, "1")
	if code != 0 || stdout != "local "+b+" | three\n" {
		t.Errorf("logs --file: %d %q", code, stdout)
	}
	if _, errOut, code := gafferCLI(t, ts, "logs", "-f", "1"); code != 0 {
		t.Errorf("logs -f: %d %q", code, errOut)
	}
}

// waitOutput waits until w holds s.
func waitOutput(t *testing.T, w *safeBuffer, s string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(w.String(), s) {
			return
		}
	}
	t.Fatalf("no %q in the output:\n%s", s, w.String())
}

// Ctrl-C on gaffer follow at a terminal asks, as run does; "c" stops the
// job and gaffer follow exits with 0.
func TestCLIFollowCtrlCStops(t *testing.T) {
	ts := startServer(t)
	dir := sshtest.SharedDir(t, "gaffer-cli-follow-")
	a := filepath.Join(dir, "a.log")
	appendFile(t, a, "first\n")
	p := startPTY(t, ts, "follow", "-H", "local", "--from", "start", a)
	p.waitFor(t, "local "+a+" | first")
	p.interrupt(t)
	p.typeIn(t, "c\n")
	if code := p.exit(t); code != 0 {
		t.Fatalf("exit status %d; terminal:\n%s", code, p.output())
	}
	if job := ts.job(t, 1); job.Status != gaffer.StatusCanceled {
		t.Fatalf("job is %s, want canceled", job.Status)
	}
}

// A follow job read back after a restart is the job that was started: its
// paths, from, retain and alerts from the database (the webhook whole
// there, redacted in the API), and each run's last follow state with the
// positions it had reached.
func TestFollowJobStoredAcrossRestart(t *testing.T) {
	ts := startServer(t)
	dir := sshtest.SharedDir(t, "gaffer-cli-follow-")
	a := filepath.Join(dir, "a.log")
	appendFile(t, a, "first\n")
	const webhook = "http://127.0.0.1:9/hook/s3cret?token=x"
	job := ts.startJob(t, gaffer.JobRequest{Follow: []string{a}, From: "start", Retain: "7d", Hosts: []string{"local"},
		Alerts: []gaffer.AlertRule{{Pattern: "first", Webhook: webhook}}})
	w := watchLog(t, ts, job.ID)
	w.wait(t, "the file's line", 60*time.Second, line("local", a, "first"))
	ts.Stop(t)

	db, err := sqlite.Open(filepath.Join(ts.DataDir, "gaffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := db.FindJob(t.Context(), job.ID)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	st := stored.Runs[0].Follow
	if len(stored.Alerts) != 1 || stored.Alerts[0].Webhook != webhook || stored.From != "start" || stored.Retain != "7d" ||
		st == nil || len(st.Positions) != 1 || st.Positions[0].Path != a || st.Positions[0].Offset != int64(len("first\n")) {
		t.Fatalf("stored job: %+v\nfollow state: %+v", stored, st)
	}

	ts2 := startServer(t, "--data-dir", ts.DataDir)
	got := ts2.job(t, job.ID)
	if len(got.Follow) != 1 || got.Follow[0] != a || got.From != "start" || got.Retain != "7d" || len(got.Alerts) != 1 ||
		got.Alerts[0].Webhook != gaffer.RedactURL(webhook) || got.Runs[0].Follow == nil {
		t.Fatalf("job after restart: %+v", got)
	}
	resp := ts2.request(t, "GET", fmt.Sprintf("/api/jobs/%d", job.ID), nil)
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	if s := body.String(); strings.Contains(s, "s3cret") || strings.Contains(s, "positions") || strings.Contains(s, "offset") {
		t.Fatalf("the API shows what it must not: %s", s)
	}
}
