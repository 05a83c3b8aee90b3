-- Issue 10: follow jobs. A job's follow paths and alert rules and a run's
-- follow state are JSON text in the form gaffer.StoreJob and
-- gaffer.StoreFollowState give (webhook URLs whole, positions kept); text,
-- not jsonb, so what is read back is what was written. Each column is NULL
-- when not set, as for every command job and every job from before this
-- migration; adding a NULL column rewrites no table.
ALTER TABLE jobs ADD COLUMN follow text;       -- JSON array of paths or globs
ALTER TABLE jobs ADD COLUMN follow_from text;  -- 'start' or 'end'
ALTER TABLE jobs ADD COLUMN retain text;       -- as requested: '1GB', '7d'
ALTER TABLE jobs ADD COLUMN alerts text;       -- JSON array of {pattern, webhook}
ALTER TABLE runs ADD COLUMN follow text;       -- JSON follow state with positions
