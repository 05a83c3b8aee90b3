-- Issue 10: follow jobs. A job's follow paths and alert rules and a run's
-- follow state are JSON text in the form gaffer.StoreJob and
-- gaffer.StoreFollowState give (webhook URLs whole, positions kept); each
-- column is NULL when not set, as for every command job and every job from
-- before this migration.
ALTER TABLE jobs ADD COLUMN follow TEXT;       -- JSON array of paths or globs
ALTER TABLE jobs ADD COLUMN follow_from TEXT;  -- 'start' or 'end'
ALTER TABLE jobs ADD COLUMN retain TEXT;       -- as requested: '1GB', '7d'
ALTER TABLE jobs ADD COLUMN alerts TEXT;       -- JSON array of {pattern, webhook}
ALTER TABLE runs ADD COLUMN follow TEXT;       -- JSON follow state with positions
