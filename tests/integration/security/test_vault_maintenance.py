"""Vault maintenance over real HTTP and PostgreSQL: contact updates (old values unreadable, audited,
PII-free event, surveys reach the new number) and duplicate merges (one person registered by phone
and by ID card becomes one customer; the merged ref resolves to the survivor; reversal is a new
fact)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from shared.contacts import VaultContacts
from shared.service_identity import service_key
from tests.integration.security.vault_steps import (
    COUNTER,
    HEAD,
    LOBBY,
    Person,
    customer_visit,
    fake_people,
    read_pii,
    ref_of,
    vault_env,
)
from tests.support.auth import secret as jwt_secret
from tests.support.harness import Running, running


@pytest_asyncio.fixture(loop_scope="session")
async def svc(database_url: str, kafka: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    vault_env(monkeypatch)
    monkeypatch.delenv("BRANCHCARE_ERASURE_LOG_URL", raising=False)
    async with running("reception", database_url, kafka.bootstrap_servers, staff=None) as started:
        yield started


def resolver(svc: Running) -> VaultContacts:
    return VaultContacts(svc.url, service_key(jwt_secret()), service="feedback")


async def events_of(svc: Running, type_: str) -> list[dict[str, Any]]:
    rows = await svc.fetch("SELECT data::text AS data FROM events WHERE type = $1 ORDER BY position", type_)
    return [json.loads(r["data"]) for r in rows]


def leaks(person: Person, text: str) -> list[str]:
    return [needle for needle in person.needles() if needle in text]


# ------------------------------------------------------------------------------ contact update


async def test_a_contact_update_reencrypts_audits_and_surveys_reach_the_new_number(svc: Running) -> None:
    person, new = fake_people(2)
    ref = await ref_of(svc, person)
    before = await svc.fetch("SELECT wrapped_key FROM vault_data_keys WHERE customer_ref = $1", ref)
    old_pii = await svc.fetch("SELECT phone_ct, name_ct FROM vault_pii WHERE customer_ref = $1", ref)

    answer = await svc.http.post(
        f"/branches/b001/customers/{ref}/contact",
        json={"phone": new.phone},
        params={"reason": f"{person.name} changed mobile carrier"},
        headers=LOBBY,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"] == ["phone"]
    assert answer.json()["masked"]["phone"] == new.phone[:3] + "****" + new.phone[-4:]
    assert not leaks(new, answer.text)

    read = await read_pii(svc, ref)
    assert read.json()["phone"] == new.phone and read.json()["id_number"] == person.id_number
    assert await resolver(svc).phone_for(ref, purpose="survey_sms") == new.phone
    after = await svc.fetch("SELECT wrapped_key FROM vault_data_keys WHERE customer_ref = $1", ref)
    assert after[0]["wrapped_key"] != before[0]["wrapped_key"]  # a fresh key: the old ciphertext is dead
    new_pii = await svc.fetch("SELECT phone_ct, name_ct FROM vault_pii WHERE customer_ref = $1", ref)
    assert new_pii[0]["name_ct"] != old_pii[0]["name_ct"]

    [event] = await events_of(svc, "CustomerContactUpdated")
    assert event["customer_ref"] == ref and event["changed"] == ["phone"]
    assert not leaks(new, json.dumps(event)) and not leaks(person, json.dumps(event))
    rows = await svc.fetch(
        "SELECT staff_id, reason, status FROM audit_log"
        " WHERE kind = 'pii.update_contact' AND resource_id = $1",
        ref,
    )
    assert [(r["staff_id"], r["status"]) for r in rows] == [("lm-b001", 200)]
    assert rows[0]["reason"].endswith(" changed mobile carrier") and person.name not in rows[0]["reason"]


async def test_a_contact_update_needs_a_manager_a_reason_and_valid_values_and_never_echoes_them(
    svc: Running,
) -> None:
    person, new = fake_people(2)
    ref = await ref_of(svc, person)
    url = f"/branches/b001/customers/{ref}/contact"
    refused = await svc.http.post(url, json={"phone": new.phone, "reason": "moved"}, headers=COUNTER)
    assert refused.status_code == 403
    no_reason = await svc.http.post(url, json={"phone": new.phone}, headers=LOBBY)
    assert no_reason.status_code == 422 and new.phone not in no_reason.text
    bad_phone = await svc.http.post(
        url, json={"phone": "2" + new.phone[1:], "reason": "moved"}, headers=LOBBY
    )
    assert bad_phone.status_code == 422 and new.phone[1:] not in bad_phone.text
    nothing = await svc.http.post(url, json={"reason": "nothing to change"}, headers=LOBBY)
    assert nothing.status_code == 422
    other_branch = f"/branches/b002/customers/{ref}/contact"
    assert (
        await svc.http.post(other_branch, json={"phone": new.phone, "reason": "x" * 5}, headers=LOBBY)
    ).status_code == 403


# ------------------------------------------------------------------------------------- merge


async def test_one_person_registered_by_phone_and_by_id_card_becomes_one_customer(svc: Running) -> None:
    [person] = fake_people(1)
    by_phone = await svc.http.post(
        "/branches/b001/customers", json={"name": person.name, "phone": person.phone}, headers=COUNTER
    )
    by_id = await svc.http.post(
        "/branches/b001/customers", json={"name": person.name, "id_number": person.id_number}, headers=COUNTER
    )
    phone_ref, id_ref = by_phone.json()["customer_ref"], by_id.json()["customer_ref"]
    assert phone_ref != id_ref

    url = f"/branches/b001/customers/{id_ref}/merge"
    body = {"merged_ref": phone_ref, "basis": "confirmed_by_staff"}
    why = {"reason": "same person, ID card checked"}
    assert (await svc.http.post(url, json=body, params=why, headers=LOBBY)).status_code == 403
    merged = await svc.http.post(url, json=body, params=why, headers=HEAD)
    assert merged.status_code == 200, merged.text
    assert merged.json()["already_merged"] is False

    # the survivor took the phone; the merged record keeps no PII; its ref resolves to the survivor
    read = await read_pii(svc, phone_ref)
    assert read.status_code == 200
    assert read.json()["phone"] == person.phone and read.json()["id_number"] == person.id_number
    assert await resolver(svc).phone_for(id_ref, purpose="survey_sms") == person.phone
    assert await svc.fetch("SELECT 1 FROM vault_pii WHERE customer_ref = $1", phone_ref) == []
    again = await svc.http.post(
        "/branches/b001/customers", json={"name": person.name, "phone": person.phone}, headers=COUNTER
    )
    assert again.json()["customer_ref"] == id_ref

    [event] = await events_of(svc, "CustomersMerged")
    assert event == {**event, "survivor_ref": id_ref, "merged_ref": phone_ref, "basis": "confirmed_by_staff"}
    assert not leaks(person, json.dumps(event))
    assert (await svc.http.post(url, json=body, params=why, headers=HEAD)).json()["already_merged"] is True

    reversal = await svc.http.post(
        f"/branches/b001/customers/{id_ref}/merge-reversal",
        json={"merged_ref": phone_ref},
        params={"reason": "merged by mistake"},
        headers=HEAD,
    )
    assert reversal.status_code == 200, reversal.text
    [undo] = await events_of(svc, "CustomerMergeReversed")
    assert undo["survivor_ref"] == id_ref and undo["merged_ref"] == phone_ref
    assert (await read_pii(svc, phone_ref)).status_code == 410  # its PII went with the merge
    kinds = [r["kind"] for r in await svc.fetch("SELECT kind FROM audit_log WHERE kind LIKE 'pii.merge%'")]
    assert kinds.count("pii.merge") == 2 and kinds.count("pii.merge.reverse") == 1


async def test_a_merge_on_matching_fields_is_refused_when_they_differ(svc: Running) -> None:
    first, second = fake_people(2)
    a = await ref_of(svc, first)
    b = await ref_of(svc, second)
    body = {"merged_ref": b, "basis": "same_id_number"}
    why = {"reason": "looks like the same person"}
    refused = await svc.http.post(f"/branches/b001/customers/{a}/merge", json=body, params=why, headers=HEAD)
    assert refused.status_code == 409 and "different id_numbers" in refused.json()["detail"]
    assert not leaks(first, refused.text) and not leaks(second, refused.text)
    bad = await svc.http.post(
        f"/branches/b001/customers/{a}/merge", json={**body, "basis": "same_name"}, params=why, headers=HEAD
    )
    assert bad.status_code == 422


# ----------------------------------------------------------------------------- invalid records


async def test_invalid_records_are_reported_then_erased_with_audit(
    svc: Running, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.cli.__main__ import build_parser
    from tests.integration.security.vault_steps import token

    visited, unused, broken = fake_people(3)
    visited_ref = await ref_of(svc, visited)
    await customer_visit(svc, visited_ref, "王**")
    unused_ref, broken_ref = await ref_of(svc, unused), await ref_of(svc, broken)
    await svc.execute("DELETE FROM vault_pii WHERE customer_ref = $1", broken_ref)
    for name in ("DATABASE_URL", "COMPLAINT_DATABASE_URL", "FOLLOWUP_DATABASE_URL", "FEEDBACK_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HQ_DATABASE_URL", raising=False)

    async def cli(*argv: str) -> int:
        args = build_parser().parse_args(
            ["vault", "invalid", "--database", f"reception={database_url}", *argv]
        )
        code: int = await args.handler(args)
        return code

    capsys.readouterr()
    assert await cli("--retention-days", "30") == 0  # the registrations are from the test clock's March
    out = capsys.readouterr().out
    assert f"{unused_ref}  unused" in out and f"{broken_ref}  no_encrypted_fields" in out
    assert visited_ref not in out and "invalid: 2" not in out

    monkeypatch.setenv("BC_TOKEN_ADMIN", token("admin-1", "admin", ["*"]))
    assert await cli("--retention-days", "30", "--erase", "--reception-url", svc.url) == 0
    assert "erased 2 of 2" in capsys.readouterr().out
    assert (await read_pii(svc, unused_ref)).status_code == 410
    assert (await read_pii(svc, visited_ref)).status_code == 200
    rows = await svc.fetch(
        "SELECT resource_id, reason FROM audit_log WHERE kind = 'pii.erase' ORDER BY audit_id"
    )
    assert {r["resource_id"] for r in rows} == {unused_ref, broken_ref}
    assert all(r["reason"].startswith("invalid record") for r in rows)
    logged = await svc.fetch("SELECT customer_ref FROM erasure_log.entries")
    assert {r["customer_ref"] for r in logged} == {unused_ref, broken_ref}
    assert await cli("--retention-days", "30") == 0
    assert "or broken: 0" in capsys.readouterr().out


async def test_the_vault_names_the_duplicate_an_id_card_registration_left_and_merges_it(
    svc: Running,
) -> None:
    [person] = fake_people(1)
    by_phone = await svc.http.post(
        "/branches/b001/customers", json={"name": person.name, "phone": person.phone}, headers=COUNTER
    )
    phone_ref = by_phone.json()["customer_ref"]
    id_ref = await ref_of(svc, person)  # name, phone and ID number: a ref of the ID number
    assert id_ref != phone_ref

    url = f"/branches/b001/customers/{id_ref}/duplicates"
    assert (await svc.http.get(url, headers=LOBBY)).status_code == 403
    found = await svc.http.get(url, headers=HEAD)
    assert found.status_code == 200, found.text
    assert [(c["customer_ref"], c["basis"]) for c in found.json()["candidates"]] == [
        (phone_ref, "same_phone")
    ]
    assert not leaks(person, found.text)
    merged = await svc.http.post(
        f"/branches/b001/customers/{id_ref}/merge",
        json={"merged_ref": phone_ref, "basis": "same_phone"},
        params={"reason": "the vault found the same mobile"},
        headers=HEAD,
    )
    assert merged.status_code == 200, merged.text
    assert (await svc.http.get(url, headers=HEAD)).json()["candidates"] == []
    audited = await svc.fetch(
        "SELECT status FROM audit_log WHERE kind = 'pii.duplicates' AND resource_id = $1", id_ref
    )
    assert [r["status"] for r in audited] == [200, 200]
