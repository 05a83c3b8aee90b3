package gaffer

import (
	"context"
	"encoding/json"
	"time"
	"unicode/utf8"
)

// Audit actions.
const (
	AuditLogin          = "login"           // a browser logged in with a token
	AuditLoginFailed    = "login.failed"    // a wrong token on the login page
	AuditJobStart       = "job.start"       // detail: {"hosts": [...], "host_keys": {"web-1": ["SHA256:…"]}, "command", "secrets": [names]}
	AuditJobCancel      = "job.cancel"      // detail: {"hosts": [...]}
	AuditTokenCreate    = "token.create"    // detail: {"role", "expires_at"}
	AuditTokenRevoke    = "token.revoke"    //
	AuditHostKeyApprove = "hostkey.approve" // detail: {"fingerprint", "replaced": [...]}
	AuditSessionsReset  = "sessions.reset"  // --reset-admin-token revoked every session
)

// AuditActions lists every action above: what GET /api/audit?action= accepts.
var AuditActions = []string{AuditLogin, AuditLoginFailed, AuditJobStart, AuditJobCancel,
	AuditTokenCreate, AuditTokenRevoke, AuditHostKeyApprove, AuditSessionsReset}

// AuditEvent is one entry of the audit trail. The trail is append-only: no
// store has a way to change or delete an entry.
type AuditEvent struct {
	ID         int64     `json:"id"`
	TS         time.Time `json:"ts"`
	Actor      string    `json:"actor"`  // the token's name, "admin", or "" when unknown
	Action     string    `json:"action"` // one of the Audit* constants
	Target     string    `json:"target"` // e.g. "job 42", "token 3 (alice)", "host web-1"
	RemoteAddr string    `json:"remote_addr"`
	// Detail is a JSON object with what else the action needs said (nil: none).
	Detail json.RawMessage `json:"detail,omitempty"`
}

// AuditFilter selects audit events, newest first.
type AuditFilter struct {
	Action string // "" for any
	Actor  string // "" for any
	Before int64  // only ids below this; 0 for no bound
	Limit  int    // 0 for the store's default (100); at most 1000
}

// AuditLog is the append-only audit trail (SQLite, PostgreSQL).
type AuditLog interface {
	// AppendAudit assigns e.ID and stores e. Detail, when set, must be a
	// JSON object; it is returned byte for byte (an empty one as nil).
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// FindAudit returns events matching f, newest (highest id) first.
	FindAudit(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
}

// FindAudit page sizes.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditLimit is the page size a store uses for AuditFilter.Limit.
func AuditLimit(limit int) int {
	if limit <= 0 {
		return DefaultAuditLimit
	}
	return min(limit, MaxAuditLimit)
}

// Validate checks what every store requires of an event: an action, and a
// Detail that is a JSON object in UTF-8, or none.
func (e *AuditEvent) Validate() error {
	if e.Action == "" {
		return Errorf(EINVALID, "audit action required")
	}
	if len(e.Detail) == 0 {
		return nil
	}
	var obj map[string]json.RawMessage
	if !utf8.Valid(e.Detail) || json.Unmarshal(e.Detail, &obj) != nil || obj == nil {
		return Errorf(EINVALID, "audit detail of %s must be a JSON object", e.Action)
	}
	return nil
}
