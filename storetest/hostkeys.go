package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// RunHostKeys is the contract every gaffer.HostKeyStore must meet. Each
// call to open must return a fresh, empty store, closed when the test ends.
func RunHostKeys(t *testing.T, open func(t *testing.T) gaffer.HostKeyStore) {
	t.Run("Offer", func(t *testing.T) { testOfferHostKey(t, open) })
	t.Run("Find", func(t *testing.T) { testFindHostKeys(t, open) })
	t.Run("Approve", func(t *testing.T) { testApproveHostKey(t, open) })
	t.Run("Concurrent", func(t *testing.T) { testHostKeysConcurrent(t, open) })
}

// hostKey returns the key host offers at T0+d, with fingerprint SHA256:fp.
func hostKey(host, fp string, d time.Duration) *gaffer.HostKey {
	return &gaffer.HostKey{Host: host, Address: "[10.0.0.5]:2222", Type: "ssh-ed25519",
		Fingerprint: "SHA256:" + fp, Key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + fp,
		State: gaffer.HostKeyPending, LastSeen: *At(d)}
}

// pending is k as first stored: pending, first seen when last seen.
func pending(k *gaffer.HostKey) *gaffer.HostKey {
	c := *k
	c.State, c.FirstSeen = gaffer.HostKeyPending, k.LastSeen
	return &c
}

func testOfferHostKey(t *testing.T, open func(t *testing.T) gaffer.HostKeyStore) {
	t.Run("New", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			key  *gaffer.HostKey
		}{
			{"Ed25519", hostKey("web-1", "abc+/def", 0)},
			{"Unicode", &gaffer.HostKey{Host: "hôte-ünï", Address: "hôte-ünï", Type: "ecdsa-sha2-nistp256",
				Fingerprint: "SHA256:x", Key: "ecdsa-sha2-nistp256 AAAA", LastSeen: T0.UTC()}},
			// Whatever state the caller gives, a new key is pending.
			{"ClaimsApproved", func() *gaffer.HostKey {
				k := hostKey("web-1", "abc", time.Nanosecond)
				k.State, k.ApprovedBy, k.ApprovedAt = gaffer.HostKeyApproved, "mallory", At(0)
				return k
			}()},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				MustOfferHostKey(t, s, tt.key)
				want := pending(tt.key)
				want.ApprovedBy, want.ApprovedAt = "", nil
				assertHostKeys(t, s, tt.key.Host, want)
			})
		}
	})

	// A known key only has its last seen time updated, to the later one.
	t.Run("Again", func(t *testing.T) {
		s := open(t)
		first := hostKey("web-1", "abc", 0)
		MustOfferHostKey(t, s, first)
		again := hostKey("web-1", "abc", time.Hour+1)
		again.Address, again.Type, again.Key = "10.0.0.6", "ssh-rsa", "ssh-rsa AAAAB3"
		MustOfferHostKey(t, s, again)
		want := pending(first)
		want.LastSeen = again.LastSeen
		assertHostKeys(t, s, "web-1", want)
		// An older offer, arriving late, leaves the later time.
		MustOfferHostKey(t, s, hostKey("web-1", "abc", time.Minute))
		assertHostKeys(t, s, "web-1", want)
	})

	t.Run("ApprovedStaysApproved", func(t *testing.T) {
		s := open(t)
		k := hostKey("web-1", "abc", 0)
		MustOfferHostKey(t, s, k)
		approved := MustApproveHostKey(t, s, "web-1", k.Fingerprint, "alice", *At(time.Minute), false)
		MustOfferHostKey(t, s, hostKey("web-1", "abc", time.Hour))
		want := *approved
		want.LastSeen = *At(time.Hour)
		assertHostKeys(t, s, "web-1", &want)
	})

	t.Run("Invalid", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			key  *gaffer.HostKey
		}{
			{"NoHost", hostKey("", "abc", 0)},
			{"NoFingerprint", &gaffer.HostKey{Host: "web-1", Type: "ssh-ed25519", Key: "ssh-ed25519 AAAA", LastSeen: T0}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				assertCode(t, s.OfferHostKey(t.Context(), tt.key), gaffer.EINVALID, "")
				assertHostKeys(t, s, "")
			})
		}
	})

	t.Run("ZeroLastSeen", func(t *testing.T) {
		s := open(t)
		before := time.Now()
		k := hostKey("web-1", "abc", 0)
		k.LastSeen = time.Time{}
		MustOfferHostKey(t, s, k)
		got := MustFindHostKeys(t, s, "web-1")[0]
		assertUTC(t, "LastSeen", got.LastSeen)
		if got.LastSeen.Before(before.Add(-time.Second)) || !got.FirstSeen.Equal(got.LastSeen) {
			t.Fatalf("first seen %v, last seen %v; want both the time of the call, %v", got.FirstSeen, got.LastSeen, before)
		}
	})
}

func testFindHostKeys(t *testing.T, open func(t *testing.T) gaffer.HostKeyStore) {
	s := open(t)
	assertHostKeys(t, s, "")
	// Offered out of order: listed by host, then first seen.
	keys := []*gaffer.HostKey{
		hostKey("web-2", "b", 2),  // 0
		hostKey("web-1", "z", 3),  // 1
		hostKey("db-1", "c", 1),   // 2
		hostKey("web-1", "a", 4),  // 3
		hostKey("web-1", "m", 0),  // 4
		hostKey("web-10", "a", 0), // 5: shares a prefix with web-1
	}
	for _, k := range keys {
		MustOfferHostKey(t, s, k)
	}
	for _, tt := range []struct {
		host string
		want []int
	}{
		{"", []int{2, 4, 1, 3, 5, 0}}, // hosts in byte order
		{"web-1", []int{4, 1, 3}},
		{"db-1", []int{2}},
		{"web", nil},
	} {
		t.Run(tt.host, func(t *testing.T) {
			var want []*gaffer.HostKey
			for _, i := range tt.want {
				want = append(want, pending(keys[i]))
			}
			assertHostKeys(t, s, tt.host, want...)
		})
	}
}

func testApproveHostKey(t *testing.T, open func(t *testing.T) gaffer.HostKeyStore) {
	t.Run("Pending", func(t *testing.T) {
		s := open(t)
		k := hostKey("web-1", "abc", 0)
		other := hostKey("web-2", "abc", 0) // the same key on another host stays as it is
		MustOfferHostKey(t, s, k)
		MustOfferHostKey(t, s, other)
		want := pending(k)
		want.State, want.ApprovedBy, want.ApprovedAt = gaffer.HostKeyApproved, "alice", At(time.Minute+1)
		got, replaced, err := s.ApproveHostKey(t.Context(), "web-1", k.Fingerprint, "alice", *At(time.Minute + 1), false)
		if err != nil {
			t.Fatalf("ApproveHostKey: %v", err)
		} else if replaced == nil || len(replaced) != 0 {
			t.Fatalf("replaced = %#v, want an empty non-nil slice", replaced)
		}
		AssertHostKeyEqual(t, got, want)
		assertHostKeys(t, s, "", want, pending(other))

		// Approving again changes nothing: the first approval stands.
		got, replaced, err = s.ApproveHostKey(t.Context(), "web-1", k.Fingerprint, "bob", *At(time.Hour), false)
		if err != nil || len(replaced) != 0 {
			t.Fatalf("ApproveHostKey again = %v, %v", replaced, err)
		}
		AssertHostKeyEqual(t, got, want)
		assertHostKeys(t, s, "", want, pending(other))
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		MustOfferHostKey(t, s, hostKey("web-1", "abc", 0))
		for _, tt := range []struct{ host, fp string }{
			{"web-2", "SHA256:abc"},
			{"web-1", "SHA256:abd"},
			{"web-1", "abc"},
			{"", "SHA256:abc"},
		} {
			got, replaced, err := s.ApproveHostKey(t.Context(), tt.host, tt.fp, "alice", T0, false)
			assertNotFound(t, err, "")
			if msg := gaffer.ErrorMessage(err); !strings.Contains(msg, tt.fp) || !strings.Contains(msg, fmt.Sprintf("%q", tt.host)) {
				t.Fatalf("message %q does not name host %q and key %s", msg, tt.host, tt.fp)
			} else if got != nil || replaced != nil {
				t.Fatalf("ApproveHostKey returned %v, %v with its error", got, replaced)
			}
		}
		assertHostKeys(t, s, "", pending(hostKey("web-1", "abc", 0)))
	})

	// A host whose key changed: the new key stays pending until an admin
	// asks for the old one to be replaced.
	t.Run("Changed", func(t *testing.T) {
		s := open(t)
		old := hostKey("web-1", "old", 0)
		MustOfferHostKey(t, s, old)
		approvedOld := MustApproveHostKey(t, s, "web-1", old.Fingerprint, "alice", *At(1), false)
		neu := hostKey("web-1", "new", time.Hour)
		MustOfferHostKey(t, s, neu)
		third := hostKey("web-1", "third", 2*time.Hour) // pending, and stays so
		MustOfferHostKey(t, s, third)
		elsewhere := hostKey("web-2", "old", 0)
		MustOfferHostKey(t, s, elsewhere)
		MustApproveHostKey(t, s, "web-2", elsewhere.Fingerprint, "alice", *At(1), false)

		got, replaced, err := s.ApproveHostKey(t.Context(), "web-1", neu.Fingerprint, "bob", *At(3 * time.Hour), false)
		assertCode(t, err, gaffer.ECONFLICT, "")
		msg := gaffer.ErrorMessage(err)
		for _, want := range []string{`"web-1"`, old.Fingerprint, neu.Fingerprint, "never replaced unasked"} {
			if !strings.Contains(msg, want) {
				t.Fatalf("message %q does not say %q", msg, want)
			}
		}
		if got != nil || replaced != nil {
			t.Fatalf("ApproveHostKey returned %v, %v with its error", got, replaced)
		}
		assertHostKeys(t, s, "web-1", approvedOld, pending(neu), pending(third))

		// Asked to replace: the old approved key goes, the new one is approved.
		got, replaced, err = s.ApproveHostKey(t.Context(), "web-1", neu.Fingerprint, "bob", *At(3 * time.Hour), true)
		if err != nil {
			t.Fatalf("ApproveHostKey with replace: %v", err)
		} else if !slices.Equal(replaced, []string{old.Fingerprint}) {
			t.Fatalf("replaced = %q, want [%s]", replaced, old.Fingerprint)
		}
		want := pending(neu)
		want.State, want.ApprovedBy, want.ApprovedAt = gaffer.HostKeyApproved, "bob", At(3*time.Hour)
		AssertHostKeyEqual(t, got, want)
		assertHostKeys(t, s, "web-1", want, pending(third))
		// web-2's key of the same fingerprint is another host's.
		if keys := MustFindHostKeys(t, s, "web-2"); len(keys) != 1 || keys[0].State != gaffer.HostKeyApproved {
			t.Fatalf("web-2's approved key changed: %v", keys)
		}
	})

	// With nothing approved, replace approves as usual.
	t.Run("ReplaceNothing", func(t *testing.T) {
		s := open(t)
		k := hostKey("web-1", "abc", 0)
		MustOfferHostKey(t, s, k)
		_, replaced, err := s.ApproveHostKey(t.Context(), "web-1", k.Fingerprint, "alice", T0, true)
		if err != nil || replaced == nil || len(replaced) != 0 {
			t.Fatalf("ApproveHostKey = %#v, %v; want an empty non-nil slice", replaced, err)
		}
	})

	// Each replacement deletes the key approved before it; a replaced key
	// offered again is a new pending one.
	t.Run("ReplaceAgain", func(t *testing.T) {
		s := open(t)
		for _, fp := range []string{"a", "b", "c"} {
			MustOfferHostKey(t, s, hostKey("web-1", fp, 0))
		}
		MustApproveHostKey(t, s, "web-1", "SHA256:a", "alice", T0, false)
		MustApproveHostKey(t, s, "web-1", "SHA256:b", "alice", T0, true)
		MustOfferHostKey(t, s, hostKey("web-1", "a", time.Hour))
		_, replaced, err := s.ApproveHostKey(t.Context(), "web-1", "SHA256:c", "alice", T0, true)
		if err != nil || !slices.Equal(replaced, []string{"SHA256:b"}) {
			t.Fatalf("ApproveHostKey = %q, %v; want [SHA256:b]", replaced, err)
		}
		var states []string
		for _, k := range MustFindHostKeys(t, s, "web-1") {
			states = append(states, k.Fingerprint+" "+k.State)
		}
		if want := []string{"SHA256:c approved", "SHA256:a pending"}; !slices.Equal(states, want) {
			t.Fatalf("keys of web-1: %q, want %q", states, want)
		}
	})
}

func testHostKeysConcurrent(t *testing.T, open func(t *testing.T) gaffer.HostKeyStore) {
	// Instances connecting to one host at once all offer its key.
	t.Run("Offers", func(t *testing.T) {
		s := open(t)
		const n = 8
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				for j := range 5 {
					if err := s.OfferHostKey(t.Context(), hostKey("web-1", "abc", time.Duration(i*5+j))); err != nil {
						errs[i] = err
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("offer %d: %v", i, err)
			}
		}
		keys := MustFindHostKeys(t, s, "")
		if len(keys) != 1 {
			t.Fatalf("%d keys stored, want 1", len(keys))
		}
		if k := keys[0]; k.State != gaffer.HostKeyPending || !k.LastSeen.Equal(*At(n*5 - 1)) {
			t.Fatalf("key is %s, last seen %v; want pending, last seen at the latest offer %v", k.State, k.LastSeen, *At(n*5 - 1))
		}
	})

	// Admins approving new keys of one host at once: one wins, the others
	// are told of the conflict. Several hosts in turn, each started
	// together: the first also warms up a store's connections.
	t.Run("Approvals", func(t *testing.T) {
		s := open(t)
		const hosts, n = 10, 6
		for h := range hosts {
			host := fmt.Sprint("web-", h)
			for i := range n {
				MustOfferHostKey(t, s, hostKey(host, fmt.Sprint(i), 0))
			}
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					_, _, errs[i] = s.ApproveHostKey(t.Context(), host, fmt.Sprint("SHA256:", i), "alice", T0, false)
				})
			}
			close(start)
			wg.Wait()
			ok := 0
			for i, err := range errs {
				if err == nil {
					ok++
				} else if gaffer.ErrorCode(err) != gaffer.ECONFLICT {
					t.Fatalf("approval %d for %s: %v, want nil or ECONFLICT", i, host, err)
				}
			}
			approved := 0
			for _, k := range MustFindHostKeys(t, s, host) {
				if k.State == gaffer.HostKeyApproved {
					approved++
				}
			}
			if ok != 1 || approved != 1 {
				t.Fatalf("%d of %d racing approvals for %s succeeded, %d keys approved; want 1", ok, n, host, approved)
			}
		}
	})
}

// MustOfferHostKey offers k to s or fails the test.
func MustOfferHostKey(tb testing.TB, s gaffer.HostKeyStore, k *gaffer.HostKey) {
	tb.Helper()
	if err := s.OfferHostKey(tb.Context(), k); err != nil {
		tb.Fatalf("OfferHostKey(%s %s): %v", k.Host, k.Fingerprint, err)
	}
}

// MustFindHostKeys returns the keys of host ("" for all) or fails the test.
func MustFindHostKeys(tb testing.TB, s gaffer.HostKeyStore, host string) []*gaffer.HostKey {
	tb.Helper()
	keys, err := s.FindHostKeys(tb.Context(), host)
	if err != nil {
		tb.Fatalf("FindHostKeys(%q): %v", host, err)
	}
	return keys
}

// MustApproveHostKey approves host's key or fails the test.
func MustApproveHostKey(tb testing.TB, s gaffer.HostKeyStore, host, fp, by string, at time.Time, replace bool) *gaffer.HostKey {
	tb.Helper()
	k, _, err := s.ApproveHostKey(tb.Context(), host, fp, by, at, replace)
	if err != nil {
		tb.Fatalf("ApproveHostKey(%s %s): %v", host, fp, err)
	}
	return k
}

// assertHostKeys fails unless FindHostKeys(host) returns want, in order.
func assertHostKeys(tb testing.TB, s gaffer.HostKeyStore, host string, want ...*gaffer.HostKey) {
	tb.Helper()
	got := MustFindHostKeys(tb, s, host)
	if got == nil {
		tb.Fatalf("FindHostKeys(%q) returned nil, want a non-nil slice", host)
	}
	var g, w []string
	for _, k := range got {
		g = append(g, describeHostKey(k))
	}
	for _, k := range want {
		w = append(w, describeHostKey(k))
	}
	if !slices.Equal(g, w) {
		tb.Fatalf("FindHostKeys(%q):\ngot:\n  %s\nwant:\n  %s", host, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
	}
	for _, k := range got {
		assertHostKeyUTC(tb, k)
	}
}

// AssertHostKeyEqual fails unless got equals want field by field, with
// times equal to the nanosecond and got's in UTC.
func AssertHostKeyEqual(tb testing.TB, got, want *gaffer.HostKey) {
	tb.Helper()
	if got == nil {
		tb.Fatalf("got no host key, want %s %s", want.Host, want.Fingerprint)
	}
	assertHostKeyUTC(tb, got)
	if g, w := describeHostKey(got), describeHostKey(want); g != w {
		tb.Fatalf("host key differs:\ngot:  %s\nwant: %s", g, w)
	}
}

func assertHostKeyUTC(tb testing.TB, k *gaffer.HostKey) {
	tb.Helper()
	assertUTC(tb, "FirstSeen", k.FirstSeen)
	assertUTC(tb, "LastSeen", k.LastSeen)
	if k.ApprovedAt != nil {
		assertUTC(tb, "ApprovedAt", *k.ApprovedAt)
	}
}

func describeHostKey(k *gaffer.HostKey) string {
	return fmt.Sprintf("host=%q fingerprint=%q address=%q type=%q key=%q state=%q first_seen=%s last_seen=%s approved_by=%q approved_at=%s",
		k.Host, k.Fingerprint, k.Address, k.Type, k.Key, k.State, describeTime(&k.FirstSeen), describeTime(&k.LastSeen),
		k.ApprovedBy, describeTime(k.ApprovedAt))
}
