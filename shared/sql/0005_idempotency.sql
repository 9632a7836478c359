-- Idempotent creates (shared/idempotency.py): one row per Idempotency-Key that produced a
-- resource, written in the create's own transaction. Neither the key nor the body is stored in
-- clear: key_digest and fingerprint are keyed HMACs (the key derived from BRANCHCARE_PII_KEY).
CREATE TABLE IF NOT EXISTS idempotency_keys (
    -- HMAC(service, branch, key): the key is scoped to one branch of one service
    key_digest   bytea       PRIMARY KEY,
    -- the branch the create acted in
    scope        text        NOT NULL,
    -- method and route template, e.g. 'POST /branches/{branch_id}/complaints'
    operation    text        NOT NULL,
    -- HMAC of route, path parameters and validated body: "the same request"
    fingerprint  bytea       NOT NULL,
    -- what the first request produced (the created or merged-into case, the visit, the survey,
    -- the customer_ref) and its status code; set before the transaction commits
    resource_id  text,
    status       integer,
    created_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
