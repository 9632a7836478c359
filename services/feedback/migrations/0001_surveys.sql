-- One row per survey, written in the same transaction as the survey's events
-- (services/feedback/app.py): the source of the satisfaction read model.
CREATE TABLE IF NOT EXISTS survey_facts (
    survey_id     uuid        PRIMARY KEY,
    branch_id     text        NOT NULL,
    subject       text        NOT NULL UNIQUE,
    subject_type  text        NOT NULL,
    service_type  text,
    staff_id      text,
    customer_ref  text        NOT NULL,
    channel       text        NOT NULL,
    status        text        NOT NULL,
    requested_at  timestamptz NOT NULL,
    -- the branch's local date of the request: the "day" of the satisfaction figures
    local_day     date        NOT NULL,
    expires_at    timestamptz NOT NULL,
    sent_at       timestamptz,
    answered_at   timestamptz,
    score         smallint,
    negative      boolean     NOT NULL DEFAULT false,
    expired_at    timestamptz,
    version       integer     NOT NULL
);
CREATE INDEX IF NOT EXISTS survey_facts_branch_day ON survey_facts (branch_id, local_day);
CREATE INDEX IF NOT EXISTS survey_facts_answered ON survey_facts (answered_at) WHERE answered_at IS NOT NULL;

-- Surveys to hand to the gateway: inserted with SurveyRequested (same transaction), taken by the
-- dispatcher with FOR UPDATE SKIP LOCKED. No phone number here: the sender resolves it.
CREATE TABLE IF NOT EXISTS survey_dispatch (
    survey_id        uuid        PRIMARY KEY,
    branch_id        text        NOT NULL,
    next_attempt_at  timestamptz NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    last_error       text,
    sent_at          timestamptz,
    message_id       text,
    given_up_at      timestamptz
);
CREATE INDEX IF NOT EXISTS survey_dispatch_due ON survey_dispatch (next_attempt_at)
    WHERE sent_at IS NULL AND given_up_at IS NULL;

-- The local SmsSender's "gateway": what would have been sent (services/feedback/sender.py).
CREATE TABLE IF NOT EXISTS sms_outbox (
    message_id    uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    survey_id     uuid        NOT NULL UNIQUE,
    branch_id     text        NOT NULL,
    channel       text        NOT NULL,
    customer_ref  text        NOT NULL,
    body          text        NOT NULL,
    attempts      integer     NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Whom a closed complaint's survey goes to (ComplaintClosed carries no customer_ref).
CREATE TABLE IF NOT EXISTS complaint_customers (
    complaint_id  uuid PRIMARY KEY,
    branch_id     text NOT NULL,
    customer_ref  text NOT NULL
);

-- The channel a customer asked to be surveyed on (overrides branch and default configuration).
CREATE TABLE IF NOT EXISTS customer_preferences (
    customer_ref  text        PRIMARY KEY,
    channel       text        NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text        NOT NULL
);
