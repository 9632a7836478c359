-- Counters open, pause (with a reason), resume and close (services/reception/counter.py, issue 22).
-- Rows written before this migration were counters seen calling: open for the day they called
-- (the board counts a counter open only from the day it was opened or last called).
ALTER TABLE counters ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'open'
    CHECK (state IN ('open', 'paused', 'closed'));
ALTER TABLE counters ADD COLUMN IF NOT EXISTS pause_reason text;
ALTER TABLE counters ADD COLUMN IF NOT EXISTS state_since timestamptz;
-- the lines an open counter serves; empty = every line
ALTER TABLE counters ADD COLUMN IF NOT EXISTS lines text[] NOT NULL DEFAULT '{}';
UPDATE counters SET state_since = last_active_at WHERE state_since IS NULL;
