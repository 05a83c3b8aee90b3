package gaffer

import (
	"context"
	"strings"
	"time"
)

// Host key states.
const (
	// HostKeyPending: offered by a host whose key was not known; refused
	// until an admin approves it.
	HostKeyPending = "pending"
	// HostKeyApproved: accepted for the host.
	HostKeyApproved = "approved"
)

// HostKey is a public key a host offered (pending) or that an admin approved.
// Public keys are not secret, but only the fingerprint and type are shown.
type HostKey struct {
	Host        string     `json:"host"`        // the inventory name
	Address     string     `json:"address"`     // host:port as known_hosts names it, e.g. [10.0.0.5]:2222
	Type        string     `json:"type"`        // e.g. ssh-ed25519
	Fingerprint string     `json:"fingerprint"` // SHA256:… as ssh-keygen -lf shows it
	Key         string     `json:"-"`           // the key in authorized_keys form ("ssh-ed25519 AAAA…")
	State       string     `json:"state"`       // HostKeyPending or HostKeyApproved
	FirstSeen   time.Time  `json:"first_seen"`
	LastSeen    time.Time  `json:"last_seen"`
	ApprovedBy  string     `json:"approved_by,omitempty"`
	ApprovedAt  *time.Time `json:"approved_at,omitempty"`
}

// HostKeyStore keeps the host keys that hosts offered and admins approved
// (SQLite, PostgreSQL): the shared truth that every instance checks against,
// beside the read-only known_hosts file.
type HostKeyStore interface {
	// OfferHostKey records that k.Host offered k (by Host and Fingerprint):
	// a new one is stored as pending with FirstSeen = LastSeen = k.LastSeen;
	// a known one only has LastSeen updated (never moved back: offers may
	// arrive out of order). An approved key stays approved.
	OfferHostKey(ctx context.Context, k *HostKey) error
	// FindHostKeys returns the keys of host ("" for every host), by host,
	// then first seen.
	FindHostKeys(ctx context.Context, host string) ([]*HostKey, error)
	// ApproveHostKey marks host's key with fingerprint approved by by at at.
	// ENOTFOUND if the host never offered that key. If another key of the
	// host is approved: ECONFLICT (the key changed; never replaced
	// unasked), unless replace, which deletes the other approved keys of the
	// host. It returns the approved key and the fingerprints it replaced
	// (none: empty). Approving an approved key keeps its first approval.
	ApproveHostKey(ctx context.Context, host, fingerprint, by string, at time.Time, replace bool) (*HostKey, []string, error)
}

// Validate checks what every store requires of an offered key.
func (k *HostKey) Validate() error {
	switch {
	case k.Host == "":
		return Errorf(EINVALID, "host key: host name required")
	case k.Fingerprint == "":
		return Errorf(EINVALID, "host key of %s: fingerprint required", k.Host)
	}
	return nil
}

// HostKeyNotOffered is the ENOTFOUND of ApproveHostKey.
func HostKeyNotOffered(host, fingerprint string) error {
	return Errorf(ENOTFOUND, "host %q has not offered the key %s", host, fingerprint)
}

// HostKeyChanged is the ECONFLICT of ApproveHostKey: host's approved keys
// are not the one to approve, and it says how to replace them when meant.
func HostKeyChanged(host, fingerprint string, approved []string) error {
	return Errorf(ECONFLICT,
		"host %q already has the approved key %s, not %s: a host's changed key is never replaced unasked; "+
			"approve %s again, asking to replace the old key, if you know why it changed",
		host, strings.Join(approved, ", "), fingerprint, fingerprint)
}
