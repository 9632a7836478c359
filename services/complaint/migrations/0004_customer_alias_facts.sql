-- Issue 20: complaint's aliases become order-independent and follow merges of merges, as HQ's do
-- (shared/customer_aliases.py): every merge and reversal is kept as a fact and customer_aliases is
-- derived from the facts, so a merge and its reversal arriving in either order end the same.
-- The aliases already applied become facts (a merge at their time).
CREATE TABLE IF NOT EXISTS customer_alias_facts (
    merged_ref    text        NOT NULL,
    survivor_ref  text        NOT NULL,
    at            timestamptz NOT NULL,
    merged        boolean     NOT NULL,
    PRIMARY KEY (merged_ref, at, merged, survivor_ref)
);
INSERT INTO customer_alias_facts (merged_ref, survivor_ref, at, merged)
SELECT merged_ref, survivor_ref, since, true FROM customer_aliases
ON CONFLICT DO NOTHING;
