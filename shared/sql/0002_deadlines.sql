-- Deadlines of the shared SLA clock (shared/sla). One row per subject and SLA; milestones fire
-- exactly once (fired[] is updated in the transaction that appends the SLA event).
CREATE TABLE IF NOT EXISTS deadlines (
    deadline_id       uuid        PRIMARY KEY,
    subject_type      text        NOT NULL,
    subject_id        text        NOT NULL,
    stream_id         text        NOT NULL,
    branch_id         text        NOT NULL,
    sla               text        NOT NULL,
    policy            text        NOT NULL,
    rule              text        NOT NULL DEFAULT '',
    counting          text        NOT NULL,
    duration_seconds  double precision NOT NULL,
    milestones        double precision[] NOT NULL DEFAULT '{}',
    started_at        timestamptz NOT NULL,
    pauses            jsonb       NOT NULL DEFAULT '[]',
    state             text        NOT NULL,
    due_at            timestamptz,
    fired             text[]      NOT NULL DEFAULT '{}',
    next_fire_at      timestamptz,
    next_fire_kind    text,
    ended_at          timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subject_id, sla)
);
CREATE INDEX IF NOT EXISTS deadlines_next_fire ON deadlines (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS deadlines_branch_open ON deadlines (branch_id, due_at)
    WHERE state IN ('running', 'paused', 'breached');
