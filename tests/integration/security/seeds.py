"""The five services as they run (the harness of tests/support/harness.py: ``create_app``, bearer
auth and audit included), each with one resource of each kind seeded in branch ``A`` — for the
route matrix and the fuzz test, which walk every route. ``svc.params`` holds a value for every path
parameter of the service's routes (``branch_id`` is branch A, ``other_branch_id`` branch B).

Seeding goes through the HTTP API where a staff member creates the resource (visits, calls,
customers, complaints, incidents) and through the service's own command handler where the
resource comes from other contexts' events (follow-up tasks, surveys), so no Kafka round trip is
needed. ``fingerprint`` is a digest of everything a request could change in the service's schema.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from shared.clock import FixedClock
from shared.devstack import TansuBroker, create_topics
from shared.envelope import Metadata
from shared.topology import all_topics
from tests.integration.security.vault_steps import fake_people
from tests.support.auth import bearer
from tests.support.harness import Running, running

#: a Monday, 10:00 in Shanghai (branches are open)
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SERVICES = ("reception", "complaint", "followup", "feedback", "hq")


#: what a request on branch A (by staff of A or B) could change: the events of those two branches
#: (append-only; the services also react to the shared broker's other events, in other branches)
#: and the tables written outside events (the vault, channel preferences, HQ's rebuild
#: generation); audit rows are written for refused commands too, on purpose, and are left out
_EVENTS = "(SELECT count(*) FROM events WHERE branch_id = ANY($1::text[]))::text"
FINGERPRINT_SQL: dict[str, str] = {
    "reception": f"""SELECT {_EVENTS} || '/' ||
                           (SELECT count(*) FROM vault_customers)::text || '/' ||
                           (SELECT count(*) FROM vault_customer_branches)::text || '/' ||
                           (SELECT count(*) FROM vault_data_keys)::text || '/' ||
                           (SELECT coalesce(md5(string_agg(v::text, ',' ORDER BY v::text)), '')
                              FROM vault_pii v)""",
    "complaint": f"SELECT {_EVENTS}",
    "followup": f"SELECT {_EVENTS}",
    "feedback": f"""SELECT {_EVENTS} || '/' ||
                          (SELECT coalesce(md5(string_agg(p::text, ',' ORDER BY p::text)), '')
                             FROM customer_preferences p)""",
    "hq": f"SELECT {_EVENTS} || '/' || generation::text FROM read_model_state",
}


def branches(svc: Running) -> tuple[str, str]:
    """The seeded branch (A) and the other one (B)."""
    return svc.params["branch_id"], svc.params["other_branch_id"]


async def fingerprint(svc: Running) -> str:
    """A digest of everything a request on branch A could change in the service's schema."""
    async with svc.ctx.pool.acquire() as conn:
        value: str = await conn.fetchval(FINGERPRINT_SQL[svc.name], list(branches(svc)))
        return value


#: the services' own settings for walking every route: nothing in the background sends (the
#: other periods are the harness's recipes: long, tests never wait for them)
QUIET: dict[str, dict[str, Any]] = {"feedback": {"dispatch_period": 3600}}


def quiet_background(monkeypatch: pytest.MonkeyPatch) -> None:
    """No reception address: the feedback service resolves no phone number."""
    monkeypatch.delenv("RECEPTION_URL", raising=False)


@asynccontextmanager
async def broker_for(name: str, shared: str) -> AsyncIterator[str]:
    """HQ reads every topic from the beginning: a broker of its own keeps the run's other events
    out; the other services share the session's broker (``shared``)."""
    if name != "hq":
        yield shared
        return
    work = Path(tempfile.mkdtemp(prefix="bc-matrix-tansu-"))
    broker = TansuBroker.start(log_dir=work)
    try:
        await create_topics(broker.bootstrap_servers, all_topics())
        yield broker.bootstrap_servers
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


@asynccontextmanager
async def seeded(name: str, database_url: str, bootstrap: str) -> AsyncIterator[Running]:
    """The service (no token on its client: every request names its own), resources seeded."""
    run = secrets.token_hex(3)
    async with running(
        name, database_url, bootstrap, clock=FixedClock(T0), settings=QUIET.get(name), staff=None
    ) as svc:
        svc.params.update(branch_id=f"mx-{run}-a", other_branch_id=f"mx-{run}-b")
        await SEEDS[name](svc)
        if name != "hq":
            await seed_text(svc)
        yield svc


# ------------------------------------------------------------------------------------ seeding


def _staff(svc: Running) -> dict[str, str]:
    return bearer("seed-1", [branches(svc)[0]])


async def _created(svc: Running, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await svc.http.post(path, json=body, headers=_staff(svc))
    assert response.status_code in (200, 201), f"seeding {path}: {response.status_code} {response.text}"
    created: dict[str, Any] = response.json()
    return created


async def seed_reception(svc: Running) -> None:
    b = branches(svc)[0]
    svc.params["visit_id"] = (await _created(svc, f"/branches/{b}/visits", {}))["visit_id"]
    svc.params["call_id"] = (await _created(svc, f"/branches/{b}/calls", {}))["call_id"]
    (person,) = fake_people(1)
    registered = await _created(svc, f"/branches/{b}/customers", person.body())
    svc.params["customer_ref"] = registered["customer_ref"]
    from services.reception.components import reception

    svc.params["line"] = next(iter(reception(svc.ctx).catalogue.lines))
    svc.params["counter_id"] = "matrix-ctr"  # distinctive: a 403 must not name it


async def seed_complaint(svc: Running) -> None:
    body = {"channel": "phone_hotline", "customer_ref": "cust_ref_0042", "description": "card swallowed"}
    complaint = (await _created(svc, f"/branches/{svc.params['branch_id']}/complaints", body))["complaint_id"]
    other = (await _created(svc, f"/branches/{svc.params['branch_id']}/complaints", body))["complaint_id"]
    merged = await _created(svc, f"/complaints/{other}/merge", {"cause": "ATM network outage"})
    svc.params.update(complaint_id=complaint, incident_id=merged["incident_id"])


async def seed_followup(svc: Running) -> None:
    from services.followup.components import components
    from services.followup.decider import ScheduleTask
    from shared.contracts.followup import TaskKind

    app = components(svc.ctx).app
    task_id = uuid4()
    command = ScheduleTask(
        task_id=task_id,
        kind=TaskKind.callback,
        due_at=T0 + timedelta(days=1),
        reason="tell the customer the funds arrived",
        subject=f"visit:{uuid4()}",
        at=T0,
        customer_ref="cust_ref_0042",
    )
    async with svc.ctx.pool.acquire() as conn, conn.transaction():
        await app.execute_in(
            conn, task_id, command, meta=Metadata(actor="seed-1"), branch_id=branches(svc)[0]
        )
    svc.params.update(task_id=str(task_id), customer_ref="cust_ref_0042")


async def seed_feedback(svc: Running) -> None:
    from services.feedback.components import components
    from services.feedback.domain import RequestSurvey, survey_id_for
    from shared.contracts.feedback import SurveyChannel

    app = components(svc.ctx).app
    subject = f"visit:{uuid4()}"
    survey_id = survey_id_for(subject)
    command = RequestSurvey(
        survey_id=survey_id,
        subject=subject,
        customer_ref="cust_ref_0042",
        channel=SurveyChannel.sms,
        requested_at=T0,
        expires_at=app.window_end(branches(svc)[0], T0),
    )
    async with svc.ctx.pool.acquire() as conn, conn.transaction():
        await app.execute_in(
            conn, survey_id, command, meta=Metadata(actor="seed-1"), branch_id=branches(svc)[0]
        )
    svc.params.update(survey_id=str(survey_id), customer_ref="cust_ref_0042")


async def seed_text(svc: Running) -> None:
    """A text the service keeps for the branch (``GET /texts/{text_id}``)."""
    from shared.texts import texts_for

    batch = texts_for(svc.ctx).batch()
    ref = batch.require("a note kept for the branch")
    async with svc.ctx.pool.acquire() as conn, conn.transaction():
        await batch.save(conn, branch_id=branches(svc)[0], customer_ref=None)
    svc.params["text_id"] = str(ref.text_id)


async def seed_hq(svc: Running) -> None:
    svc.params["region"] = "r01"
    await asyncio.sleep(0)


SEEDS = {
    "reception": seed_reception,
    "complaint": seed_complaint,
    "followup": seed_followup,
    "feedback": seed_feedback,
    "hq": seed_hq,
}


def is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True
