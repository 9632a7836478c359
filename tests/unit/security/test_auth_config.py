"""A service refuses to start without a proper JWT secret; the dev default needs DEV_MODE=1."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from shared.auth import DEV_JWT_SECRET, AuthConfig, AuthConfigError


def test_missing_secret_refuses_to_start() -> None:
    with pytest.raises(AuthConfigError, match="BRANCHCARE_JWT_SECRET is not set"):
        AuthConfig.from_env({})


def test_short_secret_refuses_to_start_and_is_not_echoed() -> None:
    with pytest.raises(AuthConfigError, match="shorter than 32 bytes") as info:
        AuthConfig.from_env({"BRANCHCARE_JWT_SECRET": "hunter2-but-longer"})
    assert "hunter2" not in str(info.value)


def test_short_secret_refuses_even_in_dev_mode() -> None:
    with pytest.raises(AuthConfigError):
        AuthConfig.from_env({"BRANCHCARE_JWT_SECRET": "short", "BRANCHCARE_DEV_MODE": "1"})


def test_a_long_enough_secret_is_used() -> None:
    secret = "k" * 32
    config = AuthConfig.from_env({"BRANCHCARE_JWT_SECRET": secret})
    assert config.secret == secret.encode() and not config.dev_mode
    assert secret not in repr(config)


def test_dev_mode_uses_the_dev_secret_and_says_so_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shared.auth"):
        config = AuthConfig.from_env({"BRANCHCARE_DEV_MODE": "1"})
    assert config.secret == DEV_JWT_SECRET.encode() and config.dev_mode
    assert any("PUBLIC development JWT secret" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("flag", ["0", "true", "yes", ""])
def test_only_dev_mode_1_enables_the_default(flag: str) -> None:
    with pytest.raises(AuthConfigError):
        AuthConfig.from_env({"BRANCHCARE_DEV_MODE": flag})


def test_the_public_dev_secret_is_refused_outside_dev_mode() -> None:
    with pytest.raises(AuthConfigError, match="public development secret"):
        AuthConfig.from_env({"BRANCHCARE_JWT_SECRET": DEV_JWT_SECRET})


def test_leeway_cannot_be_widened_beyond_thirty_seconds() -> None:
    with pytest.raises(AuthConfigError, match="leeway"):
        AuthConfig(b"k" * 32, leeway=timedelta(minutes=5))
