package localexec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/localexec"
)

var local = &gaffer.Host{Name: "local", Local: true}

// buffer is a writer safe to read while Exec writes to it.
type buffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	notify chan struct{}
}

func newBuffer() *buffer { return &buffer{notify: make(chan struct{}, 1)} }

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Write(p)
	select {
	case b.notify <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor waits until the buffer holds s and returns when it was seen.
func (b *buffer) waitFor(t *testing.T, s string) time.Time {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for !strings.Contains(b.String(), s) {
		select {
		case <-b.notify:
		case <-timeout:
			t.Fatalf("output %q never arrived; got %q", s, b.String())
		}
	}
	return time.Now()
}

func execAsync(ctx context.Context, e *localexec.Executor, cmd string, stdout, stderr *buffer) <-chan gaffer.Result {
	ch := make(chan gaffer.Result, 1)
	go func() { ch <- e.Exec(ctx, local, gaffer.ExecSpec{Command: cmd}, stdout, stderr) }()
	return ch
}

func waitResult(t *testing.T, ch <-chan gaffer.Result) gaffer.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("Exec did not return within 30s")
		return gaffer.Result{}
	}
}

func TestExecOutput(t *testing.T) {
	t.Parallel()
	var want bytes.Buffer
	for i := 1; i <= 100000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	tests := []struct {
		name       string
		cmd        string
		pty        bool
		wantOut    string
		wantErr    string
		wantResult gaffer.Result
	}{
		{name: "interleaved", cmd: `for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.05; done`,
			wantOut: "out1\nout2\nout3\n", wantErr: "err1\nerr2\nerr3\n"},
		{name: "binary", cmd: `printf '\000\377\376\r\n'; printf 'no newline'`,
			wantOut: "\x00\xff\xfe\r\nno newline"},
		{name: "large", cmd: `seq 1 100000`, wantOut: want.String()},
		{name: "exit 0", cmd: `true`},
		{name: "exit 3", cmd: `echo bye; exit 3`, wantOut: "bye\n", wantResult: gaffer.Result{ExitCode: 3}},
		{name: "exit 255", cmd: `exit 255`, wantResult: gaffer.Result{ExitCode: 255}},
		{name: "killed", cmd: `kill -KILL $$`, wantResult: gaffer.Result{ExitCode: -1, Signal: "KILL"}},
		{name: "terminated", cmd: `kill -TERM $$`, wantResult: gaffer.Result{ExitCode: -1, Signal: "TERM"}},
		{name: "stdin is empty", cmd: `cat; echo done`, wantOut: "done\n"},
		{name: "pty is ignored", cmd: `test -t 1 || echo notty`, pty: true, wantOut: "notty\n"},
	}
	e := &localexec.Executor{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			r := e.Exec(context.Background(), local, gaffer.ExecSpec{Command: tt.cmd, PTY: tt.pty}, &stdout, &stderr)
			if r != tt.wantResult {
				t.Errorf("result = %+v, want %+v", r, tt.wantResult)
			}
			if got := stdout.String(); got != tt.wantOut {
				if len(got) > 200 {
					t.Errorf("stdout: %d bytes, want %d", len(got), len(tt.wantOut))
				} else {
					t.Errorf("stdout = %q, want %q", got, tt.wantOut)
				}
			}
			if got := stderr.String(); got != tt.wantErr {
				t.Errorf("stderr = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestExecLive(t *testing.T) {
	t.Parallel()
	stdout := newBuffer()
	ch := execAsync(context.Background(), &localexec.Executor{}, "echo first; sleep 2; echo second", stdout, newBuffer())
	first := stdout.waitFor(t, "first\n")
	r := waitResult(t, ch)
	if gap := time.Since(first); gap < time.Second {
		t.Fatalf("first line arrived only %v before Exec returned: output is not live", gap)
	}
	if r.ExitCode != 0 || r.Err != nil || stdout.String() != "first\nsecond\n" {
		t.Fatalf("result = %+v, stdout %q", r, stdout.String())
	}
}

func TestExecStartError(t *testing.T) {
	t.Parallel()
	e := &localexec.Executor{Shell: "/nonexistent/sh"}
	r := e.Exec(context.Background(), local, gaffer.ExecSpec{Command: "true"}, &bytes.Buffer{}, &bytes.Buffer{})
	if r.ExitCode != -1 || !strings.Contains(gaffer.ErrorMessage(r.Err), "run the command on local: start /nonexistent/sh") {
		t.Fatalf("result = %+v", r)
	}
}

// TestExecBackgroundChild: a child left running in the background holds
// the output pipes open; Exec must still return once the shell exits.
func TestExecBackgroundChild(t *testing.T) {
	t.Parallel()
	stdout := newBuffer()
	r := waitResult(t, execAsync(context.Background(), &localexec.Executor{}, "sleep 100 & echo $!", stdout, newBuffer()))
	pid, err := strconv.Atoi(strings.TrimSpace(stdout.String()))
	if err != nil {
		t.Fatalf("stdout = %q", stdout.String())
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	if r.ExitCode != 0 || r.Err != nil {
		t.Fatalf("result = %+v", r)
	}
}

func TestExecCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cmd        string
		wantSignal string
	}{
		{"sleep", "echo started; sleep 100; ", "TERM"},
		// Ignored signals stay ignored across exec: sleep ignores TERM too.
		{"ignores TERM", "trap '' TERM; echo started; sleep 100", "KILL"},
		{"background child", "sleep 100 & echo started $!; wait", "TERM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdout := newBuffer()
			e := &localexec.Executor{KillGrace: 500 * time.Millisecond}
			ch := execAsync(ctx, e, tt.cmd, stdout, newBuffer())
			stdout.waitFor(t, "started")
			cancel()
			r := waitResult(t, ch)
			if !errors.Is(r.Err, context.Canceled) || gaffer.ErrorMessage(r.Err) != "command on local canceled" {
				t.Fatalf("result = %+v", r)
			}
			if r.ExitCode != -1 || r.Signal != tt.wantSignal {
				t.Errorf("result = %+v, want signal %s", r, tt.wantSignal)
			}
			// The whole process group is gone, background children included.
			if f := strings.Fields(stdout.String()); len(f) == 2 {
				pid, _ := strconv.Atoi(f[1])
				if alive(pid) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Errorf("background child %d still runs after cancel", pid)
				}
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r := waitResult(t, execAsync(ctx, &localexec.Executor{}, "sleep 100", newBuffer(), newBuffer()))
		if !errors.Is(r.Err, context.DeadlineExceeded) || gaffer.ErrorMessage(r.Err) != "command on local timed out" {
			t.Fatalf("result = %+v", r)
		}
	})
}

// alive reports whether pid runs; a zombie (dead, not yet reaped by init)
// does not count. It waits a little for a dying process.
func alive(pid int) bool {
	for i := 0; i < 100; i++ {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		if j := bytes.LastIndexByte(b, ')'); j >= 0 && len(b) > j+2 && (b[j+2] == 'Z' || b[j+2] == 'X') {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
