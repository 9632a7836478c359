"""The pure parts of ``shared.reactions``: how queued writes are grouped into statements."""

from __future__ import annotations

from shared.reactions import _grouped, _runs


def test_queued_writes_keep_their_order_runs_of_one_statement_go_together() -> None:
    writes = [("A", (1,)), ("A", (2,)), ("B", (3,)), ("A", (4,))]
    assert list(_runs(writes)) == [("A", [(1,), (2,)]), ("B", [(3,)]), ("A", [(4,)])]
    assert list(_runs([])) == []


def test_after_change_writes_are_grouped_by_statement_in_first_seen_order() -> None:
    writes = [("tasks", (1,)), ("deadlines", (1,)), ("tasks", (2,)), ("deadlines", (2,))]
    assert _grouped(writes) == [("tasks", [(1,), (2,)]), ("deadlines", [(1,), (2,)])]
