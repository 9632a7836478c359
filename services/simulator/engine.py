"""The simulation: a discrete-event loop on a simulated clock that runs ``speed`` times faster than
real time, driving the real services over HTTP the way the branches' staff do.

Each branch has customers arriving (by the model's day shape) who take a ticket; tellers call them
with call-next, serve them, and they leave or give up waiting (``visits.py``). A few complain; the
lobby manager works every open case of the branch's board through its lifecycle (``cases.py``);
staff work the open follow-ups — contact attempts first (``tasks.py``); customers answer the
surveys feedback sends them (``surveys.py``); phones ring. An outage makes several branches'
customers complain about ``system_failure`` within minutes, so HQ suspects a crisis.

On start each branch's current state is read from the services (customers waiting, counters busy,
open cases and tasks, pending surveys) and the work continues from there: a second run, a restart
after Ctrl-C or a run against a long-lived system starts where the system is.

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from services.simulator import model
from services.simulator.cases import Cases
from services.simulator.client import Api
from services.simulator.surveys import Surveys
from services.simulator.tasks import Tasks
from services.simulator.visits import Floor, Teller, Waiting
from shared.contracts.complaint import Category, Channel

log = logging.getLogger(__name__)

Action = Callable[[], Awaitable[None]]
#: how far (simulated seconds) the clock may run ahead of the oldest step not yet started, and of
#: the start of the oldest step still running (its requests in flight): "speed" is a maximum, the
#: simulation slows down when the services or the machine cannot keep up, rather than bursting or
#: letting a slow request stand for simulated minutes (a customer served half an hour late)
MAX_LAG_SECONDS = 60.0


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
    """What the simulator knows of one branch (the services hold the truth: see ``resume``)."""

    branch_id: str
    tellers: list[Teller] = field(default_factory=list)
    #: customers believed to hold a ticket (the ticket display), for tellers and for giving up
    waiting: dict[str, Waiting] = field(default_factory=dict)
    #: call-next requests in flight (a customer about to give up listens to the call first)
    calling: int = 0
    #: complaint cases and follow-up tasks someone here is working on
    cases: set[str] = field(default_factory=set)
    tasks: set[str] = field(default_factory=set)
    #: surveys whose customer already decided whether to answer
    surveys_seen: set[str] = field(default_factory=set)
    #: cases and tasks the service refused a step on that the simulator thought allowed (an error,
    #: reported once): left alone from then on
    stuck: set[str] = field(default_factory=set)

    @property
    def manager(self) -> str:
        return f"lm-{self.branch_id}"


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
        #: the simulated second the clock is held at (while reading the branches' state)
        self._frozen: float | None = None
        self._real_start = time.monotonic()
        self._heap: list[tuple[float, int, str, Action]] = []
        self._seq = itertools.count()
        #: steps running, and the simulated second each one started
        self._tasks: dict[asyncio.Task[None], float] = {}
        self._stop = asyncio.Event()
        ids = model.branch_ids(config.branches, config.regions)
        counters = config.tuning.counters
        self.branches = {b: Branch(b, tellers=[Teller(b, str(i + 1)) for i in range(counters)]) for b in ids}
        self.incidents: dict[int, str] = {}
        self.floor = Floor(self)
        self.cases = Cases(self)
        self.tasks = Tasks(self)
        self.surveys = Surveys(self)
        #: simulated seconds when the run ended (in-flight steps finish after that)
        self.simulated_seconds = 0.0

    # ------------------------------------------------------------------------------ the clock

    def sim_seconds(self) -> float:
        """Simulated seconds since the start."""
        if self._frozen is not None:
            return self._frozen
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

    def schedule_open(self, delay_minutes: float, name: str, action: Action) -> None:
        """Like :meth:`schedule`, but a step that would fall in closed hours (a round of the
        board, a look at the lobby) waits for the next opening."""
        due = self.sim_now() + timedelta(minutes=max(delay_minutes, 0.0))
        self.schedule_at(self.at(model.next_opening(due)), name, action)

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------------------ the loop

    async def run(self) -> None:
        await self.resume()
        for branch in self.branches.values():
            self._next_arrival(branch, self.sim_start)
            self._next_remote_complaint(branch, self.sim_start)
            self._next_call(branch, self.sim_start)
        if self.config.outage_after is not None:
            self.schedule(self.config.outage_after, "outage", self.outage)
        end = None if self.config.minutes is None else self.config.minutes * 60
        while not self._stop.is_set():
            now = self.sim_seconds()
            if end is not None and now >= end:
                break
            if self._tasks and now > min(self._tasks.values()) + MAX_LAG_SECONDS:
                await self._wait_for_slow_step()
                continue
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
                waiting = asyncio.wait(list(self._tasks), return_when=asyncio.FIRST_COMPLETED)
                await self._hold_clock(now, waiting)
                continue
            _, _, name, action = heapq.heappop(self._heap)
            task = asyncio.create_task(self._guarded(name, action))
            self._tasks[task] = now
            task.add_done_callback(lambda done: self._tasks.pop(done, None))
        self.simulated_seconds = self.sim_seconds()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
        for task in list(self._tasks):
            task.cancel()

    async def resume(self) -> None:
        """Read every branch's current state from the services and continue from there: waiting
        customers, busy counters, open cases, open follow-ups, pending surveys. The simulated
        clock stands still meanwhile."""

        async def one(branch: Branch) -> None:
            async with gate:
                await self._guarded("resume-floor", partial(self.floor.resume, branch))
                await self._guarded("resume-cases", partial(self.cases.resume, branch))
                await self._guarded("resume-tasks", partial(self.tasks.resume, branch))
                await self._guarded("resume-surveys", partial(self.surveys.resume, branch))

        gate = asyncio.Semaphore(8)
        await self._hold_clock(self.sim_seconds(), asyncio.gather(*(one(b) for b in self.branches.values())))

    async def _hold_clock(self, at: float, until: Awaitable[Any]) -> None:
        """The simulated clock stands at ``at`` until ``until`` is done, then runs on from there
        (steps scheduled meanwhile count from ``at``)."""
        self._frozen = at
        try:
            await until
        finally:
            self._offset = at - (time.monotonic() - self._real_start) * self.config.speed
            self._frozen = None

    async def _wait_for_slow_step(self) -> None:
        """A step has run longer than the clock may run ahead of it: hold the clock there until a
        step finishes (or a moment passed)."""
        held = min(self._tasks.values()) + MAX_LAG_SECONDS
        waiting = asyncio.wait(list(self._tasks), timeout=0.05, return_when=asyncio.FIRST_COMPLETED)
        await self._hold_clock(held, waiting)

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
            self.stats.fail("simulator", f"crash:{name}", f"simulator step {name} failed: {exc!r}")
            log.debug("step %s failed", name, exc_info=True)

    # ------------------------------------------------------------------------------ arrivals

    def _next_arrival(self, branch: Branch, after: datetime) -> None:
        t = model.next_arrival(self.rng, after, self.config.tuning.peak_arrivals_per_hour)
        self.schedule_at(self.at(t), "arrive", lambda: self._arrive(branch, t))

    async def _arrive(self, branch: Branch, at: datetime) -> None:
        self._next_arrival(branch, at)
        await self.floor.arrive(branch)

    # ---------------------------------------------------------------------------- phone calls

    def _next_call(self, branch: Branch, after: datetime) -> None:
        t = model.next_arrival(self.rng, after, self.config.tuning.phone_calls_per_hour)
        self.schedule_at(self.at(t), "call", lambda: self.phone(branch, t))

    async def phone(self, branch: Branch, at: datetime) -> None:
        self._next_call(branch, at)
        r = await self.api.create(
            "reception", "/branches/{b}/calls", staff=branch.manager, branch=branch.branch_id, json={}
        )
        if r is None or r.status_code != 201:
            return
        call_id = r.json()["call_id"]
        rings = self.rng.choices((1, 2, 3, 4, 6), weights=(40, 30, 18, 8, 4))[0]
        manager = self.api.acting(branch.manager, branch.branch_id)
        answered = await manager.post("reception", "/calls/{c}/answer", {"rings": rings}, c=call_id)
        if answered is None or answered.status_code != 200:
            return
        self.stats.done["calls"] += 1
        purpose = model.service_type(self.rng).value
        self.schedule(self.rng.uniform(1, 6), "end-call", lambda: self._end_call(branch, call_id, purpose))

    async def _end_call(self, branch: Branch, call_id: str, purpose: str) -> None:
        manager = self.api.acting(branch.manager, branch.branch_id)
        await manager.post(
            "reception", "/calls/{c}/end", {"purpose": purpose, "outcome": "resolved"}, c=call_id
        )

    # ----------------------------------------------------------------------------- complaints

    def _next_remote_complaint(self, branch: Branch, after: datetime) -> None:
        t = model.next_arrival(self.rng, after, self.config.tuning.remote_complaints_per_hour)
        self.schedule_at(self.at(t), "remote-complaint", lambda: self._remote(branch, t))

    async def _remote(self, branch: Branch, at: datetime) -> None:
        self._next_remote_complaint(branch, at)
        await self.cases.receive(branch, model.remote_channel(self.rng), model.customer_ref(self.rng))

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
                    self.cases.receive,
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


def _default_start() -> datetime:
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    return now.replace(hour=9, minute=0, second=0, microsecond=0)
