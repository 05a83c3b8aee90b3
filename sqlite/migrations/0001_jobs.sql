-- Times are UTC text in a fixed-width RFC 3339 form with nine fractional
-- digits: exact to the nanosecond, readable, and sortable as text.
CREATE TABLE jobs (
	id          INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: ids are never reused
	command     TEXT NOT NULL,
	status      TEXT NOT NULL,
	created_by  TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	started_at  TEXT,
	finished_at TEXT,
	timeout     INTEGER NOT NULL DEFAULT 0, -- nanoseconds; 0 for none
	pty         INTEGER NOT NULL DEFAULT 0,
	concurrency INTEGER NOT NULL DEFAULT 0
);

-- Listing by status walks this index newest first.
CREATE INDEX jobs_status_idx ON jobs (status, id);

CREATE TABLE runs (
	job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	host        TEXT NOT NULL,
	position    INTEGER NOT NULL, -- order the hosts were given in
	status      TEXT NOT NULL,
	exit_code   INTEGER,
	signal      TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT '',
	started_at  TEXT,
	finished_at TEXT,
	PRIMARY KEY (job_id, host)
);

-- Listing by host finds the jobs that ran there.
CREATE INDEX runs_host_idx ON runs (host, job_id);

-- Only unfinished runs are indexed: InterruptUnfinished looks for them at
-- start-up, and they are few.
CREATE INDEX runs_unfinished_idx ON runs (job_id) WHERE status IN ('queued', 'running');
