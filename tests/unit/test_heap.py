"""Start-up's heap out of full collections (``shared.heap``)."""

from __future__ import annotations

import gc

from shared.heap import settle_heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_settle_heap_collects_startup_garbage_then_freezes_what_is_alive() -> None:
    kept = Node()
    Node()  # garbage made during start-up: collected, not frozen for good
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert not any(type(o) is Node for o in gc.get_objects())  # frozen objects are out of sight
        young = Node()
        assert any(o is young for o in gc.get_objects())  # what the service makes after is not
    finally:
        gc.unfreeze()
    assert any(o is kept for o in gc.get_objects())
