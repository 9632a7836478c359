"""The round-trip tests count a request's statements only: a transaction that was already open
when the count began (a reaction batch working off the shared topics' backlog) is another's."""

from __future__ import annotations

from shared.db_statements import Tally
from tests.support.round_trips import drop_begun_before

REQUEST = ["BEGIN;", "WITH last AS (append)", "COMMIT;"]


def tally(*connections: list[str]) -> Tally:
    counted = Tally()
    for key, statements in enumerate(connections):
        counted.by_connection[key] = list(statements)
        counted.statements += statements
    return counted


def test_a_transaction_committed_inside_the_window_but_begun_before_is_left_out() -> None:
    counted = tally(
        REQUEST, ["INSERT INTO visit_departures", "UPDATE projection_positions", "COMMIT;", "SELECT 1"]
    )
    drop_begun_before(counted)
    assert counted.by_connection == {0: REQUEST, 1: ["SELECT 1"]}


def test_a_transaction_still_open_at_the_end_is_known_by_its_savepoint() -> None:
    counted = tally(REQUEST, ["INSERT INTO customer_aliases", "SAVEPOINT s1;", "INSERT INTO complaint_board"])
    drop_begun_before(counted)
    assert counted.by_connection == {0: REQUEST, 1: []}


def test_the_requests_own_statements_outside_a_transaction_stay() -> None:
    audit = ["INSERT INTO audit_log", "RESET ALL"]
    counted = tally(REQUEST + audit, audit)
    drop_begun_before(counted)
    assert counted.by_connection == {0: REQUEST + audit, 1: audit}


def test_a_rollback_to_a_savepoint_ends_nothing() -> None:
    """A reaction batch begun before the count, retrying one event in its savepoint, then
    committing inside the window (seen in a whole run: its statements were counted as the
    create's)."""
    batch = ["ROLLBACK TO __asyncpg_savepoint_1__;", "COMMIT;"]
    counted = tally(REQUEST, [*batch, "SELECT 1"])
    drop_begun_before(counted)
    assert counted.by_connection == {0: REQUEST, 1: ["SELECT 1"]}
    retried = ["BEGIN;", "SAVEPOINT s1;", "ROLLBACK TO s1;", "SELECT 2", "COMMIT;"]
    assert Tally(by_connection={0: retried}).parts() == [retried]
