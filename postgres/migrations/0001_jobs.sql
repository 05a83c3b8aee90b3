-- Times are bigint nanoseconds since the Unix epoch (UTC): timestamptz keeps
-- only microseconds, and the store must give back every nanosecond.
CREATE TABLE jobs (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- a sequence never hands out an id twice
	command     text NOT NULL,
	status      text NOT NULL,
	created_by  text NOT NULL,
	created_at  bigint NOT NULL,
	started_at  bigint,
	finished_at bigint,
	timeout     bigint NOT NULL DEFAULT 0, -- nanoseconds; 0 for none
	pty         boolean NOT NULL DEFAULT false,
	concurrency bigint NOT NULL DEFAULT 0
);

-- Listing by status walks this index newest first.
CREATE INDEX jobs_status_idx ON jobs (status, id);

CREATE TABLE runs (
	job_id      bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	host        text NOT NULL,
	position    integer NOT NULL, -- order the hosts were given in
	status      text NOT NULL,
	exit_code   bigint,
	signal      text NOT NULL DEFAULT '',
	error       text NOT NULL DEFAULT '',
	started_at  bigint,
	finished_at bigint,
	PRIMARY KEY (job_id, host)
);

-- Listing by host finds the jobs that ran there.
CREATE INDEX runs_host_idx ON runs (host, job_id);

-- Only unfinished runs are indexed: InterruptUnfinished looks for them at
-- start-up, and they are few.
CREATE INDEX runs_unfinished_idx ON runs (job_id) WHERE status IN ('queued', 'running');
