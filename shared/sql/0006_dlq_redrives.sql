-- Dead letters redriven by `branchcare dlq redrive` (shared/cli/dlq.py), kept in the schema of the
-- consumer that dead-lettered them: a dead letter goes back to its source topic at most once, and
-- that consumer applies it at most once (applied_at, set by shared/redrive.py in the transaction
-- of the read-model change), although its stream position had already moved past it.
CREATE TABLE IF NOT EXISTS dlq_redrives (
    dlq_topic     text        NOT NULL,
    dlq_partition integer     NOT NULL,
    dlq_offset    bigint      NOT NULL,
    source_topic  text        NOT NULL,
    consumer      text        NOT NULL,
    event_type    text,
    reason        text        NOT NULL DEFAULT '',
    redriven_by   text        NOT NULL,
    redriven_at   timestamptz NOT NULL DEFAULT now(),
    applied_at    timestamptz,
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);
