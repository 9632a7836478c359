"""What the audit middleware makes of a request (pure parts): the route template instead of the
raw path, ids only when they look like ids, the actor from a verified principal (the bare header
only while auth is not installed), an assigned correlation id, scrubbed reasons."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from shared.audit import AuditEntry, describe, route_template
from shared.audit.entry import clean_reason
from shared.audit.request import ensure_correlation
from shared.auth import Principal
from shared.auth.principal import BranchCheck
from shared.service_identity import ServicePrincipal

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
VISIT = "6f1c1f3e-2b7a-4c39-9a53-0d2b1f0c8e11"


def scope(
    path: str, params: dict[str, str] | None = None, *, matched: bool = True, **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": path,
        "path_params": params or {},
        "headers": extra.pop("headers", []),
        "state": extra.pop("state", {}),
        "app": extra.pop("app", SimpleNamespace(state=SimpleNamespace())),
    }
    if matched:
        out["route"] = object()
    return {**out, **extra}


@pytest.mark.parametrize(
    ("path", "params", "template"),
    [
        ("/branches/b001/visits", {"branch_id": "b001"}, "/branches/{branch_id}/visits"),
        (f"/visits/{VISIT}/greet", {"visit_id": VISIT}, "/visits/{visit_id}/greet"),
        (
            "/branches/b001/lines/A/call-next",
            {"branch_id": "b001", "line": "A"},
            "/branches/{branch_id}/lines/{line}/call-next",
        ),
        (
            "/api/v1/customers/ref12345/pii",
            {"customer_ref": "ref12345"},
            "/api/v1/customers/{customer_ref}/pii",
        ),
        ("/catalogue", {}, "/catalogue"),
    ],
)
def test_the_route_template_replaces_every_parameter(
    path: str, params: dict[str, str], template: str
) -> None:
    assert route_template(path, params) == template


def test_an_unmatched_path_is_never_stored() -> None:
    entry = describe(scope("/customers/13812345678/anything", matched=False), 404, None, "reception", AT)
    assert entry.route is None and entry.resource_id is None


def test_resource_ids_are_kept_only_when_they_look_like_ids_and_not_numbers() -> None:
    visit = describe(scope(f"/visits/{VISIT}/greet", {"visit_id": VISIT}), 200, None, "reception", AT)
    assert visit.resource_id == VISIT and visit.branch_id is None
    phone = describe(scope("/customers/13812345678/pii", {"customer_ref": "13812345678"}), 422, None, "r", AT)
    assert phone.route == "/customers/{customer_ref}/pii"
    assert phone.resource_id is None
    odd_uuid = "12345678-2b7a-4c39-9a53-0d2b1f0c8e11"  # a long digit run, but a UUID: kept
    assert (
        describe(scope(f"/visits/{odd_uuid}", {"visit_id": odd_uuid}), 200, None, "r", AT).resource_id
        == odd_uuid
    )
    name = describe(scope("/customers/张三丰/pii", {"customer_ref": "张三丰"}), 422, None, "r", AT)
    assert name.resource_id is None
    # annotate() wins: a created resource's id, the branch of a loaded resource
    noted = scope(
        "/branches/b001/customers",
        {"branch_id": "b001"},
        state={"branchcare_audit": {"resource_id": "R" * 32}},
    )
    assert describe(noted, 201, None, "r", AT).resource_id == "R" * 32


def test_the_actor_is_the_verified_principal_never_a_header() -> None:
    staff = Principal("lm-b001", frozenset({"lobby_manager"}), frozenset({"b001"}))
    header = [(b"x-staff-id", b"someone-else")]
    with_principal = scope("/x", headers=header, state={"principal": staff})
    assert (
        describe(with_principal, 200, None, "r", AT).staff_id,
        describe(with_principal, 200, None, "r", AT).authenticated,
    ) == ("lm-b001", True)
    service = scope("/x", state={"service_principal": ServicePrincipal("feedback")})
    assert describe(service, 200, None, "r", AT).staff_id == "svc:feedback"
    for unverified in (scope("/x", headers=header), scope("/x")):  # e.g. a 401: nobody acted
        entry = describe(unverified, 401, None, "r", AT)
        assert (entry.staff_id, entry.authenticated) == (None, False)


def test_the_branch_comes_from_the_path_else_from_the_routes_branch_check() -> None:
    check = BranchCheck(action="reception.visit.greet", required=True, checked_branch="b007")
    entry = describe(
        scope(f"/visits/{VISIT}/greet", {"visit_id": VISIT}, state={"branchcare_branch_check": check}),
        200,
        None,
        "r",
        AT,
    )
    assert entry.branch_id == "b007" and entry.action == "reception.visit.greet"


def test_a_correlation_id_is_assigned_and_passed_on_when_missing() -> None:
    bare: dict[str, Any] = {"headers": [(b"host", b"x")]}
    assigned = ensure_correlation(bare)
    assert assigned is not None and (b"x-correlation-id", str(assigned).encode()) in bare["headers"]
    given = uuid.uuid4()
    assert ensure_correlation({"headers": [(b"X-Correlation-Id", str(given).encode())]}) == given
    assert ensure_correlation({"headers": [(b"x-correlation-id", b"not-a-uuid")]}) is None


def test_reasons_are_scrubbed_and_bounded() -> None:
    assert clean_reason("call back 13812345678 about ID 11010519491231002X") == (
        "call back *******5678 about ID **************002X"
    )
    assert clean_reason("a\x00b\nc") == "a b c"
    cleaned = clean_reason("x" * 500)
    assert cleaned is not None and len(cleaned) == 200
    assert clean_reason(None) is None


def test_entries_render_as_json() -> None:
    cid = uuid.uuid4()
    out = AuditEntry(
        at=AT, service="reception", kind="pii.read", staff_id="cs-1", correlation_id=cid
    ).to_json()
    assert out["at"] == AT.isoformat() and out["correlation_id"] == str(cid) and out["kind"] == "pii.read"


def test_a_registered_name_typed_into_free_text_is_masked_in_every_form() -> None:
    from shared.pii import mask_known_names

    text = "客户王小明来电，小明说王先生的卡丢了"
    assert mask_known_names(text, ["王小明"]) == "客户王**来电，**说王先生的卡丢了"
    latin = mask_known_names("John Smith called; SMITH again", ["John Smith"])
    assert latin == "J*** ***** called; ***** again"  # a masked name: its first character only
    assert mask_known_names("nothing to hide", [None, ""]) == "nothing to hide"
