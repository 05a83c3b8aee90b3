// Package memstore keeps tokens, sessions, the audit trail and host keys in
// memory: one implementation of gaffer.AuthStore, gaffer.AuditLog and
// gaffer.HostKeyStore for tests, held to the same contract suites as the
// SQLite and PostgreSQL stores so that it cannot drift from them.
package memstore

import (
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Ensure Store implements the interfaces.
var (
	_ gaffer.AuthStore    = (*Store)(nil)
	_ gaffer.AuditLog     = (*Store)(nil)
	_ gaffer.HostKeyStore = (*Store)(nil)
)

// Store is safe for concurrent use; its zero value is an empty store. It
// copies what it is given and what it returns, so a caller changing a
// value never changes the store, as with a database.
type Store struct {
	mu       sync.Mutex
	tokens   []*gaffer.Token // token i has ID i+1
	sessions map[string]*gaffer.Session
	audit    []*gaffer.AuditEvent // event i has ID i+1
	hostKeys []*gaffer.HostKey
}

// New returns an empty store.
func New() *Store { return &Store{} }

// now is the time a zero time given to the store becomes, in UTC as the
// databases return it.
func now() time.Time { return time.Now().UTC() }

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// utcPtr is a copy of p in UTC (nil stays nil).
func utcPtr(p *time.Time) *time.Time {
	if p == nil {
		return nil
	}
	t := p.UTC()
	return &t
}
