"""A simulated day at the branch, then a scan for raw PII everywhere it must never be.

Customers are generated per run (random names, mobile numbers and valid ID numbers; never in a
fixture file), registered in the vault and then served only by ``customer_ref`` and masked values:
visits, an express ticket, a complaint raised while waiting, a wait-SLA breach, an abandonment, a
phone call, PII reads, a contact resolution for the feedback service, a refused and a malformed
request, an erasure. Then every message of every topic (from the beginning, key, value, headers),
everything the service logged (DEBUG and up, libraries included), its ``/metrics`` text and every
table of its schema are searched for each raw name, phone and ID number in every spelling.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.contacts import VaultContacts
from shared.service_identity import service_key
from shared.topology import all_topics
from tests.integration.security.vault_steps import (
    ADMIN,
    COUNTER,
    COUNTER_OTHER,
    LOBBY,
    OTHER,
    OWN,
    Person,
    customer_visit,
    fake_people,
    read_pii,
    staff_post,
    vault_env,
)
from tests.support.auth import secret as jwt_secret
from tests.support.harness import Running, running
from tests.support.kafka import read_topic

RECEPTION_TOPIC = "reception.events.v1"


class Capture(logging.Handler):
    """Every record, formatted the way a service writes its log (tracebacks included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def read_every_topic(bootstrap: str, topics: Sequence[str], timeout: float = 30.0) -> list[Any]:
    """Every record of ``topics`` from the beginning up to their end offsets now (no group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[ConsumerRecord] = []  # type: ignore[type-arg]
    try:
        parts: list[TopicPartition] = []
        for topic in topics:
            found = consumer.partitions_for_topic(topic)
            for _ in range(100):
                if found:
                    break
                await consumer.topics()
                await asyncio.sleep(0.05)
                found = consumer.partitions_for_topic(topic)
            assert found, f"topic {topic} has no partitions"
            parts += [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while [tp for tp in parts if await consumer.position(tp) < end[tp]]:
            assert loop.time() < deadline, "could not read every topic to its end in time"
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def leaks(text: str, people: Iterable[Person]) -> list[str]:
    """Which kinds of raw data of which person (by index) ``text`` contains; never the values."""
    found = []
    for i, person in enumerate(people):
        for needle in person.needles():
            if needle in text:
                kind = "phone" if needle == person.phone else "name"
                if needle.upper() == person.id_number:
                    kind = "id"
                found.append(f"person {i}: {kind}")
    return found


def record_text(record: Any) -> str:
    parts = [
        (record.key or b"").decode("utf-8", "replace"),
        (record.value or b"").decode("utf-8", "replace"),
        *(f"{k}={v.decode('utf-8', 'replace')}" for k, v in record.headers or ()),
    ]
    return "\n".join(parts)


def _event_id(record: Any) -> str | None:
    try:
        return str(json.loads(record.value)["event_id"])
    except (ValueError, KeyError, TypeError):
        return None


async def simulate_a_day(svc: Running, people: list[Person]) -> dict[str, str]:
    """Returns each registered person's ref, by name index."""
    refs: dict[str, str] = {}
    masked: dict[str, str] = {}

    async def register(i: int, branch: str = OWN, **fields: str) -> None:
        person = people[i]
        body = fields or person.body()
        headers = COUNTER if branch == OWN else COUNTER_OTHER
        response = await svc.http.post(f"/branches/{branch}/customers", json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        refs[str(i)] = response.json()["customer_ref"]
        masked[str(i)] = response.json()["masked"]["name"]

    for i in (0, 3, 4, 5):
        await register(i)
    await register(1, name=people[1].name, phone=people[1].phone)  # phone only
    await register(2, branch=OTHER)
    await register(3)  # again: idempotent
    await register(3, branch=OTHER)

    # a malformed registration and a refused read: their error paths must not leak either
    bad = {**people[1].body(), "phone": people[1].phone[:-1], "nickname": people[1].name}
    assert (await svc.http.post(f"/branches/{OWN}/customers", json=bad, headers=COUNTER)).status_code == 422
    assert (await read_pii(svc, refs["0"], headers=COUNTER_OTHER)).status_code == 403

    # the day's visits
    await customer_visit(svc, refs["0"], masked["0"])
    await customer_visit(svc, refs["3"], masked["3"])
    await customer_visit(svc, refs["4"], masked["4"], complaint=True)
    await customer_visit(svc, refs["5"], masked["5"])
    await customer_visit(svc, refs["2"], masked["2"], branch=OTHER, express=True)
    waiting = await customer_visit(svc, refs["0"], masked["0"], leave=False)
    svc.clock.advance(timedelta(minutes=31))
    assert await svc.app.tick() >= 1  # at risk, then breached
    await staff_post(svc, f"/visits/{waiting}/abandon")

    # a phone call from a known customer
    ringing = {"customer_ref": refs["1"], "masked_number": "138****0000"}
    call = (await staff_post(svc, f"/branches/{OWN}/calls", ringing))["call_id"]
    await staff_post(svc, f"/calls/{call}/answer", {"rings": 2})
    await staff_post(svc, f"/calls/{call}/end", {"purpose": "deposit_demand", "outcome": "resolved"})

    # PII read at the counter, a contact resolution for a survey, an erasure on request
    assert (await read_pii(svc, refs["0"], headers=COUNTER)).status_code == 200
    update = await read_pii(svc, refs["3"], headers=LOBBY, reason="customer updates the phone number")
    assert update.status_code == 200
    async with VaultContacts(svc.url, service_key(jwt_secret())) as contacts:
        assert await contacts.phone_for(refs["4"], purpose="survey_sms", branch_id=OWN) == people[4].phone
    erased = await svc.http.delete(f"/customers/{refs['5']}/pii", headers=ADMIN)
    assert erased.status_code == 200
    assert (await read_pii(svc, refs["5"])).status_code == 410
    return refs


async def test_a_simulated_day_leaks_no_pii_to_kafka_logs_metrics_or_tables(
    database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault_env(monkeypatch)
    people = fake_people(6)
    capture = Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        async with running("reception", database_url, kafka.bootstrap_servers, staff=None) as svc:
            refs = await simulate_a_day(svc, people)
            stored = {str(r["event_id"]) for r in await svc.fetch("SELECT event_id FROM events")}
            assert len(stored) > 40

            def all_published(records: list[Any]) -> bool:
                return stored <= {_event_id(r) for r in records}

            await read_topic(kafka.bootstrap_servers, RECEPTION_TOPIC, until=all_published, timeout=30)
            metrics = (await svc.http.get("/metrics")).text
            tables = [
                r["table_name"]
                for r in await svc.fetch(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'reception' AND table_type = 'BASE TABLE'"
                )
            ]
            dumps = {
                t: "\n".join(
                    r["j"] for r in await svc.fetch(f'SELECT row_to_json(x)::text AS j FROM "{t}" x')
                )
                for t in tables
            }
    finally:
        root.removeHandler(capture)
        root.setLevel(level)

    records = await read_every_topic(kafka.bootstrap_servers, all_topics())
    ours = [r for r in records if _event_id(r) in stored]
    # the scan is not vacuous: the whole day is on Kafka, under pseudonyms and masks
    assert {_event_id(r) for r in ours} == stored
    assert {r.topic for r in ours} == {RECEPTION_TOPIC}
    assert all(any(ref in record_text(r) for r in ours) for ref in refs.values())
    for record in records:
        found = leaks(record_text(record), people)
        assert not found, f"{record.topic}[{record.partition}]@{record.offset}: {found}"

    log_text = "\n".join(capture.lines)
    assert "authorization denied" in log_text and len(capture.lines) > 10
    assert not leaks(log_text, people), leaks(log_text, people)

    assert "branchcare_audit_writes_total" in metrics and "branchcare_events_appended_total" in metrics
    assert not leaks(metrics, people), leaks(metrics, people)

    assert {"events", "visits", "audit_log", "vault_customers", "vault_pii"} <= set(dumps)
    assert refs["0"] in dumps["visits"] and refs["0"] in dumps["audit_log"]
    for table, dump in dumps.items():
        assert not leaks(dump, people), (table, leaks(dump, people))
