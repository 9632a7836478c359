-- The global log is ordered by (writing transaction id, position), not by position alone: a
-- position checkpoint can pass over an event whose transaction commits late (see
-- shared/eventstore.py). The relay's checkpoint therefore records both.
CREATE INDEX IF NOT EXISTS events_log_order ON events (tx_id, position);

ALTER TABLE relay_checkpoint ADD COLUMN IF NOT EXISTS tx_id xid8 NOT NULL DEFAULT '0';

-- A checkpoint written before this migration only knew a position. If events follow it, restart
-- at the oldest transaction that wrote one of them (republishing is allowed, losing is not);
-- otherwise everything was published: point at the end of the log.
UPDATE relay_checkpoint c
SET (tx_id, position) = (
    SELECT CASE WHEN a.min_tx IS NULL THEN coalesce(h.max_tx, '0'::xid8) ELSE a.min_tx END,
           CASE WHEN a.min_tx IS NULL THEN coalesce(h.max_pos, c.position) ELSE 0 END
    FROM (SELECT min(tx_id) AS min_tx FROM events e WHERE e.position > c.position) a,
         (SELECT max(tx_id) AS max_tx, max(position) AS max_pos FROM events) h)
WHERE c.tx_id = '0'::xid8;
