"""Given / when / then helpers for the complaint decider (pure: no infrastructure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from services.complaint import domain as d
from shared.contracts.complaint import Category, Channel, Nature, Outcome, ProposedSolution, Urgency
from tests.support.decider import Scenario, given, recorded
from tests.support.texts import ref

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
CID = UUID("00000000-0000-4000-8000-00000000c0de")
S1 = UUID("00000000-0000-4000-8000-000000000001")
S2 = UUID("00000000-0000-4000-8000-000000000002")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def receive(channel: Channel = Channel.phone_hotline, **kw: object) -> d.ReceiveComplaint:
    args: dict[str, object] = {
        "complaint_id": CID,
        "channel": channel,
        "customer_ref": "cust_ref_0001",
        "description": ref("waited 40 minutes and nobody explained why"),
        "received_at": T0,
    }
    args.update(kw)
    return d.ReceiveComplaint(**args)  # type: ignore[arg-type]


def classify(nature: Nature = Nature.general, urgency: Urgency = Urgency.normal, t: float = 5) -> d.Classify:
    return d.Classify(at(t), Category.waiting_time, nature, "walk_in", urgency)


def propose(*ids: UUID, t: float = 20, compensation: str | None = None) -> d.ProposeSolutions:
    return d.ProposeSolutions(
        at(t),
        tuple(
            ProposedSolution(
                solution_id=i,
                description=ref(f"solution {i}"),
                compensation=Decimal(compensation) if compensation else None,
            )
            for i in ids or (S1,)
        ),
    )


def path_to(status: d.Status, nature: Nature = Nature.general) -> list[d.Command]:
    """Commands that take a fresh case to ``status`` along the main line."""
    steps: list[tuple[d.Status, d.Command]] = [
        (d.Status.received, receive()),
        (d.Status.acknowledged, d.Acknowledge(at(2), ref("we are sorry"))),
        (d.Status.classified, classify(nature)),
        (d.Status.investigating, d.StartInvestigation(at(10))),
        (d.Status.solutions_proposed, propose(S1, S2)),
        (d.Status.solution_accepted, d.AcceptSolution(at(30), S1)),
        (d.Status.implemented, d.ImplementSolution(at(40), S1)),
        (d.Status.answered, d.Answer(at(50), ref("fee refunded"), Outcome.upheld)),
        (
            d.Status.closed,
            d.Close(
                at(60), ref("refunded and apologised"), True, root_cause=ref("rc"), remediation=ref("fix")
            ),
        ),
    ]
    commands: list[d.Command] = []
    for reached, command in steps:
        commands.append(command)
        if reached is status:
            return commands
    raise ValueError(status)


DECIDER = d.make_decider()


def case_at(
    status: d.Status, nature: Nature = Nature.general, rules: d.ComplaintRules = d.DEFAULT_RULES
) -> Scenario[d.Command, d.Complaint]:
    """A case taken to ``status`` along the main line, ready for the command under test."""
    decider = d.make_decider(rules)
    return given(decider, *recorded(decider, *path_to(status, nature)))


def new_case(rules: d.ComplaintRules = d.DEFAULT_RULES) -> Scenario[d.Command, d.Complaint]:
    """No complaint yet."""
    return given(d.make_decider(rules))


def new_id() -> UUID:
    return uuid4()
