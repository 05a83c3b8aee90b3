package sshtest_test

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer/internal/sshtest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// dial logs in to addr as the test user, checking the host key against
// knownHostsFile, with only the ed25519 algorithm allowed when edOnly.
func dial(t *testing.T, s *sshtest.Server, addr, knownHostsFile string, edOnly bool) (*ssh.Client, error) {
	t.Helper()
	b, err := os.ReadFile(s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := knownhosts.New(knownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: cb,
		Timeout:         10 * time.Second,
	}
	if edOnly {
		cfg.HostKeyAlgorithms = []string{ssh.KeyAlgoED25519}
	}
	return ssh.Dial("tcp", addr, cfg)
}

func run(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("%s: %v: %s", cmd, err, out)
	}
	return string(out)
}

func TestStart(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 2})

	if len(s.Addrs) != 2 || s.Addrs[0] != net.JoinHostPort("127.0.0.2", strconv.Itoa(s.Port)) {
		t.Fatalf("Addrs = %v, port %d", s.Addrs, s.Port)
	}
	hosts := s.Hosts()
	if len(hosts) != 2 || hosts[1].Name != "host-2" || hosts[1].Address != "127.0.0.3" ||
		hosts[1].Port != s.Port || hosts[1].User != "gaffertest" || hosts[1].IdentityFile != s.KeyFile {
		t.Fatalf("Hosts() = %+v", hosts)
	}
	for _, addr := range s.Addrs {
		c, err := dial(t, s, addr, s.KnownHosts, true)
		if err != nil {
			t.Fatalf("dial %s: %v\nsshd log:\n%s", addr, err, s.Log())
		}
		if got := run(t, c, "id -un"); got != "gaffertest\n" {
			t.Errorf("id -un on %s = %q", addr, got)
		}
		c.Close()
	}
	if !strings.Contains(s.Log(), "Server listening on 127.0.0.3") {
		t.Errorf("Log() lacks the listening line:\n%s", s.Log())
	}
}

func TestKnownHosts(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	tests := []struct {
		name    string
		opts    sshtest.KnownHostsOptions
		edOnly  bool
		wantErr bool
	}{
		{"plain", sshtest.KnownHostsOptions{}, true, false},
		{"hashed", sshtest.KnownHostsOptions{Hashed: true}, true, false},
		{"wrong key", sshtest.KnownHostsOptions{WrongKey: true}, true, true},
		// x/crypto prefers RSA: without the RSA line the default algorithms fail.
		{"ed25519 only, default algorithms", sshtest.KnownHostsOptions{}, false, true},
		{"with rsa, default algorithms", sshtest.KnownHostsOptions{RSA: true}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := dial(t, s, s.Addrs[0], s.WriteKnownHosts(t, tt.opts), tt.edOnly)
			if c != nil {
				c.Close()
			}
			var keyErr *knownhosts.KeyError
			if tt.wantErr && !errors.As(err, &keyErr) {
				t.Fatalf("err = %v, want a knownhosts.KeyError", err)
			} else if !tt.wantErr && err != nil {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// A server with NewHostKey offers a key of its own: the shared key's
// known_hosts refuses it, its own accepts it.
func TestNewHostKey(t *testing.T) {
	t.Parallel()
	shared := sshtest.Start(t, sshtest.Options{Hosts: 1})
	own := sshtest.Start(t, sshtest.Options{Hosts: 1, NewHostKey: true})
	if own.HostKeyFingerprint() == shared.HostKeyFingerprint() {
		t.Fatalf("NewHostKey server has the shared fingerprint %s", own.HostKeyFingerprint())
	}
	c, err := dial(t, own, own.Addrs[0], own.KnownHosts, true)
	if err != nil {
		t.Fatalf("dial with its own known_hosts: %v", err)
	}
	c.Close()
	sharedKnown := shared.WriteKnownHosts(t, sshtest.KnownHostsOptions{Addrs: own.Addrs})
	var keyErr *knownhosts.KeyError
	if c, err := dial(t, own, own.Addrs[0], sharedKnown, true); !errors.As(err, &keyErr) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial with the shared key's known_hosts: err = %v, want a knownhosts.KeyError", err)
	}
}

func TestManyHosts(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 18}) // two daemons
	for _, i := range []int{0, 15, 16, 17} {
		c, err := dial(t, s, s.Addrs[i], s.KnownHosts, true)
		if err != nil {
			t.Fatalf("dial %s: %v\nsshd log:\n%s", s.Addrs[i], err, s.Log())
		}
		c.Close()
	}
}

func TestProxy(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})

	t.Run("forwards", func(t *testing.T) {
		p := sshtest.StartProxy(t, s.Addrs[0])
		kh := s.WriteKnownHosts(t, sshtest.KnownHostsOptions{Addrs: []string{p.Addr()}})
		c, err := dial(t, s, p.Addr(), kh, true)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := run(t, c, "echo hi"); got != "hi\n" {
			t.Fatalf("got %q", got)
		}
	})

	t.Run("cut", func(t *testing.T) {
		p := sshtest.StartProxy(t, s.Addrs[0])
		kh := s.WriteKnownHosts(t, sshtest.KnownHostsOptions{Addrs: []string{p.Addr()}})
		c, err := dial(t, s, p.Addr(), kh, true)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		p.Cut()
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("connection still open 20s after Cut")
		}
	})

	t.Run("stall", func(t *testing.T) {
		p := sshtest.StartProxy(t, s.Addrs[0])
		kh := s.WriteKnownHosts(t, sshtest.KnownHostsOptions{Addrs: []string{p.Addr()}})
		c, err := dial(t, s, p.Addr(), kh, true)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		p.Stall()
		var once sync.Once
		replied := make(chan struct{})
		go func() {
			c.SendRequest("keepalive@openssh.com", true, nil)
			once.Do(func() { close(replied) })
		}()
		select {
		case <-replied:
			t.Fatal("a request got through a stalled proxy")
		case <-time.After(500 * time.Millisecond):
		}
		c.Close()
	})
}

func TestConcurrentStarts(t *testing.T) {
	t.Parallel()
	for i := 0; i < 4; i++ {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			s := sshtest.Start(t, sshtest.Options{Hosts: 1})
			c, err := dial(t, s, s.Addrs[0], s.KnownHosts, true)
			if err != nil {
				t.Fatalf("dial: %v\nsshd log:\n%s", err, s.Log())
			}
			run(t, c, "true")
			c.Close()
		})
	}
}

func TestProcesses(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	c, err := dial(t, s, s.Addrs[0], s.KnownHosts, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	marker := "1000." + strconv.Itoa(os.Getpid()) + "7"
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.Start("sleep " + marker); err != nil {
		t.Fatal(err)
	}
	// "PID PGID ARGS": the sleep, and maybe the shell that started it.
	// Wait for the sleep itself: the shell's forked child is listed as
	// "sh -c sleep …" until it has exec'd (a CI run saw only the shells).
	sleepPGID := func() string {
		for _, p := range s.ProcessesWith(t, marker) {
			if f := strings.Fields(p); len(f) == 4 && f[2] == "sleep" && f[3] == marker {
				return f[1]
			}
		}
		return ""
	}
	pgid := ""
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if pgid = sleepPGID(); pgid != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line PID PGID sleep %s in %q", marker, s.Processes(t))
		}
	}
	run(t, c, "kill -s KILL -- -"+pgid)
	s.WaitNoProcessesWith(t, marker)
}

func TestMaxSessions(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1, MaxSessions: 1})
	c, err := dial(t, s, s.Addrs[0], s.KnownHosts, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	first, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	var oce *ssh.OpenChannelError
	if second, err := c.NewSession(); !errors.As(err, &oce) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("second session: %v, want it refused", err)
	}
}

// A server with a Bashrc logs in BashUser with bash, runs that script for
// each command (once), and no other server's.
func TestBashrc(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1, Bashrc: `echo x >>"$GAFFER_SSHTEST_DIR/starts"; FROM_RC=yes`})
	other := sshtest.Start(t, sshtest.Options{Hosts: 1, Bashrc: `FROM_RC=other`})
	plain := sshtest.Start(t, sshtest.Options{Hosts: 1})

	c, err := dial(t, s, s.Addrs[0], s.KnownHosts, true)
	if err != nil {
		t.Fatalf("dial: %v\nsshd log:\n%s", err, s.Log())
	}
	defer c.Close()
	if got := run(t, c, `echo "$(id -un) $0 $FROM_RC"; wc -l <"$GAFFER_SSHTEST_DIR/starts"`); got != sshtest.BashUser+" bash yes\n1\n" {
		t.Errorf("got %q", got)
	}
	if s.User != sshtest.BashUser || s.UserDir == "" {
		t.Errorf("User %q, UserDir %q", s.User, s.UserDir)
	}

	c2, err := dial(t, other, other.Addrs[0], other.KnownHosts, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got := run(t, c2, `echo "$FROM_RC"`); got != "other\n" {
		t.Errorf("the other server ran %q", got)
	}

	c3, err := dial(t, plain, plain.Addrs[0], plain.KnownHosts, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if got := run(t, c3, `echo "$(id -un) $0 [$GAFFER_SSHTEST_DIR]"`); got != "gaffertest sh []\n" {
		t.Errorf("plain server: %q", got)
	}
}
