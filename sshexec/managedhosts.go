package sshexec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ManagedKnownHosts is a HostKeyStore that keeps a known_hosts file of the
// approved keys beside the store, so people and `ssh -o
// UserKnownHostsFile=` can use what admins approved. The store stays the
// truth (instances share it): the file is rewritten from it by Sync (at
// start-up) and after each approval through this value; nothing reads it
// back.
type ManagedKnownHosts struct {
	gaffer.HostKeyStore
	Path string
}

// ApproveHostKey approves the key in the store, then rewrites the file. A
// failure to write the file is returned after the approval took effect:
// the next Sync or approval writes it.
func (m *ManagedKnownHosts) ApproveHostKey(ctx context.Context, host, fingerprint, by string, at time.Time, replace bool) (*gaffer.HostKey, []string, error) {
	k, replaced, err := m.HostKeyStore.ApproveHostKey(ctx, host, fingerprint, by, at, replace)
	if err != nil {
		return nil, nil, err
	}
	if err := m.Sync(ctx); err != nil {
		return k, replaced, err
	}
	return k, replaced, nil
}

// Sync rewrites the file from the store's approved keys.
func (m *ManagedKnownHosts) Sync(ctx context.Context) error {
	keys, err := m.HostKeyStore.FindHostKeys(ctx, "")
	if err != nil {
		return fmt.Errorf("managed known_hosts: read the approved keys: %w", err)
	}
	return WriteKnownHosts(m.Path, keys)
}

// WriteKnownHosts writes the approved keys among keys to path in
// known_hosts form, replacing the file at once (a temporary file renamed
// over it): a reader sees the old file or the new one, never half.
func WriteKnownHosts(path string, keys []*gaffer.HostKey) error {
	var b strings.Builder
	b.WriteString("# Written by gaffer from the host keys admins approved (gaffer hosts keys).\n# Edits are overwritten: approve keys with `gaffer hosts approve NAME`.\n")
	for _, k := range keys {
		if k.State != gaffer.HostKeyApproved || k.Address == "" {
			continue
		}
		if strings.ContainsAny(k.Address, " \t\r\n,#") {
			// One line per key: an address must not start another.
			return fmt.Errorf("managed known_hosts: the approved key %s of %s has the address %q, which known_hosts cannot hold", k.Fingerprint, k.Host, k.Address)
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Key))
		if err != nil {
			return fmt.Errorf("managed known_hosts: the approved key %s of %s: %w", k.Fingerprint, k.Host, err)
		}
		fmt.Fprintf(&b, "# %s %s", sanitizeComment(k.Host), k.Fingerprint)
		if k.ApprovedBy != "" {
			fmt.Fprintf(&b, ", approved by %s", sanitizeComment(k.ApprovedBy))
		}
		if k.ApprovedAt != nil {
			fmt.Fprintf(&b, " at %s", k.ApprovedAt.UTC().Format(time.RFC3339))
		}
		b.WriteString("\n")
		b.WriteString(knownhosts.Line([]string{k.Address}, pub))
		b.WriteString("\n")
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".known_hosts-*")
	if err != nil {
		return fmt.Errorf("managed known_hosts: %w", err)
	}
	defer os.Remove(f.Name()) // after a successful rename, nothing is there
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return fmt.Errorf("managed known_hosts: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("managed known_hosts: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("managed known_hosts: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("managed known_hosts: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("managed known_hosts: %w", err)
	}
	return nil
}

// sanitizeComment keeps a name on its comment line.
func sanitizeComment(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
