-- Customers the vault merged (issue 20, shared/customer_aliases.py): merged_ref means survivor_ref
-- from the merge on. Fed by reception's CustomersMerged / CustomerMergeReversed; the repeat rule
-- (an open case of the same complainant about the same matter) resolves refs through it.
CREATE TABLE IF NOT EXISTS customer_aliases (
    merged_ref    text        PRIMARY KEY,
    survivor_ref  text        NOT NULL,
    since         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS customer_aliases_survivor ON customer_aliases (survivor_ref);
