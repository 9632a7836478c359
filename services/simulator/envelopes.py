"""Well-formed event envelopes of the branch contexts, without the services: for measuring HQ
alone (``python -m bench scale``) and for HQ's tests.

Every payload is built from its contract model (so it validates exactly as the services' events
do) and every stream's versions run 1, 2, 3, ... Publishing these straight to the topics measures
HQ's consumer and read model, not the producers.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from uuid import UUID, uuid4

from aiokafka import AIOKafkaProducer

from shared.contracts import complaint as c
from shared.contracts import feedback as fb
from shared.contracts import followup as fu
from shared.contracts import reception as r
from shared.contracts.refs import synthetic_ref
from shared.contracts.sla import SlaBreached
from shared.contracts.text import TextContext, TextRef
from shared.envelope import Envelope, Metadata
from shared.registry import EventData, envelope_of
from shared.topology import events_topic

TOPIC_OF: dict[str, str] = {
    name: events_topic(name) for name in ("reception", "complaint", "followup", "feedback")
}


@dataclass
class Made:
    """An envelope and the topic it belongs on."""

    topic: str
    envelope: Envelope


@dataclass
class EnvelopeFactory:
    """Builds envelopes stream by stream (versions continue per stream)."""

    actor: str = "sim-staff"
    versions: dict[str, int] = field(default_factory=dict)

    def make(self, context: str, stream_id: str, branch_id: str, event: EventData, at: datetime) -> Made:
        version = self.versions.get(stream_id, 0) + 1
        self.versions[stream_id] = version
        meta = Metadata(actor=self.actor)
        env = envelope_of(event, stream_id=stream_id, version=version, branch_id=branch_id, meta=meta, at=at)
        return Made(TOPIC_OF[context], env)

    def stream(self, context: str, stream_id: str, branch_id: str) -> Callable[[EventData, datetime], Made]:
        """:meth:`make` for one stream: ``event(payload, at)``."""
        return partial(self.make, context, stream_id, branch_id)

    # ---------------------------------------------------------------------------- reception

    def visit(
        self,
        branch_id: str,
        at: datetime,
        *,
        waited: float,
        customer_ref: str | None = None,
        service_type: r.ServiceType = r.ServiceType.deposit_demand,
        breach: bool = False,
        served: bool = True,
    ) -> list[Made]:
        """A walk-in: arrive, queue, (wait SLA breached), called after ``waited`` s, served, left."""
        vid = uuid4()
        sid = f"visit-{vid}"
        event = self.stream("reception", sid, branch_id)
        out = [
            event(r.VisitArrived(visit_id=vid, arrival="walk_in", at=at, customer_ref=customer_ref), at),
            event(
                r.VisitQueued(
                    visit_id=vid,
                    line="deposits",
                    ticket="A001",
                    service_type=service_type,
                    day=at.date(),
                    at=at,
                ),
                at,
            ),
        ]
        called = at + timedelta(seconds=waited)
        if breach:
            out.append(
                self._breach(
                    "reception",
                    sid,
                    branch_id,
                    "reception.wait",
                    "visit",
                    str(vid),
                    at,
                    at + timedelta(minutes=30),
                )
            )
        if not served:
            out.append(
                event(
                    r.VisitAbandoned(
                        visit_id=vid, ticket="A001", line="deposits", waited_seconds=waited, at=called
                    ),
                    called,
                )
            )
            out.append(event(r.VisitLeft(visit_id=vid, at=called, reason=r.LeftReason.abandoned), called))
            return out
        done = called + timedelta(minutes=5)
        out += [
            event(
                r.VisitCalled(
                    visit_id=vid,
                    ticket="A001",
                    line="deposits",
                    counter_id="1",
                    staff_id="teller-1",
                    call_number=1,
                    waited_seconds=waited,
                    at=called,
                ),
                called,
            ),
            event(
                r.VisitServed(
                    visit_id=vid,
                    service_type=service_type,
                    counter_id="1",
                    staff_id="teller-1",
                    outcome=_text("reception", "done"),
                    customer_ref=customer_ref,
                    waited_seconds=waited,
                    at=done,
                ),
                done,
            ),
            event(r.VisitLeft(visit_id=vid, at=done, reason=r.LeftReason.served), done),
        ]
        return out

    # ---------------------------------------------------------------------------- complaints

    def complaint(
        self,
        branch_id: str,
        at: datetime,
        *,
        customer_ref: str,
        category: c.Category = c.Category.waiting_time,
        nature: c.Nature = c.Nature.general,
        channel: c.Channel = c.Channel.in_branch,
        steps: str = "closed",
        escalate: bool = False,
        reopen: bool = False,
        hours_to_decide: float = 2.0,
        breach_ack: bool = False,
        complaint_id: UUID | None = None,
    ) -> list[Made]:
        """A case from receipt to ``steps``: received | acknowledged | classified | answered | closed."""
        cid = complaint_id or uuid4()
        sid = f"complaint-{cid}"
        t = at

        def add(event: EventData, when: datetime) -> None:
            out.append(self.make("complaint", sid, branch_id, event, when))

        out: list[Made] = []
        add(
            c.ComplaintReceived(
                complaint_id=cid,
                channel=channel,
                customer_ref=customer_ref,
                description=_text("complaint", "queue too long"),
                received_at=at,
            ),
            at,
        )
        if steps == "received":
            return out
        if breach_ack:
            t = at + timedelta(minutes=31)
            out.append(
                self._breach(
                    "complaint",
                    sid,
                    branch_id,
                    "complaint.acknowledge",
                    "complaint",
                    str(cid),
                    at,
                    at + timedelta(minutes=30),
                )
            )
        t = t + timedelta(minutes=10)
        add(c.ComplaintAcknowledged(complaint_id=cid, at=t, apology=_text("complaint", "sorry")), t)
        if steps == "acknowledged":
            return out
        t = t + timedelta(minutes=5)
        add(
            c.ComplaintClassified(
                complaint_id=cid,
                category=category,
                nature=nature,
                source="customer",
                urgency=c.Urgency.normal,
                at=t,
            ),
            t,
        )
        if escalate:
            add(
                c.ComplaintEscalated(
                    complaint_id=cid,
                    from_level=c.Level.lobby_manager,
                    to_level=c.Level.branch_head,
                    reason=_text("complaint", "needs the head"),
                    at=t,
                ),
                t,
            )
        if steps == "classified":
            return out
        solution = uuid4()
        decided = at + timedelta(hours=hours_to_decide)
        add(c.InvestigationStarted(complaint_id=cid, at=t), t)
        add(
            c.SolutionsProposed(
                complaint_id=cid,
                solutions=[
                    c.ProposedSolution(solution_id=solution, description=_text("complaint", "refund"))
                ],
                at=t,
            ),
            t,
        )
        add(c.SolutionAccepted(complaint_id=cid, solution_id=solution, at=t), t)
        add(c.SolutionImplemented(complaint_id=cid, solution_id=solution, at=decided), decided)
        add(
            c.ComplaintAnswered(
                complaint_id=cid, outcome=c.Outcome.upheld, answer=_text("complaint", "refunded"), at=decided
            ),
            decided,
        )
        if steps == "answered":
            return out
        closed = decided + timedelta(minutes=5)
        add(
            c.ComplaintClosed(
                complaint_id=cid, at=closed, result=_text("complaint", "refunded"), customer_satisfied=True
            ),
            closed,
        )
        if reopen:
            again = closed + timedelta(hours=1)
            add(
                c.ComplaintReopened(
                    complaint_id=cid, at=again, reason=_text("complaint", "not refunded"), cycle=2
                ),
                again,
            )
        return out

    # ------------------------------------------------------------------------ feedback, follow-up

    def survey(self, branch_id: str, at: datetime, *, customer_ref: str, score: int | None) -> list[Made]:
        """A survey after a visit, answered with ``score`` or (None) expired."""
        sid_uuid = uuid4()
        sid = f"survey-{sid_uuid}"
        event = self.stream("feedback", sid, branch_id)
        subject = f"visit:{uuid4()}"
        out = [
            event(
                fb.SurveyRequested(
                    survey_id=sid_uuid,
                    subject=subject,
                    customer_ref=customer_ref,
                    channel=fb.SurveyChannel.sms,
                    requested_at=at,
                    expires_at=at + timedelta(hours=72),
                ),
                at,
            )
        ]
        later = at + timedelta(hours=1)
        if score is None:
            out.append(event(fb.SurveyExpired(survey_id=sid_uuid, subject=subject, at=later), later))
        else:
            out.append(
                event(
                    fb.SurveyAnswered(
                        survey_id=sid_uuid, subject=subject, score=score, at=later, negative=score <= 2
                    ),
                    later,
                )
            )
        return out

    def followup(self, branch_id: str, at: datetime, *, overdue: bool, complete: bool = True) -> list[Made]:
        tid = uuid4()
        sid = f"followup-{tid}"
        event = self.stream("followup", sid, branch_id)
        due = at + timedelta(hours=24)
        out = [
            event(
                fu.FollowUpScheduled(
                    task_id=tid,
                    kind=fu.TaskKind.callback,
                    due_at=due,
                    reason="funds arrive",
                    subject="visit:x",
                    scheduled_at=at,
                ),
                at,
            )
        ]
        if overdue:
            out.append(
                self._breach("followup", sid, branch_id, "followup.due", "follow_up", str(tid), at, due)
            )
        if complete:
            done = due + timedelta(hours=1) if overdue else at + timedelta(hours=2)
            out.append(event(fu.FollowUpCompleted(task_id=tid, kind=fu.TaskKind.callback, at=done), done))
        return out

    def _breach(
        self,
        context: str,
        sid: str,
        branch: str,
        sla: str,
        subject_type: str,
        subject: str,
        started: datetime,
        due: datetime,
    ) -> Made:
        event = SlaBreached(
            deadline_id=uuid4(),
            sla=sla,
            policy="default",
            subject_type=subject_type,
            subject_id=subject,
            started_at=started,
            due_at=due,
            at=due,
        )
        return self.make(context, sid, branch, event, due)


# ------------------------------------------------------------------------------ bulk traffic


def branch_traffic(
    factory: EnvelopeFactory, branch_id: str, start: datetime, *, rng: random.Random, visits: int = 10
) -> list[Made]:
    """A plausible slice of a branch's day: visits (a few long waits), surveys mostly 4–5, a
    complaint now and then, follow-ups (some overdue)."""
    out: list[Made] = []
    for i in range(visits):
        at = start + timedelta(minutes=i * 3 + rng.random())
        waited = rng.choice((40, 90, 200, 400, 700, 1000, 2000)) * rng.uniform(0.8, 1.2)
        ref = synthetic_ref(f"cust-{rng.randrange(10**9)}")
        out += factory.visit(
            branch_id, at, waited=waited, customer_ref=ref, breach=waited > 1800, served=rng.random() > 0.05
        )
        if rng.random() < 0.7:
            score = rng.choices((5, 4, 3, 2, 1), weights=(70, 20, 6, 3, 1))[0]
            out += factory.survey(
                branch_id, at, customer_ref=ref, score=score if rng.random() < 0.8 else None
            )
        if rng.random() < 0.08:
            category = rng.choice(list(c.Category))
            out += factory.complaint(
                branch_id,
                at,
                customer_ref=ref,
                category=category,
                steps=rng.choice(("closed", "closed", "answered", "classified")),
                escalate=rng.random() < 0.1,
            )
        if rng.random() < 0.1:
            out += factory.followup(branch_id, at, overdue=rng.random() < 0.2)
    return out


def interleave(streams: Sequence[list[Made]]) -> Iterator[Made]:
    """Round-robin over several branches' event lists (each list keeps its order)."""
    iters = [iter(s) for s in streams]
    while iters:
        alive = []
        for it in iters:
            item = next(it, None)
            if item is not None:
                yield item
                alive.append(it)
        iters = alive


async def publish(producer: AIOKafkaProducer, items: Sequence[Made]) -> None:
    """Publish in order, keyed by branch (one branch's events stay ordered), and wait for all acks."""
    pending = [
        await producer.send(m.topic, m.envelope.model_dump_json().encode(), key=m.envelope.branch_id.encode())
        for m in items
    ]
    for fut in pending:
        await fut


def producer(bootstrap_servers: str, linger_ms: int = 5) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,
    )


def _text(context: TextContext, words: str) -> TextRef:
    """A synthetic event's free text: a reference, as real events carry (the words are nowhere)."""
    return TextRef(context=context, text_id=uuid4(), length=len(words))
