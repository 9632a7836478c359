"""After a duplicate merge, one customer's follow-ups under both refs are one history
(``GET /branches/{b}/customers/{ref}/follow-ups``), whichever ref is asked; a reversal separates
them; ``branchcare rebuild followup customer_aliases`` reproduces it from the topic. In-process
service, real PostgreSQL, real broker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from shared.cli.__main__ import build_parser
from shared.contracts.complaint import Channel, ComplaintReceived
from shared.contracts.customers import CustomerMergeReversed, CustomersMerged, MergeBasis, customer_stream
from shared.contracts.refs import synthetic_ref
from tests.integration.followup.steps import T0, branch, wait_tasks
from tests.support.events import Stream
from tests.support.harness import running
from tests.support.kafka import publish
from tests.support.services import wait_until

pytestmark = pytest.mark.integration


async def test_a_merged_customers_follow_ups_are_one_history_and_a_rebuild_reproduces_it(
    database_url: str, kafka: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    by_phone, by_id = synthetic_ref(f"{b}-phone"), synthetic_ref(f"{b}-id")
    async with running("followup", database_url, bootstrap) as svc:
        for ref in (by_phone, by_id):
            complaint_id = uuid4()
            received = ComplaintReceived(
                complaint_id=complaint_id, channel=Channel.in_branch, customer_ref=ref, received_at=T0
            )
            await publish(
                bootstrap, "complaint.events.v1", Stream(f"complaint-{complaint_id}", b, at=T0).next(received)
            )
        await wait_tasks(svc, b, 2)

        async def history(ref: str) -> dict[str, Any]:
            response = await svc.http.get(f"/branches/{b}/customers/{ref}/follow-ups")
            assert response.status_code == 200, response.text
            return response.json()  # type: ignore[no-any-return]

        async def counted(ref: str, n: int) -> dict[str, Any]:
            async def seen() -> dict[str, Any] | None:
                found = await history(ref)
                return found if found["count"] == n else None

            return await wait_until(seen, 15, message=f"{n} follow-up(s) of {ref}")

        assert (await history(by_phone))["count"] == 1
        vault = Stream(customer_stream(by_id), b, at=T0)
        merge = CustomersMerged(survivor_ref=by_id, merged_ref=by_phone, basis=MergeBasis.same_phone, at=T0)
        await publish(bootstrap, "reception.events.v1", vault.next(merge))
        merged = await counted(by_phone, 2)
        assert sorted(merged["refs"]) == sorted([by_phone, by_id])
        assert {t["customer_ref"] for t in merged["tasks"]} == {by_phone, by_id}  # rows keep their refs
        assert (await history(by_id))["count"] == 2

        # a rebuild from the topic gives the same answer
        await svc.fetch("DELETE FROM customer_aliases")
        assert (await history(by_phone))["count"] == 1
        args = build_parser().parse_args(
            ["rebuild", "followup", "customer_aliases", "--database-url", database_url,
             "--bootstrap-servers", bootstrap]
        )  # fmt: skip
        assert await args.handler(args) == 0, capsys.readouterr()
        assert (await history(by_phone))["count"] == 2

        later = T0 + timedelta(minutes=5)
        reversal = CustomerMergeReversed(survivor_ref=by_id, merged_ref=by_phone, at=later)
        await publish(bootstrap, "reception.events.v1", vault.next(reversal))
        await counted(by_phone, 1)
        assert (await history(by_id))["count"] == 1
