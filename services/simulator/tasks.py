"""Follow-up tasks, done the way staff do them: from the branch's open list.

A task that promises the customer something (a progress update, a callback, service recovery,
telling a complainant: ``CUSTOMER_FACING`` in ``services/followup/decider/task.py``) needs the customer
reached first: staff call, record each attempt (reached or not), and complete the task once they
got through — or, after :data:`MAX_ATTEMPTS` failed attempts, close it as unreachable (cancel
with the reason). A verification records whether the correction really happened (mostly yes); a
remediation or a regulatory milestone is completed with a note.

Tasks left open by an earlier run are on the list like any other. A refusal (409) is checked
against the task read again: closed or changed meanwhile (a rule completed or cancelled it, e.g.
the complaint closed) is a conflict; otherwise the simulator misjudged the rules: an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from services.followup.decider import CUSTOMER_FACING
from services.simulator.rounds import Listing, Round
from shared.contracts.followup import TaskKind

if TYPE_CHECKING:
    from services.simulator.engine import Branch

#: staff go through the branch's open follow-ups this often (simulated minutes)
LIST_MINUTES = 30.0
#: share of the listed tasks staff take on at each round (the rest wait for the next one)
TAKE_SHARE = 0.6
#: failed contact attempts before the task is closed as unreachable
MAX_ATTEMPTS = 3
#: a customer picks up the phone this often
REACHED_SHARE = 0.75
#: a correction turns out to have happened this often (else: VerificationFailed reopens the case)
VERIFIED_SHARE = 0.95
_OPEN = ("scheduled", "contacted")
_CUSTOMER_FACING = frozenset(kind.value for kind in CUSTOMER_FACING)


@dataclass(frozen=True)
class Step:
    #: the route under ``/follow-ups/{id}/``
    name: str
    body: dict[str, Any]


def next_step(task: dict[str, Any], *, reached: bool, verified: bool) -> Step | None:
    """What staff do next with ``task`` (a list row or a command's answer); None once it is
    closed. ``reached`` / ``verified``: how the next call / the check turns out."""
    if task.get("status") not in _OPEN:
        return None
    if task.get("kind") in _CUSTOMER_FACING and not task.get("reached"):
        if task.get("attempts", 0) >= MAX_ATTEMPTS:
            reason = f"customer unreachable after {task.get('attempts')} attempts"
            return Step("cancel", {"reason": reason})
        note = "talked to the customer" if reached else "no answer; will try again"
        return Step("contact", {"reached": reached, "note": note})
    body: dict[str, Any] = {"note": "done as promised"}
    if task.get("kind") == TaskKind.verification.value:
        body["verified"] = verified
        if not verified:
            body["note"] = "the refund had not reached the customer's account"
    return Step("complete", body)


def moved(before: dict[str, Any], after: dict[str, Any]) -> bool:
    return any(before.get(k) != after.get(k) for k in ("status", "attempts", "reached", "kind"))


class Tasks(Round):
    """The open follow-ups, gone through every 30 minutes (tasks left by an earlier run too)."""

    listing = Listing(
        LIST_MINUTES,
        "follow-ups",
        "followup",
        "/branches/{b}/follow-ups",
        {"status": "open", "limit": 100},
        "tasks",
    )

    def see(self, branch: Branch, task: dict[str, Any]) -> None:
        task_id = str(task["task_id"])
        if task_id in branch.tasks or task_id in branch.stuck:
            return
        if self.sim.rng.random() < TAKE_SHARE:
            branch.tasks.add(task_id)
            self.sim.schedule(self.sim.rng.uniform(0, 10), "follow-up", partial(self.step, branch, task))

    async def step(self, branch: Branch, task: dict[str, Any]) -> None:
        task_id = str(task["task_id"])
        rng = self.sim.rng
        step = next_step(task, reached=rng.random() < REACHED_SHARE, verified=rng.random() < VERIFIED_SHARE)
        if step is None:
            branch.tasks.discard(task_id)
            return
        manager = self.api.acting(branch.manager, branch.branch_id)
        r = await manager.post(
            "followup", "/follow-ups/{t}/" + step.name, step.body, expected=(409,), t=task_id
        )
        if r is None or r.status_code not in (200, 409):
            branch.tasks.discard(task_id)  # an error (counted); the list brings it back later
            return
        if r.status_code == 409:
            await self._refused(branch, task, step, r)
            return
        after: dict[str, Any] = r.json()
        done = self.sim.stats.done
        if step.name == "contact":
            done["contact attempts"] += 1
        elif step.name == "cancel":
            done["unreachable"] += 1
        else:
            done["follow-ups"] += 1
        self._next(branch, after, step)

    def _next(self, branch: Branch, task: dict[str, Any], last: Step | None) -> None:
        task_id = str(task["task_id"])
        if task.get("status") not in _OPEN:
            branch.tasks.discard(task_id)
            return
        if last is not None and last.name == "contact" and not task.get("reached"):
            delay = self.sim.rng.uniform(20, 90)  # try again later
        else:
            delay = self.sim.rng.uniform(1, 5)
        self.sim.schedule(delay, "follow-up", lambda: self.step(branch, task))

    async def _refused(self, branch: Branch, task: dict[str, Any], step: Step, refused: Any) -> None:
        task_id = str(task["task_id"])
        r = await self.api.acting(branch.manager, branch.branch_id).get(
            "followup", "/follow-ups/{t}", t=task_id
        )
        if r is None or r.status_code != 200:
            branch.tasks.discard(task_id)
            return
        fresh: dict[str, Any] = r.json()
        if moved(task, fresh):
            self.api.conflict("follow-up changed meanwhile")
            self._next(branch, fresh, None)
            return
        self.api.refused("followup", "POST", "/follow-ups/{t}/" + step.name, refused)
        branch.stuck.add(task_id)
        branch.tasks.discard(task_id)
