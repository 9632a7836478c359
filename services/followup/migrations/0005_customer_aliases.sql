-- Issue 20: customers the vault merged (shared/customer_aliases.py). Every merge and reversal from
-- reception.events.v1 is kept as a fact; customer_aliases (merged_ref means survivor_ref) is derived
-- from the facts whatever their arrival order, and queries by customer join refs through it.
CREATE TABLE IF NOT EXISTS customer_aliases (
    merged_ref    text        PRIMARY KEY,
    survivor_ref  text        NOT NULL,
    since         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS customer_aliases_survivor ON customer_aliases (survivor_ref);
CREATE TABLE IF NOT EXISTS customer_alias_facts (
    merged_ref    text        NOT NULL,
    survivor_ref  text        NOT NULL,
    at            timestamptz NOT NULL,
    merged        boolean     NOT NULL,
    PRIMARY KEY (merged_ref, at, merged, survivor_ref)
);
CREATE INDEX IF NOT EXISTS tasks_customer ON tasks (customer_ref) WHERE customer_ref IS NOT NULL;
