"""The stack a fault-injection run breaks: like ``make run``, but every part is the run's own.

An embedded PostgreSQL (so it can be restarted), a Tansu broker (memory storage: restarted, it is
empty), and the services the checks need (complaint, reception, follow-up, HQ) as real processes,
with the dev runner's settings (development keys, 3 s consumer sessions). Nothing here re-creates
topics after a broker restart: that is the services' job, and the run measures whether they do it.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from services.__main__ import EMBEDDED_BROKER_SESSION
from shared.devstack import (
    EmbeddedPostgres,
    TansuBroker,
    create_topics,
    ensure_database,
    start_embedded_postgres,
)
from shared.topology import all_topics
from tests.support.services import ServiceProcess

SERVICES = ("complaint", "reception", "followup", "hq")
DATABASE = "branchcare"


@dataclass
class ChaosStack:
    work: Path
    postgres: EmbeddedPostgres
    broker: TansuBroker
    database_url: str
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    @classmethod
    async def start(cls) -> ChaosStack:
        work = Path(tempfile.mkdtemp(prefix="bc-chaos-"))
        postgres = start_embedded_postgres(work / "pg", settings={"fsync": "off"})
        database_url = await ensure_database(postgres.url, DATABASE)
        broker = TansuBroker.start(log_dir=work / "logs")
        await create_topics(broker.bootstrap_servers, all_topics())
        stack = cls(work, postgres, broker, database_url)
        env = {"BRANCHCARE_DEV_MODE": "1", "LOG_FORMAT": "text", **EMBEDDED_BROKER_SESSION}
        for name in SERVICES:
            stack.services[name] = ServiceProcess(
                name,
                database_url=database_url,
                kafka_bootstrap_servers=broker.bootstrap_servers,
                env=env,
                log_dir=work / "logs",
            )
        await asyncio.gather(*(svc.start(timeout=90) for svc in stack.services.values()))
        return stack

    def url(self, service: str) -> str:
        return self.services[service].url

    def restart_postgres(self) -> None:
        """``pg_ctl stop -m fast`` then start on the same port and data directory."""
        self.postgres.stop()
        self.postgres = start_embedded_postgres(
            self.work / "pg", port=self.postgres.port, settings={"fsync": "off"}
        )

    def stop_postgres(self) -> None:
        self.postgres.stop()

    def start_postgres(self) -> None:
        self.postgres = start_embedded_postgres(
            self.work / "pg", port=self.postgres.port, settings={"fsync": "off"}
        )

    async def stop(self) -> None:
        for svc in self.services.values():
            if svc.running:
                try:
                    await svc.terminate(timeout=20)
                except RuntimeError:
                    svc.kill()
        self.broker.stop()
        self.postgres.stop()

    def cleanup(self, keep_logs: bool) -> None:
        if not keep_logs:
            shutil.rmtree(self.work, ignore_errors=True)
