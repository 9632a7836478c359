"""Every way a bearer token can be wrong is refused with a reason, and the reason never helps an
attacker (nothing about the key); valid tokens within the bounded clock skew are accepted."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.auth import LEEWAY, InvalidToken, Principal, decode_token, issue_token
from shared.auth.tokens import REQUIRED_CLAIMS

SECRET = secrets.token_urlsafe(48)
OTHER_SECRET = secrets.token_urlsafe(48)


def now() -> int:
    return int(datetime.now(UTC).timestamp())


def claims(**overrides: Any) -> dict[str, Any]:
    t = now()
    base: dict[str, Any] = {
        "sub": "lm-b001",
        "roles": ["lobby_manager"],
        "branches": ["b001"],
        "iat": t,
        "exp": t + 3600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], secret: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=alg)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def reason_of(token: str, secret: str = SECRET) -> tuple[str, str]:
    with pytest.raises(InvalidToken) as info:
        decode_token(token, secret)
    message = str(info.value)
    assert SECRET not in message and OTHER_SECRET not in message
    assert "key" not in message.lower() and "secret" not in message.lower()
    return info.value.reason, message


def test_a_valid_token_names_the_staff_member_roles_and_branches() -> None:
    principal = decode_token(sign(claims(region="east")), SECRET)
    assert principal == Principal("lm-b001", frozenset({"lobby_manager"}), frozenset({"b001"}), "east")


def test_issue_token_round_trips() -> None:
    token = issue_token("hq-1", ["hq_analyst"], ["*"], timedelta(hours=1), SECRET)
    principal = decode_token(token, SECRET)
    assert principal.staff_id == "hq-1" and principal.all_branches and principal.roles == {"hq_analyst"}


def test_expired_beyond_the_leeway_is_refused() -> None:
    t = now()
    assert reason_of(sign(claims(iat=t - 3600, exp=t - 31)))[0] == "expired"


def test_expired_within_the_leeway_is_still_accepted() -> None:
    t = now()
    assert decode_token(sign(claims(iat=t - 3600, exp=t - 20)), SECRET).staff_id == "lm-b001"


def test_leeway_is_bounded_to_thirty_seconds() -> None:
    assert timedelta(0) < LEEWAY <= timedelta(seconds=30)


@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_not_yet_valid_beyond_the_leeway_is_refused(claim: str) -> None:
    t = now()
    payload = claims(iat=t + 60, exp=t + 3600) if claim == "iat" else claims(nbf=t + 60)
    assert reason_of(sign(payload))[0] == "not_yet_valid"


def test_issued_slightly_in_the_future_within_the_leeway_is_accepted() -> None:
    t = now()
    assert decode_token(sign(claims(iat=t + 20, exp=t + 3600, nbf=t + 20)), SECRET).staff_id == "lm-b001"


def test_tampered_payload_fails_the_signature() -> None:
    header, _, signature = sign(claims()).split(".")
    forged = ".".join([header, b64(claims(roles=["hq_analyst"], branches=["*"])), signature])
    assert reason_of(forged)[0] == "bad_signature"


def test_tampered_signature_is_refused() -> None:
    header, payload, signature = sign(claims()).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert reason_of(f"{header}.{payload}.{flipped}")[0] == "bad_signature"


def test_wrong_key_is_refused_without_saying_anything_about_the_key() -> None:
    reason, message = reason_of(sign(claims(), secret=OTHER_SECRET))
    assert reason == "bad_signature"
    assert message == "token signature does not verify"


@pytest.mark.parametrize("signature", ["", "c2lnbmF0dXJl"])
def test_alg_none_is_refused(signature: str) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(roles=['admin'], branches=['*']))}.{signature}"
    assert reason_of(token)[0] == "bad_algorithm"


def test_other_algorithms_are_refused_even_with_the_right_key() -> None:
    assert reason_of(sign(claims(), alg="HS512"))[0] == "bad_algorithm"


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_each_missing_required_claim_is_named(claim: str) -> None:
    payload = claims()
    del payload[claim]
    reason, message = reason_of(sign(payload))
    assert reason == "missing_claim" and claim in message


@pytest.mark.parametrize(
    "overrides",
    [
        {"sub": "has space"},
        {"sub": "x" * 65},
        {"roles": []},
        {"roles": "lobby_manager"},
        {"roles": ["superuser"]},
        {"branches": []},
        {"branches": "b001"},
        {"branches": ["b 001"]},
        {"branches": ["*", "b001"], "roles": ["hq_analyst"]},
        {"branches": ["*"]},  # a branch role may never hold an HQ-wide token
        {"region": "east asia"},
        {"region": 7},
    ],
)
def test_malformed_claims_are_refused(overrides: dict[str, Any]) -> None:
    assert reason_of(sign(claims(**overrides)))[0] == "bad_claims"


def test_a_non_string_subject_is_refused() -> None:
    assert reason_of(sign(claims(sub=42)))[0] in {"bad_claims", "malformed"}


def test_a_token_living_longer_than_a_day_is_refused() -> None:
    t = now()
    assert reason_of(sign(claims(iat=t, exp=t + 25 * 3600)))[0] == "too_long_lived"


def test_exp_before_iat_is_refused() -> None:
    t = now()
    # both within the leeway on their own, but a token cannot expire before it was issued
    assert reason_of(sign(claims(iat=t + 20, exp=t + 10)))[0] == "too_long_lived"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 9000, "Bearer abc.def.ghi"])
def test_garbage_is_malformed(token: str) -> None:
    assert reason_of(token)[0] == "malformed"


def test_issue_token_refuses_tokens_verification_would_reject() -> None:
    with pytest.raises(ValueError, match=r"\['\*'\]"):
        issue_token("cs", ["counter_staff"], ["*"], timedelta(hours=1), SECRET)
    with pytest.raises(ValueError, match="ttl"):
        issue_token("cs", ["counter_staff"], ["b001"], timedelta(hours=25), SECRET)
    with pytest.raises(ValueError, match="32 bytes"):
        issue_token("cs", ["counter_staff"], ["b001"], timedelta(hours=1), "short")
    with pytest.raises(ValueError, match="unknown role"):
        issue_token("cs", ["root"], ["b001"], timedelta(hours=1), SECRET)


def test_issue_token_honours_an_injected_now() -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    token = issue_token("cs", ["counter_staff"], ["b001"], timedelta(hours=1), SECRET, now=past)
    assert reason_of(token)[0] == "expired"


_branch = st.from_regex(r"[A-Za-z0-9_\-]{1,64}", fullmatch=True)
_staff = st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True)


@given(
    staff=_staff,
    roles=st.sets(
        st.sampled_from(["counter_staff", "lobby_manager", "branch_head", "hq_analyst"]), min_size=1
    ),
    branches=st.sets(_branch, min_size=1, max_size=20),
    region=st.none() | _branch,
)
def test_any_valid_identity_round_trips(
    staff: str, roles: set[str], branches: set[str], region: str | None
) -> None:
    token = issue_token(staff, roles, branches, timedelta(minutes=5), SECRET, region=region)
    assert decode_token(token, SECRET) == Principal(staff, frozenset(roles), frozenset(branches), region)
