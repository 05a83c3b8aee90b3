package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/jackc/pgx/v5"
)

// Ensure DB implements the interface.
var _ gaffer.HostKeyStore = (*DB)(nil)

const hostKeyColumns = `host, fingerprint, address, type, key, state, first_seen, last_seen, approved_by, approved_at`

// OfferHostKey records that k.Host offered k: a new key is stored pending,
// first and last seen at k.LastSeen (a zero one: now); a known key only has
// its last seen time moved, never back. One statement: instances offering
// the same key at once store one row.
func (db *DB) OfferHostKey(ctx context.Context, k *gaffer.HostKey) error {
	if err := k.Validate(); err != nil {
		return err
	}
	seen := k.LastSeen
	if seen.IsZero() {
		seen = db.now()
	}
	at, err := nanos(seen)
	if err != nil {
		return err
	}
	if _, err := db.pool.Exec(ctx, `
		INSERT INTO host_keys (host, fingerprint, address, type, key, state, first_seen, last_seen)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
		ON CONFLICT (host, fingerprint) DO UPDATE SET last_seen = GREATEST(host_keys.last_seen, excluded.last_seen)`,
		k.Host, k.Fingerprint, k.Address, k.Type, k.Key, gaffer.HostKeyPending, at); err != nil {
		return fmt.Errorf("record host key %s of %s: %w", k.Fingerprint, k.Host, err)
	}
	return nil
}

// FindHostKeys returns the keys of host ("" for every host), by host (in
// byte order, whatever the database's collation), then first seen.
func (db *DB) FindHostKeys(ctx context.Context, host string) ([]*gaffer.HostKey, error) {
	where, args := "", []any{}
	if host != "" {
		where, args = "WHERE host = $1", append(args, host)
	}
	rows, err := db.pool.Query(ctx, `SELECT `+hostKeyColumns+` FROM host_keys `+where+`
		ORDER BY host COLLATE "C", first_seen, fingerprint COLLATE "C"`, args...)
	if err != nil {
		return nil, fmt.Errorf("query host keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*gaffer.HostKey, error) { return scanHostKey(row) })
	if err != nil {
		return nil, fmt.Errorf("query host keys: %w", err)
	}
	return keys, nil
}

// ApproveHostKey marks host's key with fingerprint approved by by at at
// (a key already approved keeps its first approval). Another approved key
// of the host is a conflict unless replace, which deletes it. It returns
// the key and the fingerprints it replaced.
func (db *DB) ApproveHostKey(ctx context.Context, host, fingerprint, by string, at time.Time, replace bool) (*gaffer.HostKey, []string, error) {
	when, err := nanos(at)
	if err != nil {
		return nil, nil, err
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx)

	// Locking every key of the host, in one order, makes approvals of one
	// host take turns: the second sees the first's approval and conflicts.
	rows, err := tx.Query(ctx, `
		SELECT fingerprint, state FROM host_keys WHERE host = $1
		ORDER BY fingerprint COLLATE "C" FOR UPDATE`, host)
	if err != nil {
		return nil, nil, fmt.Errorf("lock keys of %s: %w", host, err)
	}
	type fpState struct{ fp, state string }
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (fpState, error) {
		var k fpState
		return k, row.Scan(&k.fp, &k.state)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("lock keys of %s: %w", host, err)
	}
	if !slices.ContainsFunc(keys, func(k fpState) bool { return k.fp == fingerprint }) {
		return nil, nil, gaffer.HostKeyNotOffered(host, fingerprint)
	}
	others := []string{}
	for _, k := range keys {
		if k.fp != fingerprint && k.state == gaffer.HostKeyApproved {
			others = append(others, k.fp)
		}
	}
	if len(others) > 0 && !replace {
		return nil, nil, gaffer.HostKeyChanged(host, fingerprint, others)
	}
	if len(others) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM host_keys WHERE host = $1 AND fingerprint = ANY($2)`, host, others); err != nil {
			return nil, nil, fmt.Errorf("delete replaced keys of %s: %w", host, err)
		}
	}
	// SET reads the row as it was: an approved key keeps its approval.
	k, err := scanHostKey(tx.QueryRow(ctx, `
		UPDATE host_keys SET state = $1,
			approved_by = CASE WHEN state = $1 THEN approved_by ELSE $2 END,
			approved_at = CASE WHEN state = $1 THEN approved_at ELSE $3 END
		WHERE host = $4 AND fingerprint = $5
		RETURNING `+hostKeyColumns, gaffer.HostKeyApproved, by, when, host, fingerprint))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, gaffer.HostKeyNotOffered(host, fingerprint)
	} else if err != nil {
		return nil, nil, fmt.Errorf("approve host key: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, nil, fmt.Errorf("commit: %w", err)
	}
	return k, others, nil
}

// scanHostKey reads the hostKeyColumns of one row.
func scanHostKey(row pgx.Row) (*gaffer.HostKey, error) {
	var k gaffer.HostKey
	var firstSeen, lastSeen int64
	var approvedAt *int64
	if err := row.Scan(&k.Host, &k.Fingerprint, &k.Address, &k.Type, &k.Key, &k.State,
		&firstSeen, &lastSeen, &k.ApprovedBy, &approvedAt); err != nil {
		return nil, err
	}
	k.FirstSeen, k.LastSeen, k.ApprovedAt = fromNanos(firstSeen), fromNanos(lastSeen), fromNanosPtr(approvedAt)
	return &k, nil
}
