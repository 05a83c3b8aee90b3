package web

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// audit appends an event of the request's user to the audit trail, if the
// server keeps one. detail, when not nil, is encoded as the event's JSON
// object. A failure to record is logged, never shown to the user: the action
// itself already happened.
func (s *Server) audit(r *http.Request, action, target string, detail any) {
	if s.Audit == nil {
		return
	}
	e := &gaffer.AuditEvent{TS: time.Now().UTC(), Actor: UserFrom(r.Context()).Name,
		Action: action, Target: target, RemoteAddr: r.RemoteAddr}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			s.Logger.Error("audit: encode detail", "action", action, "err", err)
		}
		e.Detail = b
	}
	// Detached from the request: a viewer that hangs up must not lose the
	// record of what it did.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.Audit.AppendAudit(ctx, e); err != nil {
		s.Logger.Error("audit: append", "action", action, "target", target, "err", err)
	}
}
