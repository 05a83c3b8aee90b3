// Package sshexec implements gaffer.Executor over SSH with
// golang.org/x/crypto/ssh: host keys checked strictly against a known_hosts
// file, keepalives so a dead link is noticed within seconds, output passed
// on byte for byte as it arrives, and cancellation that stops the remote
// command and everything it started, whoever the login user is.
//
// Connections are pooled: one per (name, user, address, port, identity,
// jump hosts), shared by concurrent and later commands up to
// MaxSessionsPerConn sessions, closed after IdleTimeout unused. A host with
// Jump set is reached through those jump hosts (OpenSSH's ProxyJump), each
// hop's host key checked.
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
	DefaultCancelGrace       = 10 * time.Second
	// OpenSSH allows 10 sessions per connection (MaxSessions); 8 leaves
	// room for the sessions that kill a cancelled command.
	DefaultMaxSessionsPerConn = 8
	DefaultIdleTimeout        = 30 * time.Second
)

// maxJumps bounds a chain of jump hosts, so a loop in the configuration
// fails instead of dialing forever.
const maxJumps = 8

// DefaultIdentityFiles are tried, when they exist, if IdentityFiles is empty.
var DefaultIdentityFiles = []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"}

// Executor runs commands over SSH. The zero value uses the defaults. Close
// it to close its pooled connections.
type Executor struct {
	// KnownHostsFile holds the accepted host keys; default ~/.ssh/known_hosts.
	KnownHostsFile string
	// HostKeys, when set, also accepts the keys an admin approved there,
	// and records unknown and changed keys as pending (hostkeys.go); the
	// known_hosts file may then be missing. Nil: the file alone decides.
	HostKeys gaffer.HostKeyStore
	// IdentityFiles are private keys tried after the host's own identity
	// file and ssh-agent; default DefaultIdentityFiles. Missing files and
	// keys that need a passphrase are skipped.
	IdentityFiles []string
	// ConnectTimeout bounds the TCP connect plus the SSH handshake and
	// login, for each hop.
	ConnectTimeout time.Duration
	// A keepalive is sent every KeepaliveInterval; the connection is taken
	// as lost when one gets no reply within KeepaliveTimeout.
	KeepaliveInterval time.Duration
	KeepaliveTimeout  time.Duration
	// CancelGrace is how long a cancelled command's process group has,
	// after SIGTERM, before it gets SIGKILL.
	CancelGrace time.Duration
	// MaxSessionsPerConn is how many commands share one connection before
	// another connection to the same host is opened.
	MaxSessionsPerConn int
	// IdleTimeout closes a pooled connection nothing has used for so long.
	IdleTimeout time.Duration
	// Dial opens the TCP connection to a host or to the first jump host;
	// default net.Dialer.
	Dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	Logger *slog.Logger

	poolMu sync.Mutex
	pool   *pool
	// knownHostsFiles keeps the parsed KnownHostsFile (knownhostscache.go).
	knownHostsFiles knownHostsCache
}

var _ gaffer.Executor = (*Executor)(nil)

// target names a host in messages: "host-1 (127.0.0.2:2222)".
type target struct {
	name, host, port, addr, user string
	via                          string // the jump host in front, as ssh's arguments: "-p 2222 user@host"
}

func (t target) String() string {
	if t.name == "" || t.name == t.host {
		return t.addr
	}
	return t.name + " (" + t.addr + ")"
}

// hop is one host on the way to the target: the jump hosts, then the
// target itself.
type hop struct {
	t    target
	host gaffer.Host
	// key identifies the connection to this hop along this route: every
	// connection with the same key is interchangeable.
	key string
}

// Exec runs spec.Command on host and writes its output to stdout and stderr
// as it arrives. The two writers are never called at the same time, so one
// writer may serve both, and never after Exec returns. With spec.PTY the
// command gets a terminal, which merges its stderr into stdout: everything
// arrives on stdout, with "\r\n" line ends. Errors in Result.Err are
// *gaffer.Error; on cancellation Result.Err also wraps ctx.Err().
func (e *Executor) Exec(ctx context.Context, host *gaffer.Host, spec gaffer.ExecSpec, stdout, stderr io.Writer) gaffer.Result {
	hops, err := e.route(host)
	if err != nil {
		return gaffer.Result{ExitCode: -1, Err: err}
	}
	t := hops[len(hops)-1].t
	if ctx.Err() != nil {
		return gaffer.Result{ExitCode: -1, Err: canceled(ctx, t)}
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	p := e.getPool()
	for attempt := 1; ; attempt++ {
		c, err := p.get(ctx, hops, false)
		if err != nil && ctx.Err() != nil {
			return gaffer.Result{ExitCode: -1, Err: canceled(ctx, t)}
		} else if err != nil {
			return gaffer.Result{ExitCode: -1, Err: err}
		}
		// A pooled connection may have died unnoticed, or the server may
		// allow fewer sessions than MaxSessionsPerConn: as long as nothing
		// was started, trying another connection is safe.
		r, retry := e.run(ctx, c, hops, spec, stdout, stderr)
		if !retry || attempt == 3 || ctx.Err() != nil {
			return r
		}
	}
}

// Close closes every pooled connection. Commands still running lose their
// connection; Exec afterwards fails.
func (e *Executor) Close() error {
	e.getPool().close()
	return nil
}

// Stats describes the connection pool.
type Stats struct {
	Conns    int   // open connections, jump host connections included
	Sessions int   // commands running on them
	Dials    int64 // connections dialed so far, failed ones included
}

// Stats returns the pool's current numbers.
func (e *Executor) Stats() Stats { return e.getPool().stats() }

func (e *Executor) getPool() *pool {
	e.poolMu.Lock()
	defer e.poolMu.Unlock()
	if e.pool == nil {
		e.pool = newPool(e)
	}
	return e.pool
}

// route returns the hops to host: its jump hosts, then host itself.
func (e *Executor) route(host *gaffer.Host) ([]hop, error) {
	t, err := newTarget(host)
	if err != nil {
		return nil, err
	}
	// The host carries its route (OpenSSH's ProxyJump), first hop first.
	// Each jump host's key must be in KnownHostsFile too.
	jumps := host.Jump
	if len(jumps) > maxJumps {
		return nil, gaffer.Errorf(gaffer.EINVALID, "%s is reached through %d jump hosts; at most %d are allowed (a loop in proxy_jump?)", t, len(jumps), maxJumps)
	}
	hops := make([]hop, 0, len(jumps)+1)
	for _, j := range jumps {
		jt, err := newTarget(&j)
		if err != nil {
			return nil, gaffer.Errorf(gaffer.EINVALID, "jump host of %s: %s", t, gaffer.ErrorMessage(err))
		}
		hops = append(hops, hop{t: jt, host: j})
	}
	hops = append(hops, hop{t: t, host: *host})
	for i := 1; i < len(hops); i++ {
		j := hops[i-1].t
		hops[i].t.via = j.user + "@" + j.host
		if j.port != "22" {
			hops[i].t.via = "-p " + j.port + " " + hops[i].t.via
		}
	}
	key := ""
	for i := range hops {
		h := &hops[i]
		// Names are part of the key so that messages about a shared
		// connection name the host the user asked for.
		k := fmt.Sprintf("%s=%s@%s#%s", h.t.name, h.t.user, h.t.addr, expand(h.host.IdentityFile))
		if key != "" {
			key += " > "
		}
		key += k
		h.key = key
	}
	return hops, nil
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

// dial opens a TCP connection to the first hop.
func (e *Executor) dial(ctx context.Context, t target) (net.Conn, error) {
	timeout := e.connectTimeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var nc net.Conn
	var err error
	if e.Dial != nil {
		nc, err = e.Dial(ctx, "tcp", t.addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", t.addr)
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, err // the caller's ctx: it reports cancellation itself
		}
		return nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "connect to %s: %s", t, netErrText(err, timeout))
	}
	return nc, nil
}

// handshake checks the host key and logs in over nc, within ConnectTimeout
// and ctx. It closes nc on failure.
func (e *Executor) handshake(ctx context.Context, nc net.Conn, h *hop) (*ssh.Client, error) {
	t := h.t
	timeout := e.connectTimeout()
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	check, err := e.hostKeyCheck(hctx, t)
	if err != nil {
		nc.Close()
		return nil, err
	}
	auth, tried, closeAgent, err := e.auth(t, &h.host)
	if err != nil {
		nc.Close()
		return nil, err
	}
	defer closeAgent()

	// The handshake has no context of its own: bound it by closing the
	// connection when the time is up or ctx ends. (A connection tunneled
	// through a jump host has no deadlines, so a deadline alone would not do.)
	stop := context.AfterFunc(hctx, func() { nc.Close() })

	var hostKeyErr error
	cfg := &ssh.ClientConfig{
		User: t.user,
		Auth: auth,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			hostKeyErr = check.verify(hctx, hostname, remote, key)
			return hostKeyErr
		},
		HostKeyAlgorithms: hostKeyAlgorithms(check.known(nc.RemoteAddr())),
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, t.addr, cfg)
	if !stop() {
		if err == nil {
			sc.Close()
		}
		nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "ssh handshake with %s failed: timed out after %s", t, timeout)
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
			return nil, check.noCommonAlgorithm()
		default:
			return nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "ssh handshake with %s failed: %s", t, netErrText(err, timeout))
		}
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

// knownHosts reads the known_hosts file, for every connection: an edit
// takes effect without a restart.
func (e *Executor) knownHosts(t target) (string, ssh.HostKeyCallback, error) {
	khPath := e.knownHostsPath()
	hostKeys, err := e.knownHostsFiles.load(khPath)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, gaffer.Errorf(gaffer.EINVALID, "cannot check the host key of %s: known_hosts file %s does not exist — create it with the hosts' keys (%s >> %s)",
			t, khPath, keyscan(t), khPath)
	} else if err != nil {
		return "", nil, gaffer.Errorf(gaffer.EINVALID, "cannot check the host key of %s: read %s: %v", t, khPath, err)
	}
	return khPath, hostKeys, nil
}

// keyscan is the command that prints t's host keys: run on the jump host
// in front of t, if there is one.
func keyscan(t target) string {
	cmd := "ssh-keyscan " + t.host
	if t.port != "22" {
		cmd = "ssh-keyscan -p " + t.port + " " + t.host
	}
	if t.via != "" {
		cmd = "ssh " + t.via + " " + cmd
	}
	return cmd
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
		return gaffer.Errorf(gaffer.EINVALID, "unknown host key for %s: the server offered %s; it is not in %s — verify it, then add it (%s >> %s)",
			t, offered, khPath, keyscan(t), khPath)
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

func (e *Executor) idleTimeout() time.Duration { return orDefault(e.IdleTimeout, DefaultIdleTimeout) }

func (e *Executor) maxSessions() int {
	if e.MaxSessionsPerConn <= 0 {
		return DefaultMaxSessionsPerConn
	}
	return e.MaxSessionsPerConn
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
