-- Reception read models, written in the command's own transaction (after_append), so the lobby
-- board is consistent the moment a command returns.

-- Ticket numbers: one row per branch, line and local day; INSERT .. ON CONFLICT DO UPDATE ..
-- RETURNING takes the row lock, so concurrent arrivals get consecutive, unique numbers.
CREATE TABLE IF NOT EXISTS ticket_counters (
    branch_id    text    NOT NULL,
    line         text    NOT NULL,
    day          date    NOT NULL,
    last_number  integer NOT NULL,
    PRIMARY KEY (branch_id, line, day)
);

-- One row per visit: the lobby board, the day's statistics and the service-time history.
CREATE TABLE IF NOT EXISTS visits (
    visit_id              uuid        PRIMARY KEY,
    branch_id             text        NOT NULL,
    day                   date        NOT NULL,
    status                text        NOT NULL,
    arrival               text        NOT NULL,
    returning_customer    boolean     NOT NULL,
    customer_ref          text,
    display_name          text,
    relationship_manager  text,
    priority              text,
    accessibility         text[]      NOT NULL DEFAULT '{}',
    service_type          text,
    line                  text,
    ticket                text,
    arrived_at            timestamptz NOT NULL,
    queued_at             timestamptz,
    first_called_at       timestamptz,
    last_called_at        timestamptz,
    calls                 integer     NOT NULL DEFAULT 0,
    counter_id            text,
    staff_id              text,
    served_at             timestamptz,
    left_at               timestamptz,
    left_reason           text,
    waited_seconds        double precision,
    service_seconds       double precision,
    document_checks       integer     NOT NULL DEFAULT 0,
    first_check_complete  boolean,
    missing               text[]      NOT NULL DEFAULT '{}',
    sla_status            text,
    complaints            integer     NOT NULL DEFAULT 0,
    version               integer     NOT NULL
);
CREATE INDEX IF NOT EXISTS visits_waiting ON visits (branch_id, line) WHERE status IN ('queued', 'called');
CREATE INDEX IF NOT EXISTS visits_day ON visits (branch_id, day);
CREATE INDEX IF NOT EXISTS visits_served ON visits (branch_id, line, served_at DESC) WHERE served_at IS NOT NULL;

-- Counters (windows) as seen from the calls: busy from a call until the visit is served or gone.
CREATE TABLE IF NOT EXISTS counters (
    branch_id       text        NOT NULL,
    counter_id      text        NOT NULL,
    staff_id        text,
    visit_id        uuid,
    ticket          text,
    line            text,
    busy_since      timestamptz,
    last_line       text,
    last_active_at  timestamptz NOT NULL,
    PRIMARY KEY (branch_id, counter_id)
);

-- Phone calls: the answer SLA's statistics.
CREATE TABLE IF NOT EXISTS calls (
    call_id            uuid        PRIMARY KEY,
    branch_id          text        NOT NULL,
    status             text        NOT NULL,
    received_at        timestamptz NOT NULL,
    answered_at        timestamptz,
    staff_id           text,
    rings              integer,
    seconds_to_answer  double precision,
    within_target      boolean,
    purpose            text,
    routed_to          text,
    outcome            text,
    ended_at           timestamptz,
    sla_status         text,
    version            integer     NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_received ON calls (branch_id, received_at);
