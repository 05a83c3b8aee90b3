-- Several server instances share the work: each job names the instance that
-- runs it, and each instance records heartbeats so that another can
-- interrupt the jobs of one that went silent. Jobs from before this
-- migration have no owner (''). A constant default adds a column without
-- rewriting the table.
ALTER TABLE jobs ADD COLUMN owner text NOT NULL DEFAULT '';

-- Set by RequestCancel; the owner learns of it from its next heartbeat.
ALTER TABLE jobs ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;

CREATE TABLE instances (
	owner        text PRIMARY KEY,
	heartbeat_at bigint NOT NULL -- nanoseconds since the Unix epoch, as the jobs' times
);

-- Heartbeats look up an owner's unfinished jobs. Only those are indexed:
-- finished jobs pile up. (InterruptStale reads the unfinished part of
-- jobs_status_idx.)
CREATE INDEX jobs_unfinished_idx ON jobs (owner) WHERE status IN ('queued', 'running');
