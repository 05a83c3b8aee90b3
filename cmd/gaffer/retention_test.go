package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

func TestRetentionParseAge(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"30d", 30 * 24 * time.Hour, ""},
		{"1d", 24 * time.Hour, ""},
		{"12h", 12 * time.Hour, ""},
		{"90m", 90 * time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{"0d", 0, "above zero"},
		{"0s", 0, "above zero"},
		{"-1d", 0, "above zero"},
		{"-5h", 0, "above zero"},
		{"1.5d", 0, "whole days (30d) or a duration"},
		{"+3d", 0, "whole days (30d) or a duration"},
		{"d", 0, "whole days (30d) or a duration"},
		{"30", 0, "whole days (30d) or a duration"},
		{"30days", 0, "whole days (30d) or a duration"},
		{"30D", 0, "whole days (30d) or a duration"},
		{"", 0, "whole days (30d) or a duration"},
		{"999999999d", 0, "give at most 106751d"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseAge(tt.in)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("parseAge(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("parseAge(%q) = %v, %v; want an error saying %q", tt.in, got, err, tt.err)
			}
		})
	}
}

// Bad retention flags stop the server before it starts, naming the flag.
func TestRetentionFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"--retain", "30x"}, `invalid value "30x" for flag -retain: "30x": give whole days (30d) or a duration (12h, 90m)`},
		{[]string{"--retain", "0d"}, `"0d": give an age above zero`},
		{[]string{"--retain-jobs", "-1"}, "--retain-jobs -1: give how many finished jobs to keep"},
		{[]string{"--retain-jobs", "many"}, `invalid value "many" for flag -retain-jobs`},
		{[]string{"--retain-interval", "0s"}, "--retain-interval 0s: give a duration above zero"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseServeFlags(tt.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error = %v, want one saying %q", err, tt.err)
			}
		})
	}
	c, err := parseServeFlags([]string{"--retain", "30d", "--retain-jobs", "10000"}, io.Discard)
	if err != nil || c.retain != 30*24*time.Hour || c.retainJobs != 10000 || c.retainEvery != 10*time.Minute {
		t.Fatalf("parse: %+v, %v", c, err)
	}
	// Off unless asked for: deleting is for good.
	if c, err := parseServeFlags(nil, io.Discard); err != nil || c.retain != 0 || c.retainJobs != 0 {
		t.Fatalf("defaults: retain %v, retain-jobs %d, %v", c.retain, c.retainJobs, err)
	}
}

// Retention end to end on a real server: jobs finished before the cutoff
// (--retain, on an injected clock) and beyond the newest --retain-jobs are
// 404 in the API, their log and their page, their archive files are gone,
// and the metric counts them; the newest and a running job are untouched.
func TestRetentionEndToEnd(t *testing.T) {
	dataDir := t.TempDir()
	c, err := parseServeFlags([]string{"--listen", "127.0.0.1:0", "--data-dir", dataDir, "--admin-token", testToken,
		"--ssh-config", "", "--retain", "1d", "--retain-jobs", "3", "--retain-interval", "50ms", "--log-level", "debug"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	lw := &logWriter{t: t}
	defer lw.close()
	m := NewMain(c, io.Discard, slog.New(slog.NewTextHandler(lw, nil)))
	// Until cutoff is set, the clock says nothing has finished a day ago.
	var cutoff atomic.Pointer[time.Time]
	m.Now = func() time.Time {
		if t := cutoff.Load(); t != nil {
			return t.Add(24 * time.Hour)
		}
		return time.Now().Add(-24 * time.Hour)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if err := m.Open(ctx); err != nil {
		m.Close()
		t.Fatal(err)
	}
	defer m.Close()
	ts := &testServer{URL: m.URL}

	local := func(cmd string) *gaffer.Job {
		return ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: cmd})
	}
	// waitGone polls until GET /api/jobs/ID is 404 for every job.
	waitGone := func(jobs ...*gaffer.Job) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			n := 0
			for _, j := range jobs {
				resp := ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d", j.ID), nil)
				resp.Body.Close()
				if resp.StatusCode == http.StatusNotFound {
					n++
				}
			}
			if n == len(jobs) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d old jobs deleted after a minute", n, len(jobs))
			}
		}
	}
	gate := filepath.Join(t.TempDir(), "go")
	running := local("echo running; sleep 120")
	late := local(fmt.Sprintf("while [ ! -e %s ]; do sleep 0.05; done; echo late", gate)) // finishes last
	old1, old2 := local("echo old1"), local("echo old2")
	ts.waitJob(t, old1.ID)
	ts.waitJob(t, old2.ID)
	now := time.Now()
	cutoff.Store(&now) // old1 and old2 are now more than a day old
	// Two finished jobs, --retain-jobs 3: these go by age.
	waitGone(old1, old2)

	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ts.waitJob(t, late.ID)
	new1, new2, new3 := local("echo new1"), local("echo new2"), local("echo new3")
	ts.waitJob(t, new1.ID)
	ts.waitJob(t, new2.ID)
	ts.waitJob(t, new3.ID)
	// late is the oldest of four finished, none old: it goes by count.
	waitGone(late)
	gone := []*gaffer.Job{old1, old2, late}
	kept := []*gaffer.Job{new1, new2, new3}

	archiveDir := filepath.Join(dataDir, "archive")
	files := func(id int64) []string {
		names, err := filepath.Glob(filepath.Join(archiveDir, fmt.Sprintf("%d.*", id)))
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	for _, j := range gone {
		for _, path := range []string{"/api/jobs/%d", "/api/jobs/%d/log", "/api/jobs/%d/log/summary", "/jobs/%d"} {
			p := fmt.Sprintf(path, j.ID)
			resp := ts.request(t, "GET", p, nil)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s of a deleted job: %s %s", p, resp.Status, body)
			}
		}
		if names := files(j.ID); len(names) != 0 {
			t.Errorf("job %d deleted, its archive files are left: %v", j.ID, names)
		}
	}
	for _, j := range append(kept, running) {
		if names := files(j.ID); len(names) == 0 {
			t.Errorf("job %d kept, its archive files are gone", j.ID)
		}
	}
	for _, j := range kept {
		if got := ts.job(t, j.ID); got.Status != gaffer.StatusSucceeded {
			t.Errorf("job %d kept: %s", j.ID, got.Status)
		}
		if recs := ts.ndjson(t, j.ID, ""); len(recs) == 0 {
			t.Errorf("job %d kept: its log is empty", j.ID)
		}
	}
	if got := ts.job(t, running.ID); got.Status != gaffer.StatusRunning {
		t.Errorf("the running job (the oldest) is %s", got.Status)
	}
	if got := metric(t, ts, "gaffer_jobs_deleted_total"); got != float64(len(gone)) {
		t.Errorf("gaffer_jobs_deleted_total = %v, want %d", got, len(gone))
	}
	// Once canceled it is finished, the oldest of four: the next sweep
	// deletes it by count.
	resp := ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", running.ID), nil)
	resp.Body.Close()
	waitGone(running)
}
