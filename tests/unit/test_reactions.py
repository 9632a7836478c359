"""The pure parts of ``shared.reactions``: how queued writes are grouped into statements."""

from __future__ import annotations

import json

from shared.reactions import _grouped, _joined, _runs, json_rows


def test_queued_writes_keep_their_order_runs_of_one_statement_go_together() -> None:
    writes = [("A", (1,)), ("A", (2,)), ("B", (3,)), ("A", (4,))]
    assert list(_runs(writes)) == [("A", [(1,), (2,)]), ("B", [(3,)]), ("A", [(4,)])]
    assert list(_runs([])) == []


def test_after_change_writes_are_grouped_by_statement_in_first_seen_order() -> None:
    writes = [("tasks", (1,)), ("deadlines", (1,)), ("tasks", (2,)), ("deadlines", (2,))]
    assert _grouped(writes) == [("tasks", [(1,), (2,)]), ("deadlines", [(1,), (2,)])]


def test_a_statement_reading_its_rows_from_one_json_parameter_is_joined() -> None:
    assert json_rows("INSERT INTO t (a) SELECT r.a FROM json_to_recordset($1::json) AS r(a int)")
    assert json_rows(
        "INSERT INTO t SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(a int) ON CONFLICT DO NOTHING"
    )
    # a second parameter, or rows not from the first: one execution per row as before
    assert not json_rows("INSERT INTO t SELECT r.a, $2 FROM json_to_recordset($1::json) AS r(a int)")
    assert not json_rows("INSERT INTO t (a) VALUES ($1)")
    assert not json_rows("SELECT * FROM json_to_recordset($2::json) AS r(a int)")


def test_json_rows_arguments_join_into_one_array() -> None:
    rows = [('[{"a": 1}]',), ("[]",), (' [ {"a": 2}, {"a": 3} ] ',)]
    joined = _joined(rows)
    assert joined == ('[{"a": 1},{"a": 2}, {"a": 3}]',)
    assert json.loads(str(joined[0])) == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert _joined([("[]",), ("[]",)]) == ("[]",)
