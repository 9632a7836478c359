"""The dev stack itself: the Tansu broker process, topic creation, databases, the dev runner."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.devstack import (
    TansuBroker,
    create_topics,
    drop_database,
    ensure_database,
    free_port,
    wait_http_ok,
)
from shared.topology import DEFAULT_PARTITIONS, all_topics

REPO_ROOT = Path(__file__).resolve().parents[2]


def producer(bootstrap: str) -> AIOKafkaProducer:
    # Tansu has no InitProducerId: idempotence must stay off; acks=all still applies
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)


async def read_all(bootstrap: str, topic: str, count: int, timeout: float = 15.0) -> list[bytes]:
    """The first ``count`` values of partition 0 of ``topic``, read from the beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        values: list[bytes] = []
        async with asyncio.timeout(timeout):
            while len(values) < count:
                batch = await consumer.getmany(partition, timeout_ms=200)
                values += [record.value for record in batch.get(partition, []) if record.value]
        return values
    finally:
        await consumer.stop()


async def test_tansu_round_trip_and_pause_resume(tmp_path: Path) -> None:
    with TansuBroker.start(log_dir=tmp_path) as broker:
        topic = f"devstack.{uuid.uuid4().hex[:8]}.v1"
        await create_topics(broker.bootstrap_servers, [topic], partitions=1)
        prod = producer(broker.bootstrap_servers)
        await prod.start()
        try:
            await prod.send_and_wait(topic, b"before pause", key=b"b1")
            assert await read_all(broker.bootstrap_servers, topic, 1) == [b"before pause"]

            broker.pause()
            assert not broker.answers(timeout=0.3), "a SIGSTOPped broker must not answer"
            pending = asyncio.create_task(prod.send_and_wait(topic, b"during pause", key=b"b1"))
            await asyncio.sleep(0.5)
            assert not pending.done(), "nothing can be acknowledged while the broker is frozen"

            broker.resume()
            assert broker.answers()
            await asyncio.wait_for(pending, timeout=15)
        finally:
            await prod.stop()
        assert await read_all(broker.bootstrap_servers, topic, 2) == [
            b"before pause",
            b"during pause",
        ]
        pid = broker.pid
    assert not broker.running
    assert pid is not None and not os.path.exists(f"/proc/{pid}/cmdline")


def test_tansu_restart_comes_back_empty_on_the_same_port(tmp_path: Path) -> None:
    broker = TansuBroker.start(log_dir=tmp_path)
    try:
        port, first_pid = broker.port, broker.pid
        broker.pause()
        broker.restart()  # stopping a paused broker must not hang
        assert broker.port == port and broker.pid != first_pid and broker.answers()
        broker.kill()
        assert not broker.running and not broker.answers(timeout=0.3)
    finally:
        broker.stop()


async def test_create_topics_is_idempotent(kafka: TansuBroker) -> None:
    topic = f"devstack.{uuid.uuid4().hex[:8]}.v1"
    await create_topics(kafka.bootstrap_servers, [topic])
    await create_topics(kafka.bootstrap_servers, [topic, *all_topics()])  # all exist already
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        assert set(all_topics()) | {topic} <= set(await admin.list_topics())
        [described] = await admin.describe_topics([topic])
        assert len(described["partitions"]) == DEFAULT_PARTITIONS
    finally:
        await admin.close()


async def test_database_url_is_a_fresh_database(database_url: str, pg_server_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        name = await conn.fetchval("SELECT current_database()")
        assert name.startswith("bc_test_")
        assert await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        await conn.execute("CREATE TABLE t (x int)")
    finally:
        await conn.close()
    server = await asyncpg.connect(pg_server_url)
    try:
        assert await server.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name) == 1
    finally:
        await server.close()


async def test_ensure_and_drop_database(pg_server_url: str) -> None:
    name = f"bc_test_{uuid.uuid4().hex[:12]}"
    url = await ensure_database(pg_server_url, name)
    assert await ensure_database(pg_server_url, name) == url  # idempotent
    lingering = await asyncpg.connect(url)  # drop must not wait for this one
    try:
        await drop_database(pg_server_url, name)
    finally:
        await lingering.close()
    server = await asyncpg.connect(pg_server_url)
    try:
        assert await server.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name) is None
    finally:
        await server.close()


async def test_dev_runner_starts_a_service_and_stops_cleanly_on_sigterm(
    database_url: str, kafka: TansuBroker, tmp_path: Path
) -> None:
    """``python -m services --no-embedded --only hq`` against the test's PostgreSQL and broker."""
    if not (REPO_ROOT / "services" / "hq" / "__main__.py").exists():
        pytest.skip("services/hq does not exist yet")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "HQ_PORT": str(port),
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
    }
    runner = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services", "--no-embedded", "--only", "hq",
        "--state-dir", str(tmp_path),
        cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert runner.stdout is not None
    output: list[str] = []

    async def read_until(marker: str) -> None:
        assert runner.stdout is not None
        while not any(marker in line for line in output):
            line = await runner.stdout.readline()
            if not line:
                raise AssertionError("runner exited early:\n" + "\n".join(output))
            output.append(line.decode(errors="replace").rstrip())

    try:
        await asyncio.wait_for(read_until("Ctrl-C stops everything"), timeout=90)
        await wait_http_ok(f"http://127.0.0.1:{port}/health", timeout=5)
        assert any(f"http://127.0.0.1:{port}/docs" in line for line in output)
        # the printed dev tokens open the service they were printed for; no token: 401
        tokens = dict(
            line.strip().removeprefix("export ").replace("'", "").split("=", 1)
            for line in output
            if line.strip().startswith("export BC_TOKEN_")
        )
        assert {"BC_TOKEN_LOBBY_B001", "BC_TOKEN_HQ", "BC_TOKEN_ADMIN"} <= set(tokens)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            analyst = {"Authorization": f"Bearer {tokens['BC_TOKEN_HQ']}"}
            assert (await http.get("/hq/status", headers=analyst)).status_code == 200
            lobby = {"Authorization": f"Bearer {tokens['BC_TOKEN_LOBBY_B001']}"}
            assert (await http.get("/hq/status", headers=lobby)).status_code == 403
            assert (await http.get("/hq/status")).status_code == 401
        assert any("curl" in line and "Authorization: Bearer" in line for line in output)
        assert (tmp_path / "logs" / "hq.log").exists()
        runner.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(runner.communicate(), timeout=30)
        output += rest.decode(errors="replace").splitlines()
        assert runner.returncode == 0, "\n".join(output)
        assert output[-1].endswith("stopped")
    finally:
        if runner.returncode is None:
            runner.kill()
            await runner.wait()
