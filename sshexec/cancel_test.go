package sshexec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// marker returns a sleep argument no other test uses ("1000.482913377"),
// so that the test user's process table, shared by every test, can be
// searched for this test's processes.
func marker() string { return fmt.Sprintf("1000.%09d", rand.IntN(1e9)) }

// loginShells are the test hosts' two kinds of login: dash (/bin/sh) and
// bash with a ~/.bashrc, which bash reads for each command sshd runs.
var loginShells = []struct {
	name string
	opts sshtest.Options
}{
	{"sh", sshtest.Options{Hosts: 1}},
	{"bash", sshtest.Options{Hosts: 1, Bashrc: "RC=1"}},
}

// Cancelling or timing out stops the command and everything it started on
// the host: the process table holds none of its processes afterwards.
func TestExecCancelLeavesNothing(t *testing.T) {
	t.Parallel()
	for _, login := range loginShells {
		t.Run(login.name, func(t *testing.T) {
			t.Parallel()
			testExecCancelLeavesNothing(t, sshtest.Start(t, login.opts))
		})
	}
}

func testExecCancelLeavesNothing(t *testing.T, s *sshtest.Server) {
	h := s.Hosts()[0]

	tests := []struct {
		name    string
		cmd     func(m string) string
		pty     bool
		timeout bool
		// wantSignal is how the command ends: SIGTERM reaches it, or it
		// ignores SIGTERM and gets SIGKILL after the grace period.
		wantSignal string
	}{
		{name: "foreground sleep",
			cmd:        func(m string) string { return "echo started; sleep " + m + "; sh -c 'sleep " + m + " &'" },
			wantSignal: "TERM"},
		{name: "background child",
			cmd: func(m string) string {
				return "sh -c 'sleep " + m + " &'; (sleep " + m + ") & echo started; sleep " + m
			},
			wantSignal: "TERM"},
		{name: "ignores SIGTERM",
			cmd:        func(m string) string { return "trap '' TERM; sleep " + m + " & echo started; sleep " + m },
			wantSignal: "KILL"},
		{name: "pty ignores SIGTERM and SIGHUP", pty: true,
			cmd:        func(m string) string { return "trap '' TERM HUP; sleep " + m + " & echo started; sleep " + m },
			wantSignal: "KILL"},
		{name: "pty", pty: true,
			cmd:        func(m string) string { return "sh -c 'sleep " + m + " &'; echo started; sleep " + m },
			wantSignal: "TERM"},
		{name: "timeout", timeout: true,
			cmd:        func(m string) string { return "sleep " + m + " & echo started; sleep " + m },
			wantSignal: "TERM"},
		{name: "timeout ignores SIGTERM", timeout: true,
			cmd:        func(m string) string { return "trap '' TERM; sleep " + m + " & echo started; sleep " + m },
			wantSignal: "KILL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := marker()
			ctx, cancel := context.WithCancel(context.Background())
			if tt.timeout {
				// Long enough to start on a busy machine: the test waits
				// for "started" and fails if the deadline came first.
				ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
			}
			defer cancel()
			stdout := newBuffer()
			ch := execSpecAsync(ctx, newExecutor(t, s), &h, gaffer.ExecSpec{Command: tt.cmd(m), PTY: tt.pty}, stdout, stdout)
			stdout.waitFor(t, "started")
			if ctx.Err() != nil {
				t.Fatal("timed out before the command started: the machine is too slow for this test")
			}
			// The marker is what the test looks for afterwards: make sure it
			// shows while the command runs.
			waitProcessesWith(t, s, m)
			if !tt.timeout {
				cancel()
			}
			r := waitResult(t, ch, s)

			want, wantMsg := context.Canceled, "canceled"
			if tt.timeout {
				want, wantMsg = context.DeadlineExceeded, "timed out"
			}
			if !errors.Is(r.Err, want) || !strings.Contains(gaffer.ErrorMessage(r.Err), wantMsg) {
				t.Errorf("result = %+v, want %v", r, want)
			}
			if r.Signal != tt.wantSignal && !(tt.wantSignal == "TERM" && r.ExitCode == 143) {
				t.Errorf("result = %+v, want the command ended by SIG%s", r, tt.wantSignal)
			}
			s.WaitNoProcessesWith(t, m)
			if out := stdout.String(); strings.Contains(out, "GAFFER_PID") {
				t.Errorf("output shows the wrapper's pid line: %q", out)
			}
		})
	}
}

// waitProcessesWith waits until a process of the test user shows marker.
func waitProcessesWith(t *testing.T, s *sshtest.Server, marker string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.ProcessesWith(t, marker)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no process shows %q:\n%s", marker, strings.Join(s.Processes(t), "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sshd does not pass signals on for root logins and older versions: the
// process group is killed from another session all the same. The test
// login is not root, so a command that ignores SIGTERM (trap "" TERM)
// stands in for such a server: only the group kill with SIGKILL ends it.
// Here the command also holds all the sessions of its connection the
// server allows, so the kill must come over another connection.
func TestExecCancelNeedsAnotherConnection(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1, MaxSessions: 1})
	h := s.Hosts()[0]
	e := newExecutor(t, s)
	m := marker()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := newBuffer()
	ch := execAsync(ctx, e, &h, "trap '' TERM; echo started; sleep "+m, stdout, stdout)
	stdout.waitFor(t, "started\n")
	cancel()
	r := waitResult(t, ch, s)
	if !errors.Is(r.Err, context.Canceled) || r.Signal != "KILL" {
		t.Fatalf("result = %+v", r)
	}
	s.WaitNoProcessesWith(t, m)
	if d := e.Stats().Dials; d < 2 {
		t.Errorf("%d dials: the kill should have needed a second connection", d)
	}
}

// The command keeps the shell semantics it had before it was wrapped to
// learn its process group: quoting, variables, pipes, exit status, $0 and
// multi-line scripts.
func TestExecShellSemantics(t *testing.T) {
	t.Parallel()
	for _, login := range loginShells {
		t.Run(login.name, func(t *testing.T) {
			t.Parallel()
			testExecShellSemantics(t, sshtest.Start(t, login.opts), login.name)
		})
	}
}

func testExecShellSemantics(t *testing.T, s *sshtest.Server, shell string) {
	e := newExecutor(t, s)
	h := s.Hosts()[0]
	tests := []struct {
		name, cmd, wantOut string
		wantExit           int
		wantErr            string // in stderr, case aside; "" for none
	}{
		{name: "single quotes", cmd: `echo 'it''s' 'a "b"'`, wantOut: "its a \"b\"\n"},
		{name: "escaped single quote", cmd: `echo 'don'\''t'`, wantOut: "don't\n"},
		{name: "double quotes and variables", cmd: `x=1; echo "x=$x '$x'" '$x'`, wantOut: "x=1 '1' $x\n"},
		{name: "environment", cmd: `echo "$USER $HOME"`, wantOut: s.User + " /home/" + s.User + "\n"},
		{name: "pipes", cmd: `printf 'b\na\n' | sort | tr a-z A-Z`, wantOut: "A\nB\n"},
		{name: "exit 3", cmd: `echo bye; exit 3`, wantOut: "bye\n", wantExit: 3},
		{name: "false", cmd: `false`, wantExit: 1},
		{name: "multi-line", cmd: "for i in 1 2; do\n  echo \"line $i\"\ndone\nexit 4\n", wantOut: "line 1\nline 2\n", wantExit: 4},
		{name: "heredoc", cmd: "cat <<'EOF'\n$not expanded 'q'\nEOF", wantOut: "$not expanded 'q'\n"},
		{name: "backslashes", cmd: `printf '%s\n' 'a\b' "c\\d"`, wantOut: "a\\b\nc\\d\n"},
		{name: "dollar zero is the shell", cmd: `echo "$0"`, wantOut: shell + "\n"},
		{name: "line numbers", cmd: "true\nno-such-command-gaffer", wantExit: 127, wantErr: "2: no-such-command-gaffer"},
		{name: "syntax error", cmd: "echo before\nfi", wantOut: "before\n", wantExit: 2, wantErr: "syntax error"},
		{name: "syntax error on the first line", cmd: "'", wantExit: 2, wantErr: "1: "},
		{name: "pid is the process group", cmd: `ps -o pgid= -p $$ | tr -d ' ' | grep -qx "$$" && echo same`, wantOut: "same\n"},
		{name: "empty", cmd: ``},
		{name: "looks like the marker", cmd: `echo GAFFER_PID:123 456`, wantOut: "GAFFER_PID:123 456\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			r := e.Exec(context.Background(), &h, gaffer.ExecSpec{Command: tt.cmd}, &stdout, &stderr)
			errOK := stderr.Len() == 0
			if tt.wantErr != "" {
				errOK = strings.Contains(strings.ToLower(stderr.String()), tt.wantErr)
			}
			if r.Err != nil || r.ExitCode != tt.wantExit || stdout.String() != tt.wantOut || !errOK {
				t.Errorf("result %+v, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q", r, stdout.String(), stderr.String(), tt.wantExit, tt.wantOut, tt.wantErr)
			}
		})
	}
}

// With a PTY, a program that buffers its output when it is not on a
// terminal (python3 without -u) streams each line as it prints it. The
// script prints a line, then waits for the test to acknowledge it: if the
// line were held back until the end, neither side would go on.
func TestExecPTYStreams(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	h := s.Hosts()[0]
	dir := sharedDir(t)
	script := fmt.Sprintf(`python3 -c 'import os, time
for i in range(3):
    print("line", i)
    while not os.path.exists("%s/ack%%d" %% i):
        time.sleep(0.02)
'`, dir)

	stdout, stderr := newBuffer(), newBuffer()
	ch := execSpecAsync(context.Background(), newExecutor(t, s), &h, gaffer.ExecSpec{Command: script, PTY: true}, stdout, stderr)
	for i := 0; i < 3; i++ {
		stdout.waitFor(t, fmt.Sprintf("line %d\r\n", i))
		select {
		case r := <-ch:
			t.Fatalf("the command ended (%+v) before line %d was acknowledged", r, i)
		default:
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("ack%d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := waitResult(t, ch, s)
	if r != (gaffer.Result{}) {
		t.Fatalf("result = %+v", r)
	}
	if got := stdout.String(); got != "line 0\r\nline 1\r\nline 2\r\n" {
		t.Errorf("stdout = %q", got)
	}
}

// sharedDir is a temporary directory the test user can read.
func sharedDir(t *testing.T) string { return sshtest.SharedDir(t, "sshexec-") }
