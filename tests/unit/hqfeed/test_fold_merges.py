"""The vault's duplicate merges reach HQ as pseudonyms, the branch and the time — no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from services.hq.projections.changes import fold_contract
from services.hqfeed.fold import fold_batch
from services.hqfeed.publish import contract_events
from services.simulator.envelopes import EnvelopeFactory
from shared.contracts.customers import CustomerMergeReversed, CustomersMerged, MergeBasis, customer_stream
from shared.contracts.hqfeed import BranchKpisDelta, CustomerRefsMerged, CustomerRefsMergeReversed
from shared.contracts.refs import synthetic_ref
from shared.customer_aliases import AliasFact
from shared.envelope import Envelope

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
A, B = synthetic_ref("fold-merge-a"), synthetic_ref("fold-merge-b")


def tz(_: str) -> tzinfo:
    return ZoneInfo("Asia/Shanghai")


def test_a_merge_and_its_reversal_become_contract_events_of_their_branches_in_order() -> None:
    f = EnvelopeFactory()
    merge = CustomersMerged(survivor_ref=A, merged_ref=B, basis=MergeBasis.confirmed_by_staff, at=T0)
    undo = CustomerMergeReversed(survivor_ref=A, merged_ref=B, at=T0 + timedelta(hours=1))
    events = [
        f.make("reception", customer_stream(A), "b001", merge, T0).envelope,
        f.make("reception", customer_stream(A), "b002", undo, T0 + timedelta(hours=1)).envelope,
    ]
    changes = fold_batch(events, facts={}, open_breaches=(), tz_of=tz)
    out = contract_events(changes, {})
    assert [type(e) for e in out["b001"]] == [CustomerRefsMerged, BranchKpisDelta]
    assert [type(e) for e in out["b002"]] == [CustomerRefsMergeReversed, BranchKpisDelta]
    merged = out["b001"][0].model_dump(mode="json")
    assert merged == {
        "branch_id": "b001",
        "survivor_customer_ref": A,
        "merged_customer_ref": B,
        "at": "2026-03-02T02:00:00Z",
    }  # no basis, no reason: those stay in the branch's vault and audit trail

    # HQ reads them back as alias facts, in order
    contract = [
        Envelope(**{**e.model_dump(), "type": d.event_type, "data": d.model_dump(mode="json")})
        for e, d in zip(events, (out["b001"][0], out["b002"][0]), strict=True)
    ]
    hq = fold_contract(contract, slot=timedelta(minutes=5))
    assert hq.aliases == [AliasFact(True, B, A, T0), AliasFact(False, B, A, T0 + timedelta(hours=1))]
