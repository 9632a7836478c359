-- The event store. Each row is also its own outbox entry: the relay publishes rows in log
-- order (0003) and records how far it got in relay_checkpoint (see shared/relay.py).
CREATE TABLE IF NOT EXISTS events (
    position        bigserial   PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    stream_version  integer     NOT NULL,
    type            text        NOT NULL,
    schema_version  integer     NOT NULL,
    branch_id       text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    correlation_id  uuid        NOT NULL,
    causation_id    uuid,
    actor           text        NOT NULL,
    data            jsonb       NOT NULL,
    -- the writing transaction: readers of "all events after P" only take rows of transactions
    -- older than every transaction still in flight, so a late commit is never skipped
    tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    UNIQUE (stream_id, stream_version)
);

CREATE TABLE IF NOT EXISTS relay_checkpoint (
    topic       text        PRIMARY KEY,
    position    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Idempotent projections: the last stream version each projection applied, written in the
-- same transaction as the read-model change, so a redelivered or republished event is a no-op.
CREATE TABLE IF NOT EXISTS projection_positions (
    projection  text    NOT NULL,
    stream_id   text    NOT NULL,
    version     integer NOT NULL,
    PRIMARY KEY (projection, stream_id)
);
