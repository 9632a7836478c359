-- Customers the vault merged (issue 20, shared/customer_aliases.py), as the contract tells HQ
-- (CustomerRefsMerged / CustomerRefsMergeReversed of hqfeed.events.v1): merged_ref means
-- survivor_ref from the merge on. Repeat-complainant detection resolves refs through it when it
-- looks; complaint rows keep the ref their events named. A read-model table: a rebuild truncates it
-- and the contract fills it again. Nothing to rebuild now: no merge was published before this.
CREATE TABLE customer_aliases (
    merged_ref    text        PRIMARY KEY,
    survivor_ref  text        NOT NULL,
    since         timestamptz NOT NULL
);
CREATE INDEX customer_aliases_survivor ON customer_aliases (survivor_ref);
