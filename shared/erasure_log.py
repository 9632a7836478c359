"""The erasure log: every customer erasure, recorded outside the data it shreds.

Why: erasure is crypto-shredding (the vault deletes the customer's wrapped data key). A backup
taken before the erasure still holds that key, so restoring it would bring the customer back. The
log keeps ``(customer_ref, erased_at, actor)`` — a pseudonym and a time, no PII — where no restore
of the service databases can roll it back:

- its own schema ``erasure_log``, which ``branchcare backup`` never dumps (so a restore never
  replaces it), in the database named by ``BRANCHCARE_ERASURE_LOG_URL`` — in production a
  database next to the key store, on another cluster than the service data — or, when that is
  unset (``make run``, tests), in reception's own database;
- written **before** the vault shreds (log-before-shred, on its own connection): if the shred
  then fails, the log holds an erasure the customer asked for anyway and a later re-apply
  completes it; the other order could lose an erasure;
- re-applied by :func:`reapply`: to the restored vault by ``branchcare restore-drill`` and by
  reception at start-up (before it serves), so a restored vault never serves an erased customer.

Re-registration after an erasure (a new consent) gives the customer a fresh data key with a later
``created_at``: :func:`reapply` only shreds keys created at or before the logged erasure, so it
never undoes a new consent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared import audit
from shared.settings import ToolSettings

ERASURE_LOG_URL_ENV = "BRANCHCARE_ERASURE_LOG_URL"
SCHEMA = "erasure_log"

_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.entries (
    seq           bigserial   PRIMARY KEY,
    customer_ref  text        NOT NULL,
    erased_at     timestamptz NOT NULL,
    actor         text        NOT NULL,
    reason        text
);
CREATE INDEX IF NOT EXISTS entries_ref ON {SCHEMA}.entries (customer_ref);
-- append-only: a deleted or edited entry would let an older backup bring a customer back
CREATE OR REPLACE FUNCTION {SCHEMA}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the erasure log is append-only (% refused)', TG_OP;
END $$;
CREATE OR REPLACE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON {SCHEMA}.entries
    FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.refuse_change();
CREATE OR REPLACE TRIGGER entries_no_truncate BEFORE TRUNCATE ON {SCHEMA}.entries
    FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.refuse_change();
"""


@dataclass(frozen=True)
class Erasure:
    customer_ref: str
    erased_at: datetime
    actor: str


def log_url_from_env() -> str | None:
    """``BRANCHCARE_ERASURE_LOG_URL`` or None (then the log lives in reception's database)."""
    return ToolSettings().branchcare_erasure_log_url


async def ensure_schema(conn: asyncpg.Connection) -> None:
    """Create the log's schema and table if missing (idempotent, safe under concurrency)."""
    await conn.execute("SELECT pg_advisory_lock(hashtext('erasure_log:ddl'))")
    try:
        await conn.execute(_DDL)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext('erasure_log:ddl'))")


async def append(conn: asyncpg.Connection, entry: Erasure, *, reason: str | None = None) -> None:
    """Record one erasure (its own statement: commits at once unless ``conn`` is in a transaction)."""
    await conn.execute(
        f"INSERT INTO {SCHEMA}.entries (customer_ref, erased_at, actor, reason) VALUES ($1, $2, $3, $4)",
        entry.customer_ref,
        entry.erased_at,
        entry.actor,
        reason,
    )


async def read_all(conn: asyncpg.Connection) -> list[Erasure]:
    """Every logged erasure, oldest first (an empty list when the log was never created)."""
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{SCHEMA}.entries")
    if not exists:
        return []
    rows = await conn.fetch(f"SELECT customer_ref, erased_at, actor FROM {SCHEMA}.entries ORDER BY seq")
    return [Erasure(r["customer_ref"], r["erased_at"], r["actor"]) for r in rows]


_REAPPLY = """
WITH logged AS (
    SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS l(customer_ref, erased_at, actor)
), latest AS (
    SELECT customer_ref, max(erased_at) AS erased_at, (array_agg(actor ORDER BY erased_at DESC))[1] AS actor
    FROM logged GROUP BY customer_ref
), stale AS (
    SELECT l.customer_ref, l.erased_at, l.actor FROM latest l
    JOIN vault_customers c ON c.customer_ref = l.customer_ref
    LEFT JOIN vault_data_keys k ON k.customer_ref = l.customer_ref
    WHERE (k.customer_ref IS NOT NULL AND k.created_at <= l.erased_at)
       OR (k.customer_ref IS NULL AND c.erased_at IS NULL)
       OR (k.customer_ref IS NULL AND EXISTS (
              SELECT 1 FROM vault_pii p WHERE p.customer_ref = l.customer_ref))
), dropped_pii AS (
    DELETE FROM vault_pii p USING stale s WHERE p.customer_ref = s.customer_ref RETURNING p.customer_ref
), dropped_keys AS (
    DELETE FROM vault_data_keys k USING stale s WHERE k.customer_ref = s.customer_ref RETURNING k.customer_ref
), marked AS (
    UPDATE vault_customers c SET erased_at = s.erased_at, erased_by = s.actor
    FROM stale s WHERE c.customer_ref = s.customer_ref AND (c.erased_at IS NULL OR c.erased_at < s.erased_at)
    RETURNING c.customer_ref
)
SELECT s.customer_ref, s.erased_at, s.actor,
       (SELECT count(*) FROM dropped_keys) AS keys, (SELECT count(*) FROM dropped_pii) AS pii
FROM stale s
"""


async def reapply(conn: asyncpg.Connection, entries: list[Erasure]) -> list[Erasure]:
    """Shred, in the vault reachable through ``conn`` (search_path = reception's schema), every
    customer the log says was erased but whose data key predates that erasure. Returns the
    erasures that had to be applied again (empty when the vault already agrees with the log).
    Call it inside a transaction, together with the audit rows of what it returns."""
    if not entries:
        return []
    rows = await conn.fetch(
        _REAPPLY,
        [e.customer_ref for e in entries],
        [e.erased_at for e in entries],
        [e.actor for e in entries],
    )
    return [Erasure(r["customer_ref"], r["erased_at"], r["actor"]) for r in rows]


#: the actor of what a restore re-applies (the original actor is in the log and the audit reason)
RESTORE_ACTOR = "svc:erasure-log"


async def reapply_audited(
    conn: asyncpg.Connection, entries: list[Erasure], *, now: datetime
) -> list[Erasure]:
    """:func:`reapply` plus one ``audit_log`` row (kind ``pii.erase.reapplied``) per customer it
    shredded again, in ``conn``'s transaction (the caller's): the restored vault's audit trail
    says the erasure happened, when, by whom, and that it was re-applied."""
    applied = await reapply(conn, entries)
    for entry in applied:
        await audit.record(
            conn,
            audit.AuditEntry(
                at=now,
                service="reception",
                kind="pii.erase.reapplied",
                staff_id=RESTORE_ACTOR,
                action="pii.erase",
                resource_id=entry.customer_ref,
                status=200,
                reason=(
                    f"erasure of {entry.erased_at.isoformat()} by {entry.actor} "
                    "re-applied from the erasure log"
                ),
            ),
        )
    return applied


async def readable_after_erasure(conn: asyncpg.Connection, entries: list[Erasure]) -> list[str]:
    """Refs the log says were erased that the vault through ``conn`` could still decrypt: a data
    key created at or before the erasure, or ciphertext without a newer key. Must be empty."""
    if not entries:
        return []
    rows = await conn.fetch(
        """WITH l AS (SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS l(customer_ref, erased_at))
           SELECT DISTINCT l.customer_ref FROM l
           LEFT JOIN vault_data_keys k ON k.customer_ref = l.customer_ref
           WHERE (k.customer_ref IS NOT NULL AND k.created_at <= l.erased_at)
              OR (k.customer_ref IS NULL AND EXISTS (
                     SELECT 1 FROM vault_pii p WHERE p.customer_ref = l.customer_ref))
           ORDER BY 1""",
        [e.customer_ref for e in entries],
        [e.erased_at for e in entries],
    )
    return [r["customer_ref"] for r in rows]


async def reapply_texts(conn: asyncpg.Connection, entries: list[Erasure]) -> int:
    """Shred, in one service's schema (``conn``'s search_path), the private texts of every logged
    customer whose text key predates the erasure (``shared/texts.py`` gives a later text a fresh
    key with a later ``created_at``). Returns how many keys were shredded now."""
    if not entries:
        return 0
    exists = await conn.fetchval("SELECT to_regclass('text_keys') IS NOT NULL")
    if not exists:
        return 0
    rows = await conn.fetch(
        """WITH l AS (SELECT 'customer:' || r AS owner, max(at) AS erased_at
                      FROM unnest($1::text[], $2::timestamptz[]) AS u(r, at) GROUP BY 1),
           shred AS (
               UPDATE text_keys k SET wrapped_key = NULL, master_key_id = NULL, erased_at = l.erased_at
               FROM l WHERE k.owner = l.owner AND k.wrapped_key IS NOT NULL AND k.created_at <= l.erased_at
               RETURNING k.owner, l.erased_at)
           UPDATE private_texts t SET ciphertext = NULL FROM shred s
           WHERE t.owner = s.owner AND t.ciphertext IS NOT NULL AND t.created_at <= s.erased_at
           RETURNING s.owner""",
        [e.customer_ref for e in entries],
        [e.erased_at for e in entries],
    )
    return len({r["owner"] for r in rows})


async def texts_readable_after_erasure(conn: asyncpg.Connection, entries: list[Erasure]) -> list[str]:
    """Refs whose private texts in ``conn``'s schema are still readable under a key older than the
    logged erasure. Must be empty after :func:`reapply_texts`."""
    if not entries or not await conn.fetchval("SELECT to_regclass('text_keys') IS NOT NULL"):
        return []
    rows = await conn.fetch(
        """WITH l AS (SELECT 'customer:' || r AS owner, max(at) AS erased_at
                      FROM unnest($1::text[], $2::timestamptz[]) AS u(r, at) GROUP BY 1)
           SELECT substr(k.owner, 10) AS ref FROM text_keys k JOIN l ON l.owner = k.owner
           WHERE k.wrapped_key IS NOT NULL AND k.created_at <= l.erased_at ORDER BY 1""",
        [e.customer_ref for e in entries],
        [e.erased_at for e in entries],
    )
    return [r["ref"] for r in rows]
