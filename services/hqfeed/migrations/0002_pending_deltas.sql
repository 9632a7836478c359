-- KPI deltas folded but not published yet: the aggregator publishes a batch's case records as soon
-- as it is folded and a branch's KPI delta once per window (services/hqfeed/README.md). Written in
-- the batch's transaction, deleted in the transaction that publishes their merge: a delta is
-- published exactly once whatever crashes in between.
CREATE TABLE pending_deltas (
    seq          bigserial    PRIMARY KEY,
    branch_id    text         NOT NULL,
    -- the latest occurred_at of the branch's events behind the delta (the record's occurred_at)
    occurred_at  timestamptz  NOT NULL,
    delta        jsonb        NOT NULL
);
