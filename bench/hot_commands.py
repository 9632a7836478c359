"""What each service's hottest command sends, and the cases it acts on.

A create makes its own (one branch after another); a lifecycle step takes what the create made
earlier in the same run (acknowledge the complaints just received; call the visits just queued,
each to a counter of its own since a counter must be free); a command of a reacting service
(follow-up complete, survey answer) acts on what the service made from other contexts' events
published before it starts (:class:`Prepared`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.http_client import LoadClient
from bench.load import closed_loop
from bench.stats import progress
from services.followup.decider import CUSTOMER_FACING
from services.simulator.envelopes import EnvelopeFactory, Made
from services.simulator.envelopes import producer as envelope_producer
from services.simulator.envelopes import publish as publish_envelopes
from shared.contracts.refs import synthetic_ref
from tests.support.auth import BRANCH_ROLES, bearer

#: method, path, JSON body, and the branch whose staff sends it
Request = tuple[str, str, dict[str, Any], str]


@functools.cache
def staff_of(branch: str) -> dict[str, str]:
    """A member of staff with every branch role in ``branch`` (one token per branch, reused)."""
    return bearer(f"staff-{branch}", [branch], BRANCH_ROLES)


@dataclass
class Command:
    """One command to offer: ``request(i)`` builds request ``i`` (None: nothing left to act on),
    ``answered`` sees each success (to keep what a later command acts on)."""

    label: str
    status: int

    def request(self, i: int) -> Request | None:
        raise NotImplementedError

    def answered(self, i: int, body: Any) -> None:
        return None

    def available(self) -> int | None:
        """How many requests can still be made (None: any number)."""
        return None


@dataclass
class Create(Command):
    """A create in one branch after another; ``made`` keeps (branch, what a later step needs)."""

    branches: int = 200
    made: deque[tuple[str, str]] = field(default_factory=deque)

    def branch(self, i: int) -> str:
        return f"b{i % self.branches:04d}"


@dataclass
class Step(Command):
    """A lifecycle step on what ``create`` made, one each."""

    create: Create

    def available(self) -> int:
        return len(self.create.made)

    def request(self, i: int) -> Request | None:
        if not self.create.made:
            return None
        branch, made = self.create.made.popleft()
        method, path, body = self.on(branch, made, i)
        return method, path, body, branch

    def on(self, branch: str, made: str, i: int) -> tuple[str, str, dict[str, Any]]:
        raise NotImplementedError


@dataclass
class ComplaintCreate(Create):
    def request(self, i: int) -> Request:
        body = {
            "channel": "in_branch",
            "customer_ref": synthetic_ref(f"cmd-{i}"),
            "description": "queue too long",
        }
        return "POST", f"/branches/{self.branch(i)}/complaints", body, self.branch(i)

    def answered(self, i: int, body: Any) -> None:
        self.made.append((self.branch(i), str(body["complaint_id"])))


@dataclass
class ComplaintAcknowledge(Step):
    def on(self, branch: str, made: str, i: int) -> tuple[str, str, dict[str, Any]]:
        return "POST", f"/complaints/{made}/acknowledge", {"apology": "we are sorry for the wait"}


@dataclass
class VisitArrival(Create):
    def request(self, i: int) -> Request:
        body = {"service_type": "deposit_demand", "customer_ref": synthetic_ref(f"visit-{i}")}
        return "POST", f"/branches/{self.branch(i)}/visits", body, self.branch(i)

    def answered(self, i: int, body: Any) -> None:
        if body.get("line"):  # the ticket's line: call-next calls from it
            self.made.append((self.branch(i), str(body["line"])))


@dataclass
class VisitCall(Step):
    def on(self, branch: str, made: str, i: int) -> tuple[str, str, dict[str, Any]]:
        # a counter must be free: every call goes to a counter of its own (opened by the call)
        return "POST", f"/branches/{branch}/lines/{made}/call-next", {"counter_id": f"c{i}"}


@dataclass
class Prepared(Command):
    """A command on things made before it runs: ``publish`` puts the other contexts' events the
    service reacts to on the broker (before it starts), ``prepare`` finds what they made."""

    count: int = 0
    branches: int = 20
    ready: deque[tuple[str, str, dict[str, Any]]] = field(default_factory=deque)

    def names(self) -> list[str]:
        return [self.branch(i) for i in range(self.branches)]

    def branch(self, i: int) -> str:
        raise NotImplementedError

    def available(self) -> int:
        return len(self.ready)

    async def publish(self, bootstrap: str) -> None:
        factory = EnvelopeFactory(actor="bench-staff")
        made = [m for i in range(self.count) for m in self.events(factory, i, datetime.now(UTC))]
        producer = envelope_producer(bootstrap)
        await producer.start()
        try:
            await publish_envelopes(producer, made)
        finally:
            await producer.stop()
        progress(f"{self.label}: published {len(made):,} events of {self.count:,} cases it acts on")

    def events(self, factory: EnvelopeFactory, i: int, at: datetime) -> list[Made]:
        raise NotImplementedError

    async def prepare(self, http: LoadClient, connections: int) -> None:
        raise NotImplementedError


@dataclass
class FollowupComplete(Prepared):
    """Completes the follow-ups scheduled for received complaints, each customer reached first
    (as staff must)."""

    def branch(self, i: int) -> str:
        return f"f{i % self.branches:03d}"

    def request(self, i: int) -> Request | None:
        if not self.ready:
            return None
        branch, task_id, body = self.ready.popleft()
        return "POST", f"/follow-ups/{task_id}/complete", body, branch

    def events(self, factory: EnvelopeFactory, i: int, at: datetime) -> list[Made]:
        ref = synthetic_ref(f"fu-{i}")
        return factory.complaint(self.branch(i), at, customer_ref=ref, steps="received")

    async def prepare(self, http: LoadClient, connections: int) -> None:
        """List the open follow-ups (waiting for the consumer), reach each customer that must be."""
        tasks = await _listed(http, self.names(), "follow-ups", "tasks", "status=open&limit=500", self.count)
        todo = [(branch, t) for branch, t in tasks if t.get("status") in ("scheduled", "contacted")]
        needs_contact = [
            (branch, t) for branch, t in todo if t.get("kind") in CUSTOMER_FACING and not t.get("reached")
        ]
        progress(f"follow-ups: {len(todo):,} open, reaching {len(needs_contact):,} customers first")

        async def contact(i: int) -> int:
            branch, task = needs_contact[i]
            body = {"reached": True, "note": "talked to the customer"}
            path = f"/follow-ups/{task['task_id']}/contact"
            return (await http.request("POST", path, json=body, headers=staff_of(branch))).status_code

        await closed_loop(contact, requests=len(needs_contact), connections=connections)
        for branch, task in todo:
            body: dict[str, Any] = {"note": "done as promised"}
            if task.get("kind") == "verification":
                body["verified"] = True
            self.ready.append((branch, str(task["task_id"]), body))


@dataclass
class SurveyAnswer(Prepared):
    """Answers the surveys requested after served visits, by phone (floor staff)."""

    def branch(self, i: int) -> str:
        return f"s{i % self.branches:03d}"

    def request(self, i: int) -> Request | None:
        if not self.ready:
            return None
        branch, survey_id, body = self.ready.popleft()
        return "POST", f"/surveys/{survey_id}/responses", body, branch

    def events(self, factory: EnvelopeFactory, i: int, at: datetime) -> list[Made]:
        return factory.visit(self.branch(i), at, waited=60.0, customer_ref=synthetic_ref(f"sv-{i}"))

    async def prepare(self, http: LoadClient, connections: int) -> None:
        query = "answered=false&limit=200"
        listed = await _listed(http, self.names(), "surveys", "surveys", query, self.count)
        self.ready.extend((branch, str(s["survey_id"]), {"score": 5}) for branch, s in listed)
        progress(f"surveys: {len(self.ready):,} waiting for an answer")
        await _drained(http, self.names(), "surveys", "surveys", "status=requested&limit=200", "to send")


async def _listed(
    http: LoadClient, names: list[str], what: str, key: str, query: str, want: int, patience: float = 180.0
) -> list[tuple[str, dict[str, Any]]]:
    """Every branch's ``/branches/{b}/{what}?{query}`` rows, polled until ``want`` are there or
    the count stopped growing for a few seconds (the service's consumer catching up)."""
    rows: list[tuple[str, dict[str, Any]]] = []
    seen, since, deadline = -1, time.monotonic(), time.monotonic() + patience
    while time.monotonic() < deadline:
        rows = []
        for branch in names:
            response = await http.get(f"/branches/{branch}/{what}?{query}", headers=staff_of(branch))
            if response.status_code == 200:
                rows += [(branch, row) for row in response.json()[key]]
        if len(rows) >= want:
            break
        if len(rows) != seen:
            seen, since = len(rows), time.monotonic()
        elif time.monotonic() - since > (15 if rows else 90):  # a busy consumer commits in bursts
            break
        await asyncio.sleep(1.0)
    return rows


async def _drained(
    http: LoadClient, names: list[str], what: str, key: str, query: str, label: str, patience: float = 600.0
) -> None:
    """Wait until no branch lists a ``/branches/{b}/{what}?{query}`` row: the service's background
    work on what was prepared is done (the survey dispatcher has sent every requested survey), so
    it neither counts as the commands' round trips nor burns CPU while they are measured. The
    dispatcher works off a backlog of thousands at its own pace (50 a round, a round every 0.5 s
    at most): the bench waits for it, and says so when it gives up."""
    deadline, said = time.monotonic() + patience, 0.0
    while True:
        left = 0
        for branch in names:
            response = await http.get(f"/branches/{branch}/{what}?{query}", headers=staff_of(branch))
            if response.status_code == 200:
                left += len(response.json()[key])
        if left == 0:
            return
        now = time.monotonic()
        if now >= deadline:
            progress(f"{what}: still {left:,} {label} after {patience:.0f} s; measuring anyway")
            return
        if now - said >= 10:
            progress(f"{what}: {left:,} {label}, waiting for the service to work them off")
            said = now
        await asyncio.sleep(1.0)
