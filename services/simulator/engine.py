"""The simulation: a discrete-event loop on a simulated clock that runs ``speed`` times faster than
real time, driving the real services over HTTP.

Each branch has customers arriving (by the model's day shape), a queue and a few counters: a visit
is created with its service type (the ticket machine), called to a free counter, served, and leaves
(or gives up after a while). A few visits end in a complaint, taken through acknowledge → classify
→ investigate → propose → accept → implement → answer → close (some escalated, some not upheld);
identified customers answer the satisfaction survey feedback sends them; phones ring; follow-up
tasks get done. An outage makes several branches' customers complain about ``system_failure``
within minutes, so HQ suspects a crisis.

The services keep their own (real) clocks: a simulated hour at speed 60 lasts a real minute, so the
waits and handling times the services record are the real ones, ``1/speed`` of the simulated ones.
``speed`` is a maximum: when the services (or this process) cannot keep up, the simulated clock
waits, so a slow machine gives a slower run, not a distorted one.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID, uuid5

from services.simulator import model
from services.simulator.client import Api
from shared.contracts.complaint import Category, Channel, Nature

log = logging.getLogger(__name__)

#: the feedback service derives a survey's id from its subject (services/feedback/domain.py)
SURVEY_NAMESPACE = UUID("0c6f5d0e-8a7b-4f0e-b1c2-3d4e5f607182")

Action = Callable[[], Awaitable[None]]
#: how far (simulated seconds) the clock may run ahead of the oldest step not yet started: "speed"
#: is a maximum, the simulation slows down rather than bursting when the machine cannot keep up
MAX_LAG_SECONDS = 60.0


def survey_id_for(subject: str) -> UUID:
    return uuid5(SURVEY_NAMESPACE, subject)


@dataclass(frozen=True)
class SimConfig:
    branches: int = 10
    regions: int = 3
    #: simulated minutes to run; None = until stopped
    minutes: float | None = 60
    #: simulated seconds per real second
    speed: float = 60.0
    start: datetime | None = None
    seed: int = 1
    #: simulated minutes after the start when the outage hits (None: no outage)
    outage_after: float | None = 20.0
    #: a further outage every this many simulated minutes (demo), None: once
    outage_every: float | None = None
    tuning: model.Tuning = field(default_factory=model.Tuning)


@dataclass
class Branch:
    branch_id: str
    queue: deque[tuple[str, float]] = field(default_factory=deque)  # (visit id, queued at sim seconds)
    free_counters: list[str] = field(default_factory=list)
    queued: set[str] = field(default_factory=set)

    @property
    def manager(self) -> str:
        return f"lm-{self.branch_id}"

    def teller(self, counter: str) -> str:
        return f"teller-{self.branch_id}-{counter}"


class Simulation:
    def __init__(self, config: SimConfig, api: Api, max_in_flight: int = 64) -> None:
        self.config = config
        self.api = api
        self.max_in_flight = max_in_flight
        self.stats = api.stats
        self.rng = random.Random(config.seed)
        start = config.start or _default_start()
        self.sim_start = model.next_opening(start)
        self._offset = 0.0  # simulated seconds skipped over closed hours
        self._real_start = time.monotonic()
        self._heap: list[tuple[float, int, str, Action]] = []
        self._seq = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        ids = model.branch_ids(config.branches, config.regions)
        t = config.tuning
        self.branches = {b: Branch(b, free_counters=[str(i + 1) for i in range(t.counters)]) for b in ids}
        self.incidents: dict[int, str] = {}
        #: simulated seconds when the run ended (in-flight steps finish after that)
        self.simulated_seconds = 0.0

    # ------------------------------------------------------------------------------ the clock

    def sim_seconds(self) -> float:
        """Simulated seconds since the start."""
        return (time.monotonic() - self._real_start) * self.config.speed + self._offset

    def sim_now(self) -> datetime:
        return self.sim_start + timedelta(seconds=self.sim_seconds())

    def at(self, moment: datetime) -> float:
        return (moment - self.sim_start).total_seconds()

    def schedule(self, delay_minutes: float, name: str, action: Action) -> None:
        due = self.sim_seconds() + max(delay_minutes, 0.0) * 60
        heapq.heappush(self._heap, (due, next(self._seq), name, action))

    def schedule_at(self, due: float, name: str, action: Action) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), name, action))

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------------------ the loop

    async def run(self) -> None:
        for branch in self.branches.values():
            self._next_arrival(branch, self.sim_start)
            self._next_remote_complaint(branch, self.sim_start)
            self._next_call(branch, self.sim_start)
            self.schedule(30, "follow-ups", partial(self.followups, branch))
        if self.config.outage_after is not None:
            self.schedule(self.config.outage_after, "outage", self.outage)
        end = None if self.config.minutes is None else self.config.minutes * 60
        while not self._stop.is_set():
            now = self.sim_seconds()
            if end is not None and now >= end:
                break
            if not self._heap:
                await asyncio.sleep(0.05)
                continue
            due = self._heap[0][0]
            if due > now:
                self._skip_closed_hours(due, now)
                wait = min((due - self.sim_seconds()) / self.config.speed, 0.2)
                if wait > 0:
                    try:
                        await asyncio.wait_for(self._stop.wait(), timeout=wait)
                    except TimeoutError:
                        pass
                continue
            if due < now - MAX_LAG_SECONDS:  # the simulator fell behind: the clock waits for it
                self._offset -= now - due - MAX_LAG_SECONDS
            if len(self._tasks) >= self.max_in_flight:  # the services fell behind: so does the clock
                paused = time.monotonic()
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                self._offset -= (time.monotonic() - paused) * self.config.speed
                continue
            _, _, name, action = heapq.heappop(self._heap)
            task = asyncio.create_task(self._guarded(name, action))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.simulated_seconds = self.sim_seconds()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        for task in list(self._tasks):
            task.cancel()

    def _skip_closed_hours(self, due: float, now: float) -> None:
        """Outside opening hours with nothing in flight, jump to the next thing to do."""
        if due - now > 10 * 60 and not model.is_open(self.sim_now()) and not self._tasks:
            self._offset += due - now

    async def _guarded(self, name: str, action: Action) -> None:
        try:
            await action()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one step failing must not stop the simulation
            self.stats.errors["simulator"] += 1
            self.api.warn(f"crash:{name}", f"simulator step {name} failed: {exc!r}")
            log.debug("step %s failed", name, exc_info=True)

    # ------------------------------------------------------------------------------ visits

    def _next_arrival(self, branch: Branch, after: datetime) -> None:
        t = model.next_arrival(self.rng, after, self.config.tuning.peak_arrivals_per_hour)
        self.schedule_at(self.at(t), "arrive", lambda: self.arrive(branch, t))

    async def arrive(self, branch: Branch, at: datetime) -> None:
        self._next_arrival(branch, at)
        kind = model.service_type(self.rng)
        identified = self.rng.random() < self.config.tuning.identified_share
        body: dict[str, Any] = {"service_type": kind.value}
        ref = model.customer_ref(self.rng) if identified else None
        if ref:
            body["customer_ref"] = ref
        r = await self.api.call(
            "reception", "POST", "/branches/{b}/visits", staff=branch.manager, json=body, b=branch.branch_id
        )
        if r is None or r.status_code != 201:
            return
        self.stats.done["visits"] += 1
        visit_id = r.json()["visit_id"]
        branch.queue.append((visit_id, self.sim_seconds()))
        branch.queued.add(visit_id)
        patience = self.rng.uniform(25, 70)
        self.schedule(patience, "give-up", lambda: self.give_up(branch, visit_id))
        await self.dispatch(branch)

    async def dispatch(self, branch: Branch) -> None:
        """Call waiting customers to free counters."""
        while branch.free_counters and branch.queue:
            visit_id, _queued = branch.queue.popleft()
            branch.queued.discard(visit_id)
            counter = branch.free_counters.pop()
            r = await self.api.call(
                "reception",
                "POST",
                "/visits/{v}/call",
                branch=branch.branch_id,
                staff=branch.teller(counter),
                json={"counter_id": counter},
                v=visit_id,
            )
            if r is None or r.status_code != 200:
                branch.free_counters.append(counter)
                continue
            state = r.json()
            minutes = model.service_minutes(self.rng, state.get("service_type"))
            self.schedule(minutes, "serve", partial(self.serve, branch, visit_id, counter, state))

    async def give_up(self, branch: Branch, visit_id: str) -> None:
        if visit_id not in branch.queued:
            return
        branch.queued.discard(visit_id)
        branch.queue = deque(item for item in branch.queue if item[0] != visit_id)
        r = await self.api.call(
            "reception",
            "POST",
            "/visits/{v}/leave",
            branch=branch.branch_id,
            staff=branch.manager,
            v=visit_id,
        )
        if r is not None and r.status_code == 200:
            self.stats.done["abandoned"] += 1

    async def serve(self, branch: Branch, visit_id: str, counter: str, state: dict[str, Any]) -> None:
        body = {"outcome": "done", "next_steps": ""}
        r = await self.api.call(
            "reception",
            "POST",
            "/visits/{v}/serve",
            branch=branch.branch_id,
            staff=branch.teller(counter),
            json=body,
            v=visit_id,
        )
        branch.free_counters.append(counter)
        await self.dispatch(branch)
        if r is None or r.status_code != 200:
            return
        self.stats.done["served"] += 1
        ref = state.get("customer_ref")
        complains = self.rng.random() < self.config.tuning.complaint_share
        if complains and ref:
            await self.complaint(branch, Channel.in_branch, ref, visit_id=visit_id)
        self.schedule(1, "leave", lambda: self.leave(branch, visit_id))
        if ref and self.rng.random() < self.config.tuning.survey_response_share:
            self.schedule(self.rng.uniform(5, 90), "survey", lambda: self.answer_survey(branch, visit_id, 0))

    async def leave(self, branch: Branch, visit_id: str) -> None:
        await self.api.call(
            "reception",
            "POST",
            "/visits/{v}/leave",
            branch=branch.branch_id,
            staff=branch.manager,
            v=visit_id,
        )

    async def answer_survey(self, branch: Branch, visit_id: str, attempt: int) -> None:
        survey = survey_id_for(f"visit:{visit_id}")
        score = model.score(self.rng)
        body: dict[str, Any] = {"score": score}
        if score <= 2:
            body["comment"] = "waited too long and nobody explained why"
            body["reasons"] = ["waiting_time"]
        r = await self.api.call(
            "feedback",
            "POST",
            "/surveys/{s}/responses",
            branch=branch.branch_id,
            staff="sms-gateway",
            json=body,
            expected=(404,),
            s=survey,
        )
        if r is not None and r.status_code == 404 and attempt < 4:  # feedback has not requested it yet
            self.schedule(3, "survey", lambda: self.answer_survey(branch, visit_id, attempt + 1))
        elif r is not None and r.status_code == 201:
            self.stats.done["surveys"] += 1

    # ---------------------------------------------------------------------------- phone calls

    def _next_call(self, branch: Branch, after: datetime) -> None:
        t = model.next_arrival(self.rng, after, self.config.tuning.phone_calls_per_hour)
        self.schedule_at(self.at(t), "call", lambda: self.phone(branch, t))

    async def phone(self, branch: Branch, at: datetime) -> None:
        self._next_call(branch, at)
        r = await self.api.call(
            "reception", "POST", "/branches/{b}/calls", staff=branch.manager, json={}, b=branch.branch_id
        )
        if r is None or r.status_code != 201:
            return
        call_id = r.json()["call_id"]
        rings = self.rng.choices((1, 2, 3, 4, 6), weights=(40, 30, 18, 8, 4))[0]
        await self.api.call(
            "reception",
            "POST",
            "/calls/{c}/answer",
            branch=branch.branch_id,
            staff=branch.manager,
            json={"rings": rings},
            c=call_id,
        )
        self.stats.done["calls"] += 1
        purpose = model.service_type(self.rng).value
        self.schedule(self.rng.uniform(1, 6), "end-call", lambda: self._end_call(branch, call_id, purpose))

    async def _end_call(self, branch: Branch, call_id: str, purpose: str) -> None:
        await self.api.call(
            "reception",
            "POST",
            "/calls/{c}/end",
            branch=branch.branch_id,
            staff=branch.manager,
            json={"purpose": purpose, "outcome": "resolved"},
            c=call_id,
        )

    # ----------------------------------------------------------------------------- complaints

    def _next_remote_complaint(self, branch: Branch, after: datetime) -> None:
        t = model.next_arrival(self.rng, after, self.config.tuning.remote_complaints_per_hour)
        self.schedule_at(self.at(t), "remote-complaint", lambda: self._remote(branch, t))

    async def _remote(self, branch: Branch, at: datetime) -> None:
        self._next_remote_complaint(branch, at)
        await self.complaint(branch, model.remote_channel(self.rng), model.customer_ref(self.rng))

    async def complaint(
        self,
        branch: Branch,
        channel: Channel,
        ref: str,
        *,
        visit_id: str | None = None,
        category: Category | None = None,
        description: str = "the queue was long and nobody told us why",
        incident: int | None = None,
    ) -> None:
        body: dict[str, Any] = {"channel": channel.value, "customer_ref": ref, "description": description}
        if visit_id:
            body["visit_id"] = visit_id
        r = await self.api.call(
            "complaint",
            "POST",
            "/branches/{b}/complaints",
            staff=branch.manager,
            json=body,
            b=branch.branch_id,
        )
        if r is None or r.status_code != 201:
            return
        self.stats.done["complaints"] += 1
        case = Case(
            self,
            branch,
            r.json()["complaint_id"],
            category or model.category(self.rng),
            model.nature(self.rng) if category is None else Nature.general,
            incident,
        )
        self.schedule(
            self.rng.uniform(1, 20) if incident is None else self.rng.uniform(0.5, 3),
            "acknowledge",
            case.acknowledge,
        )

    # ------------------------------------------------------------------------------ follow-ups

    async def followups(self, branch: Branch) -> None:
        self.schedule(30, "follow-ups", lambda: self.followups(branch))
        r = await self.api.call(
            "followup",
            "GET",
            "/branches/{b}/follow-ups",
            staff=branch.manager,
            params={"status": "open", "limit": 20},
            b=branch.branch_id,
        )
        if r is None or r.status_code != 200:
            return
        for task in r.json().get("tasks", []):
            if self.rng.random() < 0.6:
                body: dict[str, Any] = {"note": "done as promised"}
                if task.get("kind") == "verification":
                    body["verified"] = self.rng.random() < 0.95
                done = await self.api.call(
                    "followup",
                    "POST",
                    "/follow-ups/{t}/complete",
                    branch=branch.branch_id,
                    staff=branch.manager,
                    json=body,
                    t=task["task_id"],
                )
                if done is not None and done.status_code == 200:
                    self.stats.done["follow-ups"] += 1

    # ---------------------------------------------------------------------------------- outage

    async def outage(self) -> None:
        """A core-system outage: customers of several branches complain within minutes."""
        hit = model.outage_branches(self.rng, list(self.branches))
        self.stats.done["outages"] += 1
        if len(hit) < 5:
            self.api.warn(
                "outage-small", f"the outage hits only {len(hit)} branches: too few for HQ's crisis rule"
            )
        number = int(self.stats.done["outages"])
        for branch_id in hit:
            branch = self.branches[branch_id]
            delay = self.rng.uniform(0, 8)
            self.schedule(
                delay,
                "outage-complaint",
                partial(
                    self.complaint,
                    branch,
                    self.rng.choice((Channel.in_branch, Channel.phone_hotline)),
                    model.customer_ref(self.rng),
                    category=Category.system_failure,
                    description="could not withdraw: the system was down",
                    incident=number,
                ),
            )
        if self.config.outage_every:
            self.schedule(self.config.outage_every, "outage", self.outage)


class Case:
    """One complaint taken through its lifecycle, a step at a time (409: the case went elsewhere)."""

    def __init__(
        self,
        sim: Simulation,
        branch: Branch,
        complaint_id: str,
        category: Category,
        nature: Nature,
        incident: int | None,
    ) -> None:
        self.sim = sim
        self.branch = branch
        self.id = complaint_id
        self.category = category
        self.nature = nature
        self.incident = incident
        self.solution: str | None = None

    async def post(self, step: str, body: dict[str, Any] | None = None) -> dict[str, Any] | None:
        r = await self.sim.api.call(
            "complaint",
            "POST",
            "/complaints/{c}/" + step,
            branch=self.branch.branch_id,
            staff=self.branch.manager,
            json=body,
            c=self.id,
        )
        if r is None or r.status_code != 200:
            return None
        return dict(r.json())

    def next(self, lo: float, hi: float, step: Action) -> None:
        self.sim.schedule(self.sim.rng.uniform(lo, hi), "complaint", step)

    async def acknowledge(self) -> None:
        if await self.post("acknowledge", {"apology": "we are sorry for the trouble"}) is not None:
            self.next(1, 5 if self.incident else 15, self.classify)

    async def classify(self) -> None:
        urgency = "urgent" if self.incident else "normal"
        body = {
            "category": self.category.value,
            "nature": self.nature.value,
            "source": "customer",
            "urgency": urgency,
        }
        if await self.post("classify", body) is None:
            return
        self.sim.stats.done["classified"] += 1
        if self.incident:
            await self._merge()
        if self.sim.rng.random() < self.sim.config.tuning.escalation_share and self.nature is Nature.general:
            await self.post("escalate", {"reason": "the customer asked for the branch head"})
        self.next(5, 30, self.investigate)

    async def _merge(self) -> None:
        incident = self.sim.incidents.get(self.incident or 0)
        body: dict[str, Any] = {"cause": "core system outage"}
        if incident:
            body["incident_id"] = incident
        state = await self.post("merge", body)
        if state and not incident and state.get("incident_id"):
            self.sim.incidents[self.incident or 0] = state["incident_id"]

    async def investigate(self) -> None:
        if await self.post("start-investigation", {"note": "looking into it"}) is None:
            return
        if self.sim.rng.random() < 0.12:
            self.next(10, 60, self.not_upheld)
        else:
            self.next(10, 60, self.propose)

    async def not_upheld(self) -> None:
        if (
            await self.post(
                "answer", {"answer": "the fee was disclosed at account opening", "outcome": "not_upheld"}
            )
            is not None
        ):
            self.next(2, 10, self.close)

    async def propose(self) -> None:
        state = await self.post("propose", {"solutions": [{"description": "refund the fee and apologise"}]})
        if state is None or not state.get("solutions"):
            return
        self.solution = state["solutions"][-1]["solution_id"]
        self.next(2, 20, self.accept)

    async def accept(self) -> None:
        if await self.post("accept", {"solution_id": self.solution}) is not None:
            self.next(10, 90, self.implement)

    async def implement(self) -> None:
        if await self.post("implement", {"solution_id": self.solution, "note": "refunded"}) is not None:
            self.next(1, 10, self.answer)

    async def answer(self) -> None:
        if await self.post("answer", {"answer": "we refunded the fee", "outcome": "upheld"}) is not None:
            self.next(2, 10, self.close)

    async def close(self) -> None:
        body: dict[str, Any] = {"result": "resolved with the customer", "customer_satisfied": True}
        if self.nature is Nature.major:
            body |= {
                "root_cause": "staff unaware of the fee rules",
                "remediation": "training on fee disclosure",
            }
        if await self.post("close", body) is not None:
            self.sim.stats.done["closed"] += 1


def _default_start() -> datetime:
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    return now.replace(hour=9, minute=0, second=0, microsecond=0)
