package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// Main in-process: the SSH executor it exposes (and /metrics reads) is the
// one jobs run on, Close stops it and may be called twice, and a failed
// Open leaves nothing to shut down but what it built.
func TestMainInProcess(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 1})
	c, err := parseServeFlags([]string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--admin-token", testToken,
		"--ssh-config", "", "--inventory", writeInventory(t, sshd.Hosts(), ""), "--known-hosts", sshd.KnownHosts}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out safeBuffer
	m := NewMain(c, &out, slog.New(slog.DiscardHandler))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	runc := make(chan error, 1)
	go func() { runc <- m.Run(ctx) }()

	job, err := m.Foreman.Start(ctx, gaffer.JobRequest{Hosts: []string{"host-1"}, Command: "true"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		j, err := m.Foreman.Job(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status.Done() {
			if j.Status != gaffer.StatusSucceeded {
				t.Fatalf("job %s: %+v", j.Status, j.Runs[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s after a minute", j.Status)
		}
	}
	if d := m.SSH.Stats().Dials; d == 0 {
		t.Errorf("Main.SSH dialled nothing: the job ran on another executor")
	}

	stop()
	if err := <-runc; err != nil {
		t.Fatalf("run: %v", err)
	}
	m.Close()
	m.Close()
	if c, err := net.Dial("tcp", strings.TrimPrefix(m.URL, "http://")); err == nil {
		c.Close()
		t.Errorf("%s still answers after Close", m.URL)
	}
	if s := out.String(); !strings.Contains(s, "gaffer: listening on "+m.URL+" ") || !strings.HasSuffix(s, "gaffer: stopped\n") {
		t.Errorf("output:\n%s", s)
	}

	// Open fails when the address is taken; Close then releases the rest.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c.listen, c.dataDir = ln.Addr().String(), t.TempDir()
	var out2 safeBuffer
	m2 := NewMain(c, &out2, slog.New(slog.DiscardHandler))
	if err := m2.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "is another gaffer running") {
		t.Fatalf("open on a taken address: %v", err)
	}
	m2.Close()
	if s := out2.String(); s != "" {
		t.Errorf("a server that never listened printed:\n%s", s)
	}
}
