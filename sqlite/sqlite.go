// Package sqlite implements gaffer.JobStore on a single SQLite file.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"

	"modernc.org/sqlite"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Ensure DB implements the interface.
var _ gaffer.JobStore = (*DB)(nil)

// FindJobs page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// timeFormat has a fixed width so that stored times sort as text and keep
// every nanosecond.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Connection pools. In WAL mode any number of readers work beside one
// writer, and SQLite runs one write at a time anyway: so one connection
// writes (writes queue in the pool, not on SQLite's lock) and a few read.
// Both are bounded: a burst of requests waits for a connection instead of
// opening files until the process runs out of descriptors.
const (
	MaxReaders = 8
	// ReadWait bounds how long a read waits for a connection under load;
	// past it the read fails with EUNAVAILABLE (the API's 503).
	ReadWait = 5 * time.Second
)

// DB is a SQLite database holding jobs, runs and settings.
type DB struct {
	db  *sql.DB // the writer: one connection
	rdb *sql.DB // readers: up to MaxReaders connections

	// Now returns the current time; tests replace it.
	Now func() time.Time
}

// Open opens the database file at path, creating the file if needed (its
// directory must exist), and runs any migrations not yet applied.
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("sqlite: path required")
	}
	// WAL lets readers work while one connection writes; busy_timeout makes
	// concurrent writers wait instead of failing with "database is locked";
	// _txlock=immediate takes the write lock when a write transaction
	// begins, so a transaction that reads before it writes cannot fail to
	// upgrade its lock. Read-only transactions still begin deferred.
	file := "file:" + escapePath(path) + "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	sqldb, err := sql.Open("sqlite", file+"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sqldb.SetMaxOpenConns(1)
	sqldb.SetMaxIdleConns(1)
	db := &DB{db: sqldb, Now: time.Now}
	// While another process turns a new file to WAL, SQLite can answer
	// "database is locked" without waiting for busy_timeout: retry briefly.
	err = db.migrate(context.Background())
	for wait := 10 * time.Millisecond; err != nil && strings.Contains(err.Error(), "SQLITE_BUSY") && wait < 3*time.Second; wait *= 2 {
		time.Sleep(wait)
		err = db.migrate(context.Background())
	}
	if err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	// Opened once the file is in WAL mode (a setting kept in the file);
	// query_only keeps these connections to reading.
	if db.rdb, err = sql.Open("sqlite", file+"&_pragma=query_only(1)"); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.rdb.SetMaxOpenConns(MaxReaders)
	db.rdb.SetMaxIdleConns(MaxReaders)
	return db, nil
}

// busy turns the errors of an overloaded database into EUNAVAILABLE, which
// clients see as 503 with Retry-After: a wait for a connection that ran
// out (while the caller's own context is fine), or SQLite too busy or
// unable to open its files (out of descriptors).
func busy(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	var se *sqlite.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &se) && isBusyCode(se.Code()) {
		return gaffer.Errorf(gaffer.EUNAVAILABLE, "the job database is busy; try again in a few seconds")
	}
	return err
}

// isBusyCode: SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CANTOPEN (extended codes
// keep the primary code in their low byte).
func isBusyCode(code int) bool {
	switch code & 0xff {
	case 5, 6, 14:
		return true
	}
	return false
}

// readCtx bounds a read's wait for a connection.
func readCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, ReadWait)
}

// escapePath escapes the characters that would end or change the path part
// of a SQLite URI filename.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// Close closes the database.
func (db *DB) Close() error {
	return errors.Join(db.rdb.Close(), db.db.Close())
}

// migrate runs every embedded migration not yet recorded in the migrations
// table, in file name order, each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
	// In a write transaction (BEGIN IMMEDIATE), not autocommit: an
	// autocommit statement reads the schema before it writes, and a lock
	// upgrade that races another Open fails at once, busy_timeout or not.
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY)`); err != nil {
		tx.Rollback()
		return fmt.Errorf("create migrations table: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := db.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

func (db *DB) migrateFile(ctx context.Context, name string) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	// The check runs inside the write transaction, so two processes opening
	// the same file cannot both apply a migration.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	} else if n != 0 {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name) VALUES (?)`, name); err != nil {
		return err
	}
	return tx.Commit()
}

// now returns the current time in UTC without a monotonic reading.
func (db *DB) now() time.Time {
	return db.Now().UTC()
}

// CreateJob assigns job.ID and stores the job with its runs in the order
// given. A zero CreatedAt becomes the current time; CreatedAt is written back
// to job in UTC, as stored.
func (db *DB) CreateJob(ctx context.Context, job *gaffer.Job) error {
	if err := validateStatus(job.Status); err != nil {
		return err
	}
	seen := make(map[string]bool, len(job.Runs))
	for _, run := range job.Runs {
		if run.Host == "" {
			return gaffer.Errorf(gaffer.EINVALID, "run host required")
		} else if seen[run.Host] {
			return gaffer.Errorf(gaffer.EINVALID, "host %q appears more than once", run.Host)
		} else if err := validateStatus(run.Status); err != nil {
			return err
		}
		seen[run.Host] = true
	}
	if job.CreatedAt.IsZero() {
		job.CreatedAt = db.now()
	}
	job.CreatedAt = job.CreatedAt.UTC()
	cols, err := gaffer.StoreJob(job)
	if err != nil {
		return err
	}
	runFollow := make([]*string, len(job.Runs))
	for i, run := range job.Runs {
		if runFollow[i], err = gaffer.StoreFollowState(run.Follow); err != nil {
			return err
		}
	}

	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return busy(ctx, fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback()

	res, err := tx.ExecContext(ctx, `
		INSERT INTO jobs (command, status, created_by, created_at, started_at, finished_at, timeout, pty, concurrency, owner,
			follow, follow_from, retain, alerts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		job.Command, job.Status, job.CreatedBy, formatTime(job.CreatedAt),
		formatTimePtr(job.StartedAt), formatTimePtr(job.FinishedAt),
		int64(job.Timeout), job.PTY, job.Concurrency, job.Owner,
		cols.Follow, cols.From, cols.Retain, cols.Alerts)
	if err != nil {
		return fmt.Errorf("insert job: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("job id: %w", err)
	}
	for i, run := range job.Runs {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO runs (job_id, host, position, status, exit_code, signal, error, started_at, finished_at, follow)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, run.Host, i, run.Status, exitCode(run.ExitCode), run.Signal, run.Error,
			formatTimePtr(run.StartedAt), formatTimePtr(run.FinishedAt), runFollow[i]); err != nil {
			return fmt.Errorf("insert run %s: %w", run.Host, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	// Only now: a failed create leaves the caller's job without an id.
	job.ID = id
	return nil
}

// FindJob returns the job with its runs, or ENOTFOUND.
func (db *DB) FindJob(ctx context.Context, id int64) (*gaffer.Job, error) {
	rctx, cancel := readCtx(ctx)
	defer cancel()
	// One read transaction, so the job and its runs are from one snapshot.
	tx, err := db.rdb.BeginTx(rctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, busy(ctx, fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback()

	jobs, err := findJobs(rctx, tx, `WHERE id = ?`, []any{id}, 1)
	if err != nil {
		return nil, busy(ctx, err)
	} else if len(jobs) == 0 {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "job %d does not exist", id)
	}
	return jobs[0], nil
}

// FindJobs returns the jobs matching filter, newest first, with their runs.
// A Limit of 0 or less means DefaultLimit; more than MaxLimit means MaxLimit.
func (db *DB) FindJobs(ctx context.Context, filter gaffer.JobFilter) ([]*gaffer.Job, error) {
	var where []string
	var args []any
	if filter.Status != "" {
		if err := validateStatus(filter.Status); err != nil {
			return nil, err
		}
		where, args = append(where, "status = ?"), append(args, filter.Status)
	}
	if filter.Host != "" {
		where, args = append(where, "id IN (SELECT job_id FROM runs WHERE host = ?)"), append(args, filter.Host)
	}
	if filter.Before > 0 {
		where, args = append(where, "id < ?"), append(args, filter.Before)
	}
	limit := filter.Limit
	if limit <= 0 {
		limit = DefaultLimit
	} else if limit > MaxLimit {
		limit = MaxLimit
	}
	clause := ""
	if len(where) > 0 {
		clause = "WHERE " + strings.Join(where, " AND ")
	}

	rctx, cancel := readCtx(ctx)
	defer cancel()
	tx, err := db.rdb.BeginTx(rctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, busy(ctx, fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback()
	jobs, err := findJobs(rctx, tx, clause, args, limit)
	return jobs, busy(ctx, err)
}

// findJobs reads up to limit jobs matching the where clause, newest first,
// then the runs of all of them in one query.
func findJobs(ctx context.Context, tx *sql.Tx, where string, args []any, limit int) ([]*gaffer.Job, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT id, command, status, created_by, created_at, started_at, finished_at, timeout, pty, concurrency, owner,
			follow, follow_from, retain, alerts
		FROM jobs `+where+`
		ORDER BY id DESC
		LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("query jobs: %w", err)
	}
	defer rows.Close()

	jobs := []*gaffer.Job{}
	byID := make(map[int64]*gaffer.Job)
	for rows.Next() {
		var job gaffer.Job
		var createdAt string
		var startedAt, finishedAt sql.NullString
		var timeout int64
		var cols gaffer.JobColumns
		if err := rows.Scan(&job.ID, &job.Command, &job.Status, &job.CreatedBy, &createdAt,
			&startedAt, &finishedAt, &timeout, &job.PTY, &job.Concurrency, &job.Owner,
			&cols.Follow, &cols.From, &cols.Retain, &cols.Alerts); err != nil {
			return nil, fmt.Errorf("scan job: %w", err)
		}
		if err := cols.LoadJob(&job); err != nil {
			return nil, fmt.Errorf("job %d: %w", job.ID, err)
		}
		if job.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, err
		} else if job.StartedAt, err = parseTimePtr(startedAt); err != nil {
			return nil, err
		} else if job.FinishedAt, err = parseTimePtr(finishedAt); err != nil {
			return nil, err
		}
		job.Timeout = gaffer.Duration(timeout)
		job.Runs = []*gaffer.Run{}
		jobs = append(jobs, &job)
		byID[job.ID] = &job
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query jobs: %w", err)
	}
	rows.Close()
	if len(jobs) == 0 {
		return jobs, nil
	}

	// At most MaxLimit ids, well under SQLite's limit on bound parameters.
	ids := make([]any, len(jobs))
	for i, job := range jobs {
		ids[i] = job.ID
	}
	rows, err = tx.QueryContext(ctx, `
		SELECT job_id, host, status, exit_code, signal, error, started_at, finished_at, follow
		FROM runs
		WHERE job_id IN (`+placeholders(len(ids))+`)
		ORDER BY job_id, position`, ids...)
	if err != nil {
		return nil, fmt.Errorf("query runs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var run gaffer.Run
		var jobID int64
		var exit sql.NullInt64
		var startedAt, finishedAt sql.NullString
		var follow *string
		if err := rows.Scan(&jobID, &run.Host, &run.Status, &exit, &run.Signal, &run.Error,
			&startedAt, &finishedAt, &follow); err != nil {
			return nil, fmt.Errorf("scan run: %w", err)
		}
		if run.Follow, err = gaffer.LoadFollowState(follow); err != nil {
			return nil, fmt.Errorf("job %d run %s: %w", jobID, run.Host, err)
		}
		if exit.Valid {
			code := int(exit.Int64)
			run.ExitCode = &code
		}
		if run.StartedAt, err = parseTimePtr(startedAt); err != nil {
			return nil, err
		} else if run.FinishedAt, err = parseTimePtr(finishedAt); err != nil {
			return nil, err
		}
		job := byID[jobID]
		job.Runs = append(job.Runs, &run)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query runs: %w", err)
	}
	return jobs, nil
}

// UpdateJob stores the job's status, started and finished times.
func (db *DB) UpdateJob(ctx context.Context, job *gaffer.Job) error {
	if err := validateStatus(job.Status); err != nil {
		return err
	}
	res, err := db.db.ExecContext(ctx, `
		UPDATE jobs SET status = ?, started_at = ?, finished_at = ? WHERE id = ?`,
		job.Status, formatTimePtr(job.StartedAt), formatTimePtr(job.FinishedAt), job.ID)
	if err != nil {
		return fmt.Errorf("update job %d: %w", job.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update job %d: %w", job.ID, err)
	} else if n == 0 {
		return gaffer.Errorf(gaffer.ENOTFOUND, "job %d does not exist", job.ID)
	}
	return nil
}

// UpdateRun stores the status, exit code, signal, error, times and follow
// state of the job's run on run.Host.
func (db *DB) UpdateRun(ctx context.Context, jobID int64, run *gaffer.Run) error {
	if err := validateStatus(run.Status); err != nil {
		return err
	}
	follow, err := gaffer.StoreFollowState(run.Follow)
	if err != nil {
		return err
	}
	res, err := db.db.ExecContext(ctx, `
		UPDATE runs SET status = ?, exit_code = ?, signal = ?, error = ?, started_at = ?, finished_at = ?, follow = ?
		WHERE job_id = ? AND host = ?`,
		run.Status, exitCode(run.ExitCode), run.Signal, run.Error,
		formatTimePtr(run.StartedAt), formatTimePtr(run.FinishedAt), follow, jobID, run.Host)
	if err != nil {
		return fmt.Errorf("update run %d/%s: %w", jobID, run.Host, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update run %d/%s: %w", jobID, run.Host, err)
	} else if n > 0 {
		return nil
	}

	// Nothing updated: say which part is missing.
	var exists bool
	if err := db.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM jobs WHERE id = ?)`, jobID).Scan(&exists); err != nil {
		return fmt.Errorf("find job %d: %w", jobID, err)
	} else if !exists {
		return gaffer.Errorf(gaffer.ENOTFOUND, "job %d does not exist", jobID)
	}
	return gaffer.Errorf(gaffer.ENOTFOUND, "job %d has no run on host %q", jobID, run.Host)
}

// InterruptUnfinished marks every queued or running run as interrupted,
// finished now, with reason as its error unless it already has one, and
// every queued or running job as interrupted, finished now. It returns the
// ids of those jobs, ascending. Everything happens in one transaction.
func (db *DB) InterruptUnfinished(ctx context.Context, reason string) ([]int64, error) {
	now := formatTime(db.now())

	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()

	rows, err := tx.QueryContext(ctx, `SELECT id FROM jobs WHERE status IN ('queued', 'running') ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("query unfinished jobs: %w", err)
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan job id: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query unfinished jobs: %w", err)
	}
	rows.Close()

	if _, err := tx.ExecContext(ctx, `
		UPDATE runs
		SET status = 'interrupted', finished_at = ?, error = CASE WHEN error = '' THEN ? ELSE error END
		WHERE status IN ('queued', 'running')`, now, reason); err != nil {
		return nil, fmt.Errorf("interrupt runs: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE jobs SET status = 'interrupted', finished_at = ?
		WHERE status IN ('queued', 'running')`, now); err != nil {
		return nil, fmt.Errorf("interrupt jobs: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return ids, nil
}

// Heartbeat records that instance owner is alive at now and returns the ids
// of its queued or running jobs whose cancel was requested, ascending. A
// heartbeat older than one already recorded leaves the later time.
func (db *DB) Heartbeat(ctx context.Context, owner string, now time.Time) ([]int64, error) {
	if owner == "" {
		return nil, gaffer.Errorf(gaffer.EINVALID, "instance name required")
	}

	// A write transaction: InterruptStale, also one, sees this heartbeat
	// whole or runs entirely before it.
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()

	// Fixed-width times compare as text, so max keeps the later one.
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO instances (owner, heartbeat_at) VALUES (?, ?)
		ON CONFLICT (owner) DO UPDATE SET heartbeat_at = max(heartbeat_at, excluded.heartbeat_at)`,
		owner, formatTime(now)); err != nil {
		return nil, fmt.Errorf("record heartbeat of %q: %w", owner, err)
	}
	ids, err := queryIDs(ctx, tx, `
		SELECT id FROM jobs
		WHERE owner = ? AND status IN ('queued', 'running') AND cancel_requested
		ORDER BY id`, owner)
	if err != nil {
		return nil, fmt.Errorf("find jobs to cancel: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return ids, nil
}

// RequestCancel marks a queued or running job for its owner to cancel. It
// returns ENOTFOUND if there is no such job, ECONFLICT if it is finished.
func (db *DB) RequestCancel(ctx context.Context, id int64) error {
	// One statement reads the status it decides on: a finished job keeps
	// its flag as it was, and the status returned says why.
	var status gaffer.Status
	err := db.db.QueryRowContext(ctx, `
		UPDATE jobs SET cancel_requested = cancel_requested OR status IN ('queued', 'running')
		WHERE id = ?
		RETURNING status`, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return gaffer.Errorf(gaffer.ENOTFOUND, "job %d does not exist", id)
	} else if err != nil {
		return busy(ctx, fmt.Errorf("request cancel of job %d: %w", id, err))
	} else if status.Done() {
		return gaffer.Errorf(gaffer.ECONFLICT, "job %d is already %s", id, status)
	}
	return nil
}

// staleJobs selects the unfinished jobs whose owner's last heartbeat is
// before ?1, or that were created before ?1 by an owner that never sent one.
const staleJobs = `
	status IN ('queued', 'running') AND (
		owner IN (SELECT i.owner FROM instances i WHERE i.heartbeat_at < ?1)
		OR (created_at < ?1 AND owner NOT IN (SELECT i.owner FROM instances i)))`

// InterruptStale marks the queued or running jobs whose owner has sent no
// heartbeat since before (or never did, for jobs created before it) as
// interrupted, finished now, with their queued or running runs, which also
// get reason as their error unless they have one. It returns the ids of
// those jobs, ascending. Everything happens in one write transaction, so
// calls from several processes take turns and a heartbeat is either seen
// or comes after.
func (db *DB) InterruptStale(ctx context.Context, before time.Time, reason string) ([]int64, error) {
	now := formatTime(db.now())
	cutoff := formatTime(before)

	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()

	ids, err := queryIDs(ctx, tx, `SELECT id FROM jobs WHERE `+staleJobs+` ORDER BY id`, cutoff)
	if err != nil {
		return nil, fmt.Errorf("query stale jobs: %w", err)
	}
	if len(ids) == 0 {
		return ids, nil
	}
	// Runs first: once their jobs are interrupted, staleJobs no longer
	// selects them.
	if _, err := tx.ExecContext(ctx, `
		UPDATE runs
		SET status = 'interrupted', finished_at = ?2, error = CASE WHEN error = '' THEN ?3 ELSE error END
		WHERE status IN ('queued', 'running') AND job_id IN (SELECT id FROM jobs WHERE `+staleJobs+`)`,
		cutoff, now, reason); err != nil {
		return nil, fmt.Errorf("interrupt runs: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE jobs SET status = 'interrupted', finished_at = ?2
		WHERE `+staleJobs, cutoff, now); err != nil {
		return nil, fmt.Errorf("interrupt jobs: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return ids, nil
}

// queryIDs returns the int64 values of the query's only column.
func queryIDs(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Setting returns the value stored under key, or ENOTFOUND.
func (db *DB) Setting(ctx context.Context, key string) (string, error) {
	rctx, cancel := readCtx(ctx)
	defer cancel()
	var value string
	err := db.rdb.QueryRowContext(rctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", gaffer.Errorf(gaffer.ENOTFOUND, "setting %q does not exist", key)
	} else if err != nil {
		return "", busy(ctx, fmt.Errorf("read setting %q: %w", key, err))
	}
	return value, nil
}

// SetSetting stores value under key, replacing any earlier value.
func (db *DB) SetSetting(ctx context.Context, key, value string) error {
	if _, err := db.db.ExecContext(ctx, `
		INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("write setting %q: %w", key, err)
	}
	return nil
}

func validateStatus(s gaffer.Status) error {
	if !s.Valid() {
		return gaffer.Errorf(gaffer.EINVALID, "status %q is not valid", s)
	}
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func exitCode(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func formatTime(t time.Time) string {
	return t.UTC().Format(timeFormat)
}

func formatTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse time %q: %w", s, err)
	}
	return t.UTC(), nil
}

func parseTimePtr(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}
