"""How a customer is found after their records change, over real HTTP and PostgreSQL: after a
phone change the new phone finds the same ref and the old one finds someone new; a phone another
customer is found by is refused (merge them instead); reading a merged ref answers the survivor —
at the end of a chain of merges — and names the ref asked for, never the merged record's erased data."""

from __future__ import annotations

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
    fake_people,
    read_pii,
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


async def register(svc: Running, body: dict[str, str]) -> tuple[int, str]:
    answer = await svc.http.post("/branches/b001/customers", json=body, headers=COUNTER)
    assert answer.status_code in (200, 201), answer.text
    return answer.status_code, str(answer.json()["customer_ref"])


async def change_phone(svc: Running, ref: str, phone: str) -> Any:
    return await svc.http.post(
        f"/branches/b001/customers/{ref}/contact",
        json={"phone": phone},
        params={"reason": "the customer changed number"},
        headers=LOBBY,
    )


async def test_after_a_phone_change_the_new_phone_finds_the_customer_and_the_old_one_does_not(
    svc: Running,
) -> None:
    person, other, stranger = fake_people(3)
    _, ref = await register(svc, {"name": person.name, "phone": person.phone})
    changed = await change_phone(svc, ref, other.phone)
    assert changed.status_code == 200, changed.text

    status, again = await register(svc, {"name": person.name, "phone": other.phone})
    assert (status, again) == (200, ref)  # a later visit or survey looks them up by the new phone
    contacts = VaultContacts(svc.url, service_key(jwt_secret()), service="feedback")
    assert await contacts.phone_for(ref, purpose="survey_sms") == other.phone
    status, newcomer = await register(svc, {"name": stranger.name, "phone": person.phone})
    assert status == 201 and newcomer != ref  # the given-up number is someone else now
    assert (await read_pii(svc, newcomer)).json()["name"] == stranger.name
    assert (await read_pii(svc, ref)).json()["name"] == person.name
    # and once more: the second number given up too
    assert (await change_phone(svc, ref, stranger.phone[:-4] + "0000")).status_code == 200
    status, third = await register(svc, {"name": person.name, "phone": other.phone})
    assert status == 201 and third not in (ref, newcomer)


async def test_a_phone_another_customer_is_found_by_is_refused(svc: Running) -> None:
    first, second = fake_people(2)
    _, a = await register(svc, {"name": first.name, "phone": first.phone})
    _, b = await register(svc, {"name": second.name, "phone": second.phone})
    refused = await change_phone(svc, a, second.phone)
    assert refused.status_code == 409 and refused.json()["code"] == "phone_in_use", refused.text
    assert second.phone not in refused.text
    assert (await read_pii(svc, a)).json()["phone"] == first.phone
    rows = await svc.fetch(
        "SELECT status FROM audit_log WHERE kind = 'pii.update_contact' AND resource_id = $1", a
    )
    assert [r["status"] for r in rows] == [409]
    assert b


async def test_reading_a_merged_ref_answers_the_survivor_at_the_end_of_the_chain(svc: Running) -> None:
    a_person, b_person, c_person = fake_people(3)
    _, a = await register(svc, {"name": a_person.name, "phone": a_person.phone})
    _, b = await register(svc, {"name": b_person.name, "id_number": b_person.id_number})
    _, c = await register(svc, c_person.body())

    async def merge(survivor: str, merged: str) -> None:
        answer = await svc.http.post(
            f"/branches/b001/customers/{survivor}/merge",
            json={"merged_ref": merged, "basis": "confirmed_by_staff"},
            params={"reason": "documents checked"},
            headers=HEAD,
        )
        assert answer.status_code == 200, answer.text

    await merge(b, a)
    await merge(c, b)  # A→B, then B→C
    read = await read_pii(svc, a)
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["customer_ref"] == c and body["merged_ref"] == a and body["name"] == c_person.name
    assert "merged_ref" not in (await read_pii(svc, c)).json()
    status, found = await register(svc, {"name": a_person.name, "phone": a_person.phone})
    assert (status, found) == (200, c)

    undo = await svc.http.post(
        f"/branches/b001/customers/{c}/merge-reversal",
        json={"merged_ref": b},
        params={"reason": "merged by mistake"},
        headers=HEAD,
    )
    assert undo.status_code == 200, undo.text
    gone = await read_pii(svc, a)  # A means B again, whose data went with its merge
    assert gone.status_code == 410 and c_person.name not in gone.text
