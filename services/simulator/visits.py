"""The branch floor: customers take a ticket, tellers call them with call-next, serve them, and
customers leave (or give up waiting).

Tellers work as staff at the counters do. A free teller presses call-next for a line with people
waiting — the line whose first customer has waited longest, as the ticket display shows it — and
the service picks the customer (priority first, then ticket order). Two tellers pressing call-next
for the last customer of a line is a race the service settles: the loser gets 404 "nobody is
waiting" (or 409 when the line was too busy) and takes the next line; a customer who walked out as
they were called cannot be served (409). Those are conflicts, not errors. A teller with nobody to
call looks at the lobby board every few minutes (customers queued by someone else, a customer
someone called to their counter). On start the board says who is waiting and which counters
still have a customer: those tellers serve that customer first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from services.simulator import model

if TYPE_CHECKING:
    from services.simulator.engine import Branch, Simulation

#: an idle teller looks at the lobby board again this often (customers queued by someone else)
POLL_MINUTES = 5.0
#: how long a customer found at a counter (on start-up) still needs there (minutes)
RESUMED_SERVICE = (0.5, 3.0)
#: how long a customer found waiting (on start-up) still waits at most (minutes)
RESUMED_PATIENCE = (5.0, 40.0)


@dataclass
class Teller:
    branch_id: str
    counter: str
    serving: str | None = None
    idle: bool = False
    #: a new one each time the teller goes idle: an older pending poll then does nothing
    idle_since: int = 0

    @property
    def staff(self) -> str:
        return f"teller-{self.branch_id}-{self.counter}"


@dataclass(frozen=True)
class Waiting:
    """A customer holding a ticket, as the ticket display shows them."""

    line: str
    #: simulated seconds when they took the ticket (or were first seen waiting)
    since: float


def line_order(waiting: dict[str, Waiting]) -> list[str]:
    """The lines with people waiting, the one whose first customer has waited longest first."""
    first: dict[str, float] = {}
    for person in waiting.values():
        first[person.line] = min(first.get(person.line, person.since), person.since)
    return sorted(first, key=lambda line: first[line])


class Floor:
    """Visits of every branch: arrivals, tellers, service, departures."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.api = sim.api

    # ------------------------------------------------------------------------- start-up

    async def resume(self, branch: Branch) -> None:
        """Continue from the branch's current state (the lobby board): customers already waiting
        keep waiting (they may still give up), a teller whose counter still has a customer serves
        them first, the others start calling."""
        board = await self._board(branch, branch.manager)
        if board is not None:
            found = self._see(branch, board)
            self.sim.stats.done["resumed visits"] += found
        for teller in branch.tellers:
            await self._open_counter(branch, teller)
            if board is not None and self._take_over_counter(branch, teller, board):
                self.sim.stats.done["resumed at counter"] += 1
                continue
            delay = self.sim.rng.uniform(0, 1)
            self.sim.schedule(delay, "teller", partial(self.next_customer, branch, teller))

    async def _open_counter(self, branch: Branch, teller: Teller) -> None:
        """A teller sits down and opens their counter (a counter left open, e.g. by an earlier
        run, stays open; one left paused is resumed), so the wait estimate counts it."""
        path = "/branches/{b}/counters/{c}/{step}"
        at_counter = self.api.acting(teller.staff, branch.branch_id)
        counter = {"b": branch.branch_id, "c": teller.counter}
        r = await at_counter.post("reception", path, {}, expected=(409,), step="open", **counter)
        if r is not None and r.status_code == 409 and "paused" in r.text:
            await at_counter.post("reception", path, {}, expected=(409,), step="resume", **counter)
        if r is not None and r.status_code == 200:
            self.sim.stats.done["counters opened"] += 1

    def _see(self, branch: Branch, board: dict[str, Any]) -> int:
        """Customers on the board the simulator did not know of (queued before it started, or by
        someone else): they wait, with their patience. Returns how many."""
        new = 0
        for person in board.get("waiting", []):
            visit_id = str(person.get("visit_id"))
            if person.get("status") != "queued" or visit_id in branch.waiting or not person.get("line"):
                continue
            branch.waiting[visit_id] = Waiting(str(person["line"]), self.sim.sim_seconds())
            self._patience(branch, visit_id, self.sim.rng.uniform(*RESUMED_PATIENCE))
            new += 1
        return new

    def _take_over_counter(self, branch: Branch, teller: Teller, board: dict[str, Any]) -> bool:
        """The board shows a customer at this teller's counter: serve them first."""
        for counter in board.get("counters", []):
            busy = counter.get("status") == "busy" and counter.get("visit_id")
            if counter.get("counter_id") == teller.counter and busy:
                visit_id = str(counter["visit_id"])
                branch.waiting.pop(visit_id, None)
                teller.serving = visit_id
                teller.idle = False
                self._serve_later(branch, teller, visit_id, self.sim.rng.uniform(*RESUMED_SERVICE))
                return True
        return False

    # ------------------------------------------------------------------------- arrivals

    async def arrive(self, branch: Branch) -> None:
        """The ticket machine: the customer picks a service type, the service issues a ticket."""
        kind = model.service_type(self.sim.rng)
        body: dict[str, Any] = {"service_type": kind.value}
        if self.sim.rng.random() < self.sim.config.tuning.identified_share:
            body["customer_ref"] = model.customer_ref(self.sim.rng)
        r = await self.api.create(
            "reception", "/branches/{b}/visits", staff=branch.manager, branch=branch.branch_id, json=body
        )
        if r is None or r.status_code != 201:
            return
        self.sim.stats.done["visits"] += 1
        created = r.json()
        visit_id = str(created["visit_id"])
        if created.get("status") == "queued" and created.get("line"):
            branch.waiting[visit_id] = Waiting(str(created["line"]), self.sim.sim_seconds())
            self._patience(branch, visit_id, self.sim.rng.uniform(25, 70))
            self.wake(branch)

    def _patience(self, branch: Branch, visit_id: str, minutes: float) -> None:
        self.sim.schedule(minutes, "give-up", lambda: self.give_up(branch, visit_id))

    def wake(self, branch: Branch) -> None:
        """A customer took a ticket: one idle teller notices and calls the next customer."""
        for teller in branch.tellers:
            if teller.idle and teller.serving is None:
                teller.idle = False
                self.sim.schedule(0, "teller", partial(self.next_customer, branch, teller))
                return

    async def give_up(self, branch: Branch, visit_id: str) -> None:
        """Waited too long: the customer leaves the queue (an abandonment) — unless a ticket is
        being called right now: they listen whether it is theirs first."""
        if visit_id not in branch.waiting:
            return  # called meanwhile
        if branch.calling:
            self.sim.schedule(0.5, "give-up", lambda: self.give_up(branch, visit_id))
            return
        del branch.waiting[visit_id]
        if await self._leaves(branch, visit_id):
            self.sim.stats.done["abandoned"] += 1

    # ---------------------------------------------------------------------------- tellers

    async def next_customer(self, branch: Branch, teller: Teller) -> None:
        """A free teller calls the next customer (or, with nobody to call, waits)."""
        if teller.serving is not None:
            return
        teller.idle = False
        outcome = await self._call_next(branch, teller, line_order(branch.waiting))
        if outcome == "counter busy":  # someone called a customer to this counter: look
            board = await self._board(branch, teller.staff)
            if board is not None and self._take_over_counter(branch, teller, board):
                return
            outcome = "idle"
        if outcome == "idle":
            self._go_idle(branch, teller)

    async def _call_next(self, branch: Branch, teller: Teller, lines: list[str]) -> str:
        """call-next on each line in turn until a customer comes: "called", "counter busy", or
        "idle" (nobody to call, or the service did not answer)."""
        for line in lines:
            branch.calling += 1
            try:
                r = await self.api.acting(teller.staff, branch.branch_id).post(
                    "reception", "/branches/{b}/lines/{line}/call-next", {"counter_id": teller.counter},
                    expected=(404, 409), b=branch.branch_id, line=line,
                )  # fmt: skip
            finally:
                branch.calling -= 1
            if r is None:
                return "idle"
            if r.status_code == 200:
                state = r.json()
                visit_id = str(state["visit_id"])
                branch.waiting.pop(visit_id, None)
                teller.serving = visit_id
                self.sim.stats.done["called"] += 1
                minutes = model.service_minutes(self.sim.rng, state.get("service_type"))
                self._serve_later(branch, teller, visit_id, minutes)
                return "called"
            if r.status_code == 404:  # another counter took the last customer of this line
                self.api.conflict("line emptied meanwhile")
                for visit_id in [v for v, w in branch.waiting.items() if w.line == line]:
                    del branch.waiting[visit_id]  # the display was out of date: nobody is there
                continue
            if r.status_code == 409:  # our counter is busy (someone called to it) or the line was too busy
                self.api.conflict("call-next refused in a race")
                return "counter busy"
        return "idle"

    def _go_idle(self, branch: Branch, teller: Teller) -> None:
        teller.idle = True
        teller.idle_since += 1
        token = teller.idle_since
        self.sim.schedule_open(POLL_MINUTES, "teller-poll", lambda: self._poll(branch, teller, token))

    async def _poll(self, branch: Branch, teller: Teller, token: int) -> None:
        """An idle teller looks at the board: someone waiting the simulator did not queue, or a
        customer called to this counter by someone else."""
        if not (teller.idle and teller.serving is None and teller.idle_since == token):
            return
        board = await self._board(branch, teller.staff)
        if board is not None:
            self._see(branch, board)
            if self._take_over_counter(branch, teller, board):
                return
        if branch.waiting:
            await self.next_customer(branch, teller)
        else:
            self._go_idle(branch, teller)

    def _serve_later(self, branch: Branch, teller: Teller, visit_id: str, minutes: float) -> None:
        self.sim.schedule(minutes, "serve", lambda: self.serve(branch, teller, visit_id))

    async def serve(self, branch: Branch, teller: Teller, visit_id: str) -> None:
        body = {"outcome": "done", "next_steps": ""}
        at_counter = self.api.acting(teller.staff, branch.branch_id)
        r = await at_counter.post("reception", "/visits/{v}/serve", body, expected=(409,), v=visit_id)
        teller.serving = None
        state: dict[str, Any] | None = None
        if r is not None and r.status_code == 409:
            await self._refused_service(branch, teller, visit_id, r)
        elif r is not None and r.status_code == 200:
            state = r.json()
            self.sim.stats.done["served"] += 1
        await self.next_customer(branch, teller)
        if state is not None:
            await self._after_service(branch, visit_id, state)

    async def _refused_service(self, branch: Branch, teller: Teller, visit_id: str, refused: Any) -> None:
        """Serving was refused: if the customer is no longer at this counter (left as they were
        called, called elsewhere) that is a race; if they are, the simulator got it wrong."""
        r = await self.api.acting(teller.staff, branch.branch_id).get("reception", "/visits/{v}", v=visit_id)
        if r is None or r.status_code != 200:
            return
        visit = r.json()
        if visit.get("status") == "called" and visit.get("counter_id") == teller.counter:
            self.api.refused("reception", "POST", "/visits/{v}/serve", refused)
        else:
            self.api.conflict("customer gone before service")

    async def _after_service(self, branch: Branch, visit_id: str, state: dict[str, Any]) -> None:
        ref = state.get("customer_ref")
        if ref and self.sim.rng.random() < self.sim.config.tuning.complaint_share:
            await self.sim.cases.receive(branch, "in_branch", ref, visit_id=visit_id)
        self.sim.schedule(1, "leave", lambda: self.leave(branch, visit_id))

    async def leave(self, branch: Branch, visit_id: str) -> None:
        """Served: the customer leaves the branch."""
        await self._leaves(branch, visit_id)

    async def _leaves(self, branch: Branch, visit_id: str) -> bool:
        """The customer leaves the branch; True when this recorded it (409: their visit ended
        elsewhere — another counter served them, or they had left)."""
        manager = self.api.acting(branch.manager, branch.branch_id)
        r = await manager.post("reception", "/visits/{v}/leave", expected=(409,), v=visit_id)
        if r is not None and r.status_code == 409:  # someone else recorded it already
            self.api.conflict("visit ended elsewhere")
        return r is not None and r.status_code == 200

    # ------------------------------------------------------------------------------- reads

    async def _board(self, branch: Branch, staff: str) -> dict[str, Any] | None:
        r = await self.api.acting(staff, branch.branch_id).get(
            "reception", "/branches/{b}/lobby", b=branch.branch_id
        )
        if r is None or r.status_code != 200:
            return None
        board: dict[str, Any] = r.json()
        return board
