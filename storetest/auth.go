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

// RunAuth is the contract every gaffer.AuthStore must meet. Each call to
// open must return a fresh, empty store, closed when the test ends.
func RunAuth(t *testing.T, open func(t *testing.T) gaffer.AuthStore) {
	t.Run("CreateToken", func(t *testing.T) { testCreateToken(t, open) })
	t.Run("TokenName", func(t *testing.T) { testTokenName(t, open) })
	t.Run("FindToken", func(t *testing.T) { testFindToken(t, open) })
	t.Run("RevokeToken", func(t *testing.T) { testRevokeToken(t, open) })
	t.Run("Session", func(t *testing.T) { testSession(t, open) })
	t.Run("DeleteSessions", func(t *testing.T) { testDeleteSessions(t, open) })
}

func testCreateToken(t *testing.T, open func(t *testing.T) gaffer.AuthStore) {
	t.Run("RoundTrip", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			token gaffer.Token
		}{
			{"Minimal", gaffer.Token{Name: "alice", Role: gaffer.RoleViewer, Hash: gaffer.HashSecret("a"), CreatedAt: T0}},
			{"AllFields", gaffer.Token{Name: "ci-deploy", Role: gaffer.RoleOperator, Hash: gaffer.HashSecret("b"),
				CreatedBy: "admin", CreatedAt: T0, ExpiresAt: At(720*time.Hour + 1)}},
			// A revoked token can be stored as it is, as a copy of another store's would be.
			{"Revoked", gaffer.Token{Name: "old", Role: gaffer.RoleAdmin, Hash: gaffer.HashSecret("c"),
				CreatedBy: "bob", CreatedAt: T0, ExpiresAt: At(time.Hour), RevokedAt: At(time.Minute)}},
			{"Unicode", gaffer.Token{Name: "Zoë 🦊 'x'; --", Role: gaffer.RoleAdmin, Hash: gaffer.HashSecret("d"),
				CreatedBy: "日本語", CreatedAt: T0.UTC()}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				want := cloneToken(&tt.token)
				tok := cloneToken(&tt.token)
				MustCreateToken(t, s, tok)
				if tok.ID <= 0 {
					t.Fatalf("ID = %d, want > 0", tok.ID)
				}
				want.ID = tok.ID
				AssertTokenEqual(t, MustFindToken(t, s, tok.ID), want)
				got, err := s.FindTokenByHash(t.Context(), want.Hash)
				if err != nil {
					t.Fatalf("FindTokenByHash: %v", err)
				}
				AssertTokenEqual(t, got, want)
				list := MustFindTokens(t, s)
				if len(list) != 1 {
					t.Fatalf("FindTokens returned %d tokens, want 1", len(list))
				}
				AssertTokenEqual(t, list[0], want)
			})
		}
	})

	t.Run("ZeroCreatedAt", func(t *testing.T) {
		s := open(t)
		before := time.Now()
		tok := &gaffer.Token{Name: "alice", Role: gaffer.RoleViewer, Hash: gaffer.HashSecret("a")}
		MustCreateToken(t, s, tok)
		got := MustFindToken(t, s, tok.ID)
		assertUTC(t, "CreatedAt", got.CreatedAt)
		if !got.CreatedAt.Equal(tok.CreatedAt) {
			t.Fatalf("stored CreatedAt %v, token was given %v", got.CreatedAt, tok.CreatedAt)
		} else if got.CreatedAt.Before(before.Add(-time.Second)) {
			t.Fatalf("CreatedAt %v is before the call at %v", got.CreatedAt, before)
		}
	})

	t.Run("IDsIncrease", func(t *testing.T) {
		s := open(t)
		var ids []int64
		for i := range 4 {
			tok := &gaffer.Token{Name: fmt.Sprint("t", i), Role: gaffer.RoleViewer, Hash: gaffer.HashSecret(fmt.Sprint(i)), CreatedAt: T0}
			MustCreateToken(t, s, tok)
			if len(ids) > 0 && tok.ID <= ids[len(ids)-1] {
				t.Fatalf("token %d got ID %d, not above the previous %d", i, tok.ID, ids[len(ids)-1])
			}
			ids = append(ids, tok.ID)
		}
		// Listed by id.
		var got []int64
		for _, tok := range MustFindTokens(t, s) {
			got = append(got, tok.ID)
		}
		assertIDs(t, "FindTokens", got, ids...)
	})

	t.Run("Invalid", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			token gaffer.Token
		}{
			{"NoName", gaffer.Token{Role: gaffer.RoleViewer, Hash: gaffer.HashSecret("a"), CreatedAt: T0}},
			{"NoRole", gaffer.Token{Name: "alice", Hash: gaffer.HashSecret("a"), CreatedAt: T0}},
			{"UnknownRole", gaffer.Token{Name: "alice", Role: "root", Hash: gaffer.HashSecret("a"), CreatedAt: T0}},
			{"NoHash", gaffer.Token{Name: "alice", Role: gaffer.RoleViewer, CreatedAt: T0}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				tok := cloneToken(&tt.token)
				assertCode(t, s.CreateToken(t.Context(), tok), gaffer.EINVALID, "")
				if tok.ID != 0 {
					t.Fatalf("failed CreateToken set ID %d", tok.ID)
				} else if list := MustFindTokens(t, s); len(list) != 0 {
					t.Fatalf("FindTokens after a failed CreateToken returned %d tokens", len(list))
				}
			})
		}
	})

	// Secrets are random: two tokens with one hash would be a defect of
	// the caller, and the first token must not be shadowed.
	t.Run("SameHash", func(t *testing.T) {
		s := open(t)
		MustCreateToken(t, s, &gaffer.Token{Name: "alice", Role: gaffer.RoleViewer, Hash: gaffer.HashSecret("a"), CreatedAt: T0})
		tok := &gaffer.Token{Name: "bob", Role: gaffer.RoleAdmin, Hash: gaffer.HashSecret("a"), CreatedAt: T0}
		assertCode(t, s.CreateToken(t.Context(), tok), gaffer.ECONFLICT, "")
		if got, err := s.FindTokenByHash(t.Context(), gaffer.HashSecret("a")); err != nil || got.Name != "alice" {
			t.Fatalf("FindTokenByHash = %v, %v; want alice's token", got, err)
		}
	})
}

// testTokenName: the name of an active token is taken; a revoked or expired
// token's is free again.
func testTokenName(t *testing.T, open func(t *testing.T) gaffer.AuthStore) {
	alice := func(secret string, expires *time.Time) *gaffer.Token {
		return &gaffer.Token{Name: "alice", Role: gaffer.RoleOperator, Hash: gaffer.HashSecret(secret), CreatedAt: T0, ExpiresAt: expires}
	}
	conflict := func(id int64) string {
		return fmt.Sprintf(`a token named "alice" already exists (id %d); revoke it first or pick another name`, id)
	}
	for _, tt := range []struct {
		name  string
		first *gaffer.Token
		// revoke revokes the first token before the second is created.
		revoke bool
		// ok: the second alice may be created.
		ok bool
	}{
		{"Active", alice("1", nil), false, false},
		{"ActiveUntilLater", alice("1", At(time.Nanosecond)), false, false},
		{"Revoked", alice("1", nil), true, true},
		{"Expired", alice("1", At(-time.Nanosecond)), false, true},
		// Expiring at the second's creation: no longer active then.
		{"ExpiresThen", alice("1", At(0)), false, true},
		{"RevokedLater", alice("1", At(time.Hour)), true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			MustCreateToken(t, s, &gaffer.Token{Name: "bob", Role: gaffer.RoleViewer, Hash: gaffer.HashSecret("bob"), CreatedAt: T0})
			MustCreateToken(t, s, tt.first)
			if tt.revoke {
				MustRevokeToken(t, s, tt.first.ID, T0)
			}
			second := alice("2", nil)
			err := s.CreateToken(t.Context(), second)
			if tt.ok {
				if err != nil {
					t.Fatalf("CreateToken of a second alice: %v", err)
				}
				// The new one now holds the name.
				assertCode(t, s.CreateToken(t.Context(), alice("3", nil)), gaffer.ECONFLICT, conflict(second.ID))
				return
			}
			assertCode(t, err, gaffer.ECONFLICT, conflict(tt.first.ID))
			if second.ID != 0 {
				t.Fatalf("failed CreateToken set ID %d", second.ID)
			} else if n := len(MustFindTokens(t, s)); n != 2 {
				t.Fatalf("%d tokens stored, want 2", n)
			}
		})
	}

	// Instances creating one name at once: one succeeds, the others are
	// told it exists. Several rounds, each started together: the first
	// also warms up a store's connections, so later ones overlap.
	t.Run("Racing", func(t *testing.T) {
		s := open(t)
		const rounds, n = 10, 8
		for round := range rounds {
			name := fmt.Sprint("alice-", round)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					errs[i] = s.CreateToken(t.Context(), &gaffer.Token{Name: name, Role: gaffer.RoleViewer,
						Hash: gaffer.HashSecret(fmt.Sprint(round, "/", i)), CreatedAt: T0})
				})
			}
			close(start)
			wg.Wait()
			created := 0
			for i, err := range errs {
				if err == nil {
					created++
				} else if gaffer.ErrorCode(err) != gaffer.ECONFLICT {
					t.Fatalf("CreateToken %d of %s: %v, want nil or ECONFLICT", i, name, err)
				}
			}
			if created != 1 {
				t.Fatalf("%d of %d racing CreateToken calls for %s succeeded; want 1", created, n, name)
			}
		}
		if got := len(MustFindTokens(t, s)); got != rounds {
			t.Fatalf("%d tokens stored, want %d", got, rounds)
		}
	})
}

func testFindToken(t *testing.T, open func(t *testing.T) gaffer.AuthStore) {
	s := open(t)
	if list := MustFindTokens(t, s); list == nil || len(list) != 0 {
		t.Fatalf("FindTokens on an empty store = %#v, want an empty non-nil slice", list)
	}
	tok := &gaffer.Token{Name: "alice", Role: gaffer.RoleViewer, Hash: gaffer.HashSecret("a"), CreatedAt: T0}
	MustCreateToken(t, s, tok)
	for _, id := range []int64{0, -1, tok.ID + 1} {
		got, err := s.FindToken(t.Context(), id)
		assertNotFound(t, err, fmt.Sprintf("token %d does not exist", id))
		if got != nil {
			t.Fatalf("FindToken(%d) returned a token with its error", id)
		}
	}
	for _, hash := range []string{"", gaffer.HashSecret("b"), strings.ToUpper(tok.Hash), "a"} {
		got, err := s.FindTokenByHash(t.Context(), hash)
		if gaffer.ErrorCode(err) != gaffer.ENOTFOUND || got != nil {
			t.Fatalf("FindTokenByHash(%q) = %v, %v; want ENOTFOUND", hash, got, err)
		} else if msg := gaffer.ErrorMessage(err); strings.Contains(msg, hash) && hash != "" {
			t.Fatalf("FindTokenByHash's error shows the hash: %q", msg)
		}
	}
}

func testRevokeToken(t *testing.T, open func(t *testing.T) gaffer.AuthStore) {
	t.Run("Once", func(t *testing.T) {
		s := open(t)
		tok := &gaffer.Token{Name: "alice", Role: gaffer.RoleOperator, Hash: gaffer.HashSecret("a"), CreatedAt: T0, ExpiresAt: At(time.Hour)}
		MustCreateToken(t, s, tok)
		other := &gaffer.Token{Name: "bob", Role: gaffer.RoleViewer, Hash: gaffer.HashSecret("b"), CreatedAt: T0}
		MustCreateToken(t, s, other)

		want := cloneToken(tok)
		want.RevokedAt = At(time.Minute + 1)
		AssertTokenEqual(t, MustRevokeToken(t, s, tok.ID, *want.RevokedAt), want)
		AssertTokenEqual(t, MustFindToken(t, s, tok.ID), want)
		// Revoking again keeps the first time.
		AssertTokenEqual(t, MustRevokeToken(t, s, tok.ID, *At(time.Hour)), want)
		AssertTokenEqual(t, MustFindToken(t, s, tok.ID), want)
		// Still found by its hash, for the caller to refuse.
		got, err := s.FindTokenByHash(t.Context(), tok.Hash)
		if err != nil {
			t.Fatalf("FindTokenByHash of a revoked token: %v", err)
		}
		AssertTokenEqual(t, got, want)
		// The other token is untouched.
		AssertTokenEqual(t, MustFindToken(t, s, other.ID), other)
	})

	t.Run("DeletesItsSessions", func(t *testing.T) {
		s := open(t)
		alice := &gaffer.Token{Name: "alice", Role: gaffer.RoleOperator, Hash: gaffer.HashSecret("a"), CreatedAt: T0}
		bob := &gaffer.Token{Name: "bob", Role: gaffer.RoleViewer, Hash: gaffer.HashSecret("b"), CreatedAt: T0}
		MustCreateToken(t, s, alice)
		MustCreateToken(t, s, bob)
		sessions := []*gaffer.Session{
			newSession("alice-1", alice.ID, "alice", gaffer.RoleOperator, time.Hour),
			newSession("bob-1", bob.ID, "bob", gaffer.RoleViewer, time.Hour),
			newSession("alice-2", alice.ID, "alice", gaffer.RoleOperator, time.Hour),
			newSession("admin-1", gaffer.AdminTokenID, "admin", gaffer.RoleAdmin, time.Hour),
		}
		for _, sess := range sessions {
			MustCreateSession(t, s, sess)
		}
		MustRevokeToken(t, s, alice.ID, T0)
		assertSessions(t, s, sessions, "bob-1", "admin-1")
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		tok := &gaffer.Token{Name: "alice", Role: gaffer.RoleViewer, Hash: gaffer.HashSecret("a"), CreatedAt: T0}
		MustCreateToken(t, s, tok)
		for _, id := range []int64{tok.ID + 1, gaffer.AdminTokenID, -1} {
			got, err := s.RevokeToken(t.Context(), id, T0)
			assertNotFound(t, err, fmt.Sprintf("token %d does not exist", id))
			if got != nil {
				t.Fatalf("RevokeToken(%d) returned a token with its error", id)
			}
		}
		AssertTokenEqual(t, MustFindToken(t, s, tok.ID), tok)
	})
}

func testSession(t *testing.T, open func(t *testing.T) gaffer.AuthStore) {
	t.Run("RoundTrip", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			sess gaffer.Session
		}{
			{"Token", *newSession("a", 3, "alice", gaffer.RoleOperator, 30*24*time.Hour+1)},
			{"Admin", *newSession("b", gaffer.AdminTokenID, "admin", gaffer.RoleAdmin, time.Hour)},
			{"Unicode", *newSession("c", 1, "Zoë 🦊", gaffer.RoleViewer, time.Nanosecond)},
			// Found even when expired: the caller checks ExpiresAt.
			{"Expired", *newSession("d", 1, "alice", gaffer.RoleViewer, -time.Hour)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				sess := tt.sess
				MustCreateSession(t, s, &sess)
				AssertSessionEqual(t, MustFindSession(t, s, tt.sess.Hash), &tt.sess)
			})
		}
	})

	t.Run("ZeroCreatedAt", func(t *testing.T) {
		s := open(t)
		before := time.Now()
		sess := &gaffer.Session{Hash: gaffer.HashSecret("a"), TokenID: 1, Name: "alice", Role: gaffer.RoleViewer, ExpiresAt: *At(time.Hour)}
		MustCreateSession(t, s, sess)
		got := MustFindSession(t, s, sess.Hash)
		assertUTC(t, "CreatedAt", got.CreatedAt)
		if !got.CreatedAt.Equal(sess.CreatedAt) || got.CreatedAt.Before(before.Add(-time.Second)) {
			t.Fatalf("stored CreatedAt %v, session given %v, call at %v", got.CreatedAt, sess.CreatedAt, before)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			sess gaffer.Session
		}{
			{"NoHash", gaffer.Session{TokenID: 1, Name: "alice", Role: gaffer.RoleViewer, CreatedAt: T0, ExpiresAt: *At(time.Hour)}},
			{"UnknownRole", gaffer.Session{Hash: "h", TokenID: 1, Name: "alice", Role: "root", CreatedAt: T0, ExpiresAt: *At(time.Hour)}},
			{"NoExpiry", gaffer.Session{Hash: "h", TokenID: 1, Name: "alice", Role: gaffer.RoleViewer, CreatedAt: T0}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				sess := tt.sess
				assertCode(t, s.CreateSession(t.Context(), &sess), gaffer.EINVALID, "")
				if _, err := s.FindSession(t.Context(), sess.Hash); gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
					t.Fatalf("FindSession after a failed CreateSession: %v, want ENOTFOUND", err)
				}
			})
		}
	})

	t.Run("SameHash", func(t *testing.T) {
		s := open(t)
		first := newSession("a", 1, "alice", gaffer.RoleViewer, time.Hour)
		MustCreateSession(t, s, first)
		assertCode(t, s.CreateSession(t.Context(), newSession("a", 2, "bob", gaffer.RoleAdmin, time.Hour)), gaffer.ECONFLICT, "")
		AssertSessionEqual(t, MustFindSession(t, s, first.Hash), first)
	})

	t.Run("FindNone", func(t *testing.T) {
		s := open(t)
		MustCreateSession(t, s, newSession("a", 1, "alice", gaffer.RoleViewer, time.Hour))
		for _, hash := range []string{"", gaffer.HashSecret("b"), "a"} {
			got, err := s.FindSession(t.Context(), hash)
			if gaffer.ErrorCode(err) != gaffer.ENOTFOUND || got != nil {
				t.Fatalf("FindSession(%q) = %v, %v; want ENOTFOUND", hash, got, err)
			}
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		sessions := []*gaffer.Session{
			newSession("a", 1, "alice", gaffer.RoleViewer, time.Hour),
			newSession("b", 1, "alice", gaffer.RoleViewer, time.Hour),
		}
		for _, sess := range sessions {
			MustCreateSession(t, s, sess)
		}
		for range 2 { // deleting none is not an error
			if err := s.DeleteSession(t.Context(), sessions[0].Hash); err != nil {
				t.Fatalf("DeleteSession: %v", err)
			}
			assertSessions(t, s, sessions, "b")
		}
		if err := s.DeleteSession(t.Context(), gaffer.HashSecret("never")); err != nil {
			t.Fatalf("DeleteSession of none: %v", err)
		}
		assertSessions(t, s, sessions, "b")
	})
}

// testDeleteSessions: one token's sessions, the admin token's, or all, and
// the expired ones of any token each time.
func testDeleteSessions(t *testing.T, open func(t *testing.T) gaffer.AuthStore) {
	// now is T0; the sessions expire relative to it.
	seed := func() []*gaffer.Session {
		return []*gaffer.Session{
			newSession("alice-1", 1, "alice", gaffer.RoleOperator, time.Hour),
			newSession("alice-2", 1, "alice", gaffer.RoleOperator, time.Nanosecond),
			newSession("bob-1", 2, "bob", gaffer.RoleViewer, time.Hour),
			newSession("admin-1", gaffer.AdminTokenID, "admin", gaffer.RoleAdmin, time.Hour),
			newSession("bob-expired", 2, "bob", gaffer.RoleViewer, -time.Nanosecond),
			// Expiring at now: no longer valid, so swept too.
			newSession("admin-expiring", gaffer.AdminTokenID, "admin", gaffer.RoleAdmin, 0),
		}
	}
	for _, tt := range []struct {
		name    string
		tokenID int64
		left    []string
	}{
		{"Token", 1, []string{"bob-1", "admin-1"}},
		{"OtherToken", 2, []string{"alice-1", "alice-2", "admin-1"}},
		{"Admin", gaffer.AdminTokenID, []string{"alice-1", "alice-2", "bob-1"}},
		{"All", gaffer.AllSessions, nil},
		{"NoSuchToken", 9, []string{"alice-1", "alice-2", "bob-1", "admin-1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			sessions := seed()
			for _, sess := range sessions {
				MustCreateSession(t, s, sess)
			}
			n, err := s.DeleteSessions(t.Context(), tt.tokenID, T0)
			if err != nil {
				t.Fatalf("DeleteSessions: %v", err)
			} else if want := len(sessions) - len(tt.left); n != want {
				t.Fatalf("DeleteSessions(%d) deleted %d sessions, want %d", tt.tokenID, n, want)
			}
			assertSessions(t, s, sessions, tt.left...)
			if n, err := s.DeleteSessions(t.Context(), tt.tokenID, T0); err != nil || n != 0 {
				t.Fatalf("DeleteSessions again = %d, %v; want 0, nil", n, err)
			}
		})
	}
	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		if n, err := s.DeleteSessions(t.Context(), gaffer.AllSessions, T0); err != nil || n != 0 {
			t.Fatalf("DeleteSessions = %d, %v; want 0, nil", n, err)
		}
	})
}

// newSession returns a session whose hash is HashSecret(id), created at T0
// and expiring at T0+ttl.
func newSession(id string, tokenID int64, name string, role gaffer.Role, ttl time.Duration) *gaffer.Session {
	return &gaffer.Session{Hash: gaffer.HashSecret(id), TokenID: tokenID, Name: name, Role: role,
		CreatedAt: T0, ExpiresAt: *At(ttl)}
}

// assertSessions fails unless, of sessions (made by newSession with ids),
// exactly those with the ids in left are still found, unchanged.
func assertSessions(tb testing.TB, s gaffer.AuthStore, sessions []*gaffer.Session, left ...string) {
	tb.Helper()
	for _, sess := range sessions {
		keep := slices.ContainsFunc(left, func(id string) bool { return gaffer.HashSecret(id) == sess.Hash })
		got, err := s.FindSession(tb.Context(), sess.Hash)
		if keep {
			if err != nil {
				tb.Fatalf("FindSession of %s's session %s: %v, want it kept", sess.Name, sess.Hash[:8], err)
			}
			AssertSessionEqual(tb, got, sess)
		} else if gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
			tb.Fatalf("FindSession of %s's session %s = %v, want it deleted (ENOTFOUND)", sess.Name, sess.Hash[:8], err)
		}
	}
}

// MustCreateToken creates t in s or fails the test.
func MustCreateToken(tb testing.TB, s gaffer.AuthStore, t *gaffer.Token) {
	tb.Helper()
	if err := s.CreateToken(tb.Context(), t); err != nil {
		tb.Fatalf("CreateToken(%q): %v", t.Name, err)
	}
}

// MustFindToken returns the token with id or fails the test.
func MustFindToken(tb testing.TB, s gaffer.AuthStore, id int64) *gaffer.Token {
	tb.Helper()
	t, err := s.FindToken(tb.Context(), id)
	if err != nil {
		tb.Fatalf("FindToken(%d): %v", id, err)
	}
	return t
}

// MustFindTokens returns every token or fails the test.
func MustFindTokens(tb testing.TB, s gaffer.AuthStore) []*gaffer.Token {
	tb.Helper()
	list, err := s.FindTokens(tb.Context())
	if err != nil {
		tb.Fatalf("FindTokens: %v", err)
	}
	return list
}

// MustRevokeToken revokes the token with id at at or fails the test.
func MustRevokeToken(tb testing.TB, s gaffer.AuthStore, id int64, at time.Time) *gaffer.Token {
	tb.Helper()
	t, err := s.RevokeToken(tb.Context(), id, at)
	if err != nil {
		tb.Fatalf("RevokeToken(%d): %v", id, err)
	}
	return t
}

// MustCreateSession creates sess in s or fails the test.
func MustCreateSession(tb testing.TB, s gaffer.AuthStore, sess *gaffer.Session) {
	tb.Helper()
	if err := s.CreateSession(tb.Context(), sess); err != nil {
		tb.Fatalf("CreateSession: %v", err)
	}
}

// MustFindSession returns the session with hash or fails the test.
func MustFindSession(tb testing.TB, s gaffer.AuthStore, hash string) *gaffer.Session {
	tb.Helper()
	sess, err := s.FindSession(tb.Context(), hash)
	if err != nil {
		tb.Fatalf("FindSession: %v", err)
	}
	return sess
}

// AssertTokenEqual fails unless got equals want field by field, with times
// equal to the nanosecond and got's in UTC.
func AssertTokenEqual(tb testing.TB, got, want *gaffer.Token) {
	tb.Helper()
	if got == nil {
		tb.Fatalf("got no token, want token %d", want.ID)
	}
	assertUTC(tb, "CreatedAt", got.CreatedAt)
	for _, p := range []*time.Time{got.ExpiresAt, got.RevokedAt} {
		if p != nil {
			assertUTC(tb, "ExpiresAt or RevokedAt", *p)
		}
	}
	describe := func(t *gaffer.Token) string {
		return fmt.Sprintf("id=%d name=%q role=%q hash=%q created_by=%q created_at=%s expires_at=%s revoked_at=%s",
			t.ID, t.Name, t.Role, t.Hash, t.CreatedBy, describeTime(&t.CreatedAt), describeTime(t.ExpiresAt), describeTime(t.RevokedAt))
	}
	if g, w := describe(got), describe(want); g != w {
		tb.Fatalf("token differs:\ngot:  %s\nwant: %s", g, w)
	}
}

// AssertSessionEqual fails unless got equals want field by field, with
// times equal to the nanosecond and got's in UTC.
func AssertSessionEqual(tb testing.TB, got, want *gaffer.Session) {
	tb.Helper()
	if got == nil {
		tb.Fatalf("got no session, want %s's", want.Name)
	}
	assertUTC(tb, "CreatedAt", got.CreatedAt)
	assertUTC(tb, "ExpiresAt", got.ExpiresAt)
	describe := func(s *gaffer.Session) string {
		return fmt.Sprintf("hash=%q token_id=%d name=%q role=%q created_at=%s expires_at=%s",
			s.Hash, s.TokenID, s.Name, s.Role, describeTime(&s.CreatedAt), describeTime(&s.ExpiresAt))
	}
	if g, w := describe(got), describe(want); g != w {
		tb.Fatalf("session differs:\ngot:  %s\nwant: %s", g, w)
	}
}

func cloneToken(t *gaffer.Token) *gaffer.Token {
	c := *t
	c.ExpiresAt, c.RevokedAt = clonePtr(t.ExpiresAt), clonePtr(t.RevokedAt)
	return &c
}
