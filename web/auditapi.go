package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gaffer-dev/gaffer"
)

// Bounds of GET /api/audit's parameters.
const (
	auditDefaultLimit = 100
	auditMaxLimit     = 1000
	auditMaxActor     = 200 // a token's name is far shorter
)

// auditFilter reads GET /api/audit's (and the page's) query parameters.
func auditFilter(q url.Values) (gaffer.AuditFilter, error) {
	f := gaffer.AuditFilter{Action: q.Get("action"), Actor: q.Get("actor")}
	if f.Action != "" && !slices.Contains(gaffer.AuditActions, f.Action) {
		return f, gaffer.Errorf(gaffer.EINVALID, "action=%q is not one of %s", f.Action, strings.Join(gaffer.AuditActions, ", "))
	}
	if len(f.Actor) > auditMaxActor {
		return f, gaffer.Errorf(gaffer.EINVALID, "actor is %d bytes long; no actor's name is longer than %d", len(f.Actor), auditMaxActor)
	}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), "limit", auditDefaultLimit, 1, auditMaxLimit); err != nil {
		return f, err
	}
	before, err := intParam(q.Get("before"), "before", 0, 1, 1<<62)
	if err != nil {
		return f, err
	}
	f.Before = int64(before)
	return f, nil
}

// findAudit answers the events f selects, never nil.
func (s *Server) findAudit(r *http.Request, f gaffer.AuditFilter) ([]*gaffer.AuditEvent, error) {
	if s.Audit == nil {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "this server keeps no audit trail: its store has none")
	}
	events, err := s.Audit.FindAudit(r.Context(), f)
	if err != nil {
		return nil, err
	}
	if events == nil {
		events = []*gaffer.AuditEvent{}
	}
	return events, nil
}

// listAudit is GET /api/audit: a plain array, newest first, like GET
// /api/jobs; the next page is ?before= the last event's id.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		s.error(w, r, err)
		return
	}
	events, err := s.findAudit(r, f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, events)
}

// auditPage is /audit: the trail as a table, filtered by action and actor,
// with a link to older events when the page is full. Every value is text
// (html/template escapes it), the detail its JSON.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		s.error(w, r, err)
		return
	}
	events, err := s.findAudit(r, f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var older string
	if len(events) == f.Limit {
		q := url.Values{}
		for k, v := range map[string]string{"action": f.Action, "actor": f.Actor} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if f.Limit != auditDefaultLimit {
			q.Set("limit", strconv.Itoa(f.Limit))
		}
		q.Set("before", strconv.FormatInt(events[len(events)-1].ID, 10))
		older = "/audit?" + q.Encode()
	}
	s.renderFor(w, r, http.StatusOK, "audit", map[string]any{"Title": "Audit", "Events": events,
		"Filter": f, "Actions": gaffer.AuditActions, "Older": older})
}
