"""The five service apps as they run (``create_app``: bearer auth and audit included), served
in-process with uvicorn over TCP on real PostgreSQL and a real broker, with one resource of each
kind seeded in branch ``A`` — for the route matrix and the fuzz test, which walk every route.

Seeding goes through the HTTP API where a staff member creates the resource (visits, calls,
customers, complaints, incidents) and through the service's own command handler where the
resource comes from other contexts' events (follow-up tasks, surveys), so no Kafka round trip is
needed. ``fingerprint`` is a digest of everything a request could change in the service's schema.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from shared.clock import FixedClock
from shared.devstack import TansuBroker, create_topics
from shared.envelope import Metadata
from shared.runner import Service, ServiceContext, create_app
from shared.settings import ServiceSettings
from shared.topology import all_topics
from tests.integration.security.vault_harness import fake_people
from tests.support.auth import bearer
from tests.support.services import serve_app

#: a Monday, 10:00 in Shanghai (branches are open)
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SERVICES = ("reception", "complaint", "followup", "feedback", "hq")
_PARAM = re.compile(r"{(\w+)}")

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


@dataclass
class Running:
    name: str
    app: FastAPI
    url: str
    http: httpx.AsyncClient
    branch: str
    other: str
    #: a value for every path parameter of the service's routes (resources of ``branch``)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def ctx(self) -> ServiceContext:
        ctx: ServiceContext = self.app.state.ctx
        return ctx

    def path(self, template: str, overrides: Mapping[str, str] | None = None) -> str:
        values = {**self.params, **(overrides or {})}
        return _PARAM.sub(lambda m: values[m.group(1)], template)

    async def fingerprint(self) -> str:
        async with self.ctx.pool.acquire() as conn:
            value: str = await conn.fetchval(FINGERPRINT_SQL[self.name], [self.branch, self.other])
            return value


def settings_for(database_url: str, bootstrap: str) -> ServiceSettings:
    return ServiceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        http_host="127.0.0.1",
        db_pool_min=1,
        db_pool_max=10,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=500,
    )


def service_of(name: str) -> Service:
    if name == "followup":
        from services.followup.service import build_service as build_followup

        return build_followup()
    if name == "feedback":
        from services.feedback.config import FeedbackConfig
        from services.feedback.service import build_service as build_feedback

        return build_feedback(config=FeedbackConfig(dispatch_period=3600))
    module = __import__(f"services.{name}.service", fromlist=["SERVICE"])
    service: Service = module.SERVICE
    return service


def quiet_background(monkeypatch: pytest.MonkeyPatch) -> None:
    """Long periods for the services' own loops (the tests never wait for them) and a consumer
    group of its own for the complaint service's reactions."""
    for var in (
        "RECEPTION_SCHEDULER_PERIOD_SECONDS",
        "RECEPTION_GAUGE_PERIOD_SECONDS",
        "COMPLAINT_SCHEDULER_PERIOD_SECONDS",
        "COMPLAINT_GAUGE_PERIOD_SECONDS",
        "HQ_METRICS_REFRESH_SECONDS",
    ):
        monkeypatch.setenv(var, "3600")
    monkeypatch.setenv("COMPLAINT_REACTIONS_NAME", f"reactions_{uuid4().hex[:8]}")
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
async def running(name: str, database_url: str, bootstrap: str) -> AsyncIterator[Running]:
    run = secrets.token_hex(3)
    branch, other = f"mx-{run}-a", f"mx-{run}-b"
    app = create_app(service_of(name), settings_for(database_url, bootstrap), clock=FixedClock(T0))
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=15) as http:
        svc = Running(name, app, url, http, branch, other, {"branch_id": branch})
        await SEEDS[name](svc)
        if name != "hq":
            await seed_text(svc)
        yield svc


# ------------------------------------------------------------------------------------ seeding


def _staff(svc: Running) -> dict[str, str]:
    return bearer("seed-1", [svc.branch])


async def _created(svc: Running, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await svc.http.post(path, json=body, headers=_staff(svc))
    assert response.status_code in (200, 201), f"seeding {path}: {response.status_code} {response.text}"
    created: dict[str, Any] = response.json()
    return created


async def seed_reception(svc: Running) -> None:
    b = svc.branch
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
    complaint = (await _created(svc, f"/branches/{svc.branch}/complaints", body))["complaint_id"]
    other = (await _created(svc, f"/branches/{svc.branch}/complaints", body))["complaint_id"]
    merged = await _created(svc, f"/complaints/{other}/merge", {"cause": "ATM network outage"})
    svc.params.update(complaint_id=complaint, incident_id=merged["incident_id"])


async def seed_followup(svc: Running) -> None:
    from services.followup.components import components
    from services.followup.domain import ScheduleTask
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
        await app.execute_in(conn, task_id, command, meta=Metadata(actor="seed-1"), branch_id=svc.branch)
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
        expires_at=app.window_end(svc.branch, T0),
    )
    async with svc.ctx.pool.acquire() as conn, conn.transaction():
        await app.execute_in(conn, survey_id, command, meta=Metadata(actor="seed-1"), branch_id=svc.branch)
    svc.params.update(survey_id=str(survey_id), customer_ref="cust_ref_0042")


async def seed_text(svc: Running) -> None:
    """A text the service keeps for the branch (``GET /texts/{text_id}``)."""
    from shared.texts import texts_for

    batch = texts_for(svc.ctx).batch()
    ref = batch.require("a note kept for the branch")
    async with svc.ctx.pool.acquire() as conn, conn.transaction():
        await batch.save(conn, branch_id=svc.branch, customer_ref=None)
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
