// Package sshtest starts a real OpenSSH sshd on loopback addresses for tests,
// and a small TCP proxy that can cut or stall connections to it.
//
// Each Start runs its own daemon(s) on a free port, with its own temporary
// directory, so tests in many packages may use it at the same time. Commands
// run as the unprivileged user "gaffertest" (created if missing, login shell
// /bin/sh), because sshd does not deliver signals to root's sessions and
// root's shell start-up files slow every session down. A server started with
// Options.Bashrc logs in "gaffertest-bash" instead, whose login shell is bash,
// and runs that server's own start-up script.
package sshtest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// User is the unprivileged account the daemons let tests log in as.
const User = "gaffertest"

// BashUser is the account of servers started with Options.Bashrc: its login
// shell is bash, and its ~/.bashrc runs the script of the server it logged
// in to ($GAFFER_SSHTEST_DIR/bashrc), so each server has its own.
const BashUser = "gaffertest-bash"

// bashrc is BashUser's ~/.bashrc. Debian's bash reads it for every command
// sshd runs; dash (User's shell) reads nothing for them.
const bashrc = `# Written by gaffer's internal/sshtest: run the test server's own script.
if [ -n "$GAFFER_SSHTEST_DIR" ] && [ -r "$GAFFER_SSHTEST_DIR/bashrc" ]; then
	. "$GAFFER_SSHTEST_DIR/bashrc"
fi
`

// BusyboxUser is the account of servers started with Options.Busybox: its
// login shell is busybox sh and its PATH holds busybox's applets only, as on
// an Alpine host.
const BusyboxUser = "gaffertest-busybox"

// BusyboxDir holds a symlink to /bin/busybox for each applet: BusyboxUser's
// login shell (BusyboxDir/sh, so that busybox runs its sh) and PATH.
const BusyboxDir = "/usr/local/lib/gaffer-sshtest/busybox"

// SSHD is the daemon binary the harness runs.
const SSHD = "/usr/sbin/sshd"

// maxPerDaemon is how many ListenAddress lines one sshd accepts.
const maxPerDaemon = 16

// Options configure Start.
type Options struct {
	// Hosts is the number of distinct loopback addresses (127.0.0.2, ...)
	// to listen on; 0 means 3. More than 16 start more than one daemon.
	Hosts int
	// MaxSessions is sshd's limit of sessions per connection; 0 means 100,
	// far above what clients use. OpenSSH's own default is 10.
	MaxSessions int
	// Bashrc, when not empty, makes the hosts log in BashUser (login shell
	// bash) and run this script as its ~/.bashrc, as a host whose start-up
	// files load a version manager would. The script runs in every session
	// of this server and of no other; $GAFFER_SSHTEST_DIR in it is the
	// server's UserDir.
	Bashrc string
	// NewHostKey gives this server an ed25519 host key of its own instead
	// of the one every server of the test binary shares: a host that was
	// reinstalled, or an impostor.
	NewHostKey bool
	// Busybox makes the hosts log in BusyboxUser: busybox sh, with only
	// busybox's commands on its PATH.
	Busybox bool
}

// Server is one or more running sshd processes that share a port, keys and
// user, each address a separate "host".
type Server struct {
	Port       int
	Addrs      []string // "127.0.0.2:PORT", ...
	User       string
	KeyFile    string // client private key (ed25519) accepted for User
	KnownHosts string // the ed25519 host key for every address, nothing else
	// UserDir is a directory of this server that User may write to, set
	// with Options.Bashrc only; sessions find it in $GAFFER_SSHTEST_DIR.
	UserDir string

	dir   string
	keys  *keySet
	procs []*daemon
}

type daemon struct {
	cmd   *exec.Cmd
	addrs []string
	log   string
	out   bytes.Buffer  // sshd's own stdout and stderr, read after done
	done  chan struct{} // closed when cmd.Wait returns
}

// keySet holds the keys of one test binary: generating RSA keys is slow, and
// sharing them between servers changes nothing a test can observe.
type keySet struct {
	hostEd25519 ed25519.PrivateKey
	hostRSA     *rsa.PrivateKey
	client      ed25519.PrivateKey
	edPub       ssh.PublicKey
	rsaPub      ssh.PublicKey
	clientPub   ssh.PublicKey
}

var loadKeys = sync.OnceValues(func() (*keySet, error) {
	var k keySet
	var err error
	if _, k.hostEd25519, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	if k.hostRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if _, k.client, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	if k.edPub, err = ssh.NewPublicKey(k.hostEd25519.Public()); err != nil {
		return nil, err
	}
	if k.rsaPub, err = ssh.NewPublicKey(k.hostRSA.Public()); err != nil {
		return nil, err
	}
	if k.clientPub, err = ssh.NewPublicKey(k.client.Public()); err != nil {
		return nil, err
	}
	return &k, nil
})

// Start runs sshd on opts.Hosts loopback addresses and stops it when the
// test ends. It fails the test (with sshd's log) if the daemon does not come up.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.Hosts <= 0 {
		opts.Hosts = 3
	}
	if opts.Hosts > 250 {
		tb.Fatalf("sshtest: %d hosts asked for; loopback addresses 127.0.0.2-127.0.0.251 allow at most 250", opts.Hosts)
	}
	if _, err := os.Stat(SSHD); err != nil {
		tb.Fatalf("sshtest: sshd not found at %s: run apt-get install -y openssh-server", SSHD)
	}
	login := User
	if opts.Bashrc != "" {
		login = BashUser
	}
	if opts.Busybox {
		login = BusyboxUser
		if opts.Bashrc != "" {
			tb.Fatalf("sshtest: Busybox and Bashrc cannot be combined")
		}
		if err := installBusybox(); err != nil {
			tb.Fatalf("sshtest: %v", err)
		}
	}
	if err := ensureUser(login); err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	keys, err := loadKeys()
	if err != nil {
		tb.Fatalf("sshtest: generate keys: %v", err)
	}
	if opts.NewHostKey {
		own := *keys
		if _, own.hostEd25519, err = ed25519.GenerateKey(rand.Reader); err != nil {
			tb.Fatalf("sshtest: generate keys: %v", err)
		}
		if own.edPub, err = ssh.NewPublicKey(own.hostEd25519.Public()); err != nil {
			tb.Fatalf("sshtest: generate keys: %v", err)
		}
		keys = &own
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		tb.Fatalf("sshtest: %v", err)
	}

	// Our own directory rather than tb.TempDir: the latter is 0700 and the
	// test user must reach authorized_keys inside it.
	dir, err := os.MkdirTemp("", "sshtest-")
	if err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	s := &Server{User: login, dir: dir, keys: keys}
	tb.Cleanup(func() {
		s.stop()
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	if err := s.writeKeys(); err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	if opts.Bashrc != "" {
		if err := s.writeBashrc(opts.Bashrc); err != nil {
			tb.Fatalf("sshtest: %v", err)
		}
	}

	// A port found free can be taken by another test before sshd binds it:
	// then try again with another one.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort(opts.Hosts)
		if err != nil {
			lastErr = err
			continue
		}
		s.Port = port
		s.Addrs = s.Addrs[:0]
		for i := 0; i < opts.Hosts; i++ {
			s.Addrs = append(s.Addrs, net.JoinHostPort(hostIP(i), strconv.Itoa(port)))
		}
		err = s.startDaemons(attempt, opts)
		if err == nil {
			break
		}
		lastErr = err
		log := s.Log()
		s.stop()
		s.procs = nil
		if !errors.Is(err, errPortTaken) {
			tb.Fatalf("sshtest: %v\nsshd log:\n%s", err, log)
		}
	}
	if s.procs == nil {
		tb.Fatalf("sshtest: could not start sshd: %v", lastErr)
	}

	s.KnownHosts = s.WriteKnownHosts(tb, KnownHostsOptions{})
	return s
}

// hostIP is the loopback address of the i-th host (from 0): 127.0.0.2, ...
func hostIP(i int) string { return fmt.Sprintf("127.0.0.%d", i+2) }

func (s *Server) writeKeys() error {
	write := func(name string, key any, mode os.FileMode) (string, error) {
		block, err := ssh.MarshalPrivateKey(key, "")
		if err != nil {
			return "", err
		}
		path := filepath.Join(s.dir, name)
		return path, os.WriteFile(path, pem.EncodeToMemory(block), mode)
	}
	if _, err := write("ssh_host_ed25519_key", s.keys.hostEd25519, 0o600); err != nil {
		return err
	}
	if _, err := write("ssh_host_rsa_key", s.keys.hostRSA, 0o600); err != nil {
		return err
	}
	path, err := write("id_ed25519", s.keys.client, 0o600)
	if err != nil {
		return err
	}
	s.KeyFile = path
	// sshd opens authorized_keys as the user logging in.
	return os.WriteFile(filepath.Join(s.dir, "authorized_keys"), ssh.MarshalAuthorizedKey(s.keys.clientPub), 0o644)
}

// writeBashrc makes UserDir, owned by the login user, with the server's
// start-up script in it.
func (s *Server) writeBashrc(script string) error {
	u, err := user.Lookup(s.User)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	s.UserDir = filepath.Join(s.dir, "user")
	if err := os.Mkdir(s.UserDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.UserDir, "bashrc"), []byte(script), 0o644); err != nil {
		return err
	}
	return os.Chown(s.UserDir, uid, gid)
}

var errPortTaken = errors.New("port already in use")

// startDaemons starts one sshd per 16 addresses and waits until all listen.
func (s *Server) startDaemons(attempt int, opts Options) error {
	for first := 0; first < len(s.Addrs); first += maxPerDaemon {
		addrs := s.Addrs[first:min(first+maxPerDaemon, len(s.Addrs))]
		name := fmt.Sprintf("sshd-%d-%d", attempt, first/maxPerDaemon)
		d, err := s.startDaemon(name, addrs, opts)
		if err != nil {
			return err
		}
		s.procs = append(s.procs, d)
	}
	for _, d := range s.procs {
		if err := d.waitListening(s.Port); err != nil {
			return err
		}
	}
	for _, addr := range s.Addrs {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return fmt.Errorf("sshd does not accept connections on %s: %w", addr, err)
		}
		c.Close()
	}
	return nil
}

func (s *Server) startDaemon(name string, addrs []string, opts Options) (*daemon, error) {
	var cfg strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&cfg, "ListenAddress %s\n", a)
	}
	fmt.Fprintf(&cfg, `HostKey %[1]s/ssh_host_ed25519_key
HostKey %[1]s/ssh_host_rsa_key
PidFile %[1]s/%[2]s.pid
AuthorizedKeysFile %[1]s/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
MaxSessions %[3]d
MaxStartups 200
LogLevel VERBOSE
`, s.dir, name, cmp.Or(opts.MaxSessions, 100))
	if s.UserDir != "" {
		fmt.Fprintf(&cfg, "SetEnv GAFFER_SSHTEST_DIR=%s\n", s.UserDir)
	}
	if opts.Busybox {
		fmt.Fprintf(&cfg, "SetEnv PATH=%s\n", BusyboxDir)
	}
	cfgPath := filepath.Join(s.dir, name+".conf")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		return nil, err
	}
	d := &daemon{addrs: addrs, log: filepath.Join(s.dir, name+".log"), done: make(chan struct{})}
	d.cmd = exec.Command(SSHD, "-D", "-f", cfgPath, "-E", d.log)
	// If the test binary dies without running cleanups, take sshd along.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	go func() {
		d.cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// waitListening waits for sshd's "Server listening" log line for each of its
// addresses. That line, unlike a successful TCP connect, cannot come from
// another test's daemon that holds the same port.
func (d *daemon) waitListening(port int) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(d.log)
		log := string(b)
		if strings.Contains(log, "Address already in use") {
			return errPortTaken
		}
		var missing []string
		for _, a := range d.addrs {
			host, _, _ := net.SplitHostPort(a)
			if !strings.Contains(log, fmt.Sprintf("Server listening on %s port %d.", host, port)) {
				missing = append(missing, a)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("sshd exited (%v) before listening on %s: %s", d.cmd.ProcessState, strings.Join(missing, ", "), bytes.TrimSpace(d.out.Bytes()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd does not listen on %s after 20s", strings.Join(missing, ", "))
		}
	}
}

// stop kills the daemons and every process they started, so a test's
// leftover commands (sleep 100) do not outlive it.
func (s *Server) stop() {
	for _, d := range s.procs {
		select {
		case <-d.done:
			continue
		default:
		}
		for _, level := range processTree(d.cmd.Process.Pid) {
			for _, pid := range level {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
		}
	}
}

// processTree returns pid and its descendants, read from /proc, by depth:
// levels[0] is {pid}, levels[1] its children, and so on.
func processTree(pid int) [][]int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name in parentheses may hold spaces: parse after it.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], child)
	}
	levels := [][]int{{pid}}
	for {
		var next []int
		for _, p := range levels[len(levels)-1] {
			next = append(next, children[p]...)
		}
		if len(next) == 0 {
			return levels
		}
		levels = append(levels, next)
	}
}

// Log returns what the daemons have logged so far.
func (s *Server) Log() string {
	var b strings.Builder
	for _, d := range s.procs {
		data, _ := os.ReadFile(d.log)
		b.Write(data)
	}
	return b.String()
}

// Hosts returns one gaffer.Host per address, named host-1, host-2, ...
func (s *Server) Hosts() []gaffer.Host {
	hosts := make([]gaffer.Host, len(s.Addrs))
	for i := range s.Addrs {
		hosts[i] = gaffer.Host{
			Name:         fmt.Sprintf("host-%d", i+1),
			Address:      hostIP(i),
			Port:         s.Port,
			User:         s.User,
			IdentityFile: s.KeyFile,
		}
	}
	return hosts
}

// HostKeyFingerprint is the SHA256 fingerprint of the ed25519 host key, as
// ssh prints it ("SHA256:...").
func (s *Server) HostKeyFingerprint() string { return ssh.FingerprintSHA256(s.keys.edPub) }

// RSAHostKeyFingerprint is the SHA256 fingerprint of the RSA host key.
func (s *Server) RSAHostKeyFingerprint() string { return ssh.FingerprintSHA256(s.keys.rsaPub) }

// KnownHostsOptions select what WriteKnownHosts writes.
type KnownHostsOptions struct {
	// Addrs to write entries for ("host:port"); nil means s.Addrs. Use it for
	// a proxy's address.
	Addrs []string
	// Hashed writes hashed host names, as HashKnownHosts yes does.
	Hashed bool
	// WrongKey writes a freshly made ed25519 key instead of the server's.
	WrongKey bool
	// RSA adds the RSA host key after the ed25519 one.
	RSA bool
}

// WriteKnownHosts writes a known_hosts file in a temporary directory and
// returns its path.
func (s *Server) WriteKnownHosts(tb testing.TB, o KnownHostsOptions) string {
	tb.Helper()
	addrs := o.Addrs
	if addrs == nil {
		addrs = s.Addrs
	}
	keys := []ssh.PublicKey{s.keys.edPub}
	if o.WrongKey {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatalf("sshtest: %v", err)
		}
		pub, err := ssh.NewPublicKey(priv.Public())
		if err != nil {
			tb.Fatalf("sshtest: %v", err)
		}
		keys[0] = pub
	}
	if o.RSA {
		keys = append(keys, s.keys.rsaPub)
	}
	var b strings.Builder
	for _, a := range addrs {
		name := knownhosts.Normalize(a)
		for _, k := range keys {
			if o.Hashed {
				b.WriteString(knownhosts.Line([]string{knownhosts.HashHostname(name)}, k))
			} else {
				b.WriteString(knownhosts.Line([]string{name}, k))
			}
			b.WriteByte('\n')
		}
	}
	f, err := os.CreateTemp(s.dir, "known_hosts-")
	if err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	defer f.Close()
	if _, err := f.WriteString(b.String()); err != nil {
		tb.Fatalf("sshtest: %v", err)
	}
	return f.Name()
}

// freePort finds a TCP port free on the first n host addresses.
func freePort(n int) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(hostIP(0), "0"))
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	defer ln.Close()
	for i := 1; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(hostIP(i), strconv.Itoa(port)))
		if err != nil {
			return 0, fmt.Errorf("port %d: %w", port, errPortTaken)
		}
		l.Close()
	}
	return port, nil
}

var userMu sync.Mutex

// installBusybox fills BusyboxDir, if need be: made aside and renamed into
// place, since another test binary may be doing the same.
func installBusybox() error {
	if _, err := os.Stat(BusyboxDir + "/sh"); err == nil {
		return nil
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		return fmt.Errorf("/bin/busybox is missing (scripts/test installs it: apt-get install busybox): %w", err)
	}
	parent := filepath.Dir(BusyboxDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "busybox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("/bin/busybox", "--install", "-s", tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("busybox --install: %v: %s", err, out)
	}
	// busybox links its applets to its own path: make sure sh is there.
	if _, err := os.Lstat(tmp + "/sh"); err != nil {
		if err := os.Symlink("/bin/busybox", tmp+"/sh"); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, BusyboxDir); err != nil {
		if _, serr := os.Stat(BusyboxDir + "/sh"); serr == nil {
			return nil // another test binary was first
		}
		return err
	}
	return nil
}

// ensureUser creates the test user name if it does not exist (BashUser with
// bash as its login shell and the delegating ~/.bashrc). Other test
// binaries may be doing the same right now: "already exists" is success and
// a locked /etc/passwd is retried.
func ensureUser(name string) error {
	userMu.Lock()
	defer userMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shell := "/bin/sh"
	switch name {
	case BashUser:
		shell = "/bin/bash"
	case BusyboxUser:
		shell = BusyboxDir + "/sh"
	}
	var last []byte
	for ctx.Err() == nil {
		if _, err := user.Lookup(name); err == nil {
			return finishUser(ctx, name)
		}
		// Password "*" rather than useradd's locked "!": sshd without PAM
		// refuses even key logins to locked accounts.
		out, err := exec.CommandContext(ctx, "useradd", "--create-home", "--shell", shell, "--password", "*", name).CombinedOutput()
		if err == nil || bytes.Contains(out, []byte("already exists")) {
			return finishUser(ctx, name)
		}
		last = out
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("useradd %s: %s", name, bytes.TrimSpace(last))
}

// finishUser unlocks the user and, for BashUser, writes its ~/.bashrc.
func finishUser(ctx context.Context, name string) error {
	if err := unlockUser(ctx, name); err != nil {
		return err
	}
	if name != BashUser {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	path := filepath.Join(u.HomeDir, ".bashrc")
	if b, err := os.ReadFile(path); err == nil && string(b) == bashrc {
		return nil
	}
	// Written aside and renamed: a bash of another test binary may be
	// reading it right now.
	tmp, err := os.CreateTemp(u.HomeDir, ".bashrc-sshtest-")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(bashrc)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// unlockUser sets the password field to "*" if it is locked ("!..."), in
// case the user was made by something other than this harness.
func unlockUser(ctx context.Context, name string) error {
	shadow, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return nil // no shadow file: nothing to unlock
	}
	for _, line := range strings.Split(string(shadow), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 2 || f[0] != name || !strings.HasPrefix(f[1], "!") {
			continue
		}
		var out []byte
		for ctx.Err() == nil {
			if out, err = exec.CommandContext(ctx, "usermod", "--password", "*", name).CombinedOutput(); err == nil {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return fmt.Errorf("usermod --password '*' %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}
