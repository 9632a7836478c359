"""The stack a fault-injection run breaks: like ``make run``, but every part is the run's own.

An embedded PostgreSQL (so it can be restarted), a Tansu broker (memory storage: restarted, it is
empty), and the services the checks need (complaint, reception, follow-up, and HQ with the hqfeed that folds
the branch topics into HQ's contract) as real processes,
with the dev runner's settings (development keys, 2 s consumer sessions). Nothing here re-creates
topics after a broker restart: that is the services' job, and the run measures whether they do it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.devrunner.environment import EMBEDDED_BROKER_SESSION
from shared.devstack import (
    EmbeddedPostgres,
    TansuBroker,
    create_topics,
    ensure_database,
    start_embedded_postgres,
)
from shared.topology import DEFAULT_PARTITIONS, all_topics
from tests.support.services import ServiceProcess

SERVICES = ("complaint", "reception", "followup", "hqfeed", "hq")
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
        env = {
            "BRANCHCARE_DEV_MODE": "1",
            "LOG_FORMAT": "text",
            # topics a service re-creates after the broker lost them get the stack's count, as in make run
            "KAFKA_TOPIC_PARTITIONS": str(DEFAULT_PARTITIONS),
            **EMBEDDED_BROKER_SESSION,
        }
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

    async def healthy(self, timeout: float = 60.0) -> list[str]:
        """Each fault starts from a whole stack: topics there (a broker restarted by the previous
        fault may have lost them; creating is idempotent) and every service ready and not
        degraded. Returns what is still not right after ``timeout`` (the run goes on anyway)."""
        problems: list[str] = []
        with contextlib.suppress(Exception):
            await create_topics(self.broker.bootstrap_servers, all_topics())
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=3) as http:
            while True:
                problems = []
                for name, svc in self.services.items():
                    try:
                        body = (await http.get(f"{svc.url}/ready")).json()
                    except (httpx.HTTPError, ValueError) as exc:
                        problems.append(f"{name}: {type(exc).__name__}")
                        continue
                    if not body.get("ready") or body.get("degraded"):
                        problems.append(f"{name}: {body.get('checks')}")
                if not problems or time.monotonic() > deadline:
                    return problems
                await asyncio.sleep(0.5)

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
