"""The publication horizon: which transactions still in flight can hold back the global log.

A reader of "all events after P" may only pass a transaction id once no transaction with a
smaller id can still commit events into this store (``shared.eventstore``). The whole server's
``pg_snapshot_xmin`` is safe but far too wide: one long transaction in *any* database (a report,
an idle-in-transaction session) stopped every relay of every service. The horizon here is the
smallest in-flight transaction id that can append to *this* store's ``events`` table:

- a transaction of another database cannot write this table: never counted;
- every append takes a shared advisory transaction lock (``WRITER_LOCK_CLASS``, the store's
  key) before its transaction id exists: in the append statement itself, and right after BEGIN
  in :meth:`EventStore.transaction` when the session is not counted by name anyway (below); a
  lock holder counts;
- a session of the service that owns the store (its ``application_name``, set by the runner's
  pool) counts too, lock or not: a reaction or a scheduler tick writes other rows first and
  appends later, in a transaction whose id already exists before its append takes the lock;
- any other session of this database that holds no lock (psql, a report, pg_dump) is ignored.

Transactions that ended between the snapshot and the look at ``pg_stat_activity`` stay counted
(they are in the snapshot's in-progress list and no longer in the view): the horizon errs on the
safe side. With no writer name (tests, tools), every session of this database counts.

Production: set ``idle_in_transaction_session_timeout`` (``deploy/README.md``) so a forgotten
session of the service itself cannot hold publication back for long.
"""

from __future__ import annotations

import zlib

#: first key of the two-key advisory lock taken by appends ("BCev")
WRITER_LOCK_CLASS = 0x42436576


def writer_lock_key(channel: str) -> int:
    """The second key: one per store (its notify channel names the schema)."""
    return zlib.crc32(channel.encode()) & 0x7FFFFFFF


#: $a: writer application_name (NULL: every session of this database counts), $b, $c: lock keys
_IGNORED = """
    SELECT a.backend_xid FROM pg_stat_activity a
    WHERE a.backend_xid IS NOT NULL
      AND (a.datname IS DISTINCT FROM current_database()
           OR ({a}::text IS NOT NULL AND a.application_name IS DISTINCT FROM {a}
               AND NOT EXISTS (SELECT 1 FROM pg_locks l
                               WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.objsubid = 2
                                 AND l.classid = {b}::int::oid AND l.objid = {c}::int::oid)))
"""


def horizon_sql(after_tx: str, after_pos: str, a: str, b: str, c: str) -> str:
    """A scalar subquery: the first transaction id a reader after ``(after_tx, after_pos)`` must
    not reach (SQL parameters named). The server-wide ``pg_snapshot_xmin`` when it holds nothing
    back (the common case: one index probe); the narrow horizon, which looks at
    ``pg_stat_activity`` and ``pg_locks`` (about a millisecond), only when it would."""
    ignored = _IGNORED.format(a=a, b=b, c=c)
    return f"""(
    WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s)
    SELECT CASE
      WHEN NOT EXISTS (SELECT 1 FROM events WHERE (tx_id, position) > ({after_tx}, {after_pos})
                       AND tx_id >= (SELECT pg_snapshot_xmin(s) FROM snap))
      THEN (SELECT pg_snapshot_xmin(s) FROM snap)
      ELSE coalesce(
        (SELECT min(x) FROM snap, pg_snapshot_xip(snap.s) AS x
         WHERE NOT EXISTS (SELECT 1 FROM ({ignored}) i WHERE i.backend_xid = x::xid)),
        (SELECT pg_snapshot_xmax(s) FROM snap))
    END)"""


#: the in-flight transactions that hold the horizon back, oldest first (for the log)
BLOCKERS = f"""
SELECT a.pid, a.datname, a.application_name, a.xact_start, a.state
FROM pg_stat_activity a
WHERE a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid()
  AND a.backend_xid NOT IN ({_IGNORED.format(a="$1", b="$2", c="$3")})
ORDER BY a.xact_start NULLS LAST
LIMIT 3
"""
