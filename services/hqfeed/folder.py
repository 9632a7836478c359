"""The fold's working state and the helpers every event handler uses: counting a KPI on a branch's
local day, SLA outcomes (met, late, breached), open breaches, a complaint's facts, remediation
actions. The handlers are :mod:`services.hqfeed.complaints` and :mod:`services.hqfeed.fold`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from services.hqfeed.facts import (
    SLA_FOLLOWUP,
    SLA_VERIFICATION,
    SLA_WAIT,
    BatchChanges,
    ComplaintFacts,
    FoldSettings,
    RemediationTask,
)
from shared.envelope import Envelope

TzOf = Callable[[str], tzinfo]


def _ts(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@dataclass(eq=False)
class FolderBase:
    #: what the batch changes (written by the handlers)
    c: BatchChanges
    facts: dict[str, ComplaintFacts]
    #: (subject, sla) → "db" (existed before the batch) or the added tuple
    open: dict[tuple[str, str], object]
    tz_of: TzOf
    settings: FoldSettings
    _tz: dict[str, tzinfo] = field(default_factory=dict, init=False)

    # --------------------------------------------------------------------------- helpers

    def day_of(self, branch: str, at: datetime) -> date:
        tz = self._tz.get(branch)
        if tz is None:
            tz = self._tz[branch] = self.tz_of(branch)
        return at.astimezone(tz).date()

    def count(self, branch: str, day: date, name: str, n: float = 1) -> None:
        self.c.day[(branch, day)][name] += n

    def sla(self, branch: str, day: date, sla: str, outcome: str) -> None:
        self.c.day_sla[(branch, day, sla)][outcome] += 1
        if outcome in ("met", "breached", "late"):
            self.count(branch, day, f"sla_{outcome}")

    def complete(self, env: Envelope, day: date, subject: str, sla: str) -> None:
        """``sla`` of ``subject`` was done: met, or late if it had breached and is still open."""
        key = (subject, sla)
        if key in self.open:
            self._close_breach(key)
            self.sla(env.branch_id, day, sla, "late")
        else:
            self.sla(env.branch_id, day, sla, "met")

    def breach(self, env: Envelope, day: date) -> None:
        d = env.data
        subject, sla = str(d["subject_id"]), str(d["sla"])
        self.sla(env.branch_id, day, sla, "breached")
        if sla == SLA_WAIT:
            self.count(env.branch_id, day, "wait_breaches")
        elif sla in (SLA_FOLLOWUP, SLA_VERIFICATION):
            self.count(env.branch_id, day, "followups_overdue")
        key = (subject, sla)
        if key not in self.open:
            info = (env.branch_id, str(d.get("subject_type") or ""), _ts(d["at"]))
            self.open[key] = info
            self.c.breaches_added[key] = info

    def _close_breach(self, key: tuple[str, str]) -> None:
        origin = self.open.pop(key)
        if origin == "db":
            self.c.breaches_deleted.add(key)
        else:
            self.c.breaches_added.pop(key, None)

    def end_subject(self, subject: str) -> None:
        for key in [k for k in self.open if k[0] == subject]:
            self._close_breach(key)

    def facts_for(self, env: Envelope) -> ComplaintFacts:
        cid = str(env.data["complaint_id"])
        f = self.facts.get(cid)
        if f is None:  # an event of a complaint received before HQ existed: facts start here
            f = self.facts[cid] = ComplaintFacts(complaint_id=cid, branch_id=env.branch_id)
        self.c.complaints[cid] = f
        f.events += 1
        if f.last_event_at is None or env.recorded_at > f.last_event_at:
            f.last_event_at = env.recorded_at
        return f

    # ----------------------------------------------------------------------------- fold

    def remediation(self, task: RemediationTask) -> None:
        known = self.c.remediation.get(task.task_id)
        if known is None:
            self.c.remediation[task.task_id] = task
        else:
            known.merge(task)
