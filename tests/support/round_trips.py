"""A request's own round trips (``shared.db_statements``) in a service that also reacts and ticks
in the background: the reactions' transactions, the SLA scheduler's and the gauges' rounds are
left out, and so is a fresh connection's type introspection (once per connection, like Parse)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from shared import db_statements

#: statements of other work than the request: reactions (by their progress table), the SLA
#: scheduler's and the gauges' rounds
ELSEWHERE = ("projection_positions", "next_fire_at <= $1", "count(*) FILTER")
#: a fresh connection's type introspection
INTROSPECTION = ("typeinfo_tree", "'jit'")


async def own_statements(send: Callable[[], Awaitable[httpx.Response]], status: int, label: str) -> list[str]:
    """The statements of the request ``send`` makes (answered with ``status``), once what came
    before has settled; printed with ``label``."""
    with db_statements.counting() as before:
        await before.settled(0.3)  # what the warm-up set off is done
    with db_statements.counting() as tally:
        response = await send()
        assert response.status_code == status, response.text
        await tally.settled(0.3)
    drop_begun_before(tally)
    own = [s for s in tally.without(*ELSEWHERE) if not any(m in s for m in INTROSPECTION)]
    print(f"\n{label}: {len(own)} round trips (others: {tally.count - len(own)})", *own, sep="\n  ")
    return own


def drop_begun_before(tally: db_statements.Tally) -> None:
    """Leave out, per connection, a transaction that began before the count did: statements before
    the first ``BEGIN`` up to a ``COMMIT``/``ROLLBACK``, or all of them if they hold a savepoint (so
    a transaction still open). The request was sent after the count began, so it is another's,
    e.g. a reaction batch working off the shared topics' backlog, which :meth:`Tally.without
    <shared.db_statements.Tally.without>` cannot tell apart without its ``BEGIN`` and progress write.
    A ``ROLLBACK TO`` a savepoint ends nothing (a reaction batch retrying one event in it)."""
    for statements in tally.by_connection.values():
        head = next((i for i, s in enumerate(statements) if s.startswith("BEGIN")), len(statements))
        end = next((i for i, s in enumerate(statements[:head]) if db_statements.ends_transaction(s)), None)
        if end is not None:
            del statements[: end + 1]
        elif any(s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")) for s in statements[:head]):
            del statements[:head]
