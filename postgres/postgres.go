// Package postgres implements gaffer.JobStore on PostgreSQL, for servers that
// share one database.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
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

// Advisory lock keys ("gaffer" and a number). Advisory locks are per
// database, so other databases on the same server do not contend.
const (
	migrateLock   int64 = 0x6761666665720001
	interruptLock int64 = 0x6761666665720002 // heartbeats take it shared
)

// defaultConnectTimeout bounds each connection attempt when the URL sets no
// connect_timeout, so an unreachable server is reported rather than waited
// on for minutes.
const defaultConnectTimeout = 10 * time.Second

// Times are stored as int64 nanoseconds since the Unix epoch, which covers
// these years only.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// DB is a PostgreSQL database holding jobs, runs and settings.
type DB struct {
	pool *pgxpool.Pool
	// lease carries heartbeats and sweeps on connections of their own, so
	// that requests filling the pool (a thousand viewers) never hold an
	// instance's heartbeat back past its lease.
	lease *pgxpool.Pool

	// Now returns the current time; tests replace it.
	Now func() time.Time
}

// Open connects to the database at url (postgres://user:pass@host:port/db),
// checks that it answers and runs any migrations not yet applied.
func Open(ctx context.Context, url string) (*DB, error) {
	if url == "" {
		return nil, fmt.Errorf("postgres: URL required")
	}
	// pgx removes the password from the URL it shows in parse errors.
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("invalid PostgreSQL URL: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	addr := net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", addr, err)
	}
	// The pool connects lazily: ping so that a wrong address fails here.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, connectError(addr, err)
	}
	lcfg := cfg.Copy()
	lcfg.MaxConns, lcfg.MinConns = leaseConns, 0
	lease, err := pgxpool.NewWithConfig(ctx, lcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", addr, err)
	}
	db := &DB{pool: pool, lease: lease, Now: time.Now}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate PostgreSQL at %s: %w", addr, err)
	}
	return db, nil
}

// connectError says whether the server could not be reached or answered
// with a refusal (no such database, wrong password). Neither message holds
// the password.
func connectError(addr string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return fmt.Errorf("PostgreSQL at %s refused the connection: %w", addr, pgErr)
	}
	// The innermost network error says it plainly: "dial tcp ...: connection refused".
	var netErr *net.OpError
	if errors.As(err, &netErr) {
		err = netErr
	}
	return fmt.Errorf("cannot reach PostgreSQL at %s: %w", addr, err)
}

// leaseConns bounds the lease's connections: heartbeats (a new one may
// start while another is stuck) and one sweep.
const leaseConns = 3

// Close closes every connection.
func (db *DB) Close() error {
	db.pool.Close()
	db.lease.Close()
	return nil
}

// migrate runs every embedded migration not yet recorded in the migrations
// table, in file name order, each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
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
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)

	// Servers starting together queue here until the holder commits, so
	// each migration is applied once. The lock also makes CREATE TABLE IF
	// NOT EXISTS safe: run concurrently, it can fail on a duplicate key.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS migrations (name text PRIMARY KEY)`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	var done bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM migrations WHERE name = $1)`, name).Scan(&done); err != nil {
		return err
	} else if done {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	// Without arguments pgx uses the simple protocol, which runs a file of
	// several statements.
	if _, err := tx.Exec(ctx, string(buf)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO migrations (name) VALUES ($1)`, name); err != nil {
		return err
	}
	return tx.Commit(ctx)
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
	n := len(job.Runs)
	// Columns of the runs, passed as arrays (never nil: nil is NULL).
	var (
		hosts      = make([]string, n)
		statuses   = make([]string, n)
		exitCodes  = make([]*int64, n)
		signals    = make([]string, n)
		errs       = make([]string, n)
		runStarts  = make([]*int64, n)
		runFinishs = make([]*int64, n)
		runFollows = make([]*string, n)
	)
	seen := make(map[string]bool, n)
	for i, run := range job.Runs {
		if run.Host == "" {
			return gaffer.Errorf(gaffer.EINVALID, "run host required")
		} else if seen[run.Host] {
			return gaffer.Errorf(gaffer.EINVALID, "host %q appears more than once", run.Host)
		} else if err := validateStatus(run.Status); err != nil {
			return err
		}
		seen[run.Host] = true

		var err error
		if runStarts[i], err = nanosPtr(run.StartedAt); err != nil {
			return err
		} else if runFinishs[i], err = nanosPtr(run.FinishedAt); err != nil {
			return err
		} else if runFollows[i], err = gaffer.StoreFollowState(run.Follow); err != nil {
			return err
		}
		hosts[i], statuses[i], signals[i], errs[i] = run.Host, string(run.Status), run.Signal, run.Error
		if run.ExitCode != nil {
			code := int64(*run.ExitCode)
			exitCodes[i] = &code
		}
	}
	if job.CreatedAt.IsZero() {
		job.CreatedAt = db.now()
	}
	job.CreatedAt = job.CreatedAt.UTC()
	createdAt, err := nanos(job.CreatedAt)
	if err != nil {
		return err
	}
	startedAt, err := nanosPtr(job.StartedAt)
	if err != nil {
		return err
	}
	finishedAt, err := nanosPtr(job.FinishedAt)
	if err != nil {
		return err
	}
	cols, err := gaffer.StoreJob(job)
	if err != nil {
		return err
	}

	// One statement inserts the job and all its runs: atomic without an
	// explicit transaction, and one round trip however many hosts.
	var id int64
	if err := db.pool.QueryRow(ctx, `
		WITH new_job AS (
			INSERT INTO jobs (command, status, created_by, created_at, started_at, finished_at, timeout, pty, concurrency, owner,
				follow, follow_from, retain, alerts)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $17, $19, $20, $21, $22)
			RETURNING id
		), new_runs AS (
			INSERT INTO runs (job_id, host, position, status, exit_code, signal, error, started_at, finished_at, follow)
			SELECT new_job.id, r.host, r.position - 1, r.status, r.exit_code, r.signal, r.error, r.started_at, r.finished_at, r.follow
			FROM new_job, unnest($10::text[], $11::text[], $12::bigint[], $13::text[], $14::text[], $15::bigint[], $16::bigint[], $18::text[])
				WITH ORDINALITY AS r (host, status, exit_code, signal, error, started_at, finished_at, follow, position)
		)
		SELECT id FROM new_job`,
		job.Command, string(job.Status), job.CreatedBy, createdAt, startedAt, finishedAt,
		int64(job.Timeout), job.PTY, int64(job.Concurrency),
		hosts, statuses, exitCodes, signals, errs, runStarts, runFinishs, job.Owner,
		runFollows, cols.Follow, cols.From, cols.Retain, cols.Alerts,
	).Scan(&id); err != nil {
		return fmt.Errorf("insert job: %w", err)
	}
	// Only now: a failed create leaves the caller's job without an id.
	job.ID = id
	return nil
}

// FindJob returns the job with its runs, or ENOTFOUND.
func (db *DB) FindJob(ctx context.Context, id int64) (*gaffer.Job, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)

	jobs, err := findJobs(ctx, tx, `WHERE id = $1`, []any{id}, 1)
	if err != nil {
		return nil, err
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
		args = append(args, string(filter.Status))
		where = append(where, fmt.Sprintf("status = $%d", len(args)))
	}
	if filter.Host != "" {
		args = append(args, filter.Host)
		where = append(where, fmt.Sprintf("id IN (SELECT job_id FROM runs WHERE host = $%d)", len(args)))
	}
	if filter.Before > 0 {
		args = append(args, filter.Before)
		where = append(where, fmt.Sprintf("id < $%d", len(args)))
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

	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	return findJobs(ctx, tx, clause, args, limit)
}

// beginRead starts a read-only transaction whose queries all see one
// snapshot, so a job and its runs are read as they were at one moment.
// Read-only, it never fails to serialize.
func (db *DB) beginRead(ctx context.Context) (pgx.Tx, error) {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return tx, nil
}

// findJobs reads up to limit jobs matching the where clause, newest first,
// then the runs of all of them in one query. The where clause uses $1 to
// $len(args).
func findJobs(ctx context.Context, tx pgx.Tx, where string, args []any, limit int) ([]*gaffer.Job, error) {
	args = append(args, limit)
	rows, err := tx.Query(ctx, `
		SELECT id, command, status, created_by, created_at, started_at, finished_at, timeout, pty, concurrency, owner,
			follow, follow_from, retain, alerts
		FROM jobs `+where+`
		ORDER BY id DESC
		LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("query jobs: %w", err)
	}
	defer rows.Close()

	jobs := []*gaffer.Job{}
	byID := make(map[int64]*gaffer.Job)
	ids := []int64{}
	for rows.Next() {
		var job gaffer.Job
		var status string
		var createdAt, timeout, concurrency int64
		var startedAt, finishedAt *int64
		var cols gaffer.JobColumns
		if err := rows.Scan(&job.ID, &job.Command, &status, &job.CreatedBy, &createdAt,
			&startedAt, &finishedAt, &timeout, &job.PTY, &concurrency, &job.Owner,
			&cols.Follow, &cols.From, &cols.Retain, &cols.Alerts); err != nil {
			return nil, fmt.Errorf("scan job: %w", err)
		}
		if err := cols.LoadJob(&job); err != nil {
			return nil, fmt.Errorf("job %d: %w", job.ID, err)
		}
		job.Status = gaffer.Status(status)
		job.CreatedAt = fromNanos(createdAt)
		job.StartedAt, job.FinishedAt = fromNanosPtr(startedAt), fromNanosPtr(finishedAt)
		job.Timeout = gaffer.Duration(timeout)
		job.Concurrency = int(concurrency)
		job.Runs = []*gaffer.Run{}
		jobs = append(jobs, &job)
		byID[job.ID] = &job
		ids = append(ids, job.ID)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query jobs: %w", err)
	}
	rows.Close()
	if len(jobs) == 0 {
		return jobs, nil
	}

	rows, err = tx.Query(ctx, `
		SELECT job_id, host, status, exit_code, signal, error, started_at, finished_at, follow
		FROM runs
		WHERE job_id = ANY($1)
		ORDER BY job_id, position`, ids)
	if err != nil {
		return nil, fmt.Errorf("query runs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var run gaffer.Run
		var jobID int64
		var status string
		var exit, startedAt, finishedAt *int64
		var follow *string
		if err := rows.Scan(&jobID, &run.Host, &status, &exit, &run.Signal, &run.Error,
			&startedAt, &finishedAt, &follow); err != nil {
			return nil, fmt.Errorf("scan run: %w", err)
		}
		if run.Follow, err = gaffer.LoadFollowState(follow); err != nil {
			return nil, fmt.Errorf("job %d run %s: %w", jobID, run.Host, err)
		}
		run.Status = gaffer.Status(status)
		if exit != nil {
			code := int(*exit)
			run.ExitCode = &code
		}
		run.StartedAt, run.FinishedAt = fromNanosPtr(startedAt), fromNanosPtr(finishedAt)
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
	startedAt, err := nanosPtr(job.StartedAt)
	if err != nil {
		return err
	}
	finishedAt, err := nanosPtr(job.FinishedAt)
	if err != nil {
		return err
	}
	tag, err := db.pool.Exec(ctx, `
		UPDATE jobs SET status = $1, started_at = $2, finished_at = $3 WHERE id = $4`,
		string(job.Status), startedAt, finishedAt, job.ID)
	if err != nil {
		return fmt.Errorf("update job %d: %w", job.ID, err)
	} else if tag.RowsAffected() == 0 {
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
	startedAt, err := nanosPtr(run.StartedAt)
	if err != nil {
		return err
	}
	finishedAt, err := nanosPtr(run.FinishedAt)
	if err != nil {
		return err
	}
	follow, err := gaffer.StoreFollowState(run.Follow)
	if err != nil {
		return err
	}
	var exit *int64
	if run.ExitCode != nil {
		code := int64(*run.ExitCode)
		exit = &code
	}
	tag, err := db.pool.Exec(ctx, `
		UPDATE runs SET status = $1, exit_code = $2, signal = $3, error = $4, started_at = $5, finished_at = $6, follow = $9
		WHERE job_id = $7 AND host = $8`,
		string(run.Status), exit, run.Signal, run.Error, startedAt, finishedAt, jobID, run.Host, follow)
	if err != nil {
		return fmt.Errorf("update run %d/%s: %w", jobID, run.Host, err)
	} else if tag.RowsAffected() > 0 {
		return nil
	}

	// Nothing updated: say which part is missing.
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM jobs WHERE id = $1)`, jobID).Scan(&exists); err != nil {
		return fmt.Errorf("find job %d: %w", jobID, err)
	} else if !exists {
		return gaffer.Errorf(gaffer.ENOTFOUND, "job %d does not exist", jobID)
	}
	return gaffer.Errorf(gaffer.ENOTFOUND, "job %d has no run on host %q", jobID, run.Host)
}

// InterruptUnfinished marks every queued or running run as interrupted,
// finished now, with reason as its error unless it already has one, and
// every queued or running job as interrupted, finished now. It returns the
// ids of those jobs, ascending. Everything happens in one statement, so
// jobs and runs are chosen from one snapshot.
func (db *DB) InterruptUnfinished(ctx context.Context, reason string) ([]int64, error) {
	now, err := nanos(db.now())
	if err != nil {
		return nil, err
	}

	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx)

	// Calls take turns: two of them locking the same rows in different
	// orders (rows move as they are updated) could deadlock.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, interruptLock); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	rows, err := tx.Query(ctx, `
		WITH interrupted_runs AS (
			UPDATE runs
			SET status = 'interrupted', finished_at = $1, error = CASE WHEN error = '' THEN $2 ELSE error END
			WHERE status IN ('queued', 'running')
		), interrupted_jobs AS (
			UPDATE jobs SET status = 'interrupted', finished_at = $1
			WHERE status IN ('queued', 'running')
			RETURNING id
		)
		SELECT id FROM interrupted_jobs ORDER BY id`, now, reason)
	if err != nil {
		return nil, fmt.Errorf("interrupt jobs: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("interrupt jobs: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
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
	at, err := nanos(now)
	if err != nil {
		return nil, err
	}

	// The shared lock lets heartbeats run together but not during an
	// InterruptStale, which takes it exclusively: a heartbeat is either
	// seen by a sweep or recorded after it. Without it, a sweep whose
	// snapshot predates the heartbeat could still interrupt the jobs of an
	// owner whose heartbeat had already returned. A batch runs in one
	// implicit transaction, which holds the lock, in one round trip.
	batch := &pgx.Batch{}
	batch.Queue(`SELECT pg_advisory_xact_lock_shared($1)`, interruptLock)
	batch.Queue(`
		WITH heartbeat AS (
			INSERT INTO instances (owner, heartbeat_at) VALUES ($1, $2)
			ON CONFLICT (owner) DO UPDATE SET heartbeat_at = GREATEST(instances.heartbeat_at, excluded.heartbeat_at)
		)
		SELECT id FROM jobs
		WHERE owner = $1 AND status IN ('queued', 'running') AND cancel_requested
		ORDER BY id`, owner, at)
	results := db.lease.SendBatch(ctx, batch)
	defer results.Close()
	if _, err := results.Exec(); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	rows, err := results.Query()
	if err != nil {
		return nil, fmt.Errorf("record heartbeat of %q: %w", owner, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("record heartbeat of %q: %w", owner, err)
	}
	// Closing ends the implicit transaction: only then is the heartbeat
	// committed.
	if err := results.Close(); err != nil {
		return nil, fmt.Errorf("record heartbeat of %q: %w", owner, err)
	}
	return ids, nil
}

// RequestCancel marks a queued or running job for its owner to cancel. It
// returns ENOTFOUND if there is no such job, ECONFLICT if it is finished.
func (db *DB) RequestCancel(ctx context.Context, id int64) error {
	// One statement reads the status it decides on, from the row it
	// locked: a finished job keeps its flag as it was, and the status
	// returned says why.
	var status string
	err := db.pool.QueryRow(ctx, `
		UPDATE jobs SET cancel_requested = cancel_requested OR status IN ('queued', 'running')
		WHERE id = $1
		RETURNING status`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return gaffer.Errorf(gaffer.ENOTFOUND, "job %d does not exist", id)
	} else if err != nil {
		return fmt.Errorf("request cancel of job %d: %w", id, err)
	} else if gaffer.Status(status).Done() {
		return gaffer.Errorf(gaffer.ECONFLICT, "job %d is already %s", id, status)
	}
	return nil
}

// InterruptStale marks the queued or running jobs whose owner has sent no
// heartbeat since before (or never did, for jobs created before it) as
// interrupted, finished now, with their queued or running runs, which also
// get reason as their error unless they have one. It returns the ids of
// those jobs, ascending.
func (db *DB) InterruptStale(ctx context.Context, before time.Time, reason string) ([]int64, error) {
	now, err := nanos(db.now())
	if err != nil {
		return nil, err
	}
	cutoff, err := nanos(before)
	if err != nil {
		return nil, err
	}

	tx, err := db.lease.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx)

	// Instances sweeping at once take turns, so each job is interrupted
	// by one of them; heartbeats hold the lock shared (see Heartbeat). The
	// statement below starts after the lock is held, so its snapshot has
	// every sweep and heartbeat that went before.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, interruptLock); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	// The runs are updated through the jobs the first update returns, so
	// a job that its owner finished meanwhile (and the update skips) keeps
	// its runs too.
	rows, err := tx.Query(ctx, `
		WITH interrupted_jobs AS (
			UPDATE jobs SET status = 'interrupted', finished_at = $2
			WHERE status IN ('queued', 'running') AND (
				owner IN (SELECT i.owner FROM instances i WHERE i.heartbeat_at < $1)
				OR (created_at < $1 AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.owner = jobs.owner)))
			RETURNING id
		), interrupted_runs AS (
			UPDATE runs
			SET status = 'interrupted', finished_at = $2, error = CASE WHEN error = '' THEN $3 ELSE error END
			WHERE job_id IN (SELECT id FROM interrupted_jobs) AND status IN ('queued', 'running')
		)
		SELECT id FROM interrupted_jobs ORDER BY id`, cutoff, now, reason)
	if err != nil {
		return nil, fmt.Errorf("interrupt stale jobs: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("interrupt stale jobs: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return ids, nil
}

// Setting returns the value stored under key, or ENOTFOUND.
func (db *DB) Setting(ctx context.Context, key string) (string, error) {
	var value string
	err := db.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&value)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", gaffer.Errorf(gaffer.ENOTFOUND, "setting %q does not exist", key)
	} else if err != nil {
		return "", fmt.Errorf("read setting %q: %w", key, err)
	}
	return value, nil
}

// SetSetting stores value under key, replacing any earlier value.
func (db *DB) SetSetting(ctx context.Context, key, value string) error {
	if _, err := db.pool.Exec(ctx, `
		INSERT INTO settings (key, value) VALUES ($1, $2)
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

// nanos returns t as nanoseconds since the Unix epoch, or EINVALID for a
// time that does not fit in an int64 (before 1678 or after 2262).
func nanos(t time.Time) (int64, error) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, gaffer.Errorf(gaffer.EINVALID, "time %s is outside the years 1678 to 2262 that can be stored",
			t.UTC().Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

func nanosPtr(t *time.Time) (*int64, error) {
	if t == nil {
		return nil, nil
	}
	n, err := nanos(*t)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

func fromNanos(n int64) time.Time {
	return time.Unix(0, n).UTC()
}

func fromNanosPtr(n *int64) *time.Time {
	if n == nil {
		return nil
	}
	t := fromNanos(*n)
	return &t
}
