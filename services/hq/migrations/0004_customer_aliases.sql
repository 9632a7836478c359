-- Customers the vault merged (issue 20, shared/customer_aliases.py), as the contract tells HQ
-- (CustomerRefsMerged / CustomerRefsMergeReversed of hqfeed.events.v1): every merge and reversal
-- is kept as a fact, and merged_ref means survivor_ref while its latest fact is a merge (so the
-- order in which two branches' streams deliver them does not matter). Repeat-complainant detection resolves refs through it when it
-- looks; complaint rows keep the ref their events named. A read-model table: a rebuild truncates it
-- and the contract fills it again. Nothing to rebuild now: no merge was published before this.
CREATE TABLE customer_aliases (
    merged_ref    text        PRIMARY KEY,
    survivor_ref  text        NOT NULL,
    since         timestamptz NOT NULL
);
CREATE INDEX customer_aliases_survivor ON customer_aliases (survivor_ref);

CREATE TABLE customer_alias_facts (
    merged_ref    text        NOT NULL,
    survivor_ref  text        NOT NULL,
    at            timestamptz NOT NULL,
    merged        boolean     NOT NULL,
    PRIMARY KEY (merged_ref, at, merged, survivor_ref)
);
