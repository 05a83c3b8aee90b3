package sshexec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyCheck decides whether one hop's offered host key is accepted: by
// the known_hosts file, or, when the executor has a HostKeys store, by a key
// an admin approved there. Unknown and changed keys are recorded in the
// store as pending and refused; nothing is ever accepted or replaced
// without a person saying so.
type hostKeyCheck struct {
	e      *Executor
	t      target
	khPath string
	// file is the known_hosts file's verdict; nil when the store is set
	// and the file does not exist (it is optional then).
	file ssh.HostKeyCallback
	// approved are the store's approved keys of the host, parsed; storeErr
	// is why they could not be read.
	approved []approvedKey
	storeErr error
}

// lastSeenEvery is how stale an approved key's LastSeen may get before a
// connection updates it.
const lastSeenEvery = time.Minute

type approvedKey struct {
	hk  *gaffer.HostKey
	key ssh.PublicKey
}

// storeName is the name a host's keys have in the store: its inventory
// name, else its address (a jump host given as user@host:port).
func (t target) storeName() string {
	if t.name != "" {
		return t.name
	}
	return t.host
}

// HostKeyName is the name h's keys have in a HostKeyStore: its name, else
// its address (a jump host given as user@host:port).
func HostKeyName(h *gaffer.Host) string {
	if h.Name != "" {
		return h.Name
	}
	return h.Address
}

// hostKeyCheck reads the known_hosts file, for every connection (an edit
// takes effect without a restart), and the host's approved keys.
func (e *Executor) hostKeyCheck(ctx context.Context, t target) (*hostKeyCheck, error) {
	if e.HostKeys == nil {
		khPath, file, err := e.knownHosts(t)
		if err != nil {
			return nil, err
		}
		return &hostKeyCheck{e: e, t: t, khPath: khPath, file: file}, nil
	}
	c := &hostKeyCheck{e: e, t: t, khPath: e.knownHostsPath()}
	file, err := e.knownHostsFiles.load(c.khPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// The approved keys are enough.
	case err != nil:
		return nil, gaffer.Errorf(gaffer.EINVALID, "cannot check the host key of %s: read %s: %v", t, c.khPath, err)
	default:
		c.file = file
	}
	keys, err := e.HostKeys.FindHostKeys(ctx, t.storeName())
	if err != nil {
		// A file-known key still passes; the callback reports this for others.
		e.logger().Error("host keys: read the approved keys", "host", t.storeName(), "err", err)
		c.storeErr = err
	}
	for _, k := range keys {
		if k.State != gaffer.HostKeyApproved {
			continue
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Key))
		if err != nil {
			e.logger().Error("host keys: an approved key does not parse", "host", k.Host, "fingerprint", k.Fingerprint, "err", err)
			continue
		}
		c.approved = append(c.approved, approvedKey{hk: k, key: pub})
	}
	return c, nil
}

// known returns the keys accepted for the hop: the file's, then the
// approved ones (for choosing the host key algorithms).
func (c *hostKeyCheck) known(remote net.Addr) []knownhosts.KnownKey {
	var known []knownhosts.KnownKey
	if c.file != nil {
		known = knownKeys(c.file, c.t.addr, remote)
	}
	for _, a := range c.approved {
		known = append(known, knownhosts.KnownKey{Key: a.key})
	}
	return known
}

// verify is the handshake's HostKeyCallback. ctx bounds the store's calls.
func (c *hostKeyCheck) verify(ctx context.Context, hostname string, remote net.Addr, key ssh.PublicKey) error {
	var want []knownhosts.KnownKey
	if c.file != nil {
		err := c.file(hostname, remote, key)
		if err == nil {
			return nil
		}
		var ke *knownhosts.KeyError
		if c.e.HostKeys == nil || !errors.As(err, &ke) {
			// Today's behaviour without a store; a revoked key or an
			// unreadable entry is refused whatever the store says.
			return hostKeyError(c.t, c.khPath, key, err)
		}
		want = ke.Want
	}
	fp := ssh.FingerprintSHA256(key)
	for _, a := range c.approved {
		if a.hk.Fingerprint == fp && keyEqual(a.key, key) {
			// Last seen, to the minute: not a write per connection.
			if time.Since(a.hk.LastSeen) > lastSeenEvery {
				c.offer(ctx, key)
			}
			return nil
		}
	}
	if c.storeErr != nil {
		return gaffer.Errorf(gaffer.EUNAVAILABLE, "cannot check the host key of %s: the approved host keys could not be read (see the server log); try again", c.t)
	}
	recorded := c.offer(ctx, key)
	return c.refusal(key, want, recorded)
}

// offer records key as offered by the host: pending if new, else its last
// seen time. It reports whether that worked.
func (c *hostKeyCheck) offer(ctx context.Context, key ssh.PublicKey) bool {
	hk := &gaffer.HostKey{
		Host:        c.t.storeName(),
		Address:     knownhosts.Normalize(c.t.addr),
		Type:        key.Type(),
		Fingerprint: ssh.FingerprintSHA256(key),
		Key:         strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))),
		State:       gaffer.HostKeyPending,
		LastSeen:    time.Now().UTC(),
	}
	if err := c.e.HostKeys.OfferHostKey(ctx, hk); err != nil {
		c.e.logger().Error("host keys: record an offered key", "host", hk.Host, "fingerprint", hk.Fingerprint, "err", err)
		return false
	}
	return true
}

// refusal says why key is refused: changed (a key is known for the host,
// in the file or approved) or unknown, and what an admin can do.
func (c *hostKeyCheck) refusal(key ssh.PublicKey, want []knownhosts.KnownKey, recorded bool) error {
	name := c.t.storeName()
	offered := key.Type() + " " + ssh.FingerprintSHA256(key)
	// The known key of the offered type, else the first: the one the
	// offered key would replace.
	var known []string
	for _, w := range want {
		known = append(known, fmt.Sprintf("%s %s (%s line %d)", w.Key.Type(), ssh.FingerprintSHA256(w.Key), w.Filename, w.Line))
	}
	for _, a := range c.approved {
		by := "approved"
		if a.hk.ApprovedBy != "" {
			by += " by " + a.hk.ApprovedBy
		}
		known = append(known, fmt.Sprintf("%s %s (%s)", a.key.Type(), a.hk.Fingerprint, by))
	}
	expected := ""
	for _, k := range known {
		if expected == "" || strings.HasPrefix(k, key.Type()+" ") && !strings.HasPrefix(expected, key.Type()+" ") {
			expected = k
		}
	}
	if expected == "" {
		if !recorded {
			return gaffer.Errorf(gaffer.EINVALID, "unknown host key for %s: it offered %s; it could not be listed for approval (see the server log)", c.t, offered)
		}
		return gaffer.Errorf(gaffer.EINVALID, "unknown host key for %s: it offered %s; an admin can approve it with `gaffer hosts approve %s` or on the Hosts page",
			c.t, offered, name)
	}
	what := "it is listed as pending: after verifying it, an admin can replace the known key with `gaffer hosts approve " + name + " --replace` or on the Hosts page"
	if !recorded {
		what = "it could not be listed for approval (see the server log)"
	}
	return gaffer.Errorf(gaffer.EINVALID, "host key mismatch for %s: it offered %s, but the known key is %s — the host was reinstalled or someone is intercepting the connection. A known key is never replaced automatically; %s",
		c.t, offered, expected, what)
}

// noCommonAlgorithm is the error of a handshake in which the server
// offered none of the key types known for the host.
func (c *hostKeyCheck) noCommonAlgorithm() error {
	where := c.khPath + " lists"
	if c.e.HostKeys != nil {
		where = "known (in " + c.khPath + " or approved)"
	}
	return gaffer.Errorf(gaffer.EINVALID, "host key mismatch for %s: the server offers none of the key types %s for it — the host was reinstalled or someone is intercepting the connection",
		c.t, where)
}

func keyEqual(a, b ssh.PublicKey) bool {
	return string(a.Marshal()) == string(b.Marshal())
}

// knownHostsPath is KnownHostsFile, expanded, or the default.
func (e *Executor) knownHostsPath() string {
	if p := expand(e.KnownHostsFile); p != "" {
		return p
	}
	return expand("~/.ssh/known_hosts")
}

// Fingerprints returns the SHA256 fingerprints of the host keys a command
// on host would accept now: the known_hosts file's, then the approved ones.
// A local host has none.
func (e *Executor) Fingerprints(ctx context.Context, host *gaffer.Host) ([]string, error) {
	if host == nil || host.Local {
		return nil, nil
	}
	t, err := newTarget(host)
	if err != nil {
		return nil, err
	}
	c, err := e.hostKeyCheck(ctx, t)
	if err != nil {
		return nil, err
	}
	if c.storeErr != nil {
		return nil, gaffer.Errorf(gaffer.EUNAVAILABLE, "the approved host keys of %s could not be read", t)
	}
	var fps []string
	seen := map[string]bool{}
	for _, k := range c.known(&net.TCPAddr{}) {
		fp := ssh.FingerprintSHA256(k.Key)
		if !seen[fp] {
			seen[fp] = true
			fps = append(fps, fp)
		}
	}
	return fps, nil
}
