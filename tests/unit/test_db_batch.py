"""Queued writes become one statement: CTEs in order, parameters renumbered after one another."""

from __future__ import annotations

import pytest

from shared.db_batch import Batch


def test_writes_become_ctes_with_their_parameters_renumbered() -> None:
    batch = Batch()
    batch.add("INSERT INTO a (x, y) VALUES ($1, $2)", 1, 2)
    batch.add("UPDATE b SET z = $1 WHERE id = $2;", 3, 4)
    sql, args = batch.compose("SELECT $1::int AS n", (5,))
    assert sql == (
        "WITH w0 AS (INSERT INTO a (x, y) VALUES ($1, $2)),\n"
        "w1 AS (UPDATE b SET z = $3 WHERE id = $4)\n"
        "SELECT $5::int AS n"
    )
    assert args == [1, 2, 3, 4, 5]


def test_a_last_statement_with_its_own_ctes_keeps_them_after_the_writes() -> None:
    batch = Batch()
    batch.add("DELETE FROM a WHERE id = $1", 7)
    sql, args = batch.compose("\nWITH last AS (SELECT $1 AS v) SELECT v FROM last", ("x",))
    assert sql == "WITH w0 AS (DELETE FROM a WHERE id = $1),\n last AS (SELECT $2 AS v) SELECT v FROM last"
    assert args == [7, "x"]


def test_nothing_queued_is_the_last_statement_alone_and_two_digit_parameters_shift() -> None:
    assert Batch().compose("SELECT $1", (1,)) == ("SELECT $1", [1])
    batch = Batch()
    batch.add("SELECT " + ", ".join(f"${n}" for n in range(1, 12)), *range(11))
    sql, _ = batch.compose("SELECT $10, $11", (0, 0))
    assert sql.endswith("SELECT $21, $22")


def test_dollar_quoted_sql_is_refused() -> None:
    with pytest.raises(ValueError):
        Batch().add("DO $$ BEGIN END $$")
