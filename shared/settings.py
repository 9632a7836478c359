"""Service settings from the environment (pydantic-settings).

Required values without a default (``DATABASE_URL``, ``KAFKA_BOOTSTRAP_SERVERS``) fail at start-up
with a message that names the missing variable; reachability is checked by the service runner.
"""

from __future__ import annotations

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = Field(description="PostgreSQL DSN, e.g. postgresql://user@host:5432/db")
    kafka_bootstrap_servers: str = Field(description="Kafka bootstrap servers, host:port[,host:port]")
    http_host: str = "0.0.0.0"
    http_port: int = 8000
    db_pool_min: int = 2
    db_pool_max: int = 20
    #: consumer fetch wait; aiokafka's 500 ms default alone would blow the latency budget
    kafka_fetch_max_wait_ms: int = 10
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
