CREATE TABLE IF NOT EXISTS branch_complaints (
    branch_id            text        PRIMARY KEY,
    complaints_received  bigint      NOT NULL DEFAULT 0,
    last_event_at        timestamptz NOT NULL
);
