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
from datetime import date

from services.hqfeed.complaints import ComplaintFolder, _complaint_of
from services.hqfeed.facts import (
    CLOSES_BREACHES,
    REMEDIATION,
    SLA_FOLLOWUP,
    SLA_PHONE,
    SLA_VERIFICATION,
    SLA_WAIT,
    TERMINAL,
    BatchChanges,
    ComplaintFacts,
    FoldSettings,
    RemediationTask,
)
from services.hqfeed.folder import TzOf, _ts
from shared.contracts.hqfeed import WAIT_COLUMNS, CustomerRefsMerged, CustomerRefsMergeReversed, bucket_index
from shared.contracts.reception import ERASURE_BRANCH
from shared.envelope import Envelope


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


class _Folder(ComplaintFolder):
    """Every handler of the fold: reception, SLA, follow-up and feedback here; complaints inherited."""

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

    def customers_merged(self, env: Envelope, day: date) -> None:
        """The vault's duplicate merge, for HQ: the two pseudonyms, the branch and the time only."""
        self._alias(env, CustomerRefsMerged)

    def merge_reversed(self, env: Envelope, day: date) -> None:
        self._alias(env, CustomerRefsMergeReversed)

    def _alias(self, env: Envelope, kind: type[CustomerRefsMerged | CustomerRefsMergeReversed]) -> None:
        d = env.data
        self.c.aliases.append(
            kind(
                branch_id=env.branch_id,
                survivor_customer_ref=d["survivor_ref"],
                merged_customer_ref=d["merged_ref"],
                at=_ts(d["at"]),
            )
        )

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

    def survey_given_up(self, env: Envelope, day: date) -> None:
        self.count(env.branch_id, day, "surveys_given_up")
        if env.data.get("reason") == "no_contact":
            self.count(env.branch_id, day, "surveys_given_up_no_contact")


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
    "CustomersMerged": _Folder.customers_merged,
    "CustomerMergeReversed": _Folder.merge_reversed,
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
    "SurveySendFailed": _counter("survey_send_failures"),
    "SurveyGivenUp": _Folder.survey_given_up,
    "SurveyDelivered": _counter("surveys_delivered"),
}

#: the event types the fold reads (the restore drill re-applies these from the restored stores)
FOLDED: frozenset[str] = frozenset(_HANDLERS)


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
