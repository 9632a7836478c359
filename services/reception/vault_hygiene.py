"""Invalid vault records (删除无效信息): entries nothing uses any more, and entries that are broken.

A record is **unused** when, older than the retention period (registration and last update both),
it is neither erased nor merged, and no visit, call, complaint, follow-up or survey event in any
service's store names it (``customer_ref`` anywhere in the event's data; a merged ref counts for
its survivor). It is **broken** when it lacks what a live record must have: a data key, or its
encrypted fields, without being erased or merged — a read would answer 409/410, never the data.

The report is read-only SQL. Deleting goes through the vault's own erasure (``DELETE
/customers/{ref}/pii`` with an admin token): the erasure log, ``CustomerErased`` for the other
contexts and the audit row under the operator's name, exactly as for a customer's request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

#: every customer_ref an event of this store names, at any depth; the vault's own facts excluded
REFERENCED = """
SELECT DISTINCT r #>> '{}' AS ref
FROM events, jsonb_path_query(data, 'strict $.**.customer_ref') AS r
WHERE stream_id NOT LIKE 'customer-%' AND jsonb_typeof(r) = 'string'"""


@dataclass(frozen=True)
class Invalid:
    customer_ref: str
    why: str  # "unused" | "no_data_key" | "no_encrypted_fields"
    registered_at: datetime
    updated_at: datetime


async def referenced_refs(conn: asyncpg.Connection, schema: str) -> set[str]:
    """The refs ``schema``'s event store names (empty when the schema has no store)."""
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{schema}".events'):
        return set()
    await conn.execute(f'SET search_path TO "{schema}"')
    try:
        return {r["ref"] for r in await conn.fetch(REFERENCED)}
    finally:
        await conn.execute("RESET search_path")


async def invalid_records(
    conn: asyncpg.Connection, referenced: set[str], *, before: datetime
) -> list[Invalid]:
    """Reception's vault (``conn`` with search_path ``reception``): unused or broken records."""
    rows = await conn.fetch(
        """WITH used AS (
               SELECT u AS ref FROM unnest($1::text[]) u
               UNION SELECT merged_into FROM vault_customers WHERE customer_ref = ANY($1::text[])
                                                             AND merged_into IS NOT NULL)
           SELECT c.customer_ref, c.registered_at, c.updated_at,
                  CASE WHEN k.customer_ref IS NULL THEN 'no_data_key'
                       WHEN p.customer_ref IS NULL THEN 'no_encrypted_fields'
                       ELSE 'unused' END AS why
           FROM vault_customers c
           LEFT JOIN vault_data_keys k ON k.customer_ref = c.customer_ref
           LEFT JOIN vault_pii p ON p.customer_ref = c.customer_ref
           WHERE c.erased_at IS NULL AND c.merged_into IS NULL
             AND (k.customer_ref IS NULL OR p.customer_ref IS NULL
                  OR (greatest(c.registered_at, c.updated_at) < $2
                      AND c.customer_ref NOT IN (SELECT ref FROM used WHERE ref IS NOT NULL)))
           ORDER BY c.registered_at, c.customer_ref""",
        sorted(referenced),
        before,
    )
    return [Invalid(r["customer_ref"], r["why"], r["registered_at"], r["updated_at"]) for r in rows]
