package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// OfferHostKey records that k.Host offered k: a new key is stored pending,
// first and last seen at k.LastSeen (a zero one: now); a known key only has
// its last seen time moved, never back.
func (s *Store) OfferHostKey(ctx context.Context, k *gaffer.HostKey) error {
	if err := k.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := k.LastSeen
	if seen.IsZero() {
		seen = now()
	}
	seen = seen.UTC()
	if have := s.hostKey(k.Host, k.Fingerprint); have != nil {
		if seen.After(have.LastSeen) {
			have.LastSeen = seen
		}
		return nil
	}
	s.hostKeys = append(s.hostKeys, &gaffer.HostKey{Host: k.Host, Address: k.Address, Type: k.Type,
		Fingerprint: k.Fingerprint, Key: k.Key, State: gaffer.HostKeyPending, FirstSeen: seen, LastSeen: seen})
	return nil
}

// FindHostKeys returns the keys of host ("" for every host), by host, then
// first seen (then fingerprint, as the databases order ties).
func (s *Store) FindHostKeys(ctx context.Context, host string) ([]*gaffer.HostKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []*gaffer.HostKey{}
	for _, k := range s.hostKeys {
		if host == "" || k.Host == host {
			out = append(out, cloneHostKey(k))
		}
	}
	slices.SortFunc(out, func(a, b *gaffer.HostKey) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), a.FirstSeen.Compare(b.FirstSeen), cmp.Compare(a.Fingerprint, b.Fingerprint))
	})
	return out, nil
}

// ApproveHostKey marks host's key with fingerprint approved by by at at (a
// key already approved keeps its first approval). Another approved key of
// the host is a conflict unless replace, which deletes it. It returns the
// key and the fingerprints it replaced.
func (s *Store) ApproveHostKey(ctx context.Context, host, fingerprint, by string, at time.Time, replace bool) (*gaffer.HostKey, []string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.hostKey(host, fingerprint)
	if k == nil {
		return nil, nil, gaffer.HostKeyNotOffered(host, fingerprint)
	}
	others := []string{}
	for _, o := range s.hostKeys {
		if o.Host == host && o.Fingerprint != fingerprint && o.State == gaffer.HostKeyApproved {
			others = append(others, o.Fingerprint)
		}
	}
	slices.Sort(others)
	if len(others) > 0 && !replace {
		return nil, nil, gaffer.HostKeyChanged(host, fingerprint, others)
	}
	s.hostKeys = slices.DeleteFunc(s.hostKeys, func(o *gaffer.HostKey) bool {
		return o.Host == host && slices.Contains(others, o.Fingerprint)
	})
	if k.State != gaffer.HostKeyApproved {
		k.State, k.ApprovedBy, k.ApprovedAt = gaffer.HostKeyApproved, by, utcPtr(&at)
	}
	return cloneHostKey(k), others, nil
}

// hostKey is host's stored key with fingerprint, or nil. The caller holds
// s.mu.
func (s *Store) hostKey(host, fingerprint string) *gaffer.HostKey {
	for _, k := range s.hostKeys {
		if k.Host == host && k.Fingerprint == fingerprint {
			return k
		}
	}
	return nil
}

func cloneHostKey(k *gaffer.HostKey) *gaffer.HostKey {
	c := *k
	c.ApprovedAt = clonePtr(k.ApprovedAt)
	return &c
}
