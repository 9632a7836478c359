"""Service settings from the environment (pydantic-settings).

Required values without a default (``DATABASE_URL``, ``KAFKA_BOOTSTRAP_SERVERS``) fail at start-up
with a message that names the missing variable; reachability is checked by the service runner.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import Field, SecretStr, ValidationError, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = Field(description="PostgreSQL DSN, e.g. postgresql://user@host:5432/db")
    kafka_bootstrap_servers: str = Field(description="Kafka bootstrap servers, host:port[,host:port]")
    http_host: str = "0.0.0.0"
    http_port: int = 8000
    db_pool_min: int = 2
    db_pool_max: int = 20
    #: consumers long-poll: Apache Kafka answers a waiting fetch as soon as a record arrives
    #: (``shared.fetch_pacing``); against a broker that holds it (below), the idle consumer's wait
    kafka_fetch_max_wait_ms: int = Field(default=500, ge=1)
    #: false for a broker that holds every fetch for its whole max wait (Tansu, the embedded broker):
    #: consumers then fetch briefly while busy and, idle, pause until a relay announces their topic
    kafka_fetch_answers_early: bool = True
    kafka_max_batch: int = 500
    #: consumer-group liveness; Tansu also holds every group join for half of it, so tests lower it
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    #: a stable name per replica (e.g. the pod name): consumers become static group members, so a
    #: restarted replica takes its old place without waiting for its ghost (``shared.kafka_link``)
    kafka_group_instance_id: str | None = None
    kafka_linger_ms: int = 2
    #: a projection retries a failing event this many times before dead-lettering it
    projection_max_attempts: int = 3
    #: Kafka messages above this size are dead-lettered; appends above it are refused
    max_event_bytes: int = 64 * 1024
    #: HTTP request bodies above this size are refused with 413 before parsing (shared.request_guard)
    max_request_bytes: int = Field(default=64 * 1024, ge=1024)
    relay_batch_size: int = 1000
    #: partitions of a topic the relay has to create and never saw (one it saw comes back with its
    #: own count); unset: the production counts of deploy/kafka/topics.md
    kafka_topic_partitions: int | None = None
    #: how long an Idempotency-Key is remembered (shared.idempotency); at least 24 h
    idempotency_retention_hours: float = Field(default=72.0, ge=24.0)
    log_level: str = "INFO"


class SettingsError(RuntimeError):
    """Start-up configuration is missing or invalid; the message says which variable."""


def load_settings(
    cls: type[ServiceSettings] = ServiceSettings, *, default_port: int | None = None
) -> ServiceSettings:
    """Read settings from the environment, turning pydantic's errors into one clear message.

    ``default_port`` is the service's own port, used when ``HTTP_PORT`` is not set.
    """
    try:
        settings = cls()  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "?"
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid or missing settings: " + "; ".join(problems)) from None
    if default_port is not None and "http_port" not in settings.model_fields_set:
        settings = settings.model_copy(update={"http_port": default_port})
    return settings


# ------------------------------------------------------------- shared mechanisms' own settings
#
# What a shared mechanism reads from the environment whatever the process (a service, the
# operator CLI, the dev runner): one small class each, read when the mechanism starts, so no other
# module of ``shared`` or ``services`` reads the environment itself. An empty variable counts as unset.
# Values stay raw where the mechanism itself explains a bad one (a log line, a CLI message).


class LogSettings(BaseSettings):
    """``LOG_FORMAT`` (``json`` / ``text``) and ``LOG_LIBRARY_LEVEL`` (``shared.logs``)."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    log_format: str | None = None
    log_library_level: str | None = None


class TracingSettings(BaseSettings):
    """The OpenTelemetry variables ``shared.tracing`` honours (the SDK's own names)."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    otel_exporter_otlp_endpoint: str = ""
    otel_sdk_disabled: str = ""
    #: the share of traces kept; parsed (and a bad value logged) by ``shared.tracing``
    otel_traces_sampler_arg: str = ""


class SlaSettings(BaseSettings):
    """``SLA_POLICIES_FILE``: a bank's own SLA policy file (``shared.sla.policy``)."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    sla_policies_file: str | None = None


class ToolSettings(BaseSettings):
    """Where operator tools (``branchcare``, ``python -m services.hq rebuild``) find the stack when
    no option names it: ``DATABASE_URL`` (or ``<SERVICE>_DATABASE_URL``), ``KAFKA_BOOTSTRAP_SERVERS``,
    reception's address, else the dev runner's state directory (``BRANCHCARE_STATE_DIR``); and
    where backups, their metrics and the erasure log go. Unlike :class:`ServiceSettings`, nothing
    is required."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    database_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    branchcare_state_dir: str | None = None
    #: one database per service (production): ``<SERVICE>_DATABASE_URL``, one per context
    reception_database_url: str | None = None
    complaint_database_url: str | None = None
    followup_database_url: str | None = None
    feedback_database_url: str | None = None
    hqfeed_database_url: str | None = None
    hq_database_url: str | None = None
    reception_url: str | None = None
    reception_port: str | None = None
    #: PostgreSQL client programs (pg_dump, pg_restore) of the server's major version
    pg_bin_dir: str | None = None
    branchcare_backup_dir: str | None = None
    branchcare_metrics_textfile_dir: str | None = None
    #: the erasure log's own database (``shared.erasure_log``); unset: reception's
    branchcare_erasure_log_url: str | None = None

    def database_url_for(self, service: str) -> str | None:
        """``<SERVICE>_DATABASE_URL``, else ``DATABASE_URL``."""
        own: str | None = getattr(self, f"{service}_database_url", None)
        return own or self.database_url


class KeySettings(BaseSettings):
    """The secrets the shared security mechanisms use (``shared.crypto``, ``shared.pii``,
    ``shared.auth``, ``shared.service_identity``, ``shared.gateway_identity``, ``shared.devtokens``),
    declared here so the environment is read in one place. Each mechanism validates its own value
    (length, base64, the development-mode rules) with errors that never echo it."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    branchcare_dev_mode: str | None = None
    branchcare_pii_key: SecretStr | None = None
    branchcare_master_key: SecretStr | None = None
    branchcare_master_key_id: str | None = None
    branchcare_master_keys_retired: SecretStr | None = None
    branchcare_jwt_secret: SecretStr | None = None
    branchcare_service_jwt_secret: SecretStr | None = None
    branchcare_gateway_jwt_secret: SecretStr | None = None
    #: where the vault answers other services (``shared.contacts``)
    reception_url: str | None = None


def key_environment() -> Mapping[str, str]:
    """:class:`KeySettings` as the ``VARIABLE → value`` mapping the mechanisms' ``…_from_env``
    functions take (tests hand them a plain dict instead)."""
    values: dict[str, Any] = dict(KeySettings())
    return {
        name.upper(): value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in values.items()
        if value is not None
    }


class PortSettings(BaseSettings):
    """``<SERVICE>_PORT``: the dev runner moves a service's HTTP port with these; the simulator and
    the dev tokens' printed curls follow them (``shared.topology.port_env_var`` names them)."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    reception_port: str | None = None
    complaint_port: str | None = None
    followup_port: str | None = None
    feedback_port: str | None = None
    hq_port: str | None = None
    hqfeed_port: str | None = None
    #: the staff console (no bounded context, so not in ``shared.topology``'s ports)
    console_port: str | None = None


def port_environment() -> Mapping[str, str]:
    """:class:`PortSettings` as ``VARIABLE → value`` (the ones set)."""
    return {name.upper(): value for name, value in dict(PortSettings()).items() if value is not None}


class SimulatorSettings(BaseSettings):
    """``BC_TOKEN`` / ``BC_HQ_TOKEN``: fixed tokens the simulator sends instead of signing its own."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    bc_token: SecretStr | None = None
    bc_hq_token: SecretStr | None = None


class _Named(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)


def named_secret(variable: str) -> SecretStr | None:
    """The variable an operator names on the command line, for a secret kept off it
    (``branchcare vault invalid --token-env``): read like the classes above, a field of a settings
    class made for that name."""
    fields: dict[str, Any] = {"value": (SecretStr | None, Field(default=None, validation_alias=variable))}
    named: BaseSettings = create_model("NamedSecret", __base__=_Named, **fields)()
    value: SecretStr | None = getattr(named, "value")  # noqa: B009 - a field made at run time
    return value


def inherited_environment(**values: str) -> dict[str, str]:
    """This process's environment with ``values`` on top, for a child process that must inherit it:
    the dev runner's services (they read their own settings from it), ``pg_dump`` / ``pg_restore``
    given a password off their command line (``PGPASSWORD``).

    The one place that copies the environment whole, here beside the settings classes: a copy
    passed on is no configuration of this process — what a process uses itself it reads through
    a class above."""
    return {**os.environ, **values}
