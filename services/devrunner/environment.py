"""The environment every service process of the dev runner gets."""

from __future__ import annotations

from collections.abc import Mapping

from services.devrunner.base import DEV_MODE_ENV, RECEPTION_URL_ENV
from services.devrunner.child import Service
from services.devrunner.infra import Infra
from shared.topology import DEFAULT_PARTITIONS, port_env_var

EMBEDDED_BROKER_SESSION = {
    "KAFKA_SESSION_TIMEOUT_MS": "2000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    # Tansu holds a fetch for its whole max wait: idle consumers pause until woken (shared.fetch_pacing)
    "KAFKA_FETCH_ANSWERS_EARLY": "false",
}


def child_env(infra: Infra, planned: list[Service], environ: Mapping[str, str]) -> dict[str, str]:
    """What every service process gets: development mode and text logs (unless the environment
    says otherwise), the infrastructure's addresses, every service's port (a console finds the others)
    and reception's URL (feedback's SMS sender resolves phone numbers in reception's vault)."""
    ports = {s.name: s.port for s in planned}
    env = {
        DEV_MODE_ENV: "1",  # public development keys, unless the environment says otherwise
        # readable lines: the runner prefixes every line with the service's name for a person to
        # read (a prefixed JSON line is no JSON line anyway); LOG_FORMAT=json in the environment wins
        "LOG_FORMAT": "text",
        # a topic a service has to re-create (the embedded broker restarted empty) gets the dev
        # stack's partition count, not production's (deploy/kafka/topics.md)
        "KAFKA_TOPIC_PARTITIONS": str(DEFAULT_PARTITIONS),
        # the embedded broker gains nothing from static membership: a restarted member waits for
        # its ghost's session, so keep it short (shared/kafka_link.py has the measurements); it
        # holds fetches, so idle consumers pause until a relay wakes them (shared/fetch_pacing.py)
        **(EMBEDDED_BROKER_SESSION if infra.broker is not None else {}),
        **environ,
        "DATABASE_URL": infra.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "PYTHONUNBUFFERED": "1",
        **{port_env_var(name): str(port) for name, port in ports.items()},
    }
    if "reception" in ports and not environ.get(RECEPTION_URL_ENV):
        env[RECEPTION_URL_ENV] = f"http://127.0.0.1:{ports['reception']}"
    return env
