"""The branch floor: customers take a ticket, tellers call them with call-next, serve them, and
customers leave (or give up waiting).

Tellers work as staff at the counters do: a free teller looks at the lobby board (who waits on
which line, and whether their own counter still has a customer) and presses call-next for the line
whose first customer has waited longest. The service picks the customer (priority first, then
ticket order). Two tellers pressing call-next for the last customer of a line is a race the
service settles: the loser gets 404 "nobody is waiting" (or 409 when the line was too busy) and
takes the next line; a customer who walked out as they were called cannot be served (409). Those
are conflicts, not errors. A teller whose counter still shows a customer (a restart, or someone
else's call) serves that customer first.
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
#: how long a customer a teller finds at the counter on start-up still needs (minutes)
RESUMED_SERVICE = (0.5, 3.0)


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


def line_order(lines: list[dict[str, Any]]) -> list[str]:
    """The lines with people waiting, as a teller reads the board: the one whose first customer
    has waited longest first (the service picks who, within the line: priority, then ticket)."""
    waiting = [line for line in lines if line.get("waiting", 0) > 0]
    waiting.sort(key=lambda line: line.get("longest_wait_seconds", 0), reverse=True)
    return [str(line["line"]) for line in waiting]


class Floor:
    """Visits of every branch: arrivals, tellers, service, departures."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.api = sim.api

    # ------------------------------------------------------------------------- start-up

    async def resume(self, branch: Branch) -> None:
        """Continue from the branch's current state: customers already waiting get their patience
        (they may still give up); each teller first looks at the board (its counter may be busy)."""
        board = await self._board(branch, branch.manager)
        if board is not None:
            for person in board.get("waiting", []):
                if person.get("status") == "queued":
                    visit_id = str(person["visit_id"])
                    branch.waiting[visit_id] = person.get("line") or ""
                    self._patience(branch, visit_id, self.sim.rng.uniform(5, 40))
                    self.sim.stats.done["resumed visits"] += 1
        for teller in branch.tellers:
            self.sim.schedule(
                self.sim.rng.uniform(0, 1), "teller", partial(self.next_customer, branch, teller)
            )

    # ------------------------------------------------------------------------- arrivals

    async def arrive(self, branch: Branch) -> None:
        """The ticket machine: the customer picks a service type, the service issues a ticket."""
        kind = model.service_type(self.sim.rng)
        body: dict[str, Any] = {"service_type": kind.value}
        if self.sim.rng.random() < self.sim.config.tuning.identified_share:
            body["customer_ref"] = model.customer_ref(self.sim.rng)
        r = await self.api.call(
            "reception",
            "POST",
            "/branches/{b}/visits",
            staff=branch.manager,
            json=body,
            create=True,
            b=branch.branch_id,
        )
        if r is None or r.status_code != 201:
            return
        self.sim.stats.done["visits"] += 1
        created = r.json()
        visit_id = str(created["visit_id"])
        branch.waiting[visit_id] = created.get("line") or ""
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
        r = await self.api.call(
            "reception",
            "POST",
            "/visits/{v}/leave",
            branch=branch.branch_id,
            staff=branch.manager,
            expected=(409,),
            v=visit_id,
        )
        if r is None:
            return
        if r.status_code == 409:  # someone else's counter served them, or they had left
            self.api.conflict("visit ended elsewhere")
        elif r.status_code == 200:
            self.sim.stats.done["abandoned"] += 1

    # ---------------------------------------------------------------------------- tellers

    async def next_customer(self, branch: Branch, teller: Teller) -> None:
        """A free teller looks at the board and calls the next customer (or waits)."""
        if teller.serving is not None:
            return
        teller.idle = False
        for _ in range(2):  # a second look when the counter turned out busy
            board = await self._board(branch, teller.staff)
            if board is None:
                break
            mine = next(
                (
                    c
                    for c in board.get("counters", [])
                    if c.get("counter_id") == teller.counter
                    and c.get("status") == "busy"
                    and c.get("visit_id")
                ),
                None,
            )
            if mine is not None:  # a customer is at this counter already: serve them first
                visit_id = str(mine["visit_id"])
                branch.waiting.pop(visit_id, None)
                teller.serving = visit_id
                self.sim.stats.done["resumed at counter"] += 1
                self._serve_later(branch, teller, visit_id, self.sim.rng.uniform(*RESUMED_SERVICE))
                return
            outcome = await self._call_next(branch, teller, line_order(board.get("lines", [])))
            if outcome != "counter busy":
                return
        self._go_idle(branch, teller)

    async def _call_next(self, branch: Branch, teller: Teller, lines: list[str]) -> str:
        """call-next on each line in turn until a customer comes: "called", "counter busy" (look
        at the board again) or "idle"."""
        for line in lines:
            branch.calling += 1
            try:
                r = await self.api.call(
                    "reception",
                    "POST",
                    "/branches/{b}/lines/{line}/call-next",
                    staff=teller.staff,
                    json={"counter_id": teller.counter},
                    expected=(404, 409),
                    b=branch.branch_id,
                    line=line,
                )
            finally:
                branch.calling -= 1
            if r is None:
                break
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
                continue
            if r.status_code == 409:  # our counter is busy (someone called to it) or the line was too busy
                self.api.conflict("call-next refused in a race")
                return "counter busy"
        self._go_idle(branch, teller)
        return "idle"

    def _go_idle(self, branch: Branch, teller: Teller) -> None:
        teller.idle = True
        teller.idle_since += 1
        token = teller.idle_since
        self.sim.schedule_open(POLL_MINUTES, "teller-poll", lambda: self._poll(branch, teller, token))

    async def _poll(self, branch: Branch, teller: Teller, token: int) -> None:
        if teller.idle and teller.serving is None and teller.idle_since == token:
            await self.next_customer(branch, teller)

    def _serve_later(self, branch: Branch, teller: Teller, visit_id: str, minutes: float) -> None:
        self.sim.schedule(minutes, "serve", lambda: self.serve(branch, teller, visit_id))

    async def serve(self, branch: Branch, teller: Teller, visit_id: str) -> None:
        body = {"outcome": "done", "next_steps": ""}
        r = await self.api.call(
            "reception",
            "POST",
            "/visits/{v}/serve",
            branch=branch.branch_id,
            staff=teller.staff,
            json=body,
            expected=(409,),
            v=visit_id,
        )
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
        r = await self.api.call(
            "reception", "GET", "/visits/{v}", branch=branch.branch_id, staff=teller.staff, v=visit_id
        )
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
        r = await self.api.call(
            "reception",
            "POST",
            "/visits/{v}/leave",
            branch=branch.branch_id,
            staff=branch.manager,
            expected=(409,),
            v=visit_id,
        )
        if r is not None and r.status_code == 409:  # someone else recorded it already
            self.api.conflict("visit ended elsewhere")

    # ------------------------------------------------------------------------------- reads

    async def _board(self, branch: Branch, staff: str) -> dict[str, Any] | None:
        r = await self.api.call("reception", "GET", "/branches/{b}/lobby", staff=staff, b=branch.branch_id)
        if r is None or r.status_code != 200:
            return None
        board: dict[str, Any] = r.json()
        return board
