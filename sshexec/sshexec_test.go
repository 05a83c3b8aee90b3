package sshexec_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
	"github.com/gaffer-dev/gaffer/sshexec"
	"golang.org/x/crypto/ssh"
)

func TestMain(m *testing.M) {
	// Keys from a developer's agent would be tried before the test key.
	os.Unsetenv("SSH_AUTH_SOCK")
	os.Exit(m.Run())
}

// newExecutor returns an executor that trusts s and uses only the host's
// key, closed when the test ends. A short CancelGrace keeps the tests
// that reach SIGKILL quick.
func newExecutor(t testing.TB, s *sshtest.Server) *sshexec.Executor {
	t.Helper()
	e := &sshexec.Executor{
		KnownHostsFile: s.KnownHosts,
		IdentityFiles:  []string{"/nonexistent/id_ed25519"},
		CancelGrace:    time.Second,
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// buffer is a writer safe to read while Exec writes to it, that remembers
// when it first saw a given string.
type buffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	marks  map[string]time.Time
	notify chan struct{}
}

func newBuffer() *buffer {
	return &buffer{marks: map[string]time.Time{}, notify: make(chan struct{}, 1)}
}

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

// waitFor waits until the buffer holds s and returns when it first did.
func (b *buffer) waitFor(t *testing.T, s string) time.Time {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		b.mu.Lock()
		if at, ok := b.marks[s]; ok {
			b.mu.Unlock()
			return at
		}
		if strings.Contains(b.b.String(), s) {
			b.marks[s] = time.Now()
			b.mu.Unlock()
			continue
		}
		b.mu.Unlock()
		select {
		case <-b.notify:
		case <-timeout:
			t.Fatalf("output %q never arrived; got %q", s, b.String())
		}
	}
}

// execAsync runs Exec in the background.
func execAsync(ctx context.Context, e *sshexec.Executor, h *gaffer.Host, cmd string, stdout, stderr *buffer) <-chan gaffer.Result {
	return execSpecAsync(ctx, e, h, gaffer.ExecSpec{Command: cmd}, stdout, stderr)
}

func execSpecAsync(ctx context.Context, e *sshexec.Executor, h *gaffer.Host, spec gaffer.ExecSpec, stdout, stderr *buffer) <-chan gaffer.Result {
	ch := make(chan gaffer.Result, 1)
	go func() { ch <- e.Exec(ctx, h, spec, stdout, stderr) }()
	return ch
}

// waitResult waits for Exec to return, failing the test after a generous
// timeout so that a hang does not stall the suite.
func waitResult(t *testing.T, ch <-chan gaffer.Result, s *sshtest.Server) gaffer.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatalf("Exec did not return within 30s\nsshd log:\n%s", s.Log())
		return gaffer.Result{}
	}
}

func TestExecOutput(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	e := newExecutor(t, s)
	h := s.Hosts()[0]

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
		{name: "runs as the host's user", cmd: `id -un`, wantOut: "gaffertest\n"},
		// A terminal merges stderr into stdout and turns "\n" into "\r\n".
		{name: "pty", cmd: `test -t 1 && echo tty; echo err >&2`, pty: true, wantOut: "tty\r\nerr\r\n"},
		{name: "no pty", cmd: `test -t 1 || echo notty`, wantOut: "notty\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			r := e.Exec(context.Background(), &h, gaffer.ExecSpec{Command: tt.cmd, PTY: tt.pty}, &stdout, &stderr)
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
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	h := s.Hosts()[0]
	stdout, stderr := newBuffer(), newBuffer()
	ch := execAsync(context.Background(), newExecutor(t, s), &h, "echo first; sleep 2; echo second", stdout, stderr)
	first := stdout.waitFor(t, "first\n")
	r := waitResult(t, ch, s)
	returned := time.Now()
	if r.ExitCode != 0 || r.Err != nil {
		t.Fatalf("result = %+v", r)
	}
	if got := stdout.String(); got != "first\nsecond\n" {
		t.Fatalf("stdout = %q", got)
	}
	// The command sleeps 2s between the lines: had "first" been held back
	// until the end, it would have arrived just before Exec returned.
	if gap := returned.Sub(first); gap < time.Second {
		t.Fatalf("first line arrived only %v before Exec returned: output is not live", gap)
	}
}

func TestExecConcurrent(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 3})
	e := newExecutor(t, s)
	hosts := s.Hosts()
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := hosts[i%len(hosts)]
			var out bytes.Buffer
			r := e.Exec(context.Background(), &h, gaffer.ExecSpec{Command: "echo " + strconv.Itoa(i) + "; exit " + strconv.Itoa(i%4)}, &out, &out)
			if r.ExitCode != i%4 || r.Err != nil || out.String() != strconv.Itoa(i)+"\n" {
				t.Errorf("run %d on %s: result %+v, output %q", i, h.Name, r, out.String())
			}
		}()
	}
	wg.Wait()
}

func TestExecConnectErrors(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	good := s.Hosts()[0]

	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	dir := t.TempDir()
	emptyKnownHosts := filepath.Join(dir, "known_hosts_empty")
	if err := os.WriteFile(emptyKnownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	strangerKey := writeKey(t, dir)
	addr := s.Addrs[0]
	port := strconv.Itoa(s.Port)

	tests := []struct {
		name       string
		knownHosts string
		host       func(h *gaffer.Host)
		want       []string // substrings of the error message; nil means success
	}{
		{name: "ok"},
		{name: "hashed known_hosts", knownHosts: s.WriteKnownHosts(t, sshtest.KnownHostsOptions{Hashed: true})},
		{name: "rsa and ed25519 known", knownHosts: s.WriteKnownHosts(t, sshtest.KnownHostsOptions{RSA: true})},
		// s.KnownHosts holds only the ed25519 key while sshd also has RSA.
		{name: "ed25519 only known", knownHosts: s.KnownHosts},
		{name: "connection refused", host: func(h *gaffer.Host) { h.Address, h.Port = "127.0.0.1", closedPort },
			want: []string{fmt.Sprintf("connect to host-1 (127.0.0.1:%d): connection refused", closedPort)}},
		{name: "unknown host key", knownHosts: emptyKnownHosts,
			want: []string{"unknown host key for host-1 (" + addr + ")", "ssh-ed25519 " + s.HostKeyFingerprint(),
				"ssh-keyscan -p " + port + " 127.0.0.2 >> " + emptyKnownHosts}},
		{name: "changed host key", knownHosts: s.WriteKnownHosts(t, sshtest.KnownHostsOptions{WrongKey: true}),
			want: []string{"host key mismatch for host-1 (" + addr + ")", s.HostKeyFingerprint(), "line 1 expects SHA256:", "reinstalled"}},
		{name: "no known_hosts file", knownHosts: filepath.Join(dir, "missing"),
			want: []string{"known_hosts file " + filepath.Join(dir, "missing") + " does not exist"}},
		{name: "key not authorized", host: func(h *gaffer.Host) { h.IdentityFile = strangerKey },
			want: []string{"log in to host-1 (" + addr + ") as gaffertest failed", strangerKey}},
		{name: "missing identity file", host: func(h *gaffer.Host) { h.IdentityFile = filepath.Join(dir, "nokey") },
			want: []string{"identity file of host-1 (" + addr + "): " + filepath.Join(dir, "nokey") + " does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newExecutor(t, s)
			if tt.knownHosts != "" {
				e.KnownHostsFile = tt.knownHosts
			}
			h := good
			if tt.host != nil {
				tt.host(&h)
			}
			var out bytes.Buffer
			r := e.Exec(context.Background(), &h, gaffer.ExecSpec{Command: "echo ok"}, &out, &out)
			if tt.want == nil {
				if r.Err != nil || r.ExitCode != 0 || out.String() != "ok\n" {
					t.Fatalf("result %+v, output %q\nsshd log:\n%s", r, out.String(), s.Log())
				}
				return
			}
			if r.Err == nil || r.ExitCode != -1 {
				t.Fatalf("result %+v, want an error", r)
			}
			t.Logf("message: %s", r.Err)
			var gerr *gaffer.Error
			if !errors.As(r.Err, &gerr) {
				t.Fatalf("error %q (%T) is not a *gaffer.Error", r.Err, r.Err)
			}
			for _, w := range tt.want {
				if !strings.Contains(gerr.Message, w) {
					t.Errorf("error %q lacks %q", gerr.Message, w)
				}
			}
		})
	}
}

// writeKey writes a new ed25519 private key that no server accepts.
func writeKey(t *testing.T, dir string) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "stranger_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExecConnectionLost(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	tests := []struct {
		name  string
		fault func(p *sshtest.Proxy)
	}{
		{"cut", (*sshtest.Proxy).Cut},
		{"stall", (*sshtest.Proxy).Stall},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := sshtest.StartProxy(t, s.Addrs[0])
			e := newExecutor(t, s)
			e.KnownHostsFile = s.WriteKnownHosts(t, sshtest.KnownHostsOptions{Addrs: []string{p.Addr()}})
			h := s.Hosts()[0]
			h.Address, h.Port = "127.0.0.1", p.Port()

			stdout, stderr := newBuffer(), newBuffer()
			// Without a PTY the remote command outlives the connection: keep it short.
			ch := execAsync(context.Background(), e, &h, "echo started; sleep 20", stdout, stderr)
			stdout.waitFor(t, "started\n")
			tt.fault(p)
			r := waitResult(t, ch, s)
			t.Logf("result: %+v", r)
			if r.ExitCode != -1 || r.Err == nil || !strings.Contains(r.Err.Error(), "connection to host-1 (127.0.0.1:"+strconv.Itoa(p.Port())+") lost, exit status unknown") {
				t.Fatalf("result = %+v", r)
			}
			if gaffer.ErrorCode(r.Err) != gaffer.EUNAVAILABLE {
				t.Errorf("code = %q", gaffer.ErrorCode(r.Err))
			}
		})
	}
}

func TestExecHandshakeTimeout(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	p := sshtest.StartProxy(t, s.Addrs[0])
	p.Stall() // TCP connects, SSH never answers
	e := newExecutor(t, s)
	e.ConnectTimeout = time.Second
	h := s.Hosts()[0]
	h.Address, h.Port = "127.0.0.1", p.Port()
	r := waitResult(t, execAsync(context.Background(), e, &h, "true", newBuffer(), newBuffer()), s)
	want := "ssh handshake with host-1 (" + p.Addr() + ") failed: timed out after 1s"
	if r.ExitCode != -1 || r.Err == nil || r.Err.Error() != want {
		t.Fatalf("result = %+v, want error %q", r, want)
	}
}

func TestExecCancel(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	h := s.Hosts()[0]

	t.Run("running", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stdout, stderr := newBuffer(), newBuffer()
		ch := execAsync(ctx, newExecutor(t, s), &h, "echo started; sleep 100", stdout, stderr)
		stdout.waitFor(t, "started\n")
		cancel()
		r := waitResult(t, ch, s)
		if !errors.Is(r.Err, context.Canceled) || !strings.Contains(gaffer.ErrorMessage(r.Err), "canceled") {
			t.Fatalf("result = %+v", r)
		}
		// SIGTERM reached the command (the login is not root).
		if r.Signal != "TERM" && r.ExitCode != 143 {
			t.Errorf("result = %+v, want the command ended by SIGTERM", r)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r := waitResult(t, execAsync(ctx, newExecutor(t, s), &h, "sleep 100", newBuffer(), newBuffer()), s)
		if !errors.Is(r.Err, context.DeadlineExceeded) || !strings.Contains(gaffer.ErrorMessage(r.Err), "timed out") {
			t.Fatalf("result = %+v", r)
		}
	})

	t.Run("ignores SIGTERM", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stdout := newBuffer()
		ch := execAsync(ctx, newExecutor(t, s), &h, "trap '' TERM; echo started; sleep 20", stdout, newBuffer())
		stdout.waitFor(t, "started\n")
		cancel()
		r := waitResult(t, ch, s)
		// SIGKILL after the grace period.
		if !errors.Is(r.Err, context.Canceled) || r.ExitCode != -1 || r.Signal != "KILL" {
			t.Fatalf("result = %+v", r)
		}
	})

	t.Run("before start", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r := waitResult(t, execAsync(ctx, newExecutor(t, s), &h, "echo no", newBuffer(), newBuffer()), s)
		if !errors.Is(r.Err, context.Canceled) || r.ExitCode != -1 {
			t.Fatalf("result = %+v", r)
		}
	})
}
