"""Complaint cases, worked the way a lobby manager works them: from the branch's board.

Every case of the branch — recorded by the simulator, opened by the service itself (a complaint
raised during a visit, a survey answer describing one, a failed verification reopening a closed
case), or left open by an earlier run — is taken one step at a time along the lifecycle the
decider enforces (``services/complaint/domain.py``): acknowledge → classify → (merge into the
outage's incident, escalate) → start the investigation → propose → accept → implement → answer →
close, or "not upheld" straight after the investigation; a case on hold is resumed; a reopened
one starts again with an acknowledgement. :func:`next_step` decides the step from the case as the
service shows it, so a case can be picked up in any state.

A step the service refuses (409) is checked against the case read again: if the case moved on
meanwhile (someone else took a step, a reaction reopened it) that is a conflict and the work goes
on from where the case is; if it did not, the simulator misjudged the rules: an error, and the
case is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from services.simulator import model
from services.simulator.rounds import Listing, Round
from shared.contracts.complaint import Category, Channel, Nature

if TYPE_CHECKING:
    from services.simulator.engine import Branch

#: the lobby manager looks at the branch's board this often (simulated minutes)
BOARD_MINUTES = 15.0
#: (min, max) simulated minutes before each step (an outage's cases move faster)
DELAYS: dict[str, tuple[float, float]] = {
    "acknowledge": (1, 20),
    "classify": (1, 15),
    "merge": (0, 0.5),
    "escalate": (0, 1),
    "start-investigation": (5, 30),
    "propose": (10, 60),
    "answer": (1, 10),
    "not-upheld": (10, 60),
    "accept": (2, 20),
    "implement": (10, 90),
    "close": (2, 10),
    "resume": (5, 30),
}
URGENT_DELAYS: dict[str, tuple[float, float]] = {"acknowledge": (0.5, 3), "classify": (1, 5)}
#: what is compared to tell "the case moved on" from "the simulator misjudged the rules"
_MOVES = ("status", "on_hold", "level", "incident_id", "cycle")


@dataclass(frozen=True)
class Plan:
    """What this case will turn out to be (decided once, when the case is taken on)."""

    category: Category
    nature: Nature
    escalate: bool = False
    not_upheld: bool = False
    #: the outage this case belongs to (merged into its incident, urgent)
    incident: int | None = None


@dataclass(frozen=True)
class Step:
    #: the route under ``/complaints/{id}/`` (``not-upheld`` is ``answer`` with that outcome)
    name: str
    body: dict[str, Any] | None = None

    @property
    def route(self) -> str:
        return "answer" if self.name == "not-upheld" else self.name


def current_solutions(case: dict[str, Any], status: str) -> list[dict[str, Any]]:
    cycle = case.get("cycle", 1)
    return [s for s in case.get("solutions", []) if s.get("cycle") == cycle and s.get("status") == status]


def next_step(case: dict[str, Any], plan: Plan, done: frozenset[str], branch_id: str) -> Step | None:
    """The lobby manager's next step on ``case`` (``GET /complaints/{id}`` or a command's answer);
    None when nothing is theirs to do (closed, or under review by the level above)."""
    status = case.get("status")
    if status in ("closed", "under_review", None):
        return None
    if case.get("on_hold"):
        return Step("resume", {"note": "the customer sent what we asked for"})
    if status in ("received", "reopened"):
        return Step("acknowledge", {"apology": "we are sorry for the trouble"})
    classified = case.get("classification") is not None
    if status == "acknowledged" and not classified:
        urgency = "urgent" if plan.incident is not None else "normal"
        body = {
            "category": plan.category.value,
            "nature": plan.nature.value,
            "source": "customer",
            "urgency": urgency,
        }
        return Step("classify", body)
    if plan.incident is not None and case.get("incident_id") is None and "merge" not in done:
        return Step("merge", {"cause": "core system outage"})
    if plan.escalate and "escalate" not in done and case.get("level") == "lobby_manager":
        return Step("escalate", {"reason": "the customer asked for the branch head"})
    if status in ("acknowledged", "classified"):
        return Step("start-investigation", {"note": "looking into it"})
    if status == "investigating" and plan.not_upheld:
        return Step(
            "not-upheld",
            {
                "answer": "the fee was disclosed at account opening",
                "outcome": "not_upheld",
                **_ombudsman(case),
            },
        )
    proposed = current_solutions(case, "proposed")
    if status in ("investigating", "solutions_rejected") or (status == "solutions_proposed" and not proposed):
        return Step("propose", {"solutions": [{"description": "refund the fee and apologise"}]})
    if status == "solutions_proposed":
        return Step("accept", {"solution_id": proposed[0]["solution_id"]})
    if status == "solution_accepted":
        accepted = current_solutions(case, "accepted")
        if accepted:
            return Step("implement", {"solution_id": accepted[0]["solution_id"], "note": "refunded"})
        return None
    if status == "implemented":
        return Step("answer", {"answer": "we refunded the fee", "outcome": "upheld", **_ombudsman(case)})
    if status == "answered":
        return Step("close", _close_body(case, branch_id))
    return None


def _ombudsman(case: dict[str, Any]) -> dict[str, Any]:
    """uk-fca: every answer tells the complainant of the Financial Ombudsman Service."""
    return {"refers_to_ombudsman": True} if case.get("regulatory_profile") == "uk-fca" else {}


def _close_body(case: dict[str, Any], branch_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"result": "resolved with the customer", "customer_satisfied": True}
    classification = case.get("classification") or {}
    if classification.get("nature") == Nature.major.value:  # 溯源整改: root cause and owned actions
        body["root_cause"] = "staff unaware of the fee rules"
        body["remediation"] = "training on fee disclosure"
        body["remediation_actions"] = [
            {
                "description": "training on fee disclosure for every teller",
                "owner": f"bh-{branch_id}",
                "due_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            }
        ]
    return body


def moved(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Did the case change in a way that explains a refusal (someone else took a step)?"""
    if any(before.get(k) != after.get(k) for k in _MOVES):
        return True
    solutions = [(s.get("solution_id"), s.get("status")) for s in before.get("solutions", [])]
    return solutions != [(s.get("solution_id"), s.get("status")) for s in after.get("solutions", [])]


@dataclass
class Case:
    branch: Branch
    complaint_id: str
    plan: Plan
    #: the case as the service last showed it (None: read it before the first step)
    view: dict[str, Any] | None = None
    done: set[str] = field(default_factory=set)


class Cases(Round):
    """Every branch's complaint work: recording complaints and taking cases through; the board
    (the branch's open cases) is looked at every 15 minutes, cases left by an earlier run too."""

    listing = Listing(
        BOARD_MINUTES,
        "complaint-board",
        "complaint",
        "/branches/{b}/complaints",
        {"status": "open", "limit": 200},
        "complaints",
    )

    # --------------------------------------------------------------------------- recording

    async def receive(
        self,
        branch: Branch,
        channel: Channel | str,
        ref: str,
        *,
        visit_id: str | None = None,
        category: Category | None = None,
        description: str = "the queue was long and nobody told us why",
        incident: int | None = None,
    ) -> None:
        """A customer complains (at the counter, by phone, app or web): record the case."""
        body: dict[str, Any] = {
            "channel": Channel(channel).value,
            "customer_ref": ref,
            "description": description,
        }
        if visit_id:
            body["visit_id"] = visit_id
        r = await self.api.create(
            "complaint", "/branches/{b}/complaints", staff=branch.manager, branch=branch.branch_id, json=body
        )
        if r is None or r.status_code not in (200, 201):
            return
        created = r.json()
        complaint_id = str(created["complaint_id"])
        if created.get("merged"):  # the same customer's open case on the same matter took it
            self.sim.stats.done["repeats merged"] += 1
            return
        self.sim.stats.done["complaints"] += 1
        rng = self.sim.rng
        plan = Plan(
            category=category or model.category(rng),
            nature=Nature.general if incident is not None else model.nature(rng),
            escalate=incident is None and rng.random() < self.sim.config.tuning.escalation_share,
            not_upheld=incident is None and rng.random() < 0.12,
            incident=incident,
        )
        view = {
            "status": created.get("status", "received"),
            "on_hold": False,
            "level": "lobby_manager",
            "incident_id": None,
            "cycle": 1,
            "classification": None,
            "solutions": [],
            "regulatory_profile": created.get("regulatory_profile"),
        }
        self._take(Case(branch, complaint_id, plan, view))

    # ------------------------------------------------------------------------------ board

    def see(self, branch: Branch, item: dict[str, Any]) -> None:
        """Take on an open case of the branch that nobody here is working on yet."""
        complaint_id = str(item["complaint_id"])
        busy = complaint_id in branch.cases or complaint_id in branch.stuck
        if busy or item.get("status") == "under_review":
            return
        rng = self.sim.rng
        plan = Plan(
            category=_known(Category, item.get("category")) or model.category(rng),
            nature=_known(Nature, item.get("nature")) or model.nature(rng),
            escalate=rng.random() < self.sim.config.tuning.escalation_share,
            not_upheld=rng.random() < 0.12,
        )
        self.sim.stats.done["cases taken from the board"] += 1
        self._take(Case(branch, complaint_id, plan))

    # ------------------------------------------------------------------------------ steps

    def _take(self, case: Case) -> None:
        case.branch.cases.add(case.complaint_id)
        self._schedule(case)

    def _drop(self, case: Case) -> None:
        case.branch.cases.discard(case.complaint_id)

    def _schedule(self, case: Case) -> None:
        if case.view is None:
            delay = self.sim.rng.uniform(0, 5)
        else:
            step = next_step(case.view, case.plan, frozenset(case.done), case.branch.branch_id)
            if step is None:
                self._drop(case)
                return
            table = URGENT_DELAYS if case.plan.incident is not None else {}
            lo, hi = table.get(step.name, DELAYS.get(step.name, (1, 10)))
            delay = self.sim.rng.uniform(lo, hi)
        self.sim.schedule(delay, "complaint", lambda: self.step(case))

    async def step(self, case: Case) -> None:
        if case.view is None:
            case.view = await self._read(case)
            if case.view is None:
                self._drop(case)
                return
        step = next_step(case.view, case.plan, frozenset(case.done), case.branch.branch_id)
        if step is None:
            self._drop(case)
            return
        body = dict(step.body or {})
        if step.name == "merge":
            incident = self.sim.incidents.get(case.plan.incident or 0)
            if incident:
                body["incident_id"] = incident
        manager = self.api.acting(case.branch.manager, case.branch.branch_id)
        r = await manager.post(
            "complaint", "/complaints/{c}/" + step.route, body, expected=(409,), c=case.complaint_id
        )
        if r is None or r.status_code not in (200, 409):
            self._drop(case)  # an error (counted); the board brings the case back later
            return
        if r.status_code == 409:
            await self._refused(case, step, r)
            return
        before = case.view
        case.view = r.json()
        case.done.add(step.name)
        self._count(case, step, before)
        self._schedule(case)

    def _count(self, case: Case, step: Step, before: dict[str, Any]) -> None:
        done = self.sim.stats.done
        assert case.view is not None
        if step.name == "classify":
            done["classified"] += 1
        elif step.name == "close":
            done["closed"] += 1
        elif step.name == "merge" and case.plan.incident is not None:
            incident = case.view.get("incident_id")
            if incident and case.plan.incident not in self.sim.incidents:
                self.sim.incidents[case.plan.incident] = str(incident)
        if before.get("level") != case.view.get("level"):
            done["escalated"] += 1

    async def _refused(self, case: Case, step: Step, refused: Any) -> None:
        fresh = await self._read(case)
        if fresh is None:
            self._drop(case)
            return
        assert case.view is not None
        if moved(case.view, fresh):
            self.api.conflict("complaint moved on meanwhile")
            case.view = fresh
            self._schedule(case)
            return
        self.api.refused("complaint", "POST", "/complaints/{c}/" + step.route, refused)
        case.branch.stuck.add(case.complaint_id)
        self._drop(case)

    async def _read(self, case: Case) -> dict[str, Any] | None:
        manager = self.api.acting(case.branch.manager, case.branch.branch_id)
        r = await manager.get("complaint", "/complaints/{c}", c=case.complaint_id)
        if r is None or r.status_code != 200:
            return None
        view: dict[str, Any] = r.json()
        return view


def _known(kind: Any, value: Any) -> Any:
    try:
        return kind(value) if value else None
    except ValueError:
        return None
