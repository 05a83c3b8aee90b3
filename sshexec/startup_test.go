package sshexec_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// A command costs the host one start of the login shell, as `ssh host cmd`
// does: the user's ~/.bashrc (bash reads it for every command sshd runs)
// runs once, not once for the wrapper and again for the command.
func TestExecStartsLoginShellOnce(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1, Bashrc: `echo start >>"$GAFFER_SSHTEST_DIR/starts"`})
	h := s.Hosts()[0]
	starts := func() int {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(s.UserDir, "starts"))
		if os.IsNotExist(err) {
			return 0
		} else if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "start\n")
	}

	// As `ssh host true` does: one session, the command as it is.
	c := dialBare(t, s)
	before := starts()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Run("true"); err != nil {
		t.Fatalf("bare session: %v", err)
	}
	sess.Close()
	bare := starts() - before

	e := newExecutor(t, s)
	for _, pty := range []bool{false, true} {
		before = starts()
		if r := e.Exec(context.Background(), &h, gaffer.ExecSpec{Command: "true", PTY: pty}, nil, nil); r != (gaffer.Result{}) {
			t.Fatalf("pty %v: result %+v", pty, r)
		}
		if got := starts() - before; got != bare || bare != 1 {
			t.Errorf("pty %v: the login shell's start-up file ran %d time(s) for a gaffer run of `true`, %d for a bare ssh session", pty, got, bare)
		}
	}
}

// dialBare logs in to the first host with a plain x/crypto/ssh client.
func dialBare(t *testing.T, s *sshtest.Server) *ssh.Client {
	t.Helper()
	key, err := os.ReadFile(s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := knownhosts.New(s.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", s.Addrs[0], &ssh.ClientConfig{
		User:              s.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hk,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           10 * time.Second,
	})
	if err != nil {
		t.Fatalf("dial %s: %v\nsshd log:\n%s", s.Addrs[0], err, s.Log())
	}
	t.Cleanup(func() { c.Close() })
	return c
}
