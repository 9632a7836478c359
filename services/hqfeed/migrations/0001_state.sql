-- The branch-side aggregator's state between batches (schema hqfeed). Its output is its event
-- store (the outbox of hqfeed.events.v1); this is only what the fold needs to continue.

-- one complaint's facts as the fold keeps them (services/hqfeed/facts.py ComplaintFacts, as JSON)
CREATE TABLE complaints (
    complaint_id  uuid   PRIMARY KEY,
    facts         jsonb  NOT NULL
);

-- breached deadlines whose subject is not done yet (a completion after one counts "late")
CREATE TABLE open_breaches (
    subject_id    text        NOT NULL,
    sla           text        NOT NULL,
    branch_id     text        NOT NULL,
    subject_type  text        NOT NULL,
    breached_at   timestamptz NOT NULL,
    PRIMARY KEY (subject_id, sla)
);

-- the version each branch's contract stream (hqfeed:<branch>) has reached
CREATE TABLE feed_streams (
    stream_id  text    PRIMARY KEY,
    version    bigint  NOT NULL
);
