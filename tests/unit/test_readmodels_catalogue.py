"""``branchcare rebuild --list`` says the truth: every rebuildable entry has its rebuilder, every
rebuilder is listed, and every table a rebuild empties is named."""

from __future__ import annotations

from shared.readmodels.catalogue import CATALOGUE
from shared.readmodels.kafka_fed import replays
from shared.readmodels.store_fed import rebuilders
from shared.topology import CONTEXTS


def test_every_store_and_topic_entry_has_its_rebuilder_with_the_same_tables() -> None:
    store = {(r.schema, r.name): r.tables for r in rebuilders()}
    topics = {(r.schema, r.name): r.tables for r in replays() if r.live}
    drill_only = {(r.schema, r.name): r.tables for r in replays() if not r.live}
    listed = {(e.service, e.name): e for e in CATALOGUE}
    assert len(listed) == len(CATALOGUE)  # names are unique per service
    for key, tables in store.items():
        assert listed[key].kind == "store" and listed[key].tables == tables
    for key, tables in topics.items():
        assert listed[key].kind == "topics" and listed[key].tables == tables
    for key, tables in drill_only.items():  # refused live (or by generation), rebuilt by the restore drill
        entry = listed[key]
        assert (entry.kind, entry.tables) == ("refused", tables) or entry.kind == "generation"
    for key, entry in listed.items():
        if entry.kind in ("store", "topics"):
            assert key in store or key in topics


def test_every_service_is_listed() -> None:
    assert {e.service for e in CATALOGUE} == set(CONTEXTS)
