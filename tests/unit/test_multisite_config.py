"""The compose profile ``multisite`` and the MirrorMaker 2 files replicate only HQ-facing topics.

No Docker engine here: the compose file and the MM2 properties are checked statically (what
``docker compose --profile multisite config`` would reject, plus the topic rules of issue 16).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from shared.catalogue import SUBSCRIPTIONS
from shared.topology import CONTEXTS, events_topic

ROOT = Path(__file__).resolve().parents[2]
KAFKA = ROOT / "deploy" / "kafka"
DOMAIN_TOPICS = [events_topic(c) for c in ("reception", "complaint", "followup", "feedback")]


def properties(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def flows(props: dict[str, str]) -> dict[tuple[str, str], re.Pattern[str]]:
    out = {}
    for key, value in props.items():
        m = re.fullmatch(r"(\w+)->(\w+)\.topics", key)
        if m and props.get(f"{m[1]}->{m[2]}.enabled") == "true":
            out[(m[1], m[2])] = re.compile(value)
    return out


def compose() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def test_hq_reads_only_the_contract_topic() -> None:
    assert SUBSCRIPTIONS["hq"] == ("hqfeed",)
    assert "hqfeed" in CONTEXTS


def test_mirror_maker_copies_only_hq_facing_topics() -> None:
    for name in ("mm2.properties", "mm2-compose.properties"):
        props = properties(KAFKA / name)
        assert props["replication.policy.class"].endswith("IdentityReplicationPolicy"), name
        found = flows(props)
        to_hq = [p for (src, dst), p in found.items() if dst == "hq"]
        from_hq = [p for (src, dst), p in found.items() if src == "hq"]
        assert to_hq and from_hq, name
        for pattern in to_hq:
            assert pattern.fullmatch("hqfeed.events.v1"), name
            for topic in [*DOMAIN_TOPICS, "hq.events.v1", "hqfeed.events.v1.dlq"]:
                assert not pattern.fullmatch(topic), f"{name} copies {topic} to HQ"
        for pattern in from_hq:
            assert pattern.fullmatch("hq.events.v1"), name
            assert not pattern.fullmatch("hqfeed.events.v1"), f"{name} would loop"


def test_the_multisite_profile_is_a_second_cluster_and_mirror_maker() -> None:
    services = compose()["services"]
    for name in ("kafka-hq", "kafka-hq-init", "mirror-maker"):
        assert services[name].get("profiles") == ["multisite"], name
    # the default stack (no profile) is unchanged: every other service runs without a profile
    assert all(
        "profiles" not in s
        for n, s in services.items()
        if n not in ("kafka-hq", "kafka-hq-init", "mirror-maker")
    )
    mm = services["mirror-maker"]
    assert "connect-mirror-maker.sh" in " ".join(mm["command"])
    mounts = {v.split(":")[1]: v.split(":")[0] for v in mm["volumes"]}
    assert mounts["/etc/mm2/mm2.properties"] == "./deploy/kafka/mm2-compose.properties"
    props = properties(KAFKA / "mm2-compose.properties")
    hosts = {props["branch.bootstrap.servers"].split(":")[0], props["hq.bootstrap.servers"].split(":")[0]}
    assert hosts == {"kafka", "kafka-hq"} <= set(services)
    assert "hqfeed.events.v1" in services["kafka-hq-init"]["environment"]["TOPICS"]
    assert "hqfeed.events.v1" in services["kafka-init"]["environment"]["TOPICS"]
    # HQ follows HQ_KAFKA_BOOTSTRAP_SERVERS (kafka-hq in the profile), the aggregator the branch cluster
    assert (
        services["hq"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"]
        == "${HQ_KAFKA_BOOTSTRAP_SERVERS:-kafka:9092}"
    )
    assert services["hqfeed"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    for name in ("kafka-hq", "kafka-hq-init", "mirror-maker"):
        for dep in services[name].get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
