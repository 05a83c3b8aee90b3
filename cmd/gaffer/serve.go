package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/foreman"
	"github.com/gaffer-dev/gaffer/inventory"
	"github.com/gaffer-dev/gaffer/localexec"
	"github.com/gaffer-dev/gaffer/memory"
	"github.com/gaffer-dev/gaffer/sshexec"
	"github.com/gaffer-dev/gaffer/web"
)

// serveConfig is what the flags of `gaffer serve` say.
type serveConfig struct {
	listen, dataDir, inventory, knownHosts, adminToken  string
	databaseURL, redisURL                               string
	resetToken                                          bool
	local                                               localFlag // auto, true or false (localhost.go)
	maxRunningJobs, maxConcurrency, maxStreamsPerUser   int
	logLevel                                            string
	shutdownGrace, liveLinger, leaseTTL, connectTimeout time.Duration
	liveBuffer, liveBudget                              int
	maxStreams                                          int
	streamWriteTimeout                                  time.Duration
	archiveDir, instance, redisPrefix, sshConfig        string
	localEnv                                            []string // localexec.Executor.Env
	tlsCert, tlsKey, publicURL                          string
	tlsSelfSigned                                       bool
	secretFile                                          string
	managedKnownHosts                                   string
	retain, retainEvery                                 time.Duration
	retainJobs                                          int
}

// store is a job store that also keeps the server's settings.
type store interface {
	gaffer.JobStore
	Setting(ctx context.Context, key string) (string, error)
	SetSetting(ctx context.Context, key, value string) error
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", c.logLevel)
	}
	stopProfile, err := startCPUProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	m := NewMain(c, stdout, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))
	defer m.Close()
	if err := m.Open(ctx); err != nil {
		return err
	}
	return m.Run(ctx)
}

// parseServeFlags reads the flags of `gaffer serve` (and their GAFFER_*
// variables) into a config.
func parseServeFlags(args []string, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to serve HTTP on")
	fs.StringVar(&c.dataDir, "data-dir", "./gaffer-data", "directory for the SQLite database, the log archive and server state")
	fs.StringVar(&c.inventory, "inventory", "", "hosts file (YAML); see docs/API.md")
	fs.StringVar(&c.sshConfig, "ssh-config", "~/.ssh/config", "OpenSSH client config whose Host entries are offered as hosts (skipped if the default is missing); empty for none")
	fs.StringVar(&c.knownHosts, "known-hosts", "~/.ssh/known_hosts", "known_hosts file that host keys are checked against")
	fs.StringVar(&c.managedKnownHosts, "managed-known-hosts", "", "known_hosts file the server writes with the host keys admins approved, for ssh -o UserKnownHostsFile= (default: DATA_DIR/known_hosts)")
	fs.StringVar(&c.adminToken, "admin-token", "", "admin token (default: generated on first start, printed once, kept hashed)")
	fs.StringVar(&c.databaseURL, "database-url", "", "PostgreSQL URL (default: embedded SQLite in --data-dir)")
	fs.StringVar(&c.redisURL, "redis-url", "", "Redis URL for a live log shared by several servers (default: in-process)")
	c.local = "auto"
	fs.Var(&c.local, "local", "offer the host \"local\" (commands run on this server with /bin/sh): auto (only when --listen is loopback), true or false")
	fs.Func("local-env", "environment of commands on \"local\" beyond PATH, HOME, USER, LOGNAME, SHELL, LANG, TZ: comma-separated NAME=value, or NAME to pass on the server's", func(v string) (err error) {
		c.localEnv, err = localexec.ParseEnv(v)
		return err
	})
	fs.BoolVar(&c.resetToken, "reset-admin-token", false, "generate a new admin token, print its login link, and forget the old one")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 10*time.Second, "on SIGTERM, how long running jobs get to record that they were interrupted")
	fs.DurationVar(&c.liveLinger, "live-linger", time.Minute, "how long a finished job's live buffer is kept when its archive could not be completed (otherwise it goes as soon as the archive is complete)")
	fs.IntVar(&c.liveBuffer, "live-buffer", 8<<20, "bytes of each running job's newest output kept in the live buffer (memory or Redis); older output is read from the archive")
	fs.IntVar(&c.liveBudget, "live-budget", memory.DefaultBudget, "bytes all running jobs' live buffers may hold together in memory (without --redis-url); over it, the largest lose their oldest output first")
	fs.StringVar(&c.archiveDir, "archive-dir", "", "directory of finished and running job logs (default: DATA_DIR/archive); with several instances, one directory they all mount")
	fs.StringVar(&c.redisPrefix, "redis-prefix", "gaffer:", "prefix of every Redis key, so deployments can share a Redis")
	fs.StringVar(&c.instance, "instance", "", "this server's name among instances sharing a database (default: HOSTNAME-PID)")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", sshexec.DefaultConnectTimeout, "how long connecting to a host may take (TCP, SSH handshake and login, for the host and for each jump host) before its run fails")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", foreman.DefaultLeaseTTL, "with a shared database: how long an instance may be silent before its running jobs are marked interrupted (failover takes about this long)")
	fs.StringVar(&c.secretFile, "secret-file", "", "file of secret values, one a line, masked as *** in every job's output")
	fs.IntVar(&c.maxStreams, "max-streams", web.DefaultMaxStreams, "most log streams (SSE, NDJSON follow) open at once; past it viewers are answered 503 with Retry-After. Each needs a file descriptor (ulimit -n)")
	fs.DurationVar(&c.streamWriteTimeout, "stream-write-timeout", web.DefaultWriteTimeout, "a viewer that reads nothing of its log stream for this long is disconnected (it resumes where it was when it reconnects)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "serve HTTPS (and HTTP/2) with this certificate (PEM; the chain, leaf first); needs --tls-key")
	fs.StringVar(&c.tlsKey, "tls-key", "", "the private key of --tls-cert (PEM)")
	fs.BoolVar(&c.tlsSelfSigned, "tls-self-signed", false, "serve HTTPS with a self-signed certificate made on first start in --data-dir (printed fingerprint; trust it in the CLI with --ca-file)")
	fs.StringVar(&c.publicURL, "public-url", "", "the URL people open when a TLS proxy is in front, e.g. https://gaffer.example.com: https makes session cookies Secure; login links use it")
	fs.IntVar(&c.maxRunningJobs, "max-running-jobs", foreman.DefaultMaxRunningJobs, "most jobs this server runs at once; past it a start is answered 503 with Retry-After")
	fs.IntVar(&c.maxConcurrency, "max-concurrency", foreman.DefaultMaxConcurrency, "highest concurrency a job may ask for; more is answered 400")
	fs.IntVar(&c.maxStreamsPerUser, "max-streams-per-user", web.DefaultMaxStreamsPerUser, "most log streams one credential holds open at once (within --max-streams); past it 429 with Retry-After")
	fs.Func("retain", "delete finished jobs and their logs once they finished longer ago than this: days (30d) or a duration (12h) (default: keep every job)", func(v string) (err error) {
		c.retain, err = parseAge(v)
		return err
	})
	fs.IntVar(&c.retainJobs, "retain-jobs", 0, "keep only the newest N finished jobs, deleting older ones and their logs (default 0: keep every job)")
	fs.DurationVar(&c.retainEvery, "retain-interval", 10*time.Minute, "how often --retain and --retain-jobs look for jobs to delete")
	if err := parseFlags(fs, args); err != nil {
		return c, err
	}
	if err := checkTLSFlags(c); err != nil {
		return c, err
	}
	for _, l := range []struct {
		name string
		v    int
	}{{"--max-running-jobs", c.maxRunningJobs}, {"--max-concurrency", c.maxConcurrency}, {"--max-streams-per-user", c.maxStreamsPerUser}} {
		if l.v < 1 {
			return c, fmt.Errorf("%s %d: give 1 or more", l.name, l.v)
		}
	}
	if c.retainJobs < 0 {
		return c, fmt.Errorf("--retain-jobs %d: give how many finished jobs to keep, e.g. 10000 (0 keeps every job)", c.retainJobs)
	}
	if c.connectTimeout <= 0 {
		return c, fmt.Errorf("--connect-timeout %s: give a duration above zero, e.g. 10s", c.connectTimeout)
	}
	if c.retainEvery <= 0 {
		return c, fmt.Errorf("--retain-interval %s: give a duration above zero, e.g. 10m", c.retainEvery)
	}
	if c.adminToken != "" && len(c.adminToken) < MinAdminToken {
		return c, fmt.Errorf("--admin-token is %d characters long; give at least %d (e.g. from openssl rand -hex 16): a short token can be guessed", len(c.adminToken), MinAdminToken)
	}
	if c.maxStreams < 1 {
		return c, fmt.Errorf("--max-streams %d: give 1 or more", c.maxStreams)
	}
	if c.streamWriteTimeout < time.Second {
		return c, fmt.Errorf("--stream-write-timeout %s: give 1s or more", c.streamWriteTimeout)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	if c.liveBudget <= 0 {
		return c, fmt.Errorf("--live-budget %d: give the bytes all live buffers may hold together, e.g. %d", c.liveBudget, memory.DefaultBudget)
	}
	return c, nil
}

// MinAdminToken is the shortest --admin-token accepted, in characters.
const MinAdminToken = 16

// setupAuth returns the Auth and, when it generated a new admin token, the
// token itself (to be printed once). Only hashes are stored. Tokens and
// sessions are kept by the store, when it keeps them (gaffer.AuthStore);
// --reset-admin-token also ends every session.
func setupAuth(ctx context.Context, db store, c serveConfig) (*web.Auth, string, error) {
	auth := &web.Auth{}
	auth.Store, _ = db.(gaffer.AuthStore)
	if c.resetToken {
		if err := resetSessions(ctx, db, auth.Store); err != nil {
			return nil, "", err
		}
	}
	if c.adminToken != "" {
		auth.AdminTokenHash = gaffer.HashSecret(c.adminToken)
		return auth, "", forgetOldAdminSessions(ctx, db, auth)
	}
	stored, err := db.Setting(ctx, "admin_token_sha256")
	if err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		return nil, "", fmt.Errorf("read admin token: %w", err)
	}
	var token string
	if stored == "" || c.resetToken {
		token = randomHex(24)
		stored = gaffer.HashSecret(token)
		if err := db.SetSetting(ctx, "admin_token_sha256", stored); err != nil {
			return nil, "", fmt.Errorf("store admin token: %w", err)
		}
	}
	if b, err := hex.DecodeString(stored); err != nil || len(b) != 32 {
		return nil, "", errors.New("the stored admin token hash is damaged: restart with --reset-admin-token")
	}
	auth.AdminTokenHash = stored
	return auth, token, forgetOldAdminSessions(ctx, db, auth)
}

// forgetOldAdminSessions deletes the admin token's sessions when the admin
// token is not the one they were made with (a new --admin-token: the old
// one may have leaked). Only the hash of the token they belong to is kept.
func forgetOldAdminSessions(ctx context.Context, db store, auth *web.Auth) error {
	if auth.Store == nil {
		return nil
	}
	const key = "admin_sessions_token_sha256"
	cur := auth.AdminTokenHash
	prev, err := db.Setting(ctx, key)
	if err != nil && gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		return fmt.Errorf("read admin sessions' token: %w", err)
	}
	if prev == cur {
		return nil
	}
	if prev != "" {
		if _, err := auth.Store.DeleteSessions(ctx, gaffer.AdminTokenID, time.Now()); err != nil {
			return fmt.Errorf("delete the old admin token's sessions: %w", err)
		}
	}
	if err := db.SetSetting(ctx, key, cur); err != nil {
		return fmt.Errorf("store admin sessions' token: %w", err)
	}
	return nil
}

// resetSessions deletes every browser session (the old admin token's and
// every named token's: a reset is what one does after a leak) and records
// it in the audit trail when the store keeps one.
func resetSessions(ctx context.Context, db store, as gaffer.AuthStore) error {
	if as == nil {
		return nil
	}
	now := time.Now().UTC()
	n, err := as.DeleteSessions(ctx, gaffer.AllSessions, now)
	if err != nil {
		return fmt.Errorf("--reset-admin-token: delete sessions: %w", err)
	}
	if al, ok := db.(gaffer.AuditLog); ok {
		detail, _ := json.Marshal(map[string]int{"sessions": n})
		e := &gaffer.AuditEvent{TS: now, Action: gaffer.AuditSessionsReset,
			Target: "every session", Detail: detail}
		if err := al.AppendAudit(ctx, e); err != nil {
			return fmt.Errorf("--reset-admin-token: audit: %w", err)
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// loadHosts reads the inventory file and the Host entries of the ssh config.
// A name in both is taken from the inventory file.
func loadHosts(c serveConfig, logger *slog.Logger) (*inventory.Inventory, error) {
	var parts []*inventory.Inventory
	named := map[string]bool{}
	if c.inventory != "" {
		inv, err := inventory.LoadInventory(expandHome(c.inventory))
		if err != nil {
			return nil, err
		}
		for _, h := range inv.Hosts {
			named[h.Name] = true
		}
		parts = append(parts, inv)
	}
	if c.sshConfig != "" {
		path := expandHome(c.sshConfig)
		_, statErr := os.Stat(path)
		explicit := c.sshConfig != "~/.ssh/config"
		if statErr == nil || explicit {
			sc, err := inventory.LoadSSHConfig(path)
			if err != nil {
				return nil, err
			}
			kept := sc.Hosts[:0]
			for _, h := range sc.Hosts {
				if named[h.Name] {
					logger.Info("host in both the inventory and the ssh config: using the inventory's", "host", h.Name)
					continue
				}
				kept = append(kept, h)
			}
			sc.Hosts = kept
			parts = append(parts, sc)
		}
	}
	inv, err := inventory.Merge(parts...)
	if err != nil {
		return nil, err
	}
	for _, w := range inv.Warnings {
		logger.Warn("hosts: " + w)
	}
	return inv, nil
}
