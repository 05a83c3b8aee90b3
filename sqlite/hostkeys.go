package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Ensure DB implements the interface.
var _ gaffer.HostKeyStore = (*DB)(nil)

const hostKeyColumns = `host, fingerprint, address, type, key, state, first_seen, last_seen, approved_by, approved_at`

// OfferHostKey records that k.Host offered k: a new key is stored pending,
// first and last seen at k.LastSeen (a zero one: now); a known key only has
// its last seen time moved, never back.
func (db *DB) OfferHostKey(ctx context.Context, k *gaffer.HostKey) error {
	if err := k.Validate(); err != nil {
		return err
	}
	seen := k.LastSeen
	if seen.IsZero() {
		seen = db.now()
	}
	// Fixed-width times compare as text, so max keeps the later one.
	if _, err := db.db.ExecContext(ctx, `
		INSERT INTO host_keys (host, fingerprint, address, type, key, state, first_seen, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (host, fingerprint) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`,
		k.Host, k.Fingerprint, k.Address, k.Type, k.Key, gaffer.HostKeyPending, formatTime(seen), formatTime(seen)); err != nil {
		return busy(ctx, fmt.Errorf("record host key %s of %s: %w", k.Fingerprint, k.Host, err))
	}
	return nil
}

// FindHostKeys returns the keys of host ("" for every host), by host, then
// first seen.
func (db *DB) FindHostKeys(ctx context.Context, host string) ([]*gaffer.HostKey, error) {
	where, args := "", []any{}
	if host != "" {
		where, args = "WHERE host = ?", append(args, host)
	}
	rctx, cancel := readCtx(ctx)
	defer cancel()
	rows, err := db.rdb.QueryContext(rctx, `SELECT `+hostKeyColumns+` FROM host_keys `+where+`
		ORDER BY host, first_seen, fingerprint`, args...)
	if err != nil {
		return nil, busy(ctx, fmt.Errorf("query host keys: %w", err))
	}
	defer rows.Close()
	keys := []*gaffer.HostKey{}
	for rows.Next() {
		k, err := scanHostKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, busy(ctx, fmt.Errorf("query host keys: %w", err))
	}
	return keys, nil
}

// ApproveHostKey marks host's key with fingerprint approved by by at at
// (a key already approved keeps its first approval). Another approved key
// of the host is a conflict unless replace, which deletes it. It returns
// the key and the fingerprints it replaced. One write transaction, so
// approvals of one host take turns.
func (db *DB) ApproveHostKey(ctx context.Context, host, fingerprint, by string, at time.Time, replace bool) (*gaffer.HostKey, []string, error) {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, busy(ctx, fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback()

	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM host_keys WHERE host = ? AND fingerprint = ?)`,
		host, fingerprint).Scan(&exists); err != nil {
		return nil, nil, busy(ctx, fmt.Errorf("find host key: %w", err))
	} else if !exists {
		return nil, nil, gaffer.HostKeyNotOffered(host, fingerprint)
	}
	others, err := queryStrings(ctx, tx, `
		SELECT fingerprint FROM host_keys WHERE host = ? AND state = ? AND fingerprint <> ?
		ORDER BY fingerprint`, host, gaffer.HostKeyApproved, fingerprint)
	if err != nil {
		return nil, nil, busy(ctx, fmt.Errorf("find approved keys of %s: %w", host, err))
	}
	if len(others) > 0 && !replace {
		return nil, nil, gaffer.HostKeyChanged(host, fingerprint, others)
	}
	if len(others) > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM host_keys WHERE host = ? AND state = ? AND fingerprint <> ?`,
			host, gaffer.HostKeyApproved, fingerprint); err != nil {
			return nil, nil, busy(ctx, fmt.Errorf("delete replaced keys of %s: %w", host, err))
		}
	}
	// SET reads the row as it was: an approved key keeps its approval.
	k, err := scanHostKey(tx.QueryRowContext(ctx, `
		UPDATE host_keys SET state = ?1,
			approved_by = CASE WHEN state = ?1 THEN approved_by ELSE ?2 END,
			approved_at = CASE WHEN state = ?1 THEN approved_at ELSE ?3 END
		WHERE host = ?4 AND fingerprint = ?5
		RETURNING `+hostKeyColumns, gaffer.HostKeyApproved, by, formatTime(at), host, fingerprint))
	if err != nil {
		return nil, nil, busy(ctx, fmt.Errorf("approve host key: %w", err))
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, busy(ctx, fmt.Errorf("commit: %w", err))
	}
	return k, others, nil
}

// queryStrings returns the string values of the query's only column.
func queryStrings(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// scanHostKey reads the hostKeyColumns of one row.
func scanHostKey(row rowScanner) (*gaffer.HostKey, error) {
	var k gaffer.HostKey
	var firstSeen, lastSeen string
	var approvedAt sql.NullString
	if err := row.Scan(&k.Host, &k.Fingerprint, &k.Address, &k.Type, &k.Key, &k.State,
		&firstSeen, &lastSeen, &k.ApprovedBy, &approvedAt); err != nil {
		return nil, err
	}
	var err error
	if k.FirstSeen, err = parseTime(firstSeen); err != nil {
		return nil, err
	} else if k.LastSeen, err = parseTime(lastSeen); err != nil {
		return nil, err
	} else if k.ApprovedAt, err = parseTimePtr(approvedAt); err != nil {
		return nil, err
	}
	return &k, nil
}
