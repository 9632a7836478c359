-- The lobby's open-complaints board and the lookups the service's reactions need. Written in the
-- command's own transaction (after_append), so it is never behind the event store.
CREATE TABLE IF NOT EXISTS complaint_board (
    complaint_id     uuid        PRIMARY KEY,
    branch_id        text        NOT NULL,
    status           text        NOT NULL,
    is_open          boolean     NOT NULL,
    on_hold          boolean     NOT NULL DEFAULT false,
    level            text        NOT NULL,
    channel          text        NOT NULL,
    category         text,
    nature           text,
    urgency          text,
    visit_id         uuid,
    incident_id      uuid,
    cycle            integer     NOT NULL,
    received_at      timestamptz NOT NULL,
    cycle_started_at timestamptz NOT NULL,
    acknowledged_at  timestamptz,
    resolved_at      timestamptz,
    closed_at        timestamptz,
    updated_at       timestamptz NOT NULL,
    version          integer     NOT NULL
);
CREATE INDEX IF NOT EXISTS complaint_board_branch ON complaint_board (branch_id, is_open, received_at);
CREATE INDEX IF NOT EXISTS complaint_board_visit ON complaint_board (visit_id) WHERE visit_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS complaint_board_incident ON complaint_board (incident_id)
    WHERE incident_id IS NOT NULL;

-- Visits that ended (reception's VisitLeft): the resolve deadline of an in-branch complaint starts
-- when the customer leaves, also when the case is recorded after they left. Pruned after 7 days.
CREATE TABLE IF NOT EXISTS visit_departures (
    visit_id   uuid        PRIMARY KEY,
    branch_id  text        NOT NULL,
    left_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS visit_departures_left_at ON visit_departures (left_at);
