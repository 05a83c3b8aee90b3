package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gaffer-dev/gaffer"
	"github.com/jackc/pgx/v5"
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
	ts, err := nanos(e.TS)
	if err != nil {
		return err
	}
	var detail *string
	if len(e.Detail) > 0 {
		s := string(e.Detail)
		detail = &s
	}
	var id int64
	if err := db.pool.QueryRow(ctx, `
		INSERT INTO audit (ts, actor, action, target, remote_addr, detail) VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING id`, ts, e.Actor, e.Action, e.Target, e.RemoteAddr, detail).Scan(&id); err != nil {
		return fmt.Errorf("append audit event %s: %w", e.Action, err)
	}
	e.ID = id
	return nil
}

// FindAudit returns the events matching f, newest first. A Limit of 0 or
// less means DefaultAuditLimit; more than MaxAuditLimit means MaxAuditLimit.
func (db *DB) FindAudit(ctx context.Context, f gaffer.AuditFilter) ([]*gaffer.AuditEvent, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if f.Action != "" {
		add("action =", f.Action)
	}
	if f.Actor != "" {
		add("actor =", f.Actor)
	}
	if f.Before > 0 {
		add("id <", f.Before)
	}
	clause := ""
	if len(where) > 0 {
		clause = "WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, gaffer.AuditLimit(f.Limit))
	rows, err := db.pool.Query(ctx, `
		SELECT id, ts, actor, action, target, remote_addr, detail FROM audit `+clause+`
		ORDER BY id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*gaffer.AuditEvent, error) {
		var e gaffer.AuditEvent
		var ts int64
		var detail *string
		if err := row.Scan(&e.ID, &ts, &e.Actor, &e.Action, &e.Target, &e.RemoteAddr, &detail); err != nil {
			return nil, err
		}
		e.TS = fromNanos(ts)
		if detail != nil {
			e.Detail = json.RawMessage(*detail)
		}
		return &e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	return events, nil
}
