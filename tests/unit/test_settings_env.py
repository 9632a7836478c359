"""The environment is read by settings classes; other modules ask them (issue 17)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from services.console.settings import ConsoleEnvironment, ConsoleSettings
from services.feedback.config import FeedbackSettings
from services.followup.config import FollowupSettings
from services.reception.config import ReceptionSettings
from shared.settings import (
    KeySettings,
    LogSettings,
    PortSettings,
    SlaSettings,
    ToolSettings,
    TracingSettings,
    inherited_environment,
    key_environment,
    named_secret,
    port_environment,
)
from shared.topology import CONTEXTS, DEFAULT_PORTS, port_env_var

ROOT = Path(__file__).resolve().parents[2]

#: the one module that reads the environment: its settings classes, and the one copy of it a child
#: process inherits (``inherited_environment``: the dev runner's services, pg_dump's password).
READERS = {"shared/settings.py"}


def test_no_other_module_reads_the_environment() -> None:
    readers = {
        str(path.relative_to(ROOT))
        for folder in ("services", "shared")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"os\.environ|getenv", path.read_text(encoding="utf-8"))
    }
    assert readers <= READERS, sorted(readers - READERS)


def test_a_child_inherits_the_environment_with_its_own_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("PGPASSWORD", "from-the-environment")
    env = inherited_environment(PGPASSWORD="from-the-url")
    assert (env["LOG_FORMAT"], env["PGPASSWORD"]) == ("json", "from-the-url")


def test_an_operator_names_the_variable_of_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BC_TOKEN_ADMIN", "t" * 40)
    monkeypatch.setenv("MY_EMPTY_TOKEN", "")
    secret = named_secret("BC_TOKEN_ADMIN")
    assert secret is not None and secret.get_secret_value() == "t" * 40
    assert "t" * 40 not in repr(secret)
    assert named_secret("MY_EMPTY_TOKEN") is None  # empty counts as unset
    assert named_secret("NO_SUCH_VARIABLE_SET") is None


def test_every_context_may_have_its_own_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://shared")
    monkeypatch.setenv("HQ_DATABASE_URL", "postgresql://hq")
    tools = ToolSettings()
    for context in CONTEXTS:
        assert f"{context}_database_url" in ToolSettings.model_fields, context
    assert tools.database_url_for("hq") == "postgresql://hq"
    assert tools.database_url_for("complaint") == "postgresql://shared"


def test_the_console_finds_each_api_by_url_or_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINT_URL", "https://complaint.bank.example/")
    monkeypatch.setenv("RECEPTION_PORT", "18001")
    monkeypatch.setenv("CONSOLE_PORT", "18080")
    monkeypatch.setenv("CONSOLE_COOKIE_SECURE", "1")
    settings = ConsoleSettings.from_env()
    assert settings.service_urls["complaint"] == "https://complaint.bank.example"
    assert settings.service_urls["reception"] == "http://127.0.0.1:18001"
    assert settings.service_urls["hq"] == "http://127.0.0.1:8005"
    assert (settings.http_port, settings.cookie_secure) == (18080, True)
    for context in CONTEXTS:
        assert {f"{context}_url", f"{context}_port"} <= set(ConsoleEnvironment.model_fields), context


def test_followup_durations_are_read_like_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWUP_INFORM_WITHIN", "2h")
    monkeypatch.setenv("FOLLOWUP_RECOVERY_WITHIN", "")
    rules = FollowupSettings().rules()
    assert rules.inform_within == timedelta(hours=2)
    assert rules.recovery_within == timedelta(hours=24)


def test_feedback_reads_its_variables_and_reception_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACK_BRANCH_CHANNELS", "b001=phone, b002=sms")
    monkeypatch.setenv("RECEPTION_URL", "http://127.0.0.1:18001")
    settings = FeedbackSettings()
    assert settings.reception_url == "http://127.0.0.1:18001"
    channels = settings.config().branch_channels
    assert {k: v.value for k, v in channels.items()} == {"b001": "phone", "b002": "sms"}


def test_feedback_refuses_a_target_that_is_no_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACK_SATISFACTION_TARGET", "95")
    with pytest.raises(ValueError, match="FEEDBACK_SATISFACTION_TARGET"):
        FeedbackSettings().config()


def test_reception_periods_and_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECEPTION_SCHEDULER_PERIOD_SECONDS", "3600")
    monkeypatch.setenv("RECEPTION_CATALOGUE_FILE", "")
    settings = ReceptionSettings()
    assert settings.scheduler_period_seconds == 3600.0
    assert settings.gauge_period_seconds == 5.0
    assert settings.catalogue_file is None


def test_shared_mechanisms_treat_empty_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOG_FORMAT", "SLA_POLICIES_FILE", "DATABASE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.setenv(name, "")
    assert LogSettings().log_format is None
    assert SlaSettings().sla_policies_file is None
    assert ToolSettings().database_url is None
    assert TracingSettings().otel_exporter_otlp_endpoint == ""


def test_key_material_is_read_through_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRANCHCARE_JWT_SECRET", "s" * 40)
    monkeypatch.setenv("BRANCHCARE_PII_KEY", "")
    monkeypatch.setenv("RECEPTION_PORT", "9101")
    keys = key_environment()
    assert keys["BRANCHCARE_JWT_SECRET"] == "s" * 40
    assert "BRANCHCARE_PII_KEY" not in keys  # empty counts as unset
    assert "s" * 40 not in repr(KeySettings())  # secrets stay out of reprs and logs
    assert port_environment() == {"RECEPTION_PORT": "9101"}


def test_every_service_port_is_a_setting() -> None:
    assert {port_env_var(name).lower() for name in DEFAULT_PORTS} <= set(PortSettings.model_fields)
