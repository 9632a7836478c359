"""Which follow-up tasks other contexts' events create, and when they are due. Pure: no I/O.

A task's reason is written here from codes, figures and times — never from staff's words: the
texts a task is about (a remediation action, a hold's reason, a survey comment) travel as the
owning contexts' references in ``about`` and are shown by the console from their owners.

Every rule turns one causing event into at most one :class:`ScheduleTask` whose id is derived
from that event (``task_id_for(event_id, kind)``), so a redelivered event schedules nothing new.
Due times come from the SLA policy book where a policy exists (``complaint.progress_update``,
``followup.verification``: calendar or business time, per branch) and from :class:`RuleConfig`
otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from services.followup.decider.commands import ScheduleTask
from services.followup.decider.task import Task, successor_id, task_id_for
from shared.actors import staff_actor
from shared.contracts import complaint as ce
from shared.contracts.feedback import NegativeFeedbackReceived
from shared.contracts.followup import TaskKind
from shared.contracts.reception import VisitServed
from shared.contracts.text import TextRef
from shared.envelope import Envelope
from shared.sla.policy import PolicyBook

PROGRESS_SLA = "complaint.progress_update"
VERIFICATION_SLA = "followup.verification"
REGULATORY_SLA = "complaint.regulatory"
PROGRESS_REASON = "Tell the complainant where the case stands (every 24 h while it is open)."

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UNITS = {ce.LimitUnit.days: "days", ce.LimitUnit.business_days: "business days"}
_HOLDS = {
    ce.HoldKind.external_appraisal: "an external appraisal or test",
    ce.HoldKind.waiting_on_customer: "the complainant (documents or an answer)",
}


class ComplaintEvent(Protocol):
    @property
    def complaint_id(self) -> UUID: ...


@dataclass(frozen=True)
class RuleConfig:
    """Durations no SLA policy defines (environment: ``FOLLOWUP_*``, see ``config.py``)."""

    recovery_within: timedelta = timedelta(hours=24)
    inform_within: timedelta = timedelta(hours=24)
    remediation_within: timedelta = timedelta(days=30)


def staff_owner(actor: str) -> str | None:
    """The member of staff who acted, or None for a system actor (``shared.actors``)."""
    return staff_actor(actor)


def _clip(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _refs(*texts: TextRef | None) -> tuple[TextRef, ...]:
    """The texts a task is about (references only: a rule never reads the words)."""
    return tuple(t for t in texts if t is not None)


def _caused(env: Envelope, kind: TaskKind, *, key: UUID | None = None, **plan: Any) -> ScheduleTask:
    """The task of ``kind`` that ``env``'s event causes: its id derived from the event (and ``key``,
    for one of several), so a redelivered event schedules nothing new."""
    return ScheduleTask(
        task_id=task_id_for(env.event_id, kind, key), kind=kind, cause_event_id=env.event_id, **plan
    )


def _complaint(data: ComplaintEvent) -> str:
    """The subject of a task about the complaint of ``data``."""
    return f"complaint:{data.complaint_id}"


def _case_task(
    env: Envelope,
    data: ComplaintEvent,
    kind: TaskKind,
    at: datetime,
    due_at: datetime,
    reason: str,
    customer_ref: str | None,
    **rest: Any,
) -> ScheduleTask:
    """A task about the complaint of ``data``, for the member of staff who acted unless ``rest``
    names an ``owner`` (a rule's reason is clipped to what the event allows)."""
    rest.setdefault("owner", staff_owner(env.actor))
    subject = _complaint(data)
    return _caused(
        env,
        kind,
        due_at=due_at,
        reason=_clip(reason),
        subject=subject,
        at=at,
        customer_ref=customer_ref,
        **rest,
    )


def _deadline_name(sla: str) -> str:
    return "decision deadline" if sla == REGULATORY_SLA else f"{sla} deadline"


class TaskRules:
    def __init__(self, book: PolicyBook, config: RuleConfig | None = None) -> None:
        self.book = book
        self.config = config or RuleConfig()

    # ------------------------------------------------------------------------ due-time arithmetic

    def _after_policy(self, sla: str, branch_id: str, start: datetime) -> datetime:
        policy = self.book.policy(sla, branch_id)
        return self.book.calendar_for(policy, branch_id).add_open_time(start, policy.duration)

    def progress_due(self, branch_id: str, start: datetime) -> datetime:
        return self._after_policy(PROGRESS_SLA, branch_id, start)

    def verification_due(self, branch_id: str, start: datetime) -> datetime:
        return self._after_policy(VERIFICATION_SLA, branch_id, start)

    def local_time(self, branch_id: str, at: datetime) -> str:
        """A moment as the branch reads it, e.g. ``17 Mar 2026 10:00 (Asia/Shanghai)``.

        Words, not ``2026-03-17T10:00``, for staff reading a task list."""
        tz = self.book.calendar(branch_id).tz
        local = at.astimezone(tz)
        return f"{local.day} {_MONTHS[local.month - 1]} {local.year} {local:%H:%M} ({tz.key})"

    # ------------------------------------------------------------------------------------ rules

    def on_complaint_received(self, env: Envelope, data: ce.ComplaintReceived, at: datetime) -> ScheduleTask:
        return self._progress_update(env, data, at, data.received_at, PROGRESS_REASON, data.customer_ref)

    def on_complaint_reopened(
        self, env: Envelope, data: ce.ComplaintReopened, at: datetime, customer_ref: str | None
    ) -> ScheduleTask:
        reason = f"The case was reopened (cycle {data.cycle}): keep the complainant informed."
        return self._progress_update(env, data, at, data.at, reason, customer_ref)

    def on_solution_implemented(
        self, env: Envelope, data: ce.SolutionImplemented, at: datetime, customer_ref: str | None
    ) -> ScheduleTask:
        reason = f"跟踪核查: verify that solution {data.solution_id} really took effect."
        due = self.verification_due(env.branch_id, data.at)
        return _case_task(env, data, TaskKind.verification, at, due, reason, customer_ref)

    def on_complaint_closed(
        self, env: Envelope, data: ce.ComplaintClosed, at: datetime
    ) -> list[ScheduleTask]:
        """溯源整改: one task per remediation action, for its owner, due when the action is due.

        An older close without the list (remediation as text only) makes one task for the closer,
        due ``remediation_within`` after the close."""
        kind = TaskKind.remediation
        if data.remediation_actions:
            reason = "Remediation (溯源整改): carry out this action of the close."
            return [
                _case_task(
                    env,
                    data,
                    kind,
                    at,
                    action.due_at,
                    reason,
                    None,
                    key=action.action_id,
                    owner=action.owner,
                    about=_refs(action.description, data.root_cause),
                )
                for action in data.remediation_actions
            ]
        if data.remediation is None:
            return []
        reason = "Remediation (溯源整改): carry out the remediation recorded at the close."
        due = data.at + self.config.remediation_within
        return [
            _case_task(env, data, kind, at, due, reason, None, about=_refs(data.remediation, data.root_cause))
        ]

    def on_deadline_extended(
        self, env: Envelope, data: ce.RegulatoryDeadlineExtended, at: datetime, customer_ref: str | None
    ) -> ScheduleTask:
        """Tell the complainant: a 30-day extension, a 60-day one once approved, or (uk-fca payment
        services) the move to business day 35 after a holding reply. Owned by who asked for it."""
        due = f", now due by {self.local_time(env.branch_id, data.due_at)}," if data.due_at else ""
        reason = (
            f"Tell the complainant the {_deadline_name(data.sla)} was extended to {data.limit_days} "
            f"{_UNITS[data.unit]}{due} and why."
        )
        owner = data.requested_by or staff_owner(env.actor)
        return self._inform(env, data, at, customer_ref, reason, owner=owner, about=_refs(data.reason))

    def on_put_on_hold(
        self, env: Envelope, data: ce.ComplaintPutOnHold, at: datetime, customer_ref: str | None
    ) -> ScheduleTask | None:
        """The case waits (cn-2020: an external appraisal) and the complainant must be told."""
        if not data.inform_complainant:
            return None
        paused = (
            " That time does not count toward the regulatory deadline."
            if data.regulatory_clocks_paused
            else ""
        )
        reason = f"Tell the complainant the case now waits for {_HOLDS[data.kind]}, and why.{paused}"
        return self._inform(env, data, at, customer_ref, reason, about=_refs(data.reason))

    def on_resumed(
        self,
        env: Envelope,
        data: ce.ComplaintResumed,
        at: datetime,
        customer_ref: str | None,
        hold_kind: ce.HoldKind | None = None,
    ) -> ScheduleTask | None:
        """The wait is over (e.g. the appraisal result arrived): tell the complainant, with the
        decision deadline after the pause."""
        if not data.inform_complainant:
            return None
        what = (
            "the external appraisal result arrived and the case is moving again"
            if hold_kind is ce.HoldKind.external_appraisal
            else "the case is moving again"
        )
        due = (
            f"; the decision is now due by {self.local_time(env.branch_id, data.regulatory_due_at)}"
            if data.regulatory_due_at
            else ""
        )
        return self._inform(
            env, data, at, customer_ref, f"Tell the complainant {what}{due}.", about=_refs(data.note)
        )

    def _progress_update(
        self,
        env: Envelope,
        data: ce.ComplaintReceived | ce.ComplaintReopened,
        at: datetime,
        since: datetime,
        reason: str,
        customer_ref: str | None,
    ) -> ScheduleTask:
        """Keep the complainant informed: the first progress update of a case (received or
        reopened), due one ``complaint.progress_update`` interval after ``since``."""
        due = self.progress_due(env.branch_id, since)
        return _case_task(env, data, TaskKind.progress_update, at, due, reason, customer_ref)

    def _inform(
        self,
        env: Envelope,
        data: ce.RegulatoryDeadlineExtended | ce.ComplaintPutOnHold | ce.ComplaintResumed,
        at: datetime,
        customer_ref: str | None,
        reason: str,
        **rest: Any,
    ) -> ScheduleTask:
        """Tell the complainant what ``data`` changed (an extension, a hold, a resume) within
        ``inform_within`` of it."""
        due = data.at + self.config.inform_within
        return _case_task(env, data, TaskKind.inform_complainant, at, due, reason, customer_ref, **rest)

    def on_regulatory_milestone(
        self, env: Envelope, data: ce.RegulatoryMilestoneReached, at: datetime
    ) -> ScheduleTask:
        """A warning before a regulatory limit: the action, for the role it names (no owner: the
        role is in the reason), due when the limit runs out."""
        role = data.assignee_role.value.replace("_", " ")
        return _caused(
            env,
            TaskKind.regulatory_milestone,
            due_at=data.due_at,
            reason=_clip(
                f"{data.action} — for the {role}: day {data.day:g} of {data.limit} {_UNITS[data.unit]} "
                f"({data.profile}, {data.sla}); the limit ends {self.local_time(env.branch_id, data.due_at)}."
            ),
            subject=_complaint(data),
            at=at,
            owner=None,
            regulatory_sla=data.sla,
        )

    def on_visit_served(self, env: Envelope, data: VisitServed, at: datetime) -> ScheduleTask | None:
        if data.promised_by is None:
            return None
        return _caused(
            env,
            TaskKind.callback,
            due_at=data.promised_by,
            reason="Call back: check that the promise made at the counter was kept (the next steps told).",
            subject=f"visit:{data.visit_id}",
            at=at,
            owner=data.staff_id,
            customer_ref=data.customer_ref,
            about=_refs(data.next_steps, data.outcome),
        )

    def on_negative_feedback(
        self, env: Envelope, data: NegativeFeedbackReceived, at: datetime
    ) -> ScheduleTask:
        complaint = (
            " The comment describes a complaint: a case is opened too." if data.describes_complaint else ""
        )
        comment = " See the comment." if data.comment else ""
        return _caused(
            env,
            TaskKind.service_recovery,
            due_at=data.at + self.config.recovery_within,
            reason=_clip(f"Service recovery: {data.subject} scored {data.score}/5.{comment}{complaint}"),
            subject=f"survey:{data.survey_id}",
            at=at,
            owner=None,  # not the member of staff who was rated: the lobby manager assigns it
            customer_ref=data.customer_ref,
            about=_refs(data.comment),
        )

    def next_progress_update(
        self, branch_id: str, previous: Task, since: datetime, at: datetime
    ) -> ScheduleTask:
        """The successor of a progress update, due one interval after it was done or fell due: same
        subject, owner, cause and customer as its predecessor."""
        assert previous.task_id is not None
        kept = {
            name: getattr(previous, name) for name in ("subject", "owner", "cause_event_id", "customer_ref")
        }
        due = self.progress_due(branch_id, since)
        return ScheduleTask(
            successor_id(previous.task_id),
            TaskKind.progress_update,
            due,
            PROGRESS_REASON,
            at=at,
            previous_task_id=previous.task_id,
            **kept,
        )
