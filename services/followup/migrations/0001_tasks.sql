-- Follow-up tasks, one row per task stream, written in the same transaction as the task's events
-- (services/followup/app.py): the lobby's "what is due / overdue" list and the rules' lookups.
CREATE TABLE IF NOT EXISTS tasks (
    task_id           uuid        PRIMARY KEY,
    branch_id         text        NOT NULL,
    kind              text        NOT NULL,
    status            text        NOT NULL,
    owner             text,
    due_at            timestamptz NOT NULL,
    reason            text        NOT NULL,
    subject           text        NOT NULL,
    complaint_id      uuid,
    customer_ref      text,
    cause_event_id    uuid,
    previous_task_id  uuid,
    scheduled_at      timestamptz NOT NULL,
    attempts          integer     NOT NULL DEFAULT 0,
    reached           boolean     NOT NULL DEFAULT false,
    last_note         text        NOT NULL DEFAULT '',
    closed_at         timestamptz,
    close_note        text,
    verified          boolean,
    at_risk_at        timestamptz,
    breached_at       timestamptz,
    version           integer     NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS tasks_branch_open ON tasks (branch_id, due_at)
    WHERE status IN ('scheduled', 'contacted');
CREATE INDEX IF NOT EXISTS tasks_branch_status ON tasks (branch_id, status, due_at);
CREATE INDEX IF NOT EXISTS tasks_complaint_open ON tasks (complaint_id, kind)
    WHERE status IN ('scheduled', 'contacted');
CREATE INDEX IF NOT EXISTS tasks_open_due ON tasks (due_at) WHERE status IN ('scheduled', 'contacted');

-- What the follow-up rules know about each complaint (from complaint.events.v1): whether it is
-- open (progress updates continue) and whom to contact. The row is also the lock that orders a
-- progress-update successor against the complaint closing (see projections.py).
CREATE TABLE IF NOT EXISTS complaints (
    complaint_id  uuid        PRIMARY KEY,
    branch_id     text        NOT NULL,
    customer_ref  text,
    status        text        NOT NULL,
    updated_at    timestamptz NOT NULL
);
