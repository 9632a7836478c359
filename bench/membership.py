"""``python -m bench.membership``: how long a consumer killed with SIGKILL takes to rejoin its group.

Measures what ``shared/kafka_link.py`` and ``deploy/README.md`` state about the embedded broker
(Tansu): a member (a child process) joins, is killed, and a new one with the same settings joins;
printed per setting: the first join and the rejoin after the kill. Dynamic members wait for the
ghost's session to expire; static members (``group_instance_id``) should not, if the broker
honours KIP-345. Set ``KAFKA_BOOTSTRAP_SERVERS`` to measure another broker (e.g. Apache Kafka).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer

from shared.devstack import TansuBroker, create_topics

TOPIC = "membership.probe.v1"
SETTINGS = (("", 10_000), ("static-1", 10_000), ("", 3_000), ("static-1", 3_000), ("", 2_000))


async def _member(bootstrap: str, group: str, instance: str, session_ms: int, hold: bool) -> None:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=group,
        group_instance_id=instance or None,
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=max(250, session_ms // 4),
        auto_offset_reset="earliest",
    )
    started = time.monotonic()
    await consumer.start()
    print(f"{time.monotonic() - started:.2f}", flush=True)
    if hold:
        await asyncio.sleep(3600)
    await consumer.stop()


def _argv(bootstrap: str, group: str, instance: str, session_ms: int, hold: bool) -> list[str]:
    mode = "hold" if hold else "once"
    return [
        sys.executable,
        "-m",
        "bench.membership",
        "--member",
        bootstrap,
        group,
        instance or "-",
        str(session_ms),
        mode,
    ]


def main() -> None:
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = TansuBroker.start()
        bootstrap = broker.bootstrap_servers
    asyncio.run(create_topics(bootstrap, [TOPIC]))
    try:
        print(f"{'membership':<10} {'session':>8} {'first join':>11} {'rejoin after SIGKILL':>21}")
        for instance, session_ms in SETTINGS:
            group = f"probe-{uuid.uuid4().hex[:8]}"
            first = subprocess.Popen(
                _argv(bootstrap, group, instance, session_ms, True), stdout=subprocess.PIPE, text=True
            )
            assert first.stdout is not None
            joined = first.stdout.readline().strip()
            first.send_signal(signal.SIGKILL)
            first.wait()
            again = subprocess.run(
                _argv(bootstrap, group, instance, session_ms, False),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            kind = "static" if instance else "dynamic"
            rejoin = again.stdout.strip() or "failed"
            print(f"{kind:<10} {session_ms / 1000:>7.0f}s {joined:>10}s {rejoin:>20}s", flush=True)
    finally:
        if broker is not None:
            broker.cleanup()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--member":
        bootstrap, group, instance, session, mode = sys.argv[2:7]
        member = _member(bootstrap, group, "" if instance == "-" else instance, int(session), mode == "hold")
        asyncio.run(member)
    else:
        main()
