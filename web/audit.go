package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
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
		// Not HTML-escaped: the detail is read as JSON or shown as text,
		// and a command's "<" should read as "<", not "\u003c".
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(detail); err != nil {
			s.Logger.Error("audit: encode detail", "action", action, "err", err)
		} else {
			e.Detail = bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		}
	}
	// Detached from the request: a viewer that hangs up must not lose the
	// record of what it did.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.Audit.AppendAudit(ctx, e); err != nil {
		s.Logger.Error("audit: append", "action", action, "target", target, "err", err)
	}
}

// jobDetail is the detail of a job.start or job.cancel event: the job's
// hosts and, when starting, the host keys trusted for each at that moment,
// the command and the names of its secrets. Never a secret's value: the
// request's Secrets map is not passed in.
type jobDetail struct {
	Hosts    []string            `json:"hosts"`
	HostKeys map[string][]string `json:"host_keys,omitempty"`
	Command  string              `json:"command,omitempty"`
	Secrets  []string            `json:"secrets,omitempty"`
}

func jobTarget(job *gaffer.Job) string { return "job " + strconv.FormatInt(job.ID, 10) }

func jobHosts(job *gaffer.Job) []string {
	hosts := make([]string, 0, len(job.Runs))
	for _, run := range job.Runs {
		hosts = append(hosts, run.Host)
	}
	return hosts
}

// auditJobStart records that the request started job; secretNames are the
// names of the secrets it was given.
func (s *Server) auditJobStart(r *http.Request, job *gaffer.Job, secretNames []string) {
	if s.Audit == nil {
		return
	}
	d := jobDetail{Hosts: jobHosts(job), Command: job.Command, Secrets: secretNames}
	if s.HostKeyFingerprints != nil {
		for _, h := range d.Hosts {
			if fps := s.HostKeyFingerprints(r.Context(), h); len(fps) > 0 {
				if d.HostKeys == nil {
					d.HostKeys = map[string][]string{}
				}
				d.HostKeys[h] = fps
			}
		}
	}
	slices.Sort(d.Secrets)
	s.audit(r, gaffer.AuditJobStart, jobTarget(job), d)
}

// auditJobCancel records that the request canceled job.
func (s *Server) auditJobCancel(r *http.Request, job *gaffer.Job) {
	s.audit(r, gaffer.AuditJobCancel, jobTarget(job), jobDetail{Hosts: jobHosts(job)})
}
