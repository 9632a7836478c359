"""How complaint events change a complaint's facts and its branch's KPIs (part of the fold).

Receipt, acknowledgement, classification (moving the received count to the new category, a crisis
slot), escalation, resolution and decision (the first decision's regulatory clock), close (FCR,
remediation actions), reopen and review (a new cycle), holds, extensions and reviews.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from services.hqfeed.facts import (
    DAY_SECONDS,
    SLA_ACK,
    SLA_PROGRESS,
    SLA_REGULATORY,
    SLA_RESOLVE,
    ComplaintFacts,
    RemediationTask,
    remediation_task_id,
)
from services.hqfeed.folder import FolderBase, _ts
from shared.envelope import Envelope


def floor_time(at: datetime, step: timedelta) -> datetime:
    """``at`` rounded down to a multiple of ``step`` since the epoch (UTC)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    seconds = int((at - epoch).total_seconds())
    step_s = int(step.total_seconds())
    return epoch + timedelta(seconds=seconds - seconds % step_s)


class ComplaintFolder(FolderBase):
    def received(self, env: Envelope, day: date) -> None:
        d = env.data
        f = self.facts_for(env)
        received_at = _ts(d["received_at"])
        rday = self.day_of(env.branch_id, received_at)
        f.branch_id = env.branch_id
        f.channel = str(d["channel"])
        f.customer_ref = str(d["customer_ref"])
        f.received_at = received_at
        f.received_day = rday
        f.cycle_started_at = received_at
        f.visit_id = None if d.get("visit_id") is None else str(d["visit_id"])
        f.regulatory_profile = d.get("regulatory_profile") or f.regulatory_profile
        f.business_type = d.get("business_type") or f.business_type
        self.count(env.branch_id, rday, "complaints_received")
        self.c.day_category[(env.branch_id, rday, f.category, f.nature, f.channel)]["received"] += 1
        self.c.received[env.branch_id] += 1
        latest = self.c.received_latest.get(env.branch_id)
        if latest is None or env.recorded_at > latest:
            self.c.received_latest[env.branch_id] = env.recorded_at
        self.c.customer_refs.add(f.customer_ref)

    def acknowledged(self, env: Envelope, day: date) -> None:
        f = self.facts_for(env)
        at = _ts(env.data["at"])
        if f.acknowledged_at is None:
            f.acknowledged_at = at
            if f.first_acknowledged_at is None:
                f.first_acknowledged_at = at
            self.count(env.branch_id, day, "complaints_acknowledged")
            self._cycle_seconds(env, day, f, "ack_seconds", at)
        self.complete(env, day, f.complaint_id, SLA_ACK)

    def _cycle_seconds(self, env: Envelope, day: date, f: ComplaintFacts, name: str, at: datetime) -> None:
        """Count the seconds from the start of the complaint's current cycle to ``at`` (if it has one)."""
        if f.cycle_started_at is not None:
            self.count(env.branch_id, day, name, max((at - f.cycle_started_at).total_seconds(), 0.0))

    def classified(self, env: Envelope, day: date) -> None:
        d = env.data
        f = self.facts_for(env)
        category, nature = str(d["category"]), str(d["nature"])
        if (category, nature) != (f.category, f.nature) and f.received_day is not None and f.channel:
            moved = self.c.day_category
            moved[(f.branch_id, f.received_day, f.category, f.nature, f.channel)]["received"] -= 1
            moved[(f.branch_id, f.received_day, category, nature, f.channel)]["received"] += 1
        f.category, f.nature = category, nature
        f.urgency, f.source = d.get("urgency"), d.get("source")
        f.business_type = d.get("business_type") or f.business_type
        f.cause_code = d.get("cause_code") or f.cause_code
        watched = self.settings.crisis_categories
        if f.received_at is not None and (not watched or category in watched):
            self.c.slots[(category, floor_time(f.received_at, self.settings.slot), f.branch_id)] += 1

    def escalated(self, env: Envelope, day: date) -> None:
        f = self.facts_for(env)
        f.escalations += 1
        if f.cycle == 1 and f.first_closed_at is None:
            f.escalated_first_cycle = True
        self.count(env.branch_id, day, "complaints_escalated")

    def implemented(self, env: Envelope, day: date) -> None:
        f = self.facts_for(env)
        if f.resolved_at is None:
            f.resolved_at = _ts(env.data["at"])
            self.complete(env, day, f.complaint_id, SLA_RESOLVE)

    def correction_failed(self, env: Envelope, day: date) -> None:
        self.facts_for(env).resolved_at = None

    def answered(self, env: Envelope, day: date) -> None:
        f = self.facts_for(env)
        at = _ts(env.data["at"])
        if f.resolved_at is None:
            f.resolved_at = at
            self.complete(env, day, f.complaint_id, SLA_RESOLVE)
        self.complete(env, day, f.complaint_id, SLA_REGULATORY)
        if (f.complaint_id, SLA_PROGRESS) in self.open:  # the progress clock ends with the answer
            self._close_breach((f.complaint_id, SLA_PROGRESS))
        f.outcome = str(env.data["outcome"])
        if f.decided_at is None:
            f.decided_at = at
            self.count(env.branch_id, day, "complaints_decided")
            self._cycle_seconds(env, day, f, "decide_seconds", at)
        if f.first_decided_at is None:
            f.first_decided_at = at
            if f.received_at is not None:
                held = f.held_seconds + (
                    max((at - f.hold_since).total_seconds(), 0.0) if f.hold_since else 0.0
                )
                f.handling_seconds = max((at - f.received_at).total_seconds() - held, 0.0)
            _first_decision(f, env.data.get("regulatory_outcomes") or ())

    def progress(self, env: Envelope, day: date) -> None:
        f = self.facts_for(env)
        self.complete(env, day, f.complaint_id, SLA_PROGRESS)

    def closed(self, env: Envelope, day: date) -> None:
        f = self.facts_for(env)
        at = _ts(env.data["at"])
        self._remediation_actions(env, f, at)
        f.closed, f.closed_at = True, at
        f.root_cause = f.root_cause or bool(env.data.get("root_cause"))
        f.cause_code = env.data.get("cause_code") or f.cause_code
        if env.data.get("bank_at_fault") is not None:
            f.bank_at_fault = bool(env.data["bank_at_fault"])
        self.count(env.branch_id, day, "complaints_closed")
        self.c.day_category[(f.branch_id, day, f.category, f.nature, f.channel or "unknown")]["closed"] += 1
        if f.first_closed_at is None:
            f.first_closed_at = at
            if f.cycle == 1:
                self.count(env.branch_id, day, "first_closes")
                if not f.escalated_first_cycle and f.reopened == 0:
                    f.fcr = True
                    self.count(env.branch_id, day, "fcr_closes")

    def reopened(self, env: Envelope, day: date) -> None:
        f = self._new_cycle(env)
        f.reopened += 1
        self.count(env.branch_id, day, "complaints_reopened")

    def review_requested(self, env: Envelope, day: date) -> None:
        """A review by the higher level is a cycle of its own: not resolved at first contact."""
        f = self._new_cycle(env)
        f.reviews += 1

    def review_decided(self, env: Envelope, day: date) -> None:
        f = self.facts_for(env)
        outcome = str(env.data.get("outcome") or "") or None
        f.review_outcome = outcome
        f.reviews_decided += 1
        if outcome == "original_upheld":
            f.reviews_upheld += 1
        elif outcome == "decision_changed":
            f.reviews_changed += 1
        met = [o for o in env.data.get("regulatory_outcomes") or () if o.get("by") == "review_decision"]
        if met and all(o.get("within_limit") for o in met):
            f.reviews_within_limit += 1

    def extension(self, env: Envelope, day: date) -> None:
        f = self.facts_for(env)
        if env.type == "ExtensionRequested":
            f.extensions_requested += 1
        elif env.type == "ExtensionApproved":
            f.extensions_approved += 1
            f.limit_days = int(env.data.get("limit_days") or f.limit_days or 0) or None
        else:
            f.extensions_denied += 1

    def _new_cycle(self, env: Envelope) -> ComplaintFacts:
        f = self.facts_for(env)
        at = _ts(env.data["at"])
        f.cycle = int(env.data.get("cycle") or f.cycle + 1)
        f.cycle_started_at = at
        f.acknowledged_at = f.resolved_at = f.decided_at = None
        f.closed = False
        if f.fcr:  # it was not resolved at first contact after all: undo on the day it counted
            f.fcr = False
            assert f.first_closed_at is not None
            self.count(f.branch_id, self.day_of(f.branch_id, f.first_closed_at), "fcr_closes", -1)
        self.end_subject(f.complaint_id)  # a new cycle starts with fresh deadlines
        return f

    def on_hold(self, env: Envelope, day: date) -> None:
        f = self.facts_for(env)
        if f.hold_since is None:
            f.hold_since = _ts(env.data["at"])

    def resumed(self, env: Envelope, day: date) -> None:
        f = self.facts_for(env)
        if f.hold_since is not None:
            f.held_seconds += max((_ts(env.data["at"]) - f.hold_since).total_seconds(), 0.0)
            f.hold_since = None

    def extended(self, env: Envelope, day: date) -> None:
        f = self.facts_for(env)
        if str(env.data.get("sla") or SLA_REGULATORY) != SLA_REGULATORY:
            return
        f.extensions += 1
        f.limit_days = int(env.data["limit_days"])

    def merged(self, env: Envelope, day: date) -> None:
        self.facts_for(env).incident_id = str(env.data["incident_id"])

    def touched(self, env: Envelope, day: date) -> None:
        self.facts_for(env)

    def _remediation_actions(self, env: Envelope, f: ComplaintFacts, at: datetime) -> None:
        """溯源整改 at close: each action becomes a follow-up task whose id HQ derives as follow-up
        does (an old close with remediation as text only becomes one task, due as follow-up says)."""
        actions = env.data.get("remediation_actions") or ()
        for a in actions:
            self.remediation(
                RemediationTask(
                    task_id=remediation_task_id(env.event_id, a["action_id"]),
                    complaint_id=f.complaint_id,
                    branch_id=env.branch_id,
                    action_id=str(a["action_id"]),
                    owner=a.get("owner"),
                    due_at=_ts(a["due_at"]),
                    created_at=at,
                )
            )
        if not actions and env.data.get("remediation"):  # a reference (HQ never reads the words)
            self.remediation(
                RemediationTask(
                    task_id=remediation_task_id(env.event_id),
                    complaint_id=f.complaint_id,
                    branch_id=env.branch_id,
                    created_at=at,
                )
            )


def _first_decision(f: ComplaintFacts, outcomes: Iterable[dict[str, Any]]) -> None:
    """What the first decision used of the regulatory clock (``counted_days``, paused time excluded)."""
    regulatory = next((o for o in outcomes if o.get("sla") == SLA_REGULATORY), None)
    if regulatory is not None:
        f.decision_unit = str(regulatory["unit"])
        f.decision_limit = int(regulatory["limit"])
        f.decided_within_limit = bool(regulatory["within_limit"])
        if f.decision_unit == "days":
            f.decision_days = float(regulatory["counted_days"])
            return
    if f.handling_seconds is not None:
        f.decision_days = f.handling_seconds / DAY_SECONDS


def _complaint_of(subject: str) -> str | None:
    """``complaint:<uuid>`` → the complaint id (a follow-up task's subject)."""
    if not subject.startswith("complaint:"):
        return None
    try:
        return str(UUID(subject.removeprefix("complaint:")))
    except ValueError:
        return None
