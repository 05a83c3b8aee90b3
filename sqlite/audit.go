package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gaffer-dev/gaffer"
)

// Ensure DB implements the interface.
var _ gaffer.AuditLog = (*DB)(nil)

// AppendAudit assigns e.ID and stores e. A zero TS becomes the current
// time; TS is written back to e in UTC, as stored. Detail is kept as text,
// byte for byte; an empty one is none.
func (db *DB) AppendAudit(ctx context.Context, e *gaffer.AuditEvent) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if e.TS.IsZero() {
		e.TS = db.now()
	}
	e.TS = e.TS.UTC()
	var detail any
	if len(e.Detail) > 0 {
		detail = string(e.Detail)
	}
	res, err := db.db.ExecContext(ctx, `
		INSERT INTO audit (ts, actor, action, target, remote_addr, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		formatTime(e.TS), e.Actor, e.Action, e.Target, e.RemoteAddr, detail)
	if err != nil {
		return busy(ctx, fmt.Errorf("append audit event %s: %w", e.Action, err))
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("audit event id: %w", err)
	}
	e.ID = id
	return nil
}

// FindAudit returns the events matching f, newest first. A Limit of 0 or
// less means DefaultAuditLimit; more than MaxAuditLimit means MaxAuditLimit.
func (db *DB) FindAudit(ctx context.Context, f gaffer.AuditFilter) ([]*gaffer.AuditEvent, error) {
	var where []string
	var args []any
	if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, f.Action)
	}
	if f.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, f.Actor)
	}
	if f.Before > 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	clause := ""
	if len(where) > 0 {
		clause = "WHERE " + strings.Join(where, " AND ")
	}

	rctx, cancel := readCtx(ctx)
	defer cancel()
	rows, err := db.rdb.QueryContext(rctx, `
		SELECT id, ts, actor, action, target, remote_addr, detail FROM audit `+clause+`
		ORDER BY id DESC LIMIT ?`, append(args, gaffer.AuditLimit(f.Limit))...)
	if err != nil {
		return nil, busy(ctx, fmt.Errorf("query audit: %w", err))
	}
	defer rows.Close()
	events := []*gaffer.AuditEvent{}
	for rows.Next() {
		var e gaffer.AuditEvent
		var ts string
		var detail sql.NullString
		if err := rows.Scan(&e.ID, &ts, &e.Actor, &e.Action, &e.Target, &e.RemoteAddr, &detail); err != nil {
			return nil, fmt.Errorf("scan audit event: %w", err)
		}
		if e.TS, err = parseTime(ts); err != nil {
			return nil, err
		}
		if detail.Valid {
			e.Detail = json.RawMessage(detail.String)
		}
		events = append(events, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, busy(ctx, fmt.Errorf("query audit: %w", err))
	}
	return events, nil
}
