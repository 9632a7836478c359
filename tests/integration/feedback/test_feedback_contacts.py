"""The survey sender resolves ``customer_ref`` → phone number at send time only (issue 7).

First against a resolver of the test's own (what the dispatcher does with "no number" and with a
vault that cannot answer), then for real: the reception service with its PII vault and the
feedback service running together, a customer registered through the vault API, a served visit,
the survey sent — with the number masked in the outbox, the resolution in the vault's audit trail,
and the raw number nowhere in feedback's tables, topic or logs.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.feedback.domain import survey_id_for
from shared.contacts import ContactResolutionError
from shared.pii import mask_name, mask_phone
from shared.runner import ServiceContext
from tests.integration.feedback.steps import branch, survey_view, wait_survey
from tests.integration.feedback.test_feedback_service import serve
from tests.integration.security.vault_steps import (
    ADMIN,
    audit,
    customer_visit,
    fake_people,
    register_customer,
    vault_env,
)
from tests.support.auth import bearer
from tests.support.harness import Running, running
from tests.support.kafka import read_topic
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

PHONE = "13912345678"


class FakeContacts:
    """The vault as the dispatcher sees it: a number, None, or an error, per customer_ref."""

    def __init__(self, answers: dict[str, list[str | Exception | None]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, str | None, UUID | None]] = []

    async def phone_for(
        self,
        customer_ref: str,
        *,
        purpose: str,
        branch_id: str | None = None,
        correlation_id: UUID | None = None,
    ) -> str | None:
        if customer_ref not in self.answers:  # another test's visit, still on the shared topic
            return None
        self.calls.append((customer_ref, purpose, branch_id, correlation_id))
        answer = self.answers[customer_ref].pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def dispatch_row(svc: Running, survey_id: str) -> Any:
    [row] = await svc.fetch("SELECT * FROM survey_dispatch WHERE survey_id = $1", UUID(survey_id))
    return row


async def test_no_number_is_a_recorded_skip_and_an_unreachable_vault_is_retried(
    database_url: str, kafka: Any
) -> None:
    bootstrap = kafka.bootstrap_servers
    b = branch()
    fake = FakeContacts(
        {
            "cust_ref_erased": [None],
            "cust_ref_0700": [ContactResolutionError("reception vault unreachable: ConnectError"), PHONE],
        }
    )

    def contacts(ctx: ServiceContext) -> FakeContacts:
        return fake

    async with running("feedback", database_url, bootstrap, contacts=contacts) as svc:
        svc.auth.allow(b)  # the surveys come from events
        _, erased_subject = await serve(bootstrap, b, customer_ref="cust_ref_erased")
        _, subject = await serve(bootstrap, b, customer_ref="cust_ref_0700")
        erased = await wait_survey(svc, erased_subject)
        survey = await wait_survey(svc, subject)

        # nobody to send to: not sent, never retried, the skip and its reason recorded
        async def skipped() -> Any:
            row = await dispatch_row(svc, erased["survey_id"])
            return row if row["given_up_at"] is not None else None

        row = await wait_until(skipped, 10, message="the skip recorded")
        assert row["skip_reason"] == "no_contact" and row["sent_at"] is None and row["attempts"] == 1
        assert "no phone number" in row["last_error"]
        view = await survey_view(svc, erased["survey_id"])
        assert view["status"] == "send_failed" and view["delivery"]["skip_reason"] == "no_contact"
        assert view["given_up_at"] is not None and view["delivery_failure"] == "no_contact"
        assert not await svc.fetch("SELECT 1 FROM sms_outbox WHERE survey_id = $1", UUID(erased["survey_id"]))

        # the vault could not answer: a failed attempt, retried with backoff, then sent
        async def failed_once() -> Any:
            row = await dispatch_row(svc, survey["survey_id"])
            return row if row["attempts"] >= 1 else None

        row = await wait_until(failed_once, 10, message="a failed resolution")
        assert row["sent_at"] is None and row["given_up_at"] is None
        assert "reception vault unreachable" in row["last_error"]
        retrying = await survey_view(svc, survey["survey_id"])
        assert retrying["status"] == "send_failed" and retrying["delivery_failure"] == "contact_unavailable"
        assert retrying["given_up_at"] is None and retrying["retry_at"] is not None
        svc.clock.advance(timedelta(minutes=1))
        await svc.parts.dispatcher.tick()  # (or the background round gets there first)
        sent = await wait_survey(svc, subject, "sent")
        assert sent["delivery"]["attempts"] == 2 and sent["delivery"]["sent_at"] is not None
        [outbox] = await svc.fetch("SELECT * FROM sms_outbox WHERE survey_id = $1", UUID(survey["survey_id"]))
        assert outbox["masked_phone"] == "139****5678" and PHONE not in str(dict(outbox))

        svc.clock.advance(timedelta(hours=1))
        await svc.parts.dispatcher.tick()  # the skipped one is not tried again
        assert [c[0] for c in fake.calls].count("cust_ref_erased") == 1
        purposes = {(ref, purpose, branch_id) for ref, purpose, branch_id, _ in fake.calls}
        assert purposes == {("cust_ref_erased", "survey_sms", b), ("cust_ref_0700", "survey_sms", b)}
        assert all(correlation is not None for *_, correlation in fake.calls)
        metrics = (await svc.http.get("/metrics")).text
        assert 'branchcare_feedback_surveys_skipped_total{reason="no_contact"}' in metrics


async def test_without_a_vault_configured_surveys_go_out_without_a_number(
    database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``RECEPTION_URL`` unset (feedback alone): today's behaviour, no resolution, no number."""
    monkeypatch.delenv("RECEPTION_URL", raising=False)
    bootstrap = kafka.bootstrap_servers
    b = branch()
    async with running("feedback", database_url, bootstrap) as svc:
        svc.auth.allow(b)
        assert svc.parts.dispatcher.contacts is None
        _, subject = await serve(bootstrap, b)
        survey = await wait_survey(svc, subject, "sent")
        [outbox] = await svc.fetch("SELECT * FROM sms_outbox WHERE survey_id = $1", UUID(survey["survey_id"]))
        assert outbox["masked_phone"] is None


async def test_reception_vault_and_feedback_together_the_number_is_resolved_at_send_time_only(
    database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bootstrap = kafka.bootstrap_servers
    caplog.set_level(logging.DEBUG)
    vault_env(monkeypatch)
    b = f"fbv-{uuid4().hex[:8]}"
    counter = bearer("cs-1", [b], ["counter_staff"])
    person, erased_person = fake_people(2)
    async with running("reception", database_url, bootstrap, staff=None) as reception:
        monkeypatch.setenv("RECEPTION_URL", reception.url)
        refs = []
        for someone in (person, erased_person):
            registered = await register_customer(reception, someone, b, headers=counter)
            assert registered.status_code == 201, registered.text
            refs.append(registered.json()["customer_ref"])
        ref, erased_ref = refs
        erasure = await reception.http.delete(
            f"/customers/{erased_ref}/pii", params={"reason": "request"}, headers=ADMIN
        )
        assert erasure.status_code == 200, erasure.text

        async with running("feedback", database_url, bootstrap) as feedback:
            assert feedback.parts.dispatcher.contacts is not None  # wired from RECEPTION_URL
            feedback.auth.allow(b)  # its surveys come from reception's events
            visit = await customer_visit(reception, ref, mask_name(person.name), branch=b)
            erased_visit = await customer_visit(
                reception, erased_ref, mask_name(erased_person.name), branch=b
            )
            survey = await wait_survey(feedback, f"visit:{visit}", "sent", timeout=30)
            erased_survey = await wait_survey(feedback, f"visit:{erased_visit}", timeout=30)

            # the local gateway recorded the handoff with the masked number only
            [outbox] = await feedback.fetch(
                "SELECT * FROM sms_outbox WHERE survey_id = $1", UUID(survey["survey_id"])
            )
            assert outbox["masked_phone"] == mask_phone(person.phone)
            assert outbox["customer_ref"] == ref and outbox["branch_id"] == b

            # erased (crypto-shredded) customer: not sent, not retried, the reason recorded
            async def skipped() -> dict[str, Any] | None:
                view = await survey_view(feedback, erased_survey["survey_id"])
                return view if (view["delivery"] or {}).get("given_up_at") else None

            view = await wait_until(skipped, 15, message="the erased customer's survey skipped")
            assert view["status"] == "send_failed" and view["delivery"]["skip_reason"] == "no_contact"

            # the vault audited each resolution: the feedback service, why, which branch, which visit
            [requested] = await feedback.fetch(
                "SELECT correlation_id FROM events WHERE type = 'SurveyRequested' AND stream_id = $1",
                f"survey-{survey_id_for(f'visit:{visit}')}",
            )
            resolutions = await audit(reception, kind="pii.resolve_contact", branch_id=b)
            by_ref = {e["resource_id"]: e for e in resolutions}
            assert len(resolutions) == 2, resolutions
            ok, refused = by_ref[ref], by_ref[erased_ref]
            assert ok["staff_id"] == "svc:feedback" and ok["status"] == 200 and ok["reason"] == "survey_sms"
            assert ok["correlation_id"] == str(requested["correlation_id"])
            assert refused["staff_id"] == "svc:feedback" and refused["status"] == 410

            # the raw number is in no table of feedback, on no feedback topic, in no log line
            needles = [person.phone, erased_person.phone]
            tables = await feedback.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'feedback'")
            assert {"sms_outbox", "survey_dispatch", "survey_facts", "events"} <= {
                t["tablename"] for t in tables
            }
            for table in tables:
                rows = await feedback.fetch(f'SELECT t::text AS row FROM feedback."{table["tablename"]}" t')
                dump = "\n".join(r["row"] for r in rows)
                assert not [n for n in needles if n in dump], (
                    f"a raw phone number in feedback.{table['tablename']}"
                )
            sent_id = survey["survey_id"].encode()
            records = await read_topic(
                bootstrap,
                "feedback.events.v1",
                until=lambda r: any(b"SurveySent" in x.value and sent_id in x.value for x in r),
                timeout=20,
            )
            assert not [r for r in records if any(n.encode() in r.value for n in needles)]
            logged = "\n".join(r.getMessage() for r in caplog.records)
            assert not [n for n in needles if n in logged]
