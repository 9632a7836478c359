"""The verified-token cache answers what verification answers: same principal, expiry respected,
failures never remembered, bounded size, one cache per key."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared.auth import LEEWAY, AuthConfig, InvalidToken, decode_token, issue_token
from shared.auth.verified import MAX_CACHED_CHARS, StaffTokenVerifier, TokenCache, staff_verifier

SECRET = secrets.token_urlsafe(48).encode()
CONFIG = AuthConfig(SECRET)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def token(ttl: timedelta = timedelta(hours=1), staff: str = "lm-b001", secret: bytes = SECRET) -> str:
    return issue_token(staff, ["lobby_manager"], ["b001"], ttl, secret)


def test_a_cached_answer_equals_verification() -> None:
    verifier = StaffTokenVerifier(CONFIG)
    t = token()
    first = verifier.verify(t)
    assert first == decode_token(t, SECRET)
    assert verifier.verify(t) is first  # the second request is a cache hit
    assert len(verifier.cache) == 1


def test_expiry_is_respected_up_to_the_leeway() -> None:
    clock = Clock()
    verifier = StaffTokenVerifier(CONFIG, clock=clock)
    t = token(ttl=timedelta(minutes=10))
    exp = jwt.decode(t, options={"verify_signature": False})["exp"]
    verifier.verify(t)
    clock.now = exp + LEEWAY.total_seconds() - 1
    assert verifier.cache.get(t) is not None  # PyJWT too accepts it until exp + leeway
    clock.now = exp + LEEWAY.total_seconds()
    assert verifier.cache.get(t) is None  # from then on it is gone, and verification decides again


def test_an_expired_token_is_refused_even_after_a_hit() -> None:
    issued = datetime.now(UTC) - timedelta(hours=2)
    expired = issue_token("lm-b001", ["lobby_manager"], ["b001"], timedelta(hours=1), SECRET, now=issued)
    verifier = StaffTokenVerifier(CONFIG)
    with pytest.raises(InvalidToken) as info:
        verifier.verify(expired)
    assert info.value.reason == "expired"
    assert len(verifier.cache) == 0


def test_failures_are_not_cached_and_a_forged_twin_misses() -> None:
    verifier = StaffTokenVerifier(CONFIG)
    good = token()
    verifier.verify(good)
    head, body, _ = good.split(".")
    forged = f"{head}.{body}.{'A' * 43}"
    for _ in range(2):
        with pytest.raises(InvalidToken) as info:
            verifier.verify(forged)
        assert info.value.reason == "bad_signature"
    other_key = token(secret=secrets.token_urlsafe(48).encode())
    with pytest.raises(InvalidToken):
        verifier.verify(other_key)
    assert len(verifier.cache) == 1


def test_bounded_least_recently_used() -> None:
    cache: TokenCache[int] = TokenCache(size=2)
    far = time.time() + 3600
    cache.put("a", 1, far)
    cache.put("b", 2, far)
    assert cache.get("a") == 1  # a is now the most recent
    cache.put("c", 3, far)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    cache.put("x" * (MAX_CACHED_CHARS + 1), 4, far)
    assert len(cache) == 2


def test_one_verifier_per_config() -> None:
    assert staff_verifier(CONFIG) is staff_verifier(AuthConfig(SECRET))
    other = AuthConfig(secrets.token_urlsafe(48).encode())
    assert staff_verifier(other) is not staff_verifier(CONFIG)
    t = token()
    staff_verifier(CONFIG).verify(t)
    with pytest.raises(InvalidToken):  # a rotated secret does not inherit the old cache
        staff_verifier(other).verify(t)


def test_a_gateway_token_is_verified_once_per_app_and_only_a_gateway_token_is_cached() -> None:
    from types import SimpleNamespace
    from typing import Any, cast

    from shared.gateway_identity import _verified_gateway, gateway_key, issue_gateway_token

    key = gateway_key(SECRET)
    app = SimpleNamespace(state=SimpleNamespace(gateway_token_key=key))
    request = cast(Any, SimpleNamespace(app=app))
    gateway = issue_gateway_token("sms-main", key, ["b001"])
    first = _verified_gateway(request, gateway)
    assert first is not None and first.staff_id == "gw:sms-main"
    assert _verified_gateway(request, gateway) is first  # the second answer is a cache hit
    assert _verified_gateway(request, token()) is None  # a staff token: not a gateway's
    assert len(app.state.gateway_tokens) == 1
    head, body, _ = gateway.split(".")
    with pytest.raises(Exception, match="signature"):
        _verified_gateway(request, f"{head}.{body}.{'A' * 43}")
