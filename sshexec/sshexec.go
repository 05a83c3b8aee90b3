// Package sshexec implements gaffer.Executor over SSH with
// golang.org/x/crypto/ssh: host keys checked strictly against a known_hosts
// file, keepalives so a dead link is noticed within seconds, and output
// passed on byte for byte as it arrives. Each command dials its own
// connection (reusing connections is a later change).
package sshexec

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Defaults for the zero fields of Executor.
const (
	DefaultConnectTimeout    = 10 * time.Second
	DefaultKeepaliveInterval = 1 * time.Second
	DefaultKeepaliveTimeout  = 3 * time.Second
	DefaultCancelGrace       = 1 * time.Second
)

// DefaultIdentityFiles are tried, when they exist, if IdentityFiles is empty.
var DefaultIdentityFiles = []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"}

// Executor runs commands over SSH. The zero value uses the defaults.
type Executor struct {
	// KnownHostsFile holds the accepted host keys; default ~/.ssh/known_hosts.
	KnownHostsFile string
	// IdentityFiles are private keys tried after the host's own identity
	// file and ssh-agent; default DefaultIdentityFiles. Missing files and
	// keys that need a passphrase are skipped.
	IdentityFiles []string
	// ConnectTimeout bounds the TCP connect plus the SSH handshake and login.
	ConnectTimeout time.Duration
	// A keepalive is sent every KeepaliveInterval; the connection is taken
	// as lost when one gets no reply within KeepaliveTimeout.
	KeepaliveInterval time.Duration
	KeepaliveTimeout  time.Duration
	// CancelGrace is how long a cancelled command has, after SIGTERM, before
	// the connection is closed.
	CancelGrace time.Duration
	Logger      *slog.Logger
}

var _ gaffer.Executor = (*Executor)(nil)

// target names a host in messages: "host-1 (127.0.0.2:2222)".
type target struct {
	name, host, port, addr, user string
}

func (t target) String() string {
	if t.name == "" || t.name == t.host {
		return t.addr
	}
	return t.name + " (" + t.addr + ")"
}

// Exec runs spec.Command on host and writes its output to stdout and stderr
// as it arrives. The two writers are never called at the same time, so one
// writer may serve both. Errors in Result.Err are *gaffer.Error; on
// cancellation Result.Err also wraps ctx.Err().
func (e *Executor) Exec(ctx context.Context, host *gaffer.Host, spec gaffer.ExecSpec, stdout, stderr io.Writer) gaffer.Result {
	t, err := newTarget(host)
	if err != nil {
		return gaffer.Result{ExitCode: -1, Err: err}
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	client, err := e.connect(ctx, t, host)
	if err != nil {
		return gaffer.Result{ExitCode: -1, Err: err}
	}
	defer client.Close()

	c := &conn{client: client, t: t, log: e.logger().With("host", t.String()), closed: make(chan struct{})}
	go c.watch()
	stopKeepalive := make(chan struct{})
	defer close(stopKeepalive)
	go c.keepalive(e.keepaliveInterval(), e.keepaliveTimeout(), stopKeepalive)

	return e.run(ctx, c, spec, stdout, stderr)
}

func newTarget(h *gaffer.Host) (target, error) {
	if h == nil {
		return target{}, gaffer.Errorf(gaffer.EINVALID, "no host to run the command on")
	}
	t := target{name: h.Name, host: h.Address, user: h.User}
	if t.host == "" {
		t.host = h.Name
	}
	if t.host == "" {
		return t, gaffer.Errorf(gaffer.EINVALID, "host has neither a name nor an address")
	}
	port := h.Port
	if port == 0 {
		port = 22
	}
	t.port = strconv.Itoa(port)
	t.addr = net.JoinHostPort(t.host, t.port)
	if t.user == "" {
		u, err := user.Current()
		if err != nil {
			return t, gaffer.Errorf(gaffer.EINVALID, "no user to log in to %s as: set one in the host's configuration", t)
		}
		t.user = u.Username
	}
	return t, nil
}

// connect dials, checks the host key and logs in, all within ConnectTimeout
// and ctx.
func (e *Executor) connect(ctx context.Context, t target, host *gaffer.Host) (*ssh.Client, error) {
	khPath := expand(e.KnownHostsFile)
	if khPath == "" {
		khPath = expand("~/.ssh/known_hosts")
	}
	hostKeys, err := knownhosts.New(khPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, gaffer.Errorf(gaffer.EINVALID, "cannot check the host key of %s: known_hosts file %s does not exist — create it with the hosts' keys (ssh-keyscan%s %s >> %s)",
			t, khPath, keyscanPort(t), t.host, khPath)
	} else if err != nil {
		return nil, gaffer.Errorf(gaffer.EINVALID, "cannot check the host key of %s: read %s: %v", t, khPath, err)
	}

	auth, tried, closeAgent, err := e.auth(t, host)
	if err != nil {
		return nil, err
	}
	defer closeAgent()

	timeout := e.connectTimeout()
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, canceled(ctx, t)
		}
		return nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "connect to %s: %s", t, netErrText(err, timeout))
	}

	// The handshake has no context of its own: bound it with a deadline
	// and by closing the socket if ctx ends first.
	nc.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(ctx, func() { nc.Close() })

	var hostKeyErr error
	cfg := &ssh.ClientConfig{
		User: t.user,
		Auth: auth,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			err := hostKeys(hostname, remote, key)
			if err != nil {
				hostKeyErr = hostKeyError(t, khPath, key, err)
			}
			return err
		},
		HostKeyAlgorithms: hostKeyAlgorithms(knownKeys(hostKeys, t.addr, nc.RemoteAddr())),
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, t.addr, cfg)
	if !stop() {
		if err == nil {
			sc.Close()
		}
		nc.Close()
		return nil, canceled(ctx, t)
	}
	if err != nil {
		nc.Close()
		switch {
		case hostKeyErr != nil:
			return nil, hostKeyErr
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, gaffer.Errorf(gaffer.EINVALID, "log in to %s as %s failed: the server accepted none of the keys tried (%s) — add the public key to ~%s/.ssh/authorized_keys on the host, or set the host's identity file",
				t, t.user, strings.Join(tried, ", "), t.user)
		case strings.Contains(err.Error(), "no common algorithm for host key"):
			return nil, gaffer.Errorf(gaffer.EINVALID, "host key mismatch for %s: the server offers none of the key types %s lists for it — the host was reinstalled or someone is intercepting the connection",
				t, khPath)
		default:
			return nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "ssh handshake with %s failed: %s", t, netErrText(err, timeout))
		}
	}
	nc.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

func keyscanPort(t target) string {
	if t.port == "22" {
		return ""
	}
	return " -p " + t.port
}

// dummyKey is a key no known_hosts holds: checking it yields the entries
// known for a host.
var dummyKey = sync.OnceValue(func() ssh.PublicKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		panic(err)
	}
	return pub
})

// knownKeys returns the known_hosts entries for addr.
func knownKeys(cb ssh.HostKeyCallback, addr string, remote net.Addr) []knownhosts.KnownKey {
	var ke *knownhosts.KeyError
	if err := cb(addr, remote, dummyKey()); errors.As(err, &ke) {
		return ke.Want
	}
	return nil
}

// hostKeyAlgorithms asks the server for a key type known_hosts holds. By
// default x/crypto prefers RSA, so a server with RSA and ed25519 keys and a
// known_hosts with only the ed25519 one would fail as a mismatch. With no
// known entry, prefer the types OpenSSH prefers, so the fingerprint in the
// "unknown host" message is the one ssh would show.
func hostKeyAlgorithms(known []knownhosts.KnownKey) []string {
	preferred := []string{
		ssh.KeyAlgoED25519,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
	}
	if len(known) == 0 {
		return preferred
	}
	have := map[string]bool{}
	for _, k := range known {
		switch typ := k.Key.Type(); typ {
		case ssh.KeyAlgoRSA:
			have[ssh.KeyAlgoRSASHA512] = true
			have[ssh.KeyAlgoRSASHA256] = true
		default:
			have[typ] = true
		}
	}
	var algos []string
	for _, a := range preferred {
		if have[a] {
			algos = append(algos, a)
		}
	}
	if len(algos) == 0 {
		// Only types x/crypto cannot check (e.g. security keys): let the
		// handshake say so.
		return preferred
	}
	return algos
}

// hostKeyError turns a known_hosts verdict into a message saying what
// happened and what to do.
func hostKeyError(t target, khPath string, key ssh.PublicKey, err error) error {
	offered := key.Type() + " " + ssh.FingerprintSHA256(key)
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		return gaffer.Errorf(gaffer.EINVALID, "host key of %s is revoked: the server offered %s, marked @revoked in %s line %d",
			t, offered, re.Revoked.Filename, re.Revoked.Line)
	case errors.As(err, &ke) && len(ke.Want) == 0:
		return gaffer.Errorf(gaffer.EINVALID, "unknown host key for %s: the server offered %s; it is not in %s — verify it, then add it (ssh-keyscan%s %s >> %s)",
			t, offered, khPath, keyscanPort(t), t.host, khPath)
	case errors.As(err, &ke):
		want := ke.Want[0]
		for _, w := range ke.Want {
			if w.Key.Type() == key.Type() {
				want = w
				break
			}
		}
		return gaffer.Errorf(gaffer.EINVALID, "host key mismatch for %s: the server offered %s, but %s line %d expects %s — the host was reinstalled or someone is intercepting the connection",
			t, offered, want.Filename, want.Line, ssh.FingerprintSHA256(want.Key))
	default:
		return gaffer.Errorf(gaffer.EINVALID, "cannot check the host key of %s: %v", t, err)
	}
}

// auth collects the keys to log in with: the host's identity file, then
// ssh-agent, then the default files. tried names them for error messages.
func (e *Executor) auth(t target, host *gaffer.Host) (methods []ssh.AuthMethod, tried []string, closeAgent func(), err error) {
	closeAgent = func() {}
	var signers []ssh.Signer
	seen := map[string]bool{}

	if host.IdentityFile != "" {
		path := expand(host.IdentityFile)
		seen[path] = true
		s, err := loadKey(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, closeAgent, gaffer.Errorf(gaffer.EINVALID, "identity file of %s: %s does not exist", t, path)
		} else if err != nil {
			return nil, nil, closeAgent, gaffer.Errorf(gaffer.EINVALID, "identity file of %s: %v", t, err)
		}
		signers = append(signers, s)
		tried = append(tried, path)
	}

	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if c, err := net.Dial("unix", sock); err != nil {
			e.logger().Warn("ssh-agent unreachable", "socket", sock, "err", err)
		} else if ss, err := agent.NewClient(c).Signers(); err != nil {
			c.Close()
			e.logger().Warn("ssh-agent keys", "socket", sock, "err", err)
		} else {
			closeAgent = func() { c.Close() }
			signers = append(signers, ss...)
			tried = append(tried, fmt.Sprintf("%d from ssh-agent", len(ss)))
		}
	}

	files := e.IdentityFiles
	if len(files) == 0 {
		files = DefaultIdentityFiles
	}
	for _, f := range files {
		path := expand(f)
		if seen[path] {
			continue
		}
		seen[path] = true
		s, err := loadKey(path)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				e.logger().Debug("identity file skipped", "path", path, "err", err)
			}
			continue
		}
		signers = append(signers, s)
		tried = append(tried, path)
	}

	if len(signers) == 0 {
		closeAgent()
		return nil, nil, func() {}, gaffer.Errorf(gaffer.EINVALID, "no SSH key to log in to %s with: set the host's identity file, run ssh-agent, or create ~/.ssh/id_ed25519", t)
	}
	return []ssh.AuthMethod{ssh.PublicKeys(signers...)}, tried, closeAgent, nil
}

func loadKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(b)
	var pe *ssh.PassphraseMissingError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("%s needs a passphrase: load it into ssh-agent instead", path)
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// expand replaces a leading "~" with the home directory.
func expand(path string) string {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		return path
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return path
	}
	return filepath.Join(home, path[1:])
}

// netErrText is the part of a network error a person needs, e.g.
// "connection refused" rather than "dial tcp 127.0.0.1:1: connect: ...".
func netErrText(err error, timeout time.Duration) string {
	var se *os.SyscallError
	var dns *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve %s: %s", dns.Name, dns.Err)
	case errors.As(err, &se):
		return se.Err.Error()
	case errors.As(err, &ne) && ne.Timeout() && timeout > 0:
		return fmt.Sprintf("timed out after %s", timeout)
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.Is(err, io.EOF):
		return "the server closed the connection"
	}
	return err.Error()
}

// canceled is the Result.Err of a cancelled command: a message for people
// that still matches errors.Is(err, context.Canceled) or DeadlineExceeded.
func canceled(ctx context.Context, t target) error {
	what := "canceled"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		what = "timed out"
	}
	return fmt.Errorf("%w: %w", gaffer.Errorf(gaffer.EUNAVAILABLE, "command on %s %s", t, what), ctx.Err())
}

func (e *Executor) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (e *Executor) connectTimeout() time.Duration {
	return orDefault(e.ConnectTimeout, DefaultConnectTimeout)
}

func (e *Executor) keepaliveInterval() time.Duration {
	return orDefault(e.KeepaliveInterval, DefaultKeepaliveInterval)
}

func (e *Executor) keepaliveTimeout() time.Duration {
	return orDefault(e.KeepaliveTimeout, DefaultKeepaliveTimeout)
}

func (e *Executor) cancelGrace() time.Duration { return orDefault(e.CancelGrace, DefaultCancelGrace) }

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
