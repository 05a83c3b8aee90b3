package memstore

import (
	"context"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// CreateToken assigns t.ID and stores a copy of t. A zero CreatedAt becomes
// the current time; CreatedAt is written back to t in UTC, as stored.
func (s *Store) CreateToken(ctx context.Context, t *gaffer.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	createdAt := t.CreatedAt
	if createdAt.IsZero() {
		createdAt = now()
	}
	for _, o := range s.tokens {
		if o.Name == t.Name && o.Active(createdAt) {
			return gaffer.TokenNameTaken(t.Name, o.ID)
		}
	}
	for _, o := range s.tokens {
		if o.Hash == t.Hash {
			return gaffer.Errorf(gaffer.ECONFLICT, "another token already has this secret")
		}
	}
	t.ID, t.CreatedAt = int64(len(s.tokens)+1), createdAt.UTC()
	s.tokens = append(s.tokens, cloneToken(t))
	return nil
}

// FindToken returns the token with id, revoked or not; ENOTFOUND if none.
func (s *Store) FindToken(ctx context.Context, id int64) (*gaffer.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.token(id)
	if t == nil {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "token %d does not exist", id)
	}
	return cloneToken(t), nil
}

// FindTokenByHash returns the token whose secret hashes to hash; ENOTFOUND
// if none. The message does not repeat the hash.
func (s *Store) FindTokenByHash(ctx context.Context, hash string) (*gaffer.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.Hash == hash {
			return cloneToken(t), nil
		}
	}
	return nil, gaffer.Errorf(gaffer.ENOTFOUND, "no such token")
}

// FindTokens lists every token, revoked ones included, by id.
func (s *Store) FindTokens(ctx context.Context) ([]*gaffer.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*gaffer.Token, 0, len(s.tokens))
	for _, t := range s.tokens {
		out = append(out, cloneToken(t))
	}
	return out, nil
}

// RevokeToken sets the token's RevokedAt unless already set, deletes its
// sessions, and returns the token.
func (s *Store) RevokeToken(ctx context.Context, id int64, at time.Time) (*gaffer.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.token(id)
	if t == nil {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "token %d does not exist", id)
	}
	if t.RevokedAt == nil {
		t.RevokedAt = utcPtr(&at)
	}
	for h, sess := range s.sessions {
		if sess.TokenID == id {
			delete(s.sessions, h)
		}
	}
	return cloneToken(t), nil
}

// CreateSession stores a copy of sess. A zero CreatedAt becomes the current
// time; CreatedAt is written back to sess in UTC, as stored.
func (s *Store) CreateSession(ctx context.Context, sess *gaffer.Session) error {
	if err := sess.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sess.Hash]; ok {
		return gaffer.Errorf(gaffer.ECONFLICT, "a session with this id already exists")
	}
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now()
	}
	sess.CreatedAt = sess.CreatedAt.UTC()
	c := *sess
	c.ExpiresAt = c.ExpiresAt.UTC()
	if s.sessions == nil {
		s.sessions = map[string]*gaffer.Session{}
	}
	s.sessions[c.Hash] = &c
	return nil
}

// FindSession returns the session whose cookie hashes to hash, expired ones
// included; ENOTFOUND if none.
func (s *Store) FindSession(ctx context.Context, hash string) (*gaffer.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[hash]
	if !ok {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "no such session")
	}
	c := *sess
	return &c, nil
}

// DeleteSession deletes one session; none is not an error.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, hash)
	return nil
}

// DeleteSessions deletes every session (tokenID < 0) or those of tokenID,
// and those no longer valid at now (a zero now: none for that), and
// returns how many it deleted.
func (s *Store) DeleteSessions(ctx context.Context, tokenID int64, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for h, sess := range s.sessions {
		if tokenID < 0 || sess.TokenID == tokenID || (!now.IsZero() && !sess.ExpiresAt.After(now)) {
			delete(s.sessions, h)
			n++
		}
	}
	return n, nil
}

// token is the stored token with id, or nil. The caller holds s.mu.
func (s *Store) token(id int64) *gaffer.Token {
	if id < 1 || id > int64(len(s.tokens)) {
		return nil
	}
	return s.tokens[id-1]
}

// cloneToken is a copy of t, its times in UTC.
func cloneToken(t *gaffer.Token) *gaffer.Token {
	c := *t
	c.CreatedAt = t.CreatedAt.UTC()
	c.ExpiresAt, c.RevokedAt = utcPtr(t.ExpiresAt), utcPtr(t.RevokedAt)
	return &c
}
