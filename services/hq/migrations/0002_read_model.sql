-- HQ's read model: every branch's KPIs by day, complaint facts, SLA compliance, alerts.
-- Everything here except alert_events and read_model_state is rebuilt from the topics by a
-- rebuild (services/hq/rebuild.py lists the tables it truncates).

-- the one consumer group that feeds this read model replaces the skeleton's branch_complaints
-- projection: start it afresh so its counts are not doubled
TRUNCATE branch_complaints;
DELETE FROM projection_positions WHERE projection = 'branch_complaints';

CREATE TABLE read_model_state (
    id              int         PRIMARY KEY CHECK (id = 1),
    generation      int         NOT NULL DEFAULT 1,
    requested_at    timestamptz,
    requested_by    text,
    started_at      timestamptz,
    caught_up_at    timestamptz,
    records         bigint      NOT NULL DEFAULT 0,
    target          jsonb
);
INSERT INTO read_model_state (id) VALUES (1);

CREATE TABLE branches (
    branch_id       text        PRIMARY KEY,
    first_event_at  timestamptz NOT NULL,
    last_event_at   timestamptz NOT NULL
) WITH (fillfactor = 70);

CREATE TABLE branch_day (
    day                      date        NOT NULL,
    branch_id                text        NOT NULL,
    events                   bigint NOT NULL DEFAULT 0,
    visits                   bigint NOT NULL DEFAULT 0,
    visits_queued            bigint NOT NULL DEFAULT 0,
    visits_served            bigint NOT NULL DEFAULT 0,
    visits_abandoned         bigint NOT NULL DEFAULT 0,
    visits_no_show           bigint NOT NULL DEFAULT 0,
    visits_left              bigint NOT NULL DEFAULT 0,
    wait_count               bigint NOT NULL DEFAULT 0,
    wait_seconds             double precision NOT NULL DEFAULT 0,
    wait_b0                  bigint NOT NULL DEFAULT 0,
    wait_b1                  bigint NOT NULL DEFAULT 0,
    wait_b2                  bigint NOT NULL DEFAULT 0,
    wait_b3                  bigint NOT NULL DEFAULT 0,
    wait_b4                  bigint NOT NULL DEFAULT 0,
    wait_b5                  bigint NOT NULL DEFAULT 0,
    wait_b6                  bigint NOT NULL DEFAULT 0,
    wait_b7                  bigint NOT NULL DEFAULT 0,
    wait_b8                  bigint NOT NULL DEFAULT 0,
    wait_b9                  bigint NOT NULL DEFAULT 0,
    wait_b10                 bigint NOT NULL DEFAULT 0,
    wait_breaches            bigint NOT NULL DEFAULT 0,
    calls                    bigint NOT NULL DEFAULT 0,
    calls_answered           bigint NOT NULL DEFAULT 0,
    calls_in_target          bigint NOT NULL DEFAULT 0,
    calls_missed             bigint NOT NULL DEFAULT 0,
    complaints_received      bigint NOT NULL DEFAULT 0,
    complaints_acknowledged  bigint NOT NULL DEFAULT 0,
    ack_seconds              double precision NOT NULL DEFAULT 0,
    complaints_decided       bigint NOT NULL DEFAULT 0,
    decide_seconds           double precision NOT NULL DEFAULT 0,
    complaints_closed        bigint NOT NULL DEFAULT 0,
    first_closes             bigint NOT NULL DEFAULT 0,
    fcr_closes               bigint NOT NULL DEFAULT 0,
    complaints_reopened      bigint NOT NULL DEFAULT 0,
    complaints_escalated     bigint NOT NULL DEFAULT 0,
    sla_met                  bigint NOT NULL DEFAULT 0,
    sla_breached             bigint NOT NULL DEFAULT 0,
    sla_late                 bigint NOT NULL DEFAULT 0,
    followups_scheduled      bigint NOT NULL DEFAULT 0,
    followups_completed      bigint NOT NULL DEFAULT 0,
    followups_cancelled      bigint NOT NULL DEFAULT 0,
    followups_overdue        bigint NOT NULL DEFAULT 0,
    verifications_failed     bigint NOT NULL DEFAULT 0,
    surveys_requested        bigint NOT NULL DEFAULT 0,
    surveys_answered         bigint NOT NULL DEFAULT 0,
    surveys_satisfied        bigint NOT NULL DEFAULT 0,
    surveys_negative         bigint NOT NULL DEFAULT 0,
    surveys_expired          bigint NOT NULL DEFAULT 0,
    score_sum                bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, branch_id)
) WITH (fillfactor = 60);  -- room on the page for HOT updates: rows are updated batch after batch
CREATE INDEX branch_day_by_branch ON branch_day (branch_id, day);

CREATE TABLE branch_day_sla (
    day        date   NOT NULL,
    branch_id  text   NOT NULL,
    sla        text   NOT NULL,
    met        bigint NOT NULL DEFAULT 0,
    breached   bigint NOT NULL DEFAULT 0,
    late       bigint NOT NULL DEFAULT 0,
    at_risk    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, branch_id, sla)
) WITH (fillfactor = 70);

CREATE TABLE branch_day_category (
    day        date   NOT NULL,
    branch_id  text   NOT NULL,
    category   text   NOT NULL,
    nature     text   NOT NULL,
    channel    text   NOT NULL,
    received   bigint NOT NULL DEFAULT 0,
    closed     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, branch_id, category, nature, channel)
) WITH (fillfactor = 70);

CREATE TABLE complaints (
    complaint_id           uuid        PRIMARY KEY,
    branch_id              text        NOT NULL,
    channel                text,
    customer_ref           text,
    received_at            timestamptz,
    received_day           date,
    category               text        NOT NULL,
    nature                 text        NOT NULL,
    urgency                text,
    source                 text,
    cycle                  int         NOT NULL,
    cycle_started_at       timestamptz,
    acknowledged_at        timestamptz,
    first_acknowledged_at  timestamptz,
    resolved_at            timestamptz,
    decided_at             timestamptz,
    first_decided_at       timestamptz,
    outcome                text,
    handling_seconds       double precision,
    closed_at              timestamptz,
    first_closed_at        timestamptz,
    closed                 boolean     NOT NULL,
    reopened               int         NOT NULL,
    escalations            int         NOT NULL,
    escalated_first_cycle  boolean     NOT NULL,
    fcr                    boolean     NOT NULL,
    held_seconds           double precision NOT NULL,
    hold_since             timestamptz,
    extensions             int         NOT NULL,
    limit_days             int,
    incident_id            uuid,
    visit_id               uuid,
    root_cause             boolean     NOT NULL,
    regulatory_profile     text,
    business_type          text,
    cause_code             text,
    bank_at_fault          boolean,
    extensions_requested   int         NOT NULL,
    extensions_approved    int         NOT NULL,
    extensions_denied      int         NOT NULL,
    reviews                int         NOT NULL,
    review_outcome         text,
    last_event_at          timestamptz,
    events                 int         NOT NULL
) WITH (fillfactor = 70);
CREATE INDEX complaints_by_received_day ON complaints (received_day);
CREATE INDEX complaints_by_customer ON complaints (customer_ref, received_at);

-- breached deadlines whose subject is not done yet: "currently breaching", "overdue now"
CREATE TABLE open_breaches (
    subject_id    text        NOT NULL,
    sla           text        NOT NULL,
    branch_id     text        NOT NULL,
    subject_type  text        NOT NULL,
    breached_at   timestamptz NOT NULL,
    PRIMARY KEY (subject_id, sla)
);
CREATE INDEX open_breaches_by_branch ON open_breaches (branch_id);

-- classified complaints per category, time slot and branch: the input of spike detection
CREATE TABLE crisis_slots (
    category    text        NOT NULL,
    slot        timestamptz NOT NULL,
    branch_id   text        NOT NULL,
    complaints  bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (category, slot, branch_id)
);

-- windows (category, start) that crossed the threshold: each is evaluated until it triggers, once
CREATE TABLE crisis_windows (
    category  text        NOT NULL,
    start     timestamptz NOT NULL,
    PRIMARY KEY (category, start)
);

-- a category spike per category and window-length bucket of its triggering windows' starts;
-- its branch and complaint counts are read from crisis_slots when asked
CREATE TABLE spike_alerts (
    alert_key     text        PRIMARY KEY,
    category      text        NOT NULL,
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL
);
CREATE INDEX spike_alerts_by_category ON spike_alerts (category, window_start);

-- a customer complaining in several branches: one row per episode, recomputed from complaints
CREATE TABLE repeat_alerts (
    alert_key     text        PRIMARY KEY,
    customer_ref  text        NOT NULL,
    first_at      timestamptz NOT NULL,
    last_at       timestamptz NOT NULL,
    branches      int         NOT NULL,
    complaints    int         NOT NULL,
    branch_ids    text[]      NOT NULL
);
CREATE INDEX repeat_alerts_by_customer ON repeat_alerts (customer_ref);

-- write side (never truncated): the alerts published as events, so a rebuild that finds them again
-- publishes nothing, and a spike continuing into the next bucket is not published twice
CREATE TABLE alert_events (
    alert_key     text        PRIMARY KEY,
    alert_id      uuid        NOT NULL,
    stream_id     text        NOT NULL,
    kind          text        NOT NULL,
    -- the category of a spike, the customer_ref of a repeat complainant
    subject       text        NOT NULL,
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL,
    raised_at     timestamptz NOT NULL
);
CREATE INDEX alert_events_by_subject ON alert_events (kind, subject, window_start);
