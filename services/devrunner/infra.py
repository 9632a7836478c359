"""PostgreSQL and Kafka for the dev runner: from the environment, else embedded processes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from services.devrunner.base import StartupError, say
from shared.cli._common import INFRA_FILE, write_dev_infra
from shared.devstack import (
    EmbeddedPostgres,
    TansuBroker,
    create_topics,
    ensure_database,
    port_is_free,
    start_embedded_postgres,
)
from shared.topology import all_topics

DATABASE_NAME = "branchcare"
DEFAULT_KAFKA_PORT = 9092


def redact(url: str) -> str:
    """A DSN without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class Infra:
    """Addresses of PostgreSQL and Kafka, and the embedded processes if the runner owns them."""

    state_dir: Path
    database_url: str = ""
    bootstrap_servers: str = ""
    pg: EmbeddedPostgres | None = None
    broker: TansuBroker | None = None

    async def start(self, env_db: str | None, env_kafka: str | None, *, embedded_allowed: bool) -> None:
        """The environment's PostgreSQL (``DATABASE_URL``) and Kafka (``KAFKA_BOOTSTRAP_SERVERS``)
        when given, else embedded ones (unless not ``embedded_allowed``)."""
        if not embedded_allowed and not (env_db and env_kafka):
            raise StartupError(
                "--no-embedded needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS in the environment"
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if env_db:
            self.database_url = env_db
        else:
            say(f"starting embedded PostgreSQL (data in {self.state_dir / 'pg'}) ...")
            try:
                self.pg = start_embedded_postgres(self.state_dir / "pg")
                self.database_url = await ensure_database(self.pg.url, DATABASE_NAME)
            except (RuntimeError, OSError) as exc:
                raise StartupError(f"embedded PostgreSQL did not start: {exc}") from exc
        if env_kafka:
            self.bootstrap_servers = env_kafka
        else:
            port = DEFAULT_KAFKA_PORT if port_is_free(DEFAULT_KAFKA_PORT) else None
            say("starting embedded Kafka-protocol broker (tansu, memory storage) ...")
            try:
                self.broker = TansuBroker.start(port, log_dir=self.log_dir)
            except (RuntimeError, TimeoutError, OSError) as exc:
                raise StartupError(f"embedded broker did not start: {exc}") from exc
            self.bootstrap_servers = self.broker.bootstrap_servers
        topics = all_topics()
        try:
            await asyncio.wait_for(create_topics(self.bootstrap_servers, topics), 30)
        except Exception as exc:
            raise StartupError(f"no topics on {self.bootstrap_servers}: {exc}") from exc
        say(f"{len(topics)} topics ready on {self.bootstrap_servers}")
        # `branchcare` commands find this stack with no arguments (removed again by stop())
        write_dev_infra(self.state_dir, self.database_url, self.bootstrap_servers)

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def stop(self) -> None:
        (self.state_dir / INFRA_FILE).unlink(missing_ok=True)
        if self.broker is not None:
            say("stopping the broker ...")
            self.broker.stop()
        if self.pg is not None:
            say("stopping PostgreSQL ...")
            self.pg.stop()

    def describe(self) -> list[tuple[str, str]]:
        kafka = self.bootstrap_servers + (
            f"  (embedded tansu, log {self.broker.log_path})" if self.broker else "  (from env)"
        )
        db = redact(self.database_url) + (
            f"  (embedded, data {self.pg.data_dir})" if self.pg else "  (from env)"
        )
        return [("Kafka", kafka), ("PostgreSQL", db)]
