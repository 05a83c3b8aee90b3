package memstore

import (
	"bytes"
	"context"

	"github.com/gaffer-dev/gaffer"
)

// AppendAudit assigns e.ID and stores a copy of e. A zero TS becomes the
// current time; TS is written back to e in UTC, as stored. Detail is kept
// byte for byte; an empty one is none.
func (s *Store) AppendAudit(ctx context.Context, e *gaffer.AuditEvent) error {
	if err := e.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.TS.IsZero() {
		e.TS = now()
	}
	e.TS = e.TS.UTC()
	e.ID = int64(len(s.audit) + 1)
	s.audit = append(s.audit, cloneAudit(e))
	return nil
}

// FindAudit returns the events matching f, newest first, at most
// gaffer.AuditLimit(f.Limit) of them.
func (s *Store) FindAudit(ctx context.Context, f gaffer.AuditFilter) ([]*gaffer.AuditEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := gaffer.AuditLimit(f.Limit)
	out := []*gaffer.AuditEvent{}
	for i := len(s.audit) - 1; i >= 0 && len(out) < limit; i-- {
		e := s.audit[i]
		if (f.Before <= 0 || e.ID < f.Before) && (f.Action == "" || e.Action == f.Action) && (f.Actor == "" || e.Actor == f.Actor) {
			out = append(out, cloneAudit(e))
		}
	}
	return out, nil
}

// cloneAudit is a copy of e, with a Detail of its own (empty: nil).
func cloneAudit(e *gaffer.AuditEvent) *gaffer.AuditEvent {
	c := *e
	c.Detail = nil
	if len(e.Detail) > 0 {
		c.Detail = bytes.Clone(e.Detail)
	}
	return &c
}
