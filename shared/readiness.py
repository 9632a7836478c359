"""``GET /ready``: each dependency on its own line, so an operator sees which part is missing.

The status code answers the load balancer's one question, "can this replica take commands?",
which needs only PostgreSQL: 200 when the database answers, 503 when it does not. The broker, the
relay and the consumers are reported (``"degraded": true`` when one is not ``ok``) but do not
take a replica out of rotation: their work waits in the outbox or on the topics and catches up.
``/health`` stays liveness only (the process answers).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse

if TYPE_CHECKING:
    from shared.runner import ServiceContext


async def _database(ctx: ServiceContext) -> str:
    try:
        async with ctx.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1", timeout=2)
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"


async def _broker(ctx: ServiceContext) -> str:
    if ctx.kafka.broker_status != "ok":
        return ctx.kafka.broker_status
    try:
        return "ok" if await ctx.broker.ping(timeout=2) else "unavailable: no answer within 2 s"
    except Exception as exc:
        return f"unavailable: {exc!r}"[:300]


def _relay(ctx: ServiceContext) -> dict[str, Any] | None:
    relay = ctx.relay
    if relay is None:
        return None
    since = getattr(relay, "held_back_since", None)
    status = "ok" if relay.is_leader else "standby (another replica publishes) or reconnecting"
    if since is not None:
        status = f"held back for {time.monotonic() - since:.0f} s by an older transaction"
    return {"status": status, "leader": relay.is_leader, "topic": relay.topic}


async def ready_response(ctx: ServiceContext) -> JSONResponse:
    database = await _database(ctx)
    checks: dict[str, Any] = {"database": database, "broker": await _broker(ctx)}
    relay = _relay(ctx)
    if relay is not None:
        checks["relay"] = relay
    checks["consumers"] = dict(ctx.kafka.consumers)
    degraded = (
        checks["broker"] != "ok"
        or any(v != "ok" for v in checks["consumers"].values())
        or (relay is not None and relay["status"] not in ("ok",) and relay["leader"])
    )
    ok = database == "ok"
    body = {"ready": ok, "degraded": degraded, "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)
