"""What the vault tests do on a running reception service (tests/support/harness.py: bearer auth
and the audit trail come with ``create_app``): register and read customers, walk a visit, read the
audit trail, as named members of staff; plus fake customers generated per run (never fixtures)."""

from __future__ import annotations

import base64
import random
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from services.reception.vault_model import id_check_char
from tests.support.auth import staff_token
from tests.support.harness import RECIPES, Running

#: a Monday, 09:00 in Shanghai
T0 = RECIPES["reception"].t0
OWN, OTHER = "b001", "b002"


def vault_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real (random) keys for this run, no development mode."""
    monkeypatch.setenv("BRANCHCARE_MASTER_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    monkeypatch.setenv("BRANCHCARE_MASTER_KEY_ID", "mk-test")
    monkeypatch.setenv("BRANCHCARE_PII_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
    monkeypatch.delenv("BRANCHCARE_SERVICE_JWT_SECRET", raising=False)
    monkeypatch.delenv("BRANCHCARE_DEV_MODE", raising=False)


def token(staff_id: str, role: str, branches: Iterable[str]) -> str:
    """Signed with the run's ``BRANCHCARE_JWT_SECRET`` (tests/conftest.py), as the service verifies."""
    return staff_token(staff_id, [role], branches)


def bearer(staff_id: str, role: str, branches: Iterable[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(staff_id, role, branches)}"}


COUNTER = bearer("cs-b001", "counter_staff", [OWN])
LOBBY = bearer("lm-b001", "lobby_manager", [OWN])
HEAD = bearer("bh-b001", "branch_head", [OWN])
COUNTER_OTHER = bearer("cs-b002", "counter_staff", [OTHER])
HQ = bearer("hq-1", "hq_analyst", ["*"])
ADMIN = bearer("admin-1", "admin", ["*"])


# ------------------------------------------------------------------------------- fake customers

_SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂嘉睿泽宇欣怡梓萱浩然"


@dataclass(frozen=True)
class Person:
    name: str = field(repr=False)
    phone: str = field(repr=False)
    id_number: str = field(repr=False)

    def body(self) -> dict[str, str]:
        return {"name": self.name, "phone": self.phone, "id_number": self.id_number}

    def needles(self) -> list[str]:
        """Every spelling of this person's raw data a leak could take (UTF-8 and JSON-escaped)."""
        escaped = "".join(f"\\u{ord(ch):04x}" if ord(ch) > 127 else ch for ch in self.name)
        return sorted(
            {
                self.name,
                escaped,
                escaped.upper().replace("\\U", "\\u"),
                self.phone,
                self.id_number,
                self.id_number.lower(),
            }
        )


def fake_people(count: int, seed: int | None = None) -> list[Person]:
    """Random, valid-looking Chinese customers (one with a Latin name), fresh every run."""
    rng = random.Random(seed if seed is not None else secrets.randbits(64))
    people: list[Person] = []
    while len(people) < count:
        if len(people) == 1:
            name = "".join(
                rng.choice(string.ascii_uppercase)
                + "".join(rng.choice(string.ascii_lowercase) for _ in range(6))
                + " "
                for _ in range(2)
            ).strip()
        else:
            name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(2))
        phone = "1" + rng.choice("3456789") + "".join(rng.choice(string.digits) for _ in range(9))
        born = datetime(1950, 1, 1) + timedelta(days=rng.randrange(18_000))
        first17 = f"110105{born:%Y%m%d}{rng.randrange(1000):03d}"
        person = Person(name, phone, first17 + id_check_char(first17))
        if all(p.name != person.name for p in people):
            people.append(person)
    return people


# -------------------------------------------------------------------- on the running service
#
# The service is the harness's reception (``running("reception", ..., staff=None)``): every
# request below names its member of staff.


async def register_customer(
    svc: Running, person: Person, branch: str = OWN, headers: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    headers = COUNTER if headers is None else headers
    body = {**person.body(), **extra}
    return await svc.http.post(f"/branches/{branch}/customers", json=body, headers=headers)


async def ref_of(svc: Running, person: Person, branch: str = OWN) -> str:
    response = await register_customer(
        svc, person, branch, headers=COUNTER if branch == OWN else COUNTER_OTHER
    )
    assert response.status_code in (200, 201), response.text
    ref: str = response.json()["customer_ref"]
    return ref


async def read_pii(
    svc: Running, ref: str, branch: str = OWN, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    query = {"reason": "verify identity at the counter", **params}
    headers = COUNTER if headers is None else headers
    return await svc.http.get(f"/branches/{branch}/customers/{ref}/pii", params=query, headers=headers)


async def staff_post(
    svc: Running, path: str, body: dict[str, Any] | None = None, *, branch: str = OWN
) -> dict[str, Any]:
    """A reception command by ``lm-007``, the branch's lobby manager."""
    headers = bearer("lm-007", "lobby_manager", [branch])
    response = await svc.http.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), f"{path}: {response.status_code} {response.text}"
    return response.json()  # type: ignore[no-any-return]


async def customer_visit(
    svc: Running,
    ref: str,
    masked_name: str,
    *,
    branch: str = OWN,
    complaint: bool = False,
    express: bool = False,
    leave: bool = True,
) -> str:
    """A customer's visit: arrival (by ``customer_ref`` and masked name only), guidance,
    ticket, call, service, departure; optionally a complaint while waiting."""

    async def post(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return await staff_post(svc, path, body, branch=branch)

    arrival: dict[str, Any] = {"customer_ref": ref, "display_name": masked_name}
    if express:
        arrival["service_type"] = "deposit_demand"
    visit = (await post(f"/branches/{branch}/visits", arrival))["visit_id"]
    if not express:
        await post(f"/visits/{visit}/greet")
        await post(
            f"/visits/{visit}/confirm-need", {"service_type": "deposit_demand", "notes": "open account"}
        )
        await post(f"/visits/{visit}/guide")
        await post(f"/visits/{visit}/check-documents", {"missing": []})
        await post(f"/visits/{visit}/queue")
    if complaint:
        await post(
            f"/visits/{visit}/raise-complaint", {"description": "waited too long, nobody explained why"}
        )
    if leave:
        await post(f"/visits/{visit}/call", {"counter_id": "3"})
        await post(f"/visits/{visit}/serve", {"outcome": "account opened"})
        await post(f"/visits/{visit}/leave")
    return str(visit)


async def audit(svc: Running, **params: Any) -> list[dict[str, Any]]:
    response = await svc.http.get("/audit", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries
