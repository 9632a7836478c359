"""The four services that keep staff's free text, on one broker, and every command route that takes
free text — with a way to bring a fresh resource to the state the route needs.

``TEXT_ROUTES`` maps each such route (service, OpenAPI template) to a ``prepare`` step: it makes a
resource of the test branch ready for the command (a visit called to a counter before ``serve``, a
case answered before ``close``, a follow-up task, a survey) and returns the path and the body's
other fields. The text fields themselves are found in the service's OpenAPI document (their schema
says ``Free text``), so a new route with free text fails the tests until it is listed here.

Synchronous on purpose: hypothesis drives it from a worker thread (``httpx.Client``) while the apps
serve in the test's event loop; the two seeds that go through an application (a follow-up task, a
survey) run on that loop.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from shared.clock import FixedClock
from shared.envelope import Metadata
from shared.runner import ServiceContext
from tests.integration.security.vault_steps import (
    Person,
    fake_people,
)
from tests.support.auth import BRANCH_ROLES, staff_token
from tests.support.harness import Running, running, together

#: a Monday, 10:00 in Shanghai
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
TEXT_SERVICES = ("reception", "complaint", "followup", "feedback")


def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No reception address: the feedback service resolves no phone number (the background periods
    are the harness's recipes: long, tests never wait for them)."""
    monkeypatch.delenv("RECEPTION_URL", raising=False)


#: the services' own settings here: the feedback service sends nothing by itself
SETTINGS: dict[str, dict[str, Any]] = {"feedback": {"dispatch_period": 3600}}


@dataclass
class Stack:
    branch: str
    bootstrap: str
    services: dict[str, Running]
    loop: asyncio.AbstractEventLoop
    people: list[Person]
    refs: list[str] = field(default_factory=list)
    #: the acting member of staff (every floor role) and a second one (approves extensions)
    staff: str = "lm-text-1"
    head: str = "bh-text-2"

    @property
    def urls(self) -> dict[str, str]:
        return {name: svc.url for name, svc in self.services.items()}

    def ctx(self, service: str) -> ServiceContext:
        return self.services[service].ctx

    def headers(self, staff: str | None = None) -> dict[str, str]:
        token = staff_token(staff or self.staff, BRANCH_ROLES, [self.branch])
        return {"Authorization": f"Bearer {token}"}

    async def fetch(self, service: str, sql: str, *args: Any) -> list[Any]:
        return await self.services[service].fetch(sql, *args)

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the apps' loop from the worker thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)


@asynccontextmanager
async def text_stack(database_url: str, bootstrap: str, people: int = 3) -> AsyncIterator[Stack]:
    """Reception (with its vault), complaint, follow-up and feedback, served in-process; customers
    registered in the vault (their raw data is generated per run)."""
    starting = [
        running(name, database_url, bootstrap, clock=FixedClock(T0), settings=SETTINGS.get(name), staff=None)
        for name in TEXT_SERVICES
    ]
    async with together(*starting) as started_services:
        services = dict(zip(TEXT_SERVICES, started_services, strict=True))
        branch = f"tx-{secrets.token_hex(3)}"
        started = Stack(branch, bootstrap, services, asyncio.get_running_loop(), fake_people(people))
        for person in started.people:
            response = await services["reception"].http.post(
                f"/branches/{branch}/customers", json=person.body(), headers=started.headers()
            )
            assert response.status_code in (200, 201), response.text
            started.refs.append(response.json()["customer_ref"])
        yield started


# ------------------------------------------------------------------------- preparing resources

Prepare = Callable[["Client"], tuple[str, dict[str, Any]]]


class Client:
    """Synchronous calls to the stack's services as its member of staff (from a worker thread)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = {name: httpx.Client(base_url=url, timeout=15) for name, url in stack.urls.items()}
        self.counter = 0

    def close(self) -> None:
        for client in self.http.values():
            client.close()

    @property
    def b(self) -> str:
        return self.stack.branch

    @property
    def ref(self) -> str:
        return self.stack.refs[0]

    def post(
        self, service: str, path: str, body: dict[str, Any] | None = None, staff: str | None = None
    ) -> Any:
        response = self.http[service].post(path, json=body, headers=self.stack.headers(staff))
        assert response.status_code in (200, 201), f"preparing {path}: {response.status_code} {response.text}"
        return response.json()

    # ---- reception

    def visit(self, *steps: str, express: bool = False) -> str:
        arrival: dict[str, Any] = {"customer_ref": self.ref}
        if express:
            arrival["service_type"] = "deposit_demand"
        visit = self.post("reception", f"/branches/{self.b}/visits", arrival)["visit_id"]
        bodies = {
            "greet": None,
            "confirm-need": {"service_type": "deposit_demand"},
            "call": {"counter_id": f"c{self.next()}"},
        }
        for step in steps:
            self.post("reception", f"/visits/{visit}/{step}", bodies[step])
        return str(visit)

    def call(self, *steps: str) -> str:
        call = self.post("reception", f"/branches/{self.b}/calls", {"customer_ref": self.ref})["call_id"]
        bodies: dict[str, Any] = {"answer": {"rings": 1}, "purpose": {"purpose": "enquiry"}}
        for step in steps:
            self.post("reception", f"/calls/{call}/{step}", bodies[step])
        return str(call)

    # ---- complaint

    def case(self, stage: str) -> tuple[str, str | None]:
        """A case of the test branch at ``stage``; (case id, its last proposed solution id)."""
        body = {"channel": "phone_hotline", "customer_ref": self.ref, "description": "prepared case"}
        cid = self.post("complaint", f"/branches/{self.b}/complaints", body)["complaint_id"]
        order = ["received", "acknowledged", "classified", "investigating", "proposed", "accepted"]
        order += ["implemented", "answered", "closed"]
        solution = None
        steps: dict[str, tuple[str, dict[str, Any]]] = {
            "acknowledged": ("acknowledge", {}),
            "classified": (
                "classify",
                {"category": "waiting_time", "nature": "general", "source": "phone", "urgency": "normal"},
            ),
            "investigating": ("start-investigation", {}),
            "proposed": ("propose", {"solutions": [{"description": "refund the fee"}]}),
            "accepted": ("accept", {}),
            "implemented": ("implement", {}),
            "answered": ("answer", {"answer": "refunded", "outcome": "upheld"}),
            "closed": ("close", {"result": "refunded"}),
        }
        for reached in order[1 : order.index(stage) + 1]:
            step, step_body = steps[reached]
            if step in ("accept", "implement"):
                step_body = {"solution_id": solution}
            view = self.post("complaint", f"/complaints/{cid}/{step}", step_body)
            if step == "propose":
                solution = view["solutions"][-1]["solution_id"]
        return str(cid), solution

    def case_then(self, stage: str, *steps: tuple[str, dict[str, Any], str | None]) -> str:
        cid, _ = self.case(stage)
        for step, body, staff in steps:
            self.post("complaint", f"/complaints/{cid}/{step}", body, staff)
        return cid

    # ---- follow-up and feedback (seeded through their applications: they come from events)

    def task(self, kind: str = "remediation") -> str:
        from services.followup.components import components
        from services.followup.decider import ScheduleTask
        from shared.contracts.followup import TaskKind

        ctx = self.stack.ctx("followup")
        app = components(ctx).app
        task_id = uuid4()
        command = ScheduleTask(
            task_id=task_id,
            kind=TaskKind(kind),
            due_at=T0 + timedelta(days=1),
            reason="A task prepared by the test.",
            subject=f"complaint:{uuid4()}",
            at=T0,
            customer_ref=self.ref,
        )

        async def seed() -> None:
            async with ctx.pool.acquire() as conn, conn.transaction():
                meta = Metadata(actor="seed-1")
                await app.execute_in(conn, task_id, command, meta=meta, branch_id=self.b)

        self.stack.run(seed())
        return str(task_id)

    def survey(self) -> str:
        from services.feedback.components import components
        from services.feedback.domain import RequestSurvey, survey_id_for
        from shared.contracts.feedback import SurveyChannel

        ctx = self.stack.ctx("feedback")
        app = components(ctx).app
        subject = f"visit:{uuid4()}"
        survey_id = survey_id_for(subject)
        command = RequestSurvey(
            survey_id=survey_id,
            subject=subject,
            customer_ref=self.ref,
            channel=SurveyChannel.sms,
            requested_at=T0,
            expires_at=T0 + timedelta(hours=72),
        )

        async def seed() -> None:
            async with ctx.pool.acquire() as conn, conn.transaction():
                meta = Metadata(actor="seed-1")
                await app.execute_in(conn, survey_id, command, meta=meta, branch_id=self.b)

        self.stack.run(seed())
        return str(survey_id)

    def next(self) -> int:
        self.counter += 1
        return self.counter


def _promise() -> str:
    return (T0 + timedelta(days=2)).isoformat()


def _due() -> str:
    return (T0 + timedelta(days=10)).isoformat()


#: (service, route template) → prepare: (path, the body's other fields). ``staff`` in the body
#: (popped before sending) names who sends it when it is not the test's member of staff.
TEXT_ROUTES: dict[tuple[str, str], Prepare] = {
    # reception: visits and calls
    ("reception", "/branches/{branch_id}/visits"): lambda c: (
        f"/branches/{c.b}/visits",
        {"customer_ref": c.ref, "service_type": "deposit_demand"},
    ),
    ("reception", "/visits/{visit_id}/confirm-need"): lambda c: (
        f"/visits/{c.visit('greet')}/confirm-need",
        {"service_type": "deposit_demand"},
    ),
    ("reception", "/visits/{visit_id}/guide"): lambda c: (
        f"/visits/{c.visit('greet', 'confirm-need')}/guide",
        {},
    ),
    ("reception", "/visits/{visit_id}/serve"): lambda c: (
        f"/visits/{c.visit('call', express=True)}/serve",
        {"promised_by": _promise()},
    ),
    ("reception", "/visits/{visit_id}/raise-complaint"): lambda c: (
        f"/visits/{c.visit()}/raise-complaint",
        {},
    ),
    ("reception", "/calls/{call_id}/purpose"): lambda c: (
        f"/calls/{c.call('answer')}/purpose",
        {"purpose": "enquiry"},
    ),
    ("reception", "/calls/{call_id}/route"): lambda c: (
        f"/calls/{c.call('answer', 'purpose')}/route",
        {"routed_to": "loans-desk"},
    ),
    ("reception", "/calls/{call_id}/resolve"): lambda c: (
        f"/calls/{c.call('answer', 'purpose')}/resolve",
        {},
    ),
    ("reception", "/calls/{call_id}/end"): lambda c: (
        f"/calls/{c.call('answer')}/end",
        {"purpose": "enquiry", "outcome": "resolved"},
    ),
    # complaint: every lifecycle and regulatory command with a text
    ("complaint", "/branches/{branch_id}/complaints"): lambda c: (
        f"/branches/{c.b}/complaints",
        {"channel": "phone_hotline", "customer_ref": c.ref},
    ),
    ("complaint", "/complaints/{complaint_id}/acknowledge"): lambda c: (
        f"/complaints/{c.case('received')[0]}/acknowledge",
        {},
    ),
    ("complaint", "/complaints/{complaint_id}/start-investigation"): lambda c: (
        f"/complaints/{c.case('classified')[0]}/start-investigation",
        {},
    ),
    ("complaint", "/complaints/{complaint_id}/propose"): lambda c: (
        f"/complaints/{c.case('investigating')[0]}/propose",
        {"solutions": [{"compensation": "20.00"}]},
    ),
    ("complaint", "/complaints/{complaint_id}/accept"): lambda c: _with_solution(c, "proposed", "accept"),
    ("complaint", "/complaints/{complaint_id}/reject"): lambda c: _with_solution(c, "proposed", "reject"),
    ("complaint", "/complaints/{complaint_id}/implement"): lambda c: _with_solution(
        c, "accepted", "implement"
    ),
    ("complaint", "/complaints/{complaint_id}/answer"): lambda c: (
        f"/complaints/{c.case('implemented')[0]}/answer",
        {"outcome": "upheld"},
    ),
    ("complaint", "/complaints/{complaint_id}/close"): lambda c: (
        f"/complaints/{c.case('answered')[0]}/close",
        {"remediation_actions": [{"owner": "ops-1", "due_at": _due()}]},
    ),
    ("complaint", "/complaints/{complaint_id}/reopen"): lambda c: (
        f"/complaints/{c.case('closed')[0]}/reopen",
        {},
    ),
    ("complaint", "/complaints/{complaint_id}/hold"): lambda c: (
        f"/complaints/{c.case('acknowledged')[0]}/hold",
        {"kind": "waiting_on_customer"},
    ),
    ("complaint", "/complaints/{complaint_id}/resume"): lambda c: (
        f"/complaints/{c.case_then('acknowledged', ('hold', {'reason': 'waiting'}, None))}/resume",
        {},
    ),
    ("complaint", "/complaints/{complaint_id}/escalate"): lambda c: (
        f"/complaints/{c.case('acknowledged')[0]}/escalate",
        {},
    ),
    ("complaint", "/complaints/{complaint_id}/merge"): lambda c: (
        f"/complaints/{c.case('received')[0]}/merge",
        {},
    ),
    ("complaint", "/complaints/{complaint_id}/progress-update"): lambda c: (
        f"/complaints/{c.case('acknowledged')[0]}/progress-update",
        {},
    ),
    ("complaint", "/complaints/{complaint_id}/extend"): lambda c: (
        f"/complaints/{c.case('acknowledged')[0]}/extend",
        {},
    ),
    ("complaint", "/complaints/{complaint_id}/new-material"): lambda c: (
        f"/complaints/{c.case('acknowledged')[0]}/new-material",
        {},
    ),
    ("complaint", "/complaints/{complaint_id}/request-extension"): lambda c: (
        f"/complaints/{_extended(c)}/request-extension",
        {},
    ),
    ("complaint", "/complaints/{complaint_id}/approve-extension"): lambda c: (
        f"/complaints/{_requested(c)}/approve-extension",
        {"staff": c.stack.head},
    ),
    ("complaint", "/complaints/{complaint_id}/deny-extension"): lambda c: (
        f"/complaints/{_requested(c)}/deny-extension",
        {"staff": c.stack.head},
    ),
    ("complaint", "/complaints/{complaint_id}/interim-response"): lambda c: (
        f"/complaints/{c.case('acknowledged')[0]}/interim-response",
        {"kind": "holding", "refers_to_ombudsman": True},
    ),
    ("complaint", "/complaints/{complaint_id}/request-review"): lambda c: (
        f"/complaints/{c.case('answered')[0]}/request-review",
        {},
    ),
    ("complaint", "/complaints/{complaint_id}/decide-review"): lambda c: (
        f"/complaints/{_under_review(c)}/decide-review",
        {"outcome": "original_upheld", "staff": c.stack.head},
    ),
    # follow-up
    ("followup", "/follow-ups/{task_id}/contact"): lambda c: (
        f"/follow-ups/{c.task()}/contact",
        {"reached": True},
    ),
    ("followup", "/follow-ups/{task_id}/complete"): lambda c: (f"/follow-ups/{c.task()}/complete", {}),
    ("followup", "/follow-ups/{task_id}/cancel"): lambda c: (f"/follow-ups/{c.task()}/cancel", {}),
    ("followup", "/follow-ups/{task_id}/reassign"): lambda c: (
        f"/follow-ups/{c.task()}/reassign",
        {"owner": f"staff-{c.next()}"},
    ),
    # feedback
    ("feedback", "/surveys/{survey_id}/responses"): lambda c: (
        f"/surveys/{c.survey()}/responses",
        {"score": 2},
    ),
}


def _with_solution(c: Client, stage: str, step: str) -> tuple[str, dict[str, Any]]:
    cid, solution = c.case(stage)
    return f"/complaints/{cid}/{step}", {"solution_id": solution}


def _extended(c: Client) -> str:
    return c.case_then("acknowledged", ("extend", {"reason": "complex"}, None))


def _under_review(c: Client) -> str:
    return c.case_then("answered", ("request-review", {"reason": "unfair"}, None))


def _requested(c: Client) -> str:
    return c.case_then(
        "acknowledged",
        ("extend", {"reason": "complex"}, None),
        ("request-extension", {"reason": "more"}, None),
    )


# ----------------------------------------------------------------------------- text fields


def text_fields(spec: dict[str, Any], template: str) -> list[str]:
    """The free-text fields of a route's JSON body, as paths: ``notes``, ``solutions[].description``."""
    operation = spec["paths"][template]["post"]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    return [] if content is None else _texts(content["schema"], spec, "")


def _texts(schema: dict[str, Any], spec: dict[str, Any], path: str) -> list[str]:
    if "$ref" in schema:
        return _texts(spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]], spec, path)
    found: list[str] = []
    for option in schema.get("anyOf", []) + schema.get("allOf", []):
        found += _texts(option, spec, path)
    if schema.get("type") == "object":
        for name, prop in schema.get("properties", {}).items():
            found += _texts(prop, spec, f"{path}.{name}" if path else name)
    if schema.get("type") == "array":
        found += _texts(schema.get("items", {}), spec, f"{path}[]")
    if schema.get("type") == "string" and schema.get("description", "").startswith("Free text"):
        found.append(path)
    return found


def put_text(body: dict[str, Any], path: str, text: str) -> None:
    """Set the text at ``path`` (``a.b``, ``items[].c``: in the list's first item, made if missing)."""
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        items = body.setdefault(head[:-2], [{}])
        put_text(items[0], rest, text)
    elif rest:
        put_text(body.setdefault(head, {}), rest, text)
    else:
        body[head] = text


def loc_path(loc: list[Any]) -> str:
    """``["body", "solutions", 0, "description"]`` → ``solutions[].description``."""
    out = ""
    for part in loc[1:]:
        if isinstance(part, int):
            out += "[]"
        else:
            out += f".{part}" if out else str(part)
    return out
