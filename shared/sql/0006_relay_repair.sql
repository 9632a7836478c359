-- What the broker acknowledged, so the relay can check that the broker still holds it and
-- republish from the store what it lost (shared/relay_repair.py).
--   acked: per partition the offset and event id of the last acknowledged record,
--          {"<partition>": [offset, "<event id>"]}, as of the checkpoint
--   partitions: the topic's partition count when last seen (a lost topic comes back with it)
--   republish_from: an operator's request (`branchcare relay republish`), taken by the leader
ALTER TABLE relay_checkpoint ADD COLUMN IF NOT EXISTS acked jsonb NOT NULL DEFAULT '{}';
ALTER TABLE relay_checkpoint ADD COLUMN IF NOT EXISTS partitions integer;
ALTER TABLE relay_checkpoint ADD COLUMN IF NOT EXISTS verified_at timestamptz;
ALTER TABLE relay_checkpoint ADD COLUMN IF NOT EXISTS verification text;
ALTER TABLE relay_checkpoint ADD COLUMN IF NOT EXISTS republish_from bigint;
ALTER TABLE relay_checkpoint ADD COLUMN IF NOT EXISTS last_loss_at timestamptz;
ALTER TABLE relay_checkpoint ADD COLUMN IF NOT EXISTS republished_events bigint NOT NULL DEFAULT 0;

-- Snapshots of (checkpoint, acked) every few seconds: after a loss the relay republishes from
-- the newest one the broker still holds (binary search; Kafka loses tails, not middles).
CREATE TABLE IF NOT EXISTS relay_marks (
    topic       text        NOT NULL,
    tx_id       xid8        NOT NULL,
    position    bigint      NOT NULL,
    acked       jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, tx_id, position)
);
