package sshexec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
	"github.com/gaffer-dev/gaffer/sshexec"
)

// jumpSetup is a bastion sshd and a target sshd with two hosts, and an
// executor that reaches the targets through the bastion.
type jumpSetup struct {
	bastion, target *sshtest.Server
	jump            gaffer.Host
	hosts           []gaffer.Host
	e               *sshexec.Executor
	dials           *dialCounter
}

func newJumpSetup(t *testing.T) *jumpSetup {
	t.Helper()
	js := &jumpSetup{
		bastion: sshtest.Start(t, sshtest.Options{Hosts: 1}),
		target:  sshtest.Start(t, sshtest.Options{Hosts: 2}),
	}
	js.jump = js.bastion.Hosts()[0]
	js.jump.Name = "bastion"
	js.hosts = js.target.Hosts()
	for i := range js.hosts {
		js.hosts[i].Jump = []gaffer.Host{js.jump}
	}
	js.e = newExecutor(t, js.target)
	js.e.KnownHostsFile = concatFiles(t, js.bastion.KnownHosts, js.target.KnownHosts)
	js.dials = countDials(js.e)
	return js
}

func concatFiles(t *testing.T, paths ...string) string {
	t.Helper()
	var b bytes.Buffer
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Commands reach hosts through a jump host: only the jump host is dialed
// directly, once for both targets.
func TestExecJumpHost(t *testing.T) {
	t.Parallel()
	js := newJumpSetup(t)
	for i := range js.hosts {
		var out, errOut bytes.Buffer
		// sshd sets SSH_CONNECTION to "client-ip client-port server-ip server-port".
		r := js.e.Exec(context.Background(), &js.hosts[i], gaffer.ExecSpec{Command: `set -- $SSH_CONNECTION; echo "$3 $(id -un)"`}, &out, &errOut)
		want := js.hosts[i].Address + " gaffertest\n"
		if r != (gaffer.Result{}) || out.String() != want {
			t.Fatalf("%s: result %+v, stdout %q, stderr %q, want %q", js.hosts[i].Name, r, out.String(), errOut.String(), want)
		}
	}
	dials := js.dials.get()
	if len(dials) != 1 || dials[js.bastion.Addrs[0]] != 1 {
		t.Errorf("direct dials = %v, want only the bastion %s once", dials, js.bastion.Addrs[0])
	}
	// The bastion and one connection per target.
	if st := js.e.Stats(); st.Conns != 3 || st.Dials != 3 {
		t.Errorf("stats = %+v", st)
	}
}

// Cancelling a command on a host behind a jump host kills it there too.
func TestExecJumpHostCancel(t *testing.T) {
	t.Parallel()
	js := newJumpSetup(t)
	m := marker()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newBuffer()
	ch := execAsync(ctx, js.e, &js.hosts[0], "trap '' TERM; sleep "+m+" & echo started; sleep "+m, out, out)
	out.waitFor(t, "started\n")
	cancel()
	r := waitResult(t, ch, js.target)
	if !errors.Is(r.Err, context.Canceled) || r.Signal != "KILL" {
		t.Fatalf("result = %+v", r)
	}
	js.target.WaitNoProcessesWith(t, m)
}

// Both host keys are checked, and errors say which hop failed.
func TestExecJumpHostErrors(t *testing.T) {
	t.Parallel()
	js := newJumpSetup(t)
	tests := []struct {
		name  string
		setup func(e *sshexec.Executor, h *gaffer.Host)
		want  []string
	}{
		{name: "target key unknown",
			setup: func(e *sshexec.Executor, h *gaffer.Host) { e.KnownHostsFile = js.bastion.KnownHosts },
			want: []string{"unknown host key for host-1 (" + js.target.Addrs[0] + ")",
				// ssh-keyscan must run where the host can be reached.
				fmt.Sprintf("(ssh -p %d gaffertest@127.0.0.2 ssh-keyscan -p %d 127.0.0.2 >> ", js.bastion.Port, js.target.Port)}},
		{name: "bastion key unknown",
			setup: func(e *sshexec.Executor, h *gaffer.Host) { e.KnownHostsFile = js.target.KnownHosts },
			want:  []string{"jump host for host-1 (" + js.target.Addrs[0] + "): unknown host key for bastion (" + js.bastion.Addrs[0] + ")"}},
		{name: "target refuses",
			setup: func(e *sshexec.Executor, h *gaffer.Host) { h.Address = "127.0.0.1" },
			want:  []string{"connect to host-1 (127.0.0.1:", "through jump host bastion (" + js.bastion.Addrs[0] + "): connection refused"}},
		{name: "too many jump hosts",
			setup: func(e *sshexec.Executor, h *gaffer.Host) {
				h.Jump = nil
				for range 9 {
					h.Jump = append(h.Jump, js.jump)
				}
			},
			want: []string{`host-1 (` + js.target.Addrs[0] + `) is reached through 9 jump hosts; at most 8 are allowed`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newExecutor(t, js.target)
			e.KnownHostsFile = js.e.KnownHostsFile
			h := js.hosts[0]
			tt.setup(e, &h)
			r := e.Exec(context.Background(), &h, gaffer.ExecSpec{Command: "true"}, nil, nil)
			var gerr *gaffer.Error
			if r.ExitCode != -1 || !errors.As(r.Err, &gerr) {
				t.Fatalf("result = %+v, want a *gaffer.Error", r)
			}
			t.Logf("message: %s", gerr.Message)
			for _, w := range tt.want {
				if !strings.Contains(gerr.Message, w) {
					t.Errorf("error %q lacks %q", gerr.Message, w)
				}
			}
		})
	}
}
