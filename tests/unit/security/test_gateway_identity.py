"""The SMS / voice gateway's own token type: signed with its own key, its own audience, bounded
lifetime and branches; it never passes as a staff or service token, nor they as it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.auth.errors import Forbidden, Unauthorized
from shared.auth.tokens import InvalidToken, decode_token, issue_token
from shared.gateway_identity import (
    GATEWAY_ACTIONS,
    GatewayPrincipal,
    decode_gateway_token,
    gateway_key,
    gateway_key_from_env,
    issue_gateway_token,
    staff_or_gateway,
)
from shared.service_identity import decode_service_token, issue_service_token, service_key

SECRET = "s" * 48
KEY = gateway_key(SECRET)


def test_a_gateway_token_round_trips_to_a_gateway_principal() -> None:
    principal = decode_gateway_token(issue_gateway_token("sms-main", KEY, ["b001", "b002"]), KEY)
    assert isinstance(principal, GatewayPrincipal)
    assert principal.staff_id == "gw:sms-main" and principal.branches == {"b001", "b002"}
    assert principal.roles == frozenset(), "no staff permission can ever match"
    bound = principal.bound_to("feedback.response.submit")
    bound.check_branch("b001")
    with pytest.raises(Forbidden):
        bound.check_branch("b003")
    decode_gateway_token(issue_gateway_token("voice-1", KEY), KEY).bound_to("x").check_branch("any")


def test_the_three_token_types_never_pass_for_one_another() -> None:
    gateway = issue_gateway_token("sms-main", KEY)
    with pytest.raises(InvalidToken):
        decode_token(gateway, SECRET)  # staff verification
    with pytest.raises(Unauthorized):
        decode_service_token(gateway, service_key(SECRET))
    with pytest.raises(Unauthorized):
        decode_gateway_token(issue_service_token("feedback", service_key(SECRET)), KEY)
    staff = issue_token("lm-1", ["lobby_manager"], ["b001"], timedelta(hours=1), SECRET)
    with pytest.raises(Unauthorized):
        decode_gateway_token(staff, KEY)
    with pytest.raises(Unauthorized, match="signature"):
        decode_gateway_token(issue_gateway_token("sms-main", gateway_key("t" * 48)), KEY)


def test_lifetime_names_and_branches_are_bounded() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError):
        issue_gateway_token("sms-main", KEY, ttl=timedelta(days=400))
    with pytest.raises(ValueError):
        issue_gateway_token("SMS main", KEY)
    with pytest.raises(ValueError):
        issue_gateway_token("sms-main", KEY, ["*", "b001"])
    with pytest.raises(ValueError):
        issue_gateway_token("sms-main", KEY, ["b 1"])
    old = issue_gateway_token("sms-main", KEY, ttl=timedelta(days=1), now=now - timedelta(days=2))
    with pytest.raises(Unauthorized, match="expired"):
        decode_gateway_token(old, KEY)


def test_only_the_gateway_actions_take_a_gateway_token() -> None:
    assert GATEWAY_ACTIONS == {"feedback.response.submit", "feedback.delivery.report"}

    async def branch_of() -> str | None:
        return None

    with pytest.raises(KeyError):
        staff_or_gateway("complaint.escalate", branch_of)


def test_the_key_comes_from_its_own_secret_else_the_service_secret_else_the_staff_secret() -> None:
    own = gateway_key_from_env({"BRANCHCARE_GATEWAY_JWT_SECRET": "g" * 48, "BRANCHCARE_JWT_SECRET": SECRET})
    assert own == gateway_key("g" * 48)
    service = gateway_key_from_env(
        {"BRANCHCARE_SERVICE_JWT_SECRET": "v" * 48, "BRANCHCARE_JWT_SECRET": SECRET}
    )
    assert service == gateway_key("v" * 48)
    assert gateway_key_from_env({"BRANCHCARE_JWT_SECRET": SECRET}) == KEY
    assert KEY != service_key(SECRET)
