"""The simulator's traffic model and command line: seeded, within opening hours, realistic mixes."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from services.hq.config import DEFAULT_REGIONS_FILE
from services.hq.regions import Regions
from services.simulator import model
from services.simulator.cli import config_from, parse
from services.simulator.client import Stats, parse_base_urls
from services.simulator.progress import line
from shared.pii import customer_ref

SH = ZoneInfo("Asia/Shanghai")
MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=SH)


def test_scores_are_mostly_satisfied_with_a_few_unhappy_customers() -> None:
    rng = random.Random(1)
    scores = Counter(model.score(rng) for _ in range(20_000))
    satisfied = (scores[4] + scores[5]) / 20_000
    assert 0.9 < satisfied < 0.96 and scores[1] + scores[2] > 0 and scores[5] > scores[4] > scores[3]


def test_arrivals_fall_in_opening_hours_and_repeat_with_the_seed() -> None:
    def arrivals(seed: int) -> list[datetime]:
        rng, t, out = random.Random(seed), MONDAY_9, []
        for _ in range(300):
            t = model.next_arrival(rng, t, 30)
            out.append(t)
        return out

    times = arrivals(7)
    assert times == arrivals(7) and times != arrivals(8)
    assert all(model.is_open(t) for t in times)
    assert times == sorted(times) and times[-1] > MONDAY_9.replace(day=3)  # spills into the next days


def test_opening_hours_weekdays_saturday_morning_and_no_sunday() -> None:
    assert model.is_open(MONDAY_9) and not model.is_open(MONDAY_9.replace(hour=17))
    saturday = datetime(2026, 3, 7, 11, 59, tzinfo=SH)
    assert model.is_open(saturday) and not model.is_open(saturday.replace(hour=12))
    assert model.next_opening(saturday.replace(hour=13)) == datetime(2026, 3, 9, 9, 0, tzinfo=SH)
    assert 0 < model.day_shape(MONDAY_9) <= model.day_shape(MONDAY_9.replace(hour=10, minute=30)) == 1.0


def test_branch_ids_map_to_hq_regions_and_an_outage_is_big_enough_for_a_crisis() -> None:
    ids = model.branch_ids(7, 3)
    assert ids[:4] == ["r01-b0001", "r02-b0002", "r03-b0003", "r01-b0004"]
    regions = Regions.load(DEFAULT_REGIONS_FILE)
    assert {regions.region_of(b) for b in ids} == {"r01", "r02", "r03"}
    rng = random.Random(1)
    assert len(model.outage_branches(rng, ids)) == 6
    assert len(model.outage_branches(rng, model.branch_ids(200, 5))) == 20


def test_customer_refs_are_pseudonyms_shaped_like_the_vaults_never_numbers() -> None:
    """32 url-safe base64 characters, like ``shared.pii.customer_ref``; no digit run that could
    pass for a phone, card or ID number; the same seed gives the same customers."""
    refs = [model.customer_ref(random.Random(seed)) for seed in range(2_000)]
    assert refs == [model.customer_ref(random.Random(seed)) for seed in range(2_000)]
    for ref in refs:
        assert re.fullmatch(r"[A-Za-z0-9_\-]{32}", ref), ref
        assert not re.search(r"\d{4}", ref) and sum(c.isdigit() for c in ref) <= 8, ref
    assert len(set(refs)) > 1_990
    vault_shaped = customer_ref("a customer", b"k" * 32)
    assert len(vault_shaped) == len(refs[0])


def test_command_line_defaults_demo_and_base_urls() -> None:
    plain = config_from(parse([]))
    assert (plain.branches, plain.minutes, plain.speed, plain.outage_after) == (10, 60.0, 60.0, 20.0)
    demo = config_from(parse(["--demo", "--no-outage"]))
    assert demo.minutes is None and demo.outage_after is None and demo.start is not None
    assert demo.start.hour == 10
    urls = parse_base_urls("hq=http://h:9/,complaint=http://c:1", host="10.0.0.1", environ={})
    assert urls["hq"] == "http://h:9" and urls["reception"] == "http://10.0.0.1:8001"
    with pytest.raises(ValueError):
        parse_base_urls("console=http://x")


def test_base_urls_follow_the_ports_the_dev_runner_was_moved_to() -> None:
    moved = {"RECEPTION_PORT": "18001", "HQ_PORT": "18005", "FEEDBACK_PORT": "not a port"}
    urls = parse_base_urls("complaint=http://c:1", environ=moved)
    assert urls["reception"] == "http://127.0.0.1:18001" and urls["hq"] == "http://127.0.0.1:18005"
    assert urls["feedback"] == "http://127.0.0.1:8004" and urls["complaint"] == "http://c:1"


def test_the_live_line_is_compact() -> None:
    stats = Stats()
    stats.requests.update({"reception": 120, "complaint": 14})
    stats.fail("complaint", "complaint POST /x 500", "complaint POST /x → 500 boom")
    stats.fail("complaint", "complaint POST /x 500", "complaint POST /x → 500 boom again")
    stats.conflicts["line emptied meanwhile"] += 3
    stats.done.update({"visits": 30, "complaints": 4})
    text = line(stats, MONDAY_9, 12.34, "HQ 6 branches, 1 crises")
    head = "sim Mon 09:00 |   12.3 req/s | errors 2 conflicts 3 | rece 120 comp 14 | visits 30"
    assert text.startswith(head)
    [failure] = stats.failures.values()  # reported once, with the first response
    assert failure.count == 2 and failure.message == "complaint POST /x → 500 boom"
    assert text.endswith("HQ 6 branches, 1 crises") and len(text) < 200
