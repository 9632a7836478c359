"""The wire counter reads the PostgreSQL frontend protocol as asyncpg speaks it."""

from __future__ import annotations

import struct

from bench.pgwire import FrontendParser, Tally


def message(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + struct.pack("!i", 4 + len(payload)) + payload


def startup(**params: str) -> bytes:
    body = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
    return struct.pack("!ii", 8 + len(body), 196608) + body


def test_counts_round_trips_statements_commits_and_checkouts() -> None:
    parser = FrontendParser()
    ssl = struct.pack("!ii", 8, 80877103)
    assert parser.feed(ssl) == b"N"  # encryption is refused, so the rest stays readable
    stream = (
        startup(user="postgres", application_name="complaint")
        + message(b"Q", b"BEGIN;\0")
        + message(b"P", b"\0INSERT ...\0\0\0")
        + message(b"B", b"\0\0\0\0\0\0\0\0")
        + message(b"E", b"\0\0\0\0\0")
        + message(b"S")
        + message(b"Q", b"COMMIT;\0")
        + message(b"Q", b"SELECT pg_advisory_unlock_all();\nCLOSE ALL;\nUNLISTEN *;\nRESET ALL;\0")
    )
    for i in range(0, len(stream), 7):  # in arbitrary pieces, as TCP delivers them
        assert parser.feed(stream[i : i + 7]) is None
    assert parser.application_name == "complaint"
    assert parser.tally == Tally(round_trips=4, statements=4, commits=1, resets=1)


def test_tally_arithmetic() -> None:
    assert Tally(5, 4, 1, 1).minus(Tally(1, 1, 0, 1)).plus(Tally(1, 0, 0, 0)) == Tally(5, 3, 1, 0)
