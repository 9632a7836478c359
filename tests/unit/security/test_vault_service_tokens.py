"""Service-to-service tokens (shared/service_identity.py): what the vault's internal route accepts,
and that staff tokens and service tokens can never stand in for each other."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared.auth import AuthConfigError, InvalidToken, Unauthorized, decode_token, issue_token
from shared.auth.dependencies import ACTION_ATTR
from shared.service_identity import (
    SERVICE_ACTIONS,
    SERVICE_AUDIENCE,
    ServicePrincipal,
    decode_service_token,
    issue_service_token,
    requires_service,
    service_key,
    service_key_from_env,
)

SECRET = secrets.token_urlsafe(48)
KEY = service_key(SECRET)


def reason(token: str, key: bytes = KEY) -> str:
    with pytest.raises(Unauthorized) as info:
        decode_service_token(token, key)
    assert info.value.status_code == 401
    return info.value.reason


def test_a_service_token_names_the_service() -> None:
    principal = decode_service_token(issue_service_token("feedback", KEY), KEY)
    assert principal == ServicePrincipal("feedback") and principal.staff_id == "svc:feedback"
    claims = jwt.decode(
        issue_service_token("feedback", KEY), KEY, algorithms=["HS256"], audience=SERVICE_AUDIENCE
    )
    assert claims["sub"] == "svc:feedback" and claims["roles"] == ["service"]
    assert claims["exp"] - claims["iat"] == 60


def test_the_signing_key_is_derived_not_the_staff_secret() -> None:
    assert KEY != SECRET.encode() and len(KEY) == 32
    assert service_key(SECRET) == KEY and service_key(SECRET + "x") != KEY
    with pytest.raises(ValueError):
        service_key("short")


def test_staff_and_service_tokens_never_stand_in_for_each_other() -> None:
    staff = issue_token("feedback", ["admin"], ["*"], timedelta(minutes=5), SECRET)
    assert reason(staff) == "bad_signature"
    with pytest.raises(InvalidToken):
        decode_token(issue_service_token("feedback", KEY), SECRET)
    # even a token signed with the staff secret that claims to be a service is refused
    forged = jwt.encode(
        {"sub": "svc:feedback", "aud": SERVICE_AUDIENCE, "roles": ["service"], "iat": 0, "exp": 2**40},
        SECRET.encode(),
        algorithm="HS256",
    )
    assert reason(forged) == "bad_signature"


def test_expired_tampered_wrong_key_and_odd_claims_are_401() -> None:
    past = datetime.now(UTC) - timedelta(minutes=10)
    assert reason(issue_service_token("feedback", KEY, now=past)) == "expired"
    assert reason(issue_service_token("feedback", service_key(secrets.token_urlsafe(48)))) == "bad_signature"
    token = issue_service_token("feedback", KEY)
    assert reason(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) == "bad_signature"
    assert reason("not.a.jwt") == "malformed"
    now = int(datetime.now(UTC).timestamp())

    def signed(**claims: object) -> str:
        base = {
            "sub": "svc:feedback",
            "aud": SERVICE_AUDIENCE,
            "roles": ["service"],
            "iat": now,
            "exp": now + 60,
        }
        return jwt.encode({**base, **claims}, KEY, algorithm="HS256")

    assert reason(signed(aud="somewhere-else")) == "bad_claims"
    assert reason(signed(sub="feedback")) == "bad_claims"
    assert reason(signed(sub="svc:Feedback!")) == "bad_claims"
    assert reason(signed(roles=["admin"])) == "bad_claims"
    assert reason(signed(exp=now + 3600)) == "too_long_lived"
    none_alg = jwt.encode({"sub": "svc:feedback"}, None, algorithm="none")  # type: ignore[arg-type]
    assert reason(none_alg) in ("malformed", "missing_claim")


def test_tokens_are_short_lived_by_construction() -> None:
    with pytest.raises(ValueError):
        issue_service_token("feedback", KEY, ttl=timedelta(hours=1))
    with pytest.raises(ValueError):
        issue_service_token("Not A Service", KEY)


def test_only_feedback_resolves_contacts_and_the_route_declares_its_action() -> None:
    assert SERVICE_ACTIONS == {"pii.resolve_contact": frozenset({"feedback"})}
    dependency = requires_service("pii.resolve_contact")
    assert getattr(dependency, ACTION_ATTR) == "pii.resolve_contact"
    with pytest.raises(KeyError, match="unknown service action"):
        requires_service("pii.read")


def test_the_key_comes_from_the_service_secret_else_the_staff_secret() -> None:
    own = secrets.token_urlsafe(48)
    assert service_key_from_env({"BRANCHCARE_SERVICE_JWT_SECRET": own, "BRANCHCARE_JWT_SECRET": SECRET}) == (
        service_key(own)
    )
    assert service_key_from_env({"BRANCHCARE_JWT_SECRET": SECRET}) == KEY
    with pytest.raises(AuthConfigError):
        service_key_from_env({"BRANCHCARE_SERVICE_JWT_SECRET": "short"})
    with pytest.raises(AuthConfigError):
        service_key_from_env({})
    assert len(service_key_from_env({"BRANCHCARE_DEV_MODE": "1"})) == 32
