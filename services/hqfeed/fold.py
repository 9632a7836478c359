"""Fold one batch of every branch's domain events into the changes HQ needs: pure, no I/O.

The aggregator loads the little state the batch needs (the facts of the complaints it touches, the
open breaches of the subjects it completes), calls :func:`fold_batch`, keeps its state and
publishes the resulting :class:`~services.hqfeed.facts.BatchChanges` as HQ's contract events
(:mod:`services.hqfeed.publish`). Aggregating in Python first keeps a batch of 2,000 events to a
dozen SQL statements and a few contract events per branch.

Definitions (see services/hq/README.md): a day is the branch's local date of the event (its SLA
calendar's time zone); a complaint's "received" counts fall on the day it was received, everything
else on the day it happened. The regulatory facts come from the complaint service's regulatory
events (the first decision's ``regulatory_outcomes``, extension requests, reviews) and from
remediation actions joined with follow-up's tasks by the task id follow-up derives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from uuid import UUID

from services.hqfeed.facts import (
    CLOSES_BREACHES,
    DAY_SECONDS,
    REMEDIATION,
    SLA_ACK,
    SLA_FOLLOWUP,
    SLA_PHONE,
    SLA_PROGRESS,
    SLA_REGULATORY,
    SLA_RESOLVE,
    SLA_VERIFICATION,
    SLA_WAIT,
    TERMINAL,
    BatchChanges,
    ComplaintFacts,
    FoldSettings,
    RemediationTask,
    remediation_task_id,
)
from shared.contracts.hqfeed import WAIT_COLUMNS, bucket_index
from shared.contracts.reception import ERASURE_BRANCH
from shared.envelope import Envelope

TzOf = Callable[[str], tzinfo]


def complaint_ids(events: Iterable[Envelope]) -> set[str]:
    """Complaints whose facts the batch needs (every complaint-topic event names one)."""
    out: set[str] = set()
    for env in events:
        cid = env.data.get("complaint_id")
        if cid is not None and env.type != "VerificationFailed":
            out.add(str(cid))
    return out


def subjects_needing_breaches(events: Iterable[Envelope]) -> set[str]:
    """Subjects whose open breaches the batch may close (it completes an SLA of them or ends them)."""
    out: set[str] = set()
    for env in events:
        if env.type in CLOSES_BREACHES or env.type in TERMINAL:
            subject = _subject(env)
            if subject is not None:
                out.add(subject)
    return out


def _subject(env: Envelope) -> str | None:
    d = env.data
    for key in ("complaint_id", "visit_id", "call_id", "task_id", "survey_id"):
        value = d.get(key)
        if value is not None:
            return str(value)
    return None


def _ts(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def floor_time(at: datetime, step: timedelta) -> datetime:
    """``at`` rounded down to a multiple of ``step`` since the epoch (UTC)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    seconds = int((at - epoch).total_seconds())
    step_s = int(step.total_seconds())
    return epoch + timedelta(seconds=seconds - seconds % step_s)


class _Folder:
    def __init__(
        self,
        changes: BatchChanges,
        facts: dict[str, ComplaintFacts],
        open_breaches: dict[tuple[str, str], object],
        tz_of: TzOf,
        settings: FoldSettings,
    ) -> None:
        self.c = changes
        self.facts = facts
        #: (subject, sla) → "db" (existed before the batch) or the added tuple
        self.open = open_breaches
        self.tz_of = tz_of
        self.settings = settings
        self._tz: dict[str, tzinfo] = {}

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

    def apply(self, env: Envelope) -> None:
        if env.branch_id == ERASURE_BRANCH:  # an erasure (CustomerErased) is about no branch
            return
        branch = env.branch_id
        day = self.day_of(branch, env.occurred_at)
        self.count(branch, day, "events")
        seen = self.c.branches.get(branch)
        if seen is None:
            self.c.branches[branch] = (env.occurred_at, env.recorded_at)
        elif env.recorded_at > seen[1] or env.occurred_at < seen[0]:
            self.c.branches[branch] = (min(seen[0], env.occurred_at), max(seen[1], env.recorded_at))
        handler = _HANDLERS.get(env.type)
        if handler is not None:
            handler(self, env, day)
        if env.type in TERMINAL:
            subject = _subject(env)
            if subject is not None:
                self.end_subject(subject)

    # --- reception -----------------------------------------------------------------------

    def visit_called(self, env: Envelope, day: date) -> None:
        d = env.data
        if d.get("call_number") != 1:
            return
        waited = float(d["waited_seconds"])
        self.count(env.branch_id, day, "wait_count")
        self.count(env.branch_id, day, "wait_seconds", waited)
        self.count(env.branch_id, day, WAIT_COLUMNS[bucket_index(waited)])
        self.complete(env, day, str(d["visit_id"]), SLA_WAIT)

    def call_answered(self, env: Envelope, day: date) -> None:
        self.count(env.branch_id, day, "calls_answered")
        if env.data.get("within_target"):
            self.count(env.branch_id, day, "calls_in_target")
        self.complete(env, day, str(env.data["call_id"]), SLA_PHONE)

    def call_ended(self, env: Envelope, day: date) -> None:
        if env.data.get("outcome") == "missed":
            self.count(env.branch_id, day, "calls_missed")

    def visit_left(self, env: Envelope, day: date) -> None:
        self.count(env.branch_id, day, "visits_left")

    # --- complaints ----------------------------------------------------------------------

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
            if f.cycle_started_at is not None:
                self.count(
                    env.branch_id, day, "ack_seconds", max((at - f.cycle_started_at).total_seconds(), 0.0)
                )
        self.complete(env, day, f.complaint_id, SLA_ACK)

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
            if f.cycle_started_at is not None:
                self.count(
                    env.branch_id, day, "decide_seconds", max((at - f.cycle_started_at).total_seconds(), 0.0)
                )
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

    def remediation(self, task: RemediationTask) -> None:
        known = self.c.remediation.get(task.task_id)
        if known is None:
            self.c.remediation[task.task_id] = task
        else:
            known.merge(task)

    # --- SLA events (every topic) --------------------------------------------------------

    def sla_breached(self, env: Envelope, day: date) -> None:
        self.breach(env, day)

    def sla_at_risk(self, env: Envelope, day: date) -> None:
        self.sla(env.branch_id, day, str(env.data["sla"]), "at_risk")

    # --- follow-up -----------------------------------------------------------------------

    def followup_scheduled(self, env: Envelope, day: date) -> None:
        self.count(env.branch_id, day, "followups_scheduled")
        d = env.data
        if d.get("kind") != REMEDIATION:
            return
        scheduled = d.get("scheduled_at")
        self.remediation(
            RemediationTask(
                task_id=str(d["task_id"]),
                complaint_id=_complaint_of(str(d.get("subject") or "")),
                branch_id=env.branch_id,
                scheduled_at=env.occurred_at if scheduled is None else _ts(scheduled),
                followup_due_at=_ts(d["due_at"]),
            )
        )

    def followup_completed(self, env: Envelope, day: date) -> None:
        self.count(env.branch_id, day, "followups_completed")
        sla = SLA_VERIFICATION if env.data.get("kind") == "verification" else SLA_FOLLOWUP
        self.complete(env, day, str(env.data["task_id"]), sla)
        if env.data.get("kind") == REMEDIATION:
            task_id = str(env.data["task_id"])
            done = RemediationTask(task_id=task_id, branch_id=env.branch_id, completed_at=_ts(env.data["at"]))
            self.remediation(done)

    def followup_cancelled(self, env: Envelope, day: date) -> None:
        self.count(env.branch_id, day, "followups_cancelled")
        if env.data.get("kind") == REMEDIATION:
            task_id = str(env.data["task_id"])
            gone = RemediationTask(task_id=task_id, branch_id=env.branch_id, cancelled_at=_ts(env.data["at"]))
            self.remediation(gone)

    # --- feedback ------------------------------------------------------------------------

    def survey_answered(self, env: Envelope, day: date) -> None:
        score = int(env.data["score"])
        self.count(env.branch_id, day, "surveys_answered")
        self.count(env.branch_id, day, "score_sum", score)
        if score >= 4:
            self.count(env.branch_id, day, "surveys_satisfied")
        if env.data.get("negative"):
            self.count(env.branch_id, day, "surveys_negative")


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


def _counter(name: str) -> Callable[[_Folder, Envelope, date], None]:
    def handler(folder: _Folder, env: Envelope, day: date) -> None:
        folder.count(env.branch_id, day, name)

    return handler


_HANDLERS: dict[str, Callable[[_Folder, Envelope, date], None]] = {
    # reception
    "VisitArrived": _counter("visits"),
    "VisitQueued": _counter("visits_queued"),
    "VisitCalled": _Folder.visit_called,
    "VisitServed": _counter("visits_served"),
    "VisitAbandoned": _counter("visits_abandoned"),
    "VisitNoShow": _counter("visits_no_show"),
    "VisitLeft": _Folder.visit_left,
    "CallReceived": _counter("calls"),
    "CallAnswered": _Folder.call_answered,
    "CallEnded": _Folder.call_ended,
    # complaint
    "ComplaintReceived": _Folder.received,
    "ComplaintAcknowledged": _Folder.acknowledged,
    "ComplaintClassified": _Folder.classified,
    "ComplaintEscalated": _Folder.escalated,
    "SolutionImplemented": _Folder.implemented,
    "ComplaintCorrectionFailed": _Folder.correction_failed,
    "ComplaintAnswered": _Folder.answered,
    "ProgressUpdateGiven": _Folder.progress,
    "ComplaintClosed": _Folder.closed,
    "ComplaintReopened": _Folder.reopened,
    "ComplaintPutOnHold": _Folder.on_hold,
    "ComplaintResumed": _Folder.resumed,
    "RegulatoryDeadlineExtended": _Folder.extended,
    "ComplaintMergedIntoIncident": _Folder.merged,
    "InvestigationStarted": _Folder.touched,
    "SolutionsProposed": _Folder.touched,
    "SolutionAccepted": _Folder.touched,
    "SolutionRejected": _Folder.touched,
    "CustomerLeftBranch": _Folder.touched,
    "ReviewRequested": _Folder.review_requested,
    "ReviewDecided": _Folder.review_decided,
    "ExtensionRequested": _Folder.extension,
    "ExtensionApproved": _Folder.extension,
    "ExtensionDenied": _Folder.extension,
    # SLA clock
    "SlaBreached": _Folder.sla_breached,
    "SlaAtRisk": _Folder.sla_at_risk,
    # follow-up
    "FollowUpScheduled": _Folder.followup_scheduled,
    "FollowUpCompleted": _Folder.followup_completed,
    "FollowUpCancelled": _Folder.followup_cancelled,
    "VerificationFailed": _counter("verifications_failed"),
    # feedback
    "SurveyRequested": _counter("surveys_requested"),
    "SurveyAnswered": _Folder.survey_answered,
    "SurveyExpired": _counter("surveys_expired"),
}


def fold_batch(
    events: Sequence[Envelope],
    *,
    facts: dict[str, ComplaintFacts],
    open_breaches: Iterable[tuple[str, str]],
    tz_of: TzOf,
    settings: FoldSettings | None = None,
) -> BatchChanges:
    """The read-model changes of ``events`` (in order, de-duplicated), given the facts of the
    complaints they touch and the open breaches of the subjects they complete or end."""
    changes = BatchChanges()
    folder = _Folder(changes, facts, {key: "db" for key in open_breaches}, tz_of, settings or FoldSettings())
    for env in events:
        folder.apply(env)
    return changes
