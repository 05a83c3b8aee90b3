-- Retention (DeleteFinished) finds jobs that finished before a time; the
-- unfinished ones have no finished_at.
CREATE INDEX jobs_finished_idx ON jobs (finished_at);
