"""The aggregator never commits past a gap (shared.projection_gaps): a survey's v3 arriving before
its v2 (the broker lost v2; the relay republishes it later) is held, read again once v2 came by,
and counted — not skipped for good because the offsets moved on."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from uuid import UUID

import pytest

from services.simulator.envelopes import EnvelopeFactory
from shared.contracts import feedback as fb
from tests.integration.hq.steps import now, publish, read, wait_events
from tests.support.harness import Running

pytestmark = pytest.mark.integration


async def test_a_version_that_arrives_before_its_predecessor_is_counted_once_it_comes(hq: Running) -> None:
    f = EnvelopeFactory()
    t0 = now() - timedelta(hours=1)
    branch = f"sh-{uuid.uuid4().hex[:6]}-gap"
    requested = f.survey(branch, t0, customer_ref="cust_gap00001", score=5)[:1]
    sid = UUID(str(requested[0].envelope.data["survey_id"]))
    stream = f"survey-{sid}"
    f.versions[stream] = 1
    sms = fb.SurveyChannel.sms
    sent = f.make(
        "feedback", stream, branch, fb.SurveySent(survey_id=sid, channel=sms, message_id="m-1", at=t0), t0
    )
    gone = fb.SurveyDelivered(survey_id=sid, channel=sms, at=t0 + timedelta(minutes=1))
    delivered = f.make("feedback", stream, branch, gone, t0 + timedelta(minutes=1))
    await publish(hq, [*requested, delivered])  # v1, v3: v2 is missing
    await asyncio.sleep(1.5)  # the aggregator holds the partition at v3 and reads on
    await publish(hq, [sent])  # v2 comes by (republished)
    await wait_events(hq, [branch], 3)
    period = {"date_from": str(t0.date() - timedelta(days=1)), "date_to": str(t0.date() + timedelta(days=2))}
    kpis = (await read(hq, f"/hq/branches/{branch}", **period))["kpis"]
    assert kpis["surveys_delivered"] == 1
