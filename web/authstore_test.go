package web_test

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/web"
)

// memAuth is an in-memory gaffer.AuthStore with the contract's semantics,
// for the web package's tests (the SQLite and PostgreSQL stores have their
// own contract tests).
type memAuth struct {
	mu       sync.Mutex
	tokens   []*gaffer.Token
	sessions map[string]*gaffer.Session
}

func newMemAuth() *memAuth { return &memAuth{sessions: map[string]*gaffer.Session{}} }

// newAuth is an Auth with admin token tok over a fresh in-memory store.
func newAuth(tok string) *web.Auth {
	return &web.Auth{AdminTokenHash: web.HashToken(tok), Store: newMemAuth()}
}

func (m *memAuth) CreateToken(ctx context.Context, t *gaffer.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.tokens {
		if o.Name == t.Name && o.Active(t.CreatedAt) {
			return gaffer.Errorf(gaffer.ECONFLICT, "token name %q is taken", t.Name)
		}
	}
	t.ID = int64(len(m.tokens) + 1)
	c := *t
	m.tokens = append(m.tokens, &c)
	return nil
}

func (m *memAuth) FindToken(ctx context.Context, id int64) (*gaffer.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id < 1 || id > int64(len(m.tokens)) {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "no token %d", id)
	}
	c := *m.tokens[id-1]
	return &c, nil
}

func (m *memAuth) FindTokenByHash(ctx context.Context, hash string) (*gaffer.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.tokens {
		if t.Hash == hash {
			c := *t
			return &c, nil
		}
	}
	return nil, gaffer.Errorf(gaffer.ENOTFOUND, "no such token")
}

func (m *memAuth) FindTokens(ctx context.Context) ([]*gaffer.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*gaffer.Token
	for _, t := range m.tokens {
		c := *t
		out = append(out, &c)
	}
	return out, nil
}

func (m *memAuth) RevokeToken(ctx context.Context, id int64, at time.Time) (*gaffer.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id < 1 || id > int64(len(m.tokens)) {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "no token %d", id)
	}
	t := m.tokens[id-1]
	if t.RevokedAt == nil {
		t.RevokedAt = &at
	}
	for h, s := range m.sessions {
		if s.TokenID == id {
			delete(m.sessions, h)
		}
	}
	c := *t
	return &c, nil
}

func (m *memAuth) CreateSession(ctx context.Context, s *gaffer.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *s
	m.sessions[s.Hash] = &c
	return nil
}

func (m *memAuth) FindSession(ctx context.Context, hash string) (*gaffer.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[hash]
	if s == nil {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "no such session")
	}
	c := *s
	return &c, nil
}

func (m *memAuth) DeleteSession(ctx context.Context, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, hash)
	return nil
}

func (m *memAuth) DeleteSessions(ctx context.Context, tokenID int64, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for h, s := range m.sessions {
		if tokenID == gaffer.AllSessions || s.TokenID == tokenID || !now.Before(s.ExpiresAt) {
			delete(m.sessions, h)
			n++
		}
	}
	return n, nil
}

// sessionHashes lists the stored sessions' hashes (tests check that a
// cookie's value is never what is stored).
func (m *memAuth) sessionHashes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for h := range m.sessions {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}
