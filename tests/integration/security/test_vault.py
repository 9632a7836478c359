"""The customer PII vault over real HTTP, PostgreSQL and Kafka: registration and pseudonyms,
encryption at rest, who may read (and that every read is audited), erasure by crypto-shredding
with the event history still replayable, fail-closed integrity, contact resolution for the
feedback service, the command audit trail and master-key rotation."""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio

from services.reception import decider as v
from services.reception.projections import VisitRows
from services.reception.vault import Vault
from services.reception.vault_api import start_vault
from shared.auth import issue_token
from shared.clock import FixedClock
from shared.contacts import ContactResolutionError, VaultContacts
from shared.crypto import KeyConfigError, MasterKeyring
from shared.pii import customer_ref, mask_id_number, mask_name, mask_phone, pii_key_from_env, scrub_text
from shared.registry import REGISTRY
from shared.service_identity import issue_service_token, service_key
from tests.integration.security.vault_steps import (
    ADMIN,
    COUNTER,
    COUNTER_OTHER,
    HEAD,
    HQ,
    LOBBY,
    OTHER,
    OWN,
    T0,
    audit,
    bearer,
    customer_visit,
    fake_people,
    read_pii,
    ref_of,
    register_customer,
    vault_env,
)
from tests.support.auth import secret as jwt_secret
from tests.support.harness import Running, build_app, running
from tests.support.kafka import envelopes, read_topic

REF_PATTERN = r"^[A-Za-z0-9_\-]{32}$"


@pytest_asyncio.fixture(loop_scope="session")
async def svc(database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    vault_env(monkeypatch)
    async with running("reception", database_url, kafka.bootstrap_servers, staff=None) as started:
        yield started


def contacts(svc: Running, service: str = "feedback", secret: str | None = None) -> VaultContacts:
    """A client of the internal route; by default with the service key the app derives from the
    run's ``BRANCHCARE_JWT_SECRET`` (no separate service secret is set)."""
    return VaultContacts(svc.url, service_key(secret or jwt_secret()), service=service)


# ---------------------------------------------------------------------------------- register


async def test_registration_answers_a_stable_ref_and_masked_values_only(svc: Running) -> None:
    person, phone_only = fake_people(2)
    first = await register_customer(svc, person)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["created"] is True
    assert body["masked"] == {
        "name": mask_name(person.name),
        "phone": mask_phone(person.phone),
        "id_number": mask_id_number(person.id_number),
    }
    ref = body["customer_ref"]
    assert ref == customer_ref(person.id_number, pii_key_from_env())
    assert first.headers["cache-control"] == "no-store"
    assert not any(n in first.text for n in person.needles())

    again = await register_customer(svc, person)
    assert again.status_code == 200 and again.json() == {**body, "created": False}

    # the same person, spelled as people type it, and at another branch: the same reference
    spaced = {
        "name": f" {person.name} ",
        "phone": f"+86 {person.phone[:3]} {person.phone[3:7]}-{person.phone[7:]}",
        "id_number": person.id_number.lower(),
    }
    elsewhere = await svc.http.post(f"/branches/{OTHER}/customers", json=spaced, headers=COUNTER_OTHER)
    assert elsewhere.status_code == 200 and elsewhere.json()["customer_ref"] == ref

    by_phone = await svc.http.post(
        f"/branches/{OWN}/customers",
        json={"name": phone_only.name, "phone": phone_only.phone},
        headers=LOBBY,
    )
    assert by_phone.status_code == 201
    assert by_phone.json()["customer_ref"] == customer_ref(phone_only.phone, pii_key_from_env())
    assert by_phone.json()["masked"]["id_number"] is None

    rows = await svc.fetch("SELECT branch_id FROM vault_customer_branches WHERE customer_ref = $1", ref)
    assert sorted(r["branch_id"] for r in rows) == [OWN, OTHER]


async def test_only_floor_staff_of_the_branch_register(svc: Running) -> None:
    (person,) = fake_people(1)
    assert (await register_customer(svc, person, headers=COUNTER_OTHER)).status_code == 403
    assert (await register_customer(svc, person, headers=HQ)).status_code == 403
    assert (await register_customer(svc, person, headers=ADMIN)).status_code == 403
    assert (await register_customer(svc, person, headers={})).status_code == 401
    assert await svc.fetch("SELECT * FROM vault_customers") == []


async def test_bad_input_is_refused_without_echoing_it(svc: Running) -> None:
    (person,) = fake_people(1)
    last = person.id_number[-1]
    typo = person.id_number[:-1] + ("0" if last != "0" else "1")  # the check character no longer matches
    changes: list[dict[str, Any]] = [
        {"nickname": "x"},
        {f"x{person.phone}": "unknown field named like a number"},
        {"phone": "2" + person.phone[1:]},
        {"phone": person.phone[:-1]},
        {"id_number": typo},
        {"id_number": person.id_number[:-1]},
        {"name": "x" * 51},
        {"name": "Robert'); DROP TABLE vault_pii;--"},
        {"name": "12345"},
        {"name": "\u0000abc"},
        {"phone": None, "id_number": None},
        {"name": 42},
    ]
    for change in changes:
        body: dict[str, Any] = {**person.body(), **change}
        response = await svc.http.post(f"/branches/{OWN}/customers", json=body, headers=COUNTER)
        assert response.status_code == 422, (change, response.text)
        assert not any(n in response.text for n in person.needles()), response.text
        for value in change.values():
            if isinstance(value, str) and len(value) > 3:
                assert value not in response.text, response.text
    assert await svc.fetch("SELECT * FROM vault_customers") == []


async def test_malformed_and_oversized_bodies_are_4xx(svc: Running) -> None:
    url = f"/branches/{OWN}/customers"
    headers = {**COUNTER, "content-type": "application/json"}
    assert (await svc.http.post(url, content=b"{not json", headers=headers)).status_code == 422
    assert (await svc.http.post(url, content=b"[1, 2]", headers=headers)).status_code == 422
    assert (await svc.http.post(url, content=b"", headers=headers)).status_code == 422
    big = b'{"name": "' + b"a" * 5000 + b'"}'
    assert (await svc.http.post(url, content=big, headers=headers)).status_code == 413
    assert await svc.fetch("SELECT * FROM vault_customers") == []


# ---------------------------------------------------------------------------------- at rest


def _bytes_of(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


async def test_pii_is_encrypted_at_rest(svc: Running) -> None:
    (person,) = fake_people(1)
    ref = await ref_of(svc, person)
    raw = [n.encode() for n in person.needles()]
    for table in ("vault_customers", "vault_pii", "vault_data_keys", "vault_customer_branches"):
        rows = await svc.fetch(f"SELECT * FROM {table} WHERE customer_ref = $1", ref)
        assert rows, table
        for row in rows:
            for column, value in dict(row).items():
                blob = _bytes_of(value)
                assert not any(n in blob for n in raw), f"{table}.{column} holds plaintext"
    pii = (await svc.fetch("SELECT * FROM vault_pii WHERE customer_ref = $1", ref))[0]
    assert pii["name_ct"][0] == 1 and len(pii["name_ct"]) >= 1 + 12 + 16 + len(person.name.encode())
    key = (await svc.fetch("SELECT * FROM vault_data_keys WHERE customer_ref = $1", ref))[0]
    assert key["master_key_id"] == "mk-test" and len(key["wrapped_key"]) > 32

    # and nowhere else in the service's schema either (events, read models, audit)
    tables = await svc.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'reception' "
        "AND table_type = 'BASE TABLE'"
    )
    for t in tables:
        rows = await svc.fetch(f'SELECT row_to_json(x)::text AS j FROM "{t["table_name"]}" x')
        for row in rows:
            assert not any(n in row["j"] for n in person.needles()), t["table_name"]

    read = await read_pii(svc, ref)
    assert read.status_code == 200, read.text
    assert read.json()["name"] == person.name
    assert read.json()["phone"] == person.phone and read.json()["id_number"] == person.id_number
    assert read.headers["cache-control"] == "no-store"


# ------------------------------------------------------------------------------------ reading


async def test_reading_needs_a_reason_a_floor_role_and_the_customers_branch(svc: Running) -> None:
    (person,) = fake_people(1)
    ref = await ref_of(svc, person)
    url = f"/branches/{OWN}/customers/{ref}/pii"
    assert (await svc.http.get(url, headers=COUNTER)).status_code == 422  # no reason
    assert (await svc.http.get(url, params={"reason": "ab"}, headers=COUNTER)).status_code == 422
    assert (await svc.http.get(url, params={"reason": "x" * 201}, headers=COUNTER)).status_code == 422
    for control in ("why\x00", "why\x1b[2J", "why\x85 not"):  # C0 and C1: a free text (issue 15)
        refused = await svc.http.get(url, params={"reason": control}, headers=COUNTER)
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "reason"]
    assert (await read_pii(svc, ref, headers=COUNTER_OTHER)).status_code == 403
    assert (await read_pii(svc, ref, headers=HQ)).status_code == 403
    assert (await read_pii(svc, ref, headers=ADMIN)).status_code == 403
    assert (await read_pii(svc, ref, headers={})).status_code == 401
    assert (await read_pii(svc, "not-a-ref!")).status_code == 422

    # staff of another branch, in their own branch: the customer is not theirs (404, no data)
    foreign = await read_pii(svc, ref, branch=OTHER, headers=COUNTER_OTHER)
    assert foreign.status_code == 404 and person.name not in foreign.text
    # until the customer registers there
    await ref_of(svc, person, branch=OTHER)
    assert (await read_pii(svc, ref, branch=OTHER, headers=COUNTER_OTHER)).status_code == 200

    for headers in (COUNTER, LOBBY, HEAD):
        ok = await read_pii(svc, ref, headers=headers)
        assert ok.status_code == 200 and ok.json()["id_number"] == person.id_number
    missing = await read_pii(svc, "A" * 32)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_every_read_is_audited_with_who_when_branch_correlation_and_reason(svc: Running) -> None:
    (person,) = fake_people(1)
    (stranger,) = fake_people(1)
    ref = await ref_of(svc, person)
    correlation = str(uuid.uuid4())
    # staff type the customer's name into the reason: the trail keeps it masked, like a number
    reason = f"{person.name} disputes a transfer, called from {stranger.phone}"
    headers = {**LOBBY, "X-Correlation-Id": correlation}
    assert (await read_pii(svc, ref, headers=headers, reason=reason)).status_code == 200
    assert (await read_pii(svc, ref, branch=OTHER, headers=COUNTER_OTHER)).status_code == 404

    reads = await audit(svc, kind="pii.read")
    assert [(e["staff_id"], e["status"]) for e in reads] == [("cs-b002", 404), ("lm-b001", 200)]
    mine = reads[1]
    assert mine["branch_id"] == OWN and mine["resource_id"] == ref
    assert mine["correlation_id"] == correlation and mine["at"] == T0.isoformat()
    assert mine["authenticated"] is True and mine["service"] == "reception"
    masked_reason = f"{mask_name(person.name)} disputes a transfer, called from {scrub_text(stranger.phone)}"
    assert mine["reason"] == masked_reason

    assert [e["resource_id"] for e in await audit(svc, staff_id="lm-b001", kind="pii.read")] == [ref]
    assert len(await audit(svc, branch_id=OTHER, kind="pii.read")) == 1
    assert await audit(svc, correlation_id=correlation) == [mine]
    later = (T0 + timedelta(minutes=1)).isoformat()
    assert await audit(svc, **{"from": later}) == []
    assert len(await audit(svc, to=later, limit=1)) == 1

    # only an HQ-wide admin reads the trail; nobody rewrites it
    assert (await svc.http.get("/audit", headers=HQ)).status_code == 403
    assert (await svc.http.get("/audit", headers=HEAD)).status_code == 403
    regional_admin = bearer("admin-2", "admin", [OWN])
    assert (await svc.http.get("/audit", headers=regional_admin)).status_code == 403
    assert (await svc.http.get("/audit")).status_code == 401
    with pytest.raises(Exception, match="append-only"):
        await svc.execute("UPDATE audit_log SET staff_id = 'someone-else'")
    with pytest.raises(Exception, match="append-only"):
        await svc.execute("DELETE FROM audit_log")


# ---------------------------------------------------------------------------------- commands


async def test_commands_are_audited_by_the_middleware(svc: Running) -> None:
    (person,) = fake_people(1)
    correlation = str(uuid.uuid4())
    created = await register_customer(svc, person, headers={**COUNTER, "X-Correlation-Id": correlation})
    ref = created.json()["customer_ref"]
    assert created.headers["x-correlation-id"] == correlation
    assert (await svc.http.delete(f"/customers/{ref}/pii", headers=HEAD)).status_code == 403
    assert (await svc.http.delete(f"/customers/{ref}/pii")).status_code == 401
    unmatched = await svc.http.post(f"/customers/{person.phone}/anything", headers=COUNTER)
    assert unmatched.status_code in (404, 405)

    commands = await audit(svc, kind="command")
    rows = [(e["method"], e["route"], e["staff_id"], e["status"]) for e in reversed(commands)]
    assert rows == [
        ("POST", "/branches/{branch_id}/customers", "cs-b001", 201),
        ("DELETE", "/customers/{customer_ref}/pii", "bh-b001", 403),
        ("DELETE", "/customers/{customer_ref}/pii", None, 401),
        ("POST", None, None, unmatched.status_code),
    ]
    register = commands[-1]
    assert register["branch_id"] == OWN and register["resource_id"] == ref
    assert register["correlation_id"] == correlation and register["action"] == "pii.register"
    assert commands[-2]["action"] == "pii.erase" and commands[-2]["resource_id"] == ref
    # never the raw path, body or query
    text = str(await svc.fetch("SELECT row_to_json(a)::text FROM audit_log a"))
    assert not any(n in text for n in person.needles())


async def test_commands_are_attributed_to_the_token_and_events_share_the_correlation(
    database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit row and the events of a command name the token's staff id (a header naming
    someone else changes nothing), and carry the correlation id the audit assigned."""
    vault_env(monkeypatch)
    async with running("reception", database_url, kafka.bootstrap_servers, staff=None) as svc:
        http = svc.http
        headers = {**LOBBY, "X-Staff-Id": "mallory"}
        arrived = await http.post(f"/branches/{OWN}/visits", json={}, headers=headers)
        assert arrived.status_code == 201
        visit = arrived.json()["visit_id"]
        greeted = await http.post(f"/visits/{visit}/greet", headers=headers)
        assert greeted.status_code == 200
        anonymous = await http.post(f"/visits/{visit}/greet", headers={"X-Staff-Id": "lm-b001"})
        assert anonymous.status_code == 401
        rows = await svc.fetch("SELECT * FROM audit_log ORDER BY audit_id")
        events = await svc.fetch("SELECT correlation_id, actor FROM events ORDER BY position")
    assert [(r["route"], r["staff_id"], r["authenticated"], r["status"]) for r in rows] == [
        ("/branches/{branch_id}/visits", "lm-b001", True, 201),
        ("/visits/{visit_id}/greet", "lm-b001", True, 200),
        ("/visits/{visit_id}/greet", None, False, 401),
    ]
    assert rows[0]["branch_id"] == OWN and rows[1]["resource_id"] == visit and rows[1]["branch_id"] == OWN
    assert str(rows[0]["correlation_id"]) == arrived.headers["x-correlation-id"]
    assert events[0]["correlation_id"] == rows[0]["correlation_id"]
    assert events[-1]["correlation_id"] == rows[1]["correlation_id"]
    assert {e["actor"] for e in events} == {"lm-b001"}


# ----------------------------------------------------------------------------------- erasure


async def test_erasure_shreds_the_keys_and_the_history_still_replays(svc: Running, kafka: Any) -> None:
    person, other = fake_people(2)
    registered = (await register_customer(svc, person)).json()
    ref, masked = registered["customer_ref"], registered["masked"]
    other_ref = await ref_of(svc, other)
    visit = await customer_visit(svc, ref, masked["name"], complaint=True)
    assert (await read_pii(svc, ref)).status_code == 200

    for headers in (COUNTER, LOBBY, HEAD, HQ, bearer("admin-2", "admin", [OWN])):
        assert (await svc.http.delete(f"/customers/{ref}/pii", headers=headers)).status_code == 403
    assert (await svc.http.delete(f"/customers/{'Z' * 32}/pii", headers=ADMIN)).status_code == 404

    events_before = await svc.fetch("SELECT event_id, type, data::text FROM events ORDER BY position")
    visits_before = await svc.fetch("SELECT * FROM visits ORDER BY visit_id")
    audit_before = await audit(svc, limit=1000)

    erased = await svc.http.delete(
        f"/customers/{ref}/pii", params={"reason": f"request of {person.name}"}, headers=ADMIN
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["already_erased"] is False and erased.json()["masked"] == masked
    again = await svc.http.delete(f"/customers/{ref}/pii", headers=ADMIN)
    assert again.status_code == 200 and again.json()["already_erased"] is True

    gone = await read_pii(svc, ref)
    assert gone.status_code == 410
    assert gone.json()["code"] == "erased" and "erased" in gone.json()["detail"]
    assert gone.json()["masked"] == masked and gone.json()["erased_at"] == T0.isoformat()
    assert person.name not in gone.text
    assert await svc.fetch("SELECT * FROM vault_data_keys WHERE customer_ref = $1", ref) == []
    assert await svc.fetch("SELECT * FROM vault_pii WHERE customer_ref = $1", ref) == []
    kept = (await svc.fetch("SELECT * FROM vault_customers WHERE customer_ref = $1", ref))[0]
    assert kept["masked_name"] == masked["name"] and kept["erased_by"] == "admin-1"
    async with contacts(svc) as resolver:
        assert await resolver.phone_for(ref, purpose="survey_sms") is None
    assert (await read_pii(svc, other_ref)).status_code == 200  # nobody else is affected

    # the trail is intact and records the erasure
    audit_after = await audit(svc, limit=1000)
    assert audit_after[-len(audit_before) :] == audit_before
    erasures = [e for e in audit_after if e["kind"] == "pii.erase"]
    assert [(e["staff_id"], e["status"], e["reason"]) for e in erasures] == [
        ("admin-1", 200, None),
        ("admin-1", 200, f"request of {mask_name(person.name)}"),  # the trail outlives the name
        ("admin-1", 404, None),
    ]

    # the event history is untouched (one PII-free event tells the other contexts to shred the
    # customer's texts) and rebuilds the same read model
    events_after = await svc.fetch("SELECT event_id, type, data::text FROM events ORDER BY position")
    assert events_after[: len(events_before)] == events_before
    assert [(e["type"], ref in e["data"]) for e in events_after[len(events_before) :]] == [
        ("CustomerErased", True)
    ]
    stream = v.stream_id(uuid.UUID(visit))
    loaded = await svc.app.visits.load(stream)
    assert loaded.state.customer_ref == ref and loaded.state.display_name == masked["name"]
    async with svc.ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM visits")
        await conn.execute("DELETE FROM counters")
        rows = VisitRows(svc.app.book)
        streams = await conn.fetch("SELECT DISTINCT stream_id FROM events WHERE stream_id LIKE 'visit-%'")
        for (stream_id,) in streams:
            replayed = await svc.app.visits.load(stream_id, conn)
            await rows.write(conn, replayed.state, replayed.history)
    assert await svc.fetch("SELECT * FROM visits ORDER BY visit_id") == visits_before

    # and what reached Kafka still decodes
    published = await read_topic(
        kafka.bootstrap_servers,
        "reception.events.v1",
        until=lambda recs: sum(e.stream_id == stream for e in envelopes(recs)) >= loaded.version,
    )
    mine = [e for e in envelopes(published) if e.stream_id == stream]
    assert {type(REGISTRY.decode(REGISTRY.upcast(e))).__name__ for e in mine} >= {"VisitLeft"}

    # a new registration (new consent) starts afresh with a new data key
    back = await register_customer(svc, person)
    assert back.status_code == 201 and back.json()["customer_ref"] == ref
    assert (await read_pii(svc, ref)).json()["name"] == person.name


# --------------------------------------------------------------------------------- integrity


async def test_tampered_data_fails_closed(svc: Running) -> None:
    person, other = fake_people(2)
    ref, other_ref = await ref_of(svc, person), await ref_of(svc, other)
    original = (await svc.fetch("SELECT * FROM vault_pii WHERE customer_ref = $1", ref))[0]

    def flipped(blob: bytes, at: int) -> bytes:
        data = bytearray(blob)
        data[at] ^= 0x01
        return bytes(data)

    async def refused() -> dict[str, Any]:
        response = await read_pii(svc, ref)
        assert response.status_code == 409, response.text
        body: dict[str, Any] = response.json()
        assert body["code"] == "integrity" and "integrity" in body["detail"]
        assert set(body) == {"detail", "code"}  # nothing decrypted, no garbage
        return body

    await svc.execute(
        "UPDATE vault_pii SET name_ct = $2 WHERE customer_ref = $1", ref, flipped(original["name_ct"], 20)
    )
    await refused()
    await svc.execute("UPDATE vault_pii SET name_ct = $2 WHERE customer_ref = $1", ref, original["name_ct"])
    assert (await read_pii(svc, ref)).status_code == 200

    # another customer's ciphertext moved onto this row does not decrypt (bound to the ref)
    theirs = (await svc.fetch("SELECT phone_ct FROM vault_pii WHERE customer_ref = $1", other_ref))[0]
    await svc.execute("UPDATE vault_pii SET phone_ct = $2 WHERE customer_ref = $1", ref, theirs["phone_ct"])
    await refused()
    async with contacts(svc) as resolver:
        with pytest.raises(ContactResolutionError) as info:
            await resolver.phone_for(ref, purpose="survey_sms")
        assert info.value.status == 409
    await svc.execute("UPDATE vault_pii SET phone_ct = $2 WHERE customer_ref = $1", ref, original["phone_ct"])

    key = (await svc.fetch("SELECT wrapped_key FROM vault_data_keys WHERE customer_ref = $1", ref))[0]
    await svc.execute(
        "UPDATE vault_data_keys SET wrapped_key = $2 WHERE customer_ref = $1",
        ref,
        flipped(key["wrapped_key"], len(key["wrapped_key"]) - 1),
    )
    await refused()
    assert (await register_customer(svc, person)).status_code == 409  # no overwrite under a broken key
    statuses = [e["status"] for e in await audit(svc, kind="pii.read")]
    assert statuses.count(409) == 3
    assert (await read_pii(svc, other_ref)).status_code == 200


# ----------------------------------------------------------------------------------- contacts


async def test_the_feedback_service_resolves_a_phone_number_audited(svc: Running) -> None:
    person, no_phone = fake_people(2)
    ref = await ref_of(svc, person)
    id_only = await svc.http.post(
        f"/branches/{OWN}/customers",
        json={"name": no_phone.name, "id_number": no_phone.id_number},
        headers=COUNTER,
    )
    correlation = uuid.uuid4()
    async with contacts(svc) as resolver:
        phone = await resolver.phone_for(ref, purpose="survey_sms", branch_id=OWN, correlation_id=correlation)
        assert phone == person.phone
        assert await resolver.phone_for(id_only.json()["customer_ref"], purpose="survey_sms") is None
        assert await resolver.phone_for("Q" * 32, purpose="survey_call") is None
        with pytest.raises(ValueError, match="purpose"):
            await resolver.phone_for(ref, purpose="marketing")

    resolved = await audit(svc, kind="pii.resolve_contact")
    assert [(e["staff_id"], e["status"]) for e in resolved] == [
        ("svc:feedback", 404),
        ("svc:feedback", 404),
        ("svc:feedback", 200),
    ]
    assert resolved[-1]["reason"] == "survey_sms" and resolved[-1]["branch_id"] == OWN
    assert resolved[-1]["correlation_id"] == str(correlation) and resolved[-1]["resource_id"] == ref

    # only the feedback service, only with a service token, only with the right key
    for resolver in (contacts(svc, service="hq"), contacts(svc, secret=secrets.token_urlsafe(48))):
        async with resolver:
            with pytest.raises(ContactResolutionError) as info:
                await resolver.phone_for(ref, purpose="survey_sms")
            assert info.value.status in (401, 403)
    url = "/internal/contacts/resolve"
    body = {"customer_ref": ref, "purpose": "survey_sms"}
    assert (await svc.http.post(url, json=body, headers=ADMIN)).status_code == 401
    assert (await svc.http.post(url, json=body)).status_code == 401
    service_token = issue_service_token("feedback", service_key(jwt_secret()))
    as_service = {"Authorization": f"Bearer {service_token}"}
    assert (await read_pii(svc, ref, headers=as_service)).status_code == 401  # not a staff token
    staff_signed = issue_token("feedback", ["counter_staff"], [OWN], timedelta(minutes=5), jwt_secret())
    as_staff = {"Authorization": f"Bearer {staff_signed}"}
    assert (await svc.http.post(url, json=body, headers=as_staff)).status_code == 401
    bad = await svc.http.post(url, json={**body, "purpose": "marketing"}, headers=as_service)
    assert bad.status_code == 422
    extra = await svc.http.post(url, json={**body, "phone": "x"}, headers=as_service)
    assert extra.status_code == 422


# ---------------------------------------------------------------------------------- rotation


async def test_master_key_rotation_rewraps_data_keys(svc: Running) -> None:
    people = fake_people(3)
    refs = [await ref_of(svc, p) for p in people]
    old: Vault = svc.ctx.extras["vault"]
    new_ring = old.keyring.with_current("mk-2", secrets.token_bytes(32))
    rotated = Vault(svc.ctx.pool, svc.clock, keyring=new_ring, pii_key=pii_key_from_env())
    assert await rotated.rewrap_keys(batch=2) == 3
    assert await rotated.rewrap_keys() == 0
    ids = await svc.fetch("SELECT DISTINCT master_key_id FROM vault_data_keys")
    assert [r["master_key_id"] for r in ids] == ["mk-2"]
    svc.ctx.extras["vault"] = rotated
    for person, ref in zip(people, refs, strict=True):
        assert (await read_pii(svc, ref)).json()["phone"] == person.phone
    # without the new key nothing opens: the old master key alone is useless now
    svc.ctx.extras["vault"] = Vault(
        svc.ctx.pool,
        svc.clock,
        keyring=MasterKeyring.single("mk-test", base64.b64decode(os.environ["BRANCHCARE_MASTER_KEY"])),
        pii_key=pii_key_from_env(),
    )
    assert (await read_pii(svc, refs[0])).status_code == 409


async def test_without_keys_the_service_does_not_start_and_the_vault_refuses(
    database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault_env(monkeypatch)
    key = os.environ["BRANCHCARE_MASTER_KEY"]
    monkeypatch.delenv("BRANCHCARE_MASTER_KEY")
    with pytest.raises(KeyConfigError, match="BRANCHCARE_MASTER_KEY"):  # no key, no service
        build_app("reception", database_url, kafka.bootstrap_servers, clock=FixedClock(T0))
    monkeypatch.setenv("BRANCHCARE_MASTER_KEY", key)
    (person,) = fake_people(1)
    async with running("reception", database_url, kafka.bootstrap_servers, staff=None) as svc:
        monkeypatch.delenv("BRANCHCARE_MASTER_KEY")  # the key goes away while it runs
        svc.ctx.extras.pop("vault")  # a vault built on first use refuses: 503, no anonymous PII
        refused = await register_customer(svc, person)
        assert refused.status_code == 503 and "BRANCHCARE_MASTER_KEY" in refused.text
        assert not any(n in refused.text for n in person.needles())
        with pytest.raises(KeyConfigError, match="BRANCHCARE_MASTER_KEY"):
            await start_vault(svc.ctx)
        assert await svc.fetch("SELECT * FROM vault_customers") == []
