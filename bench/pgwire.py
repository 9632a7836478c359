"""Counting a service's PostgreSQL round trips from outside: a TCP proxy that reads the wire.

The service's ``DATABASE_URL`` points at the proxy; the proxy forwards every byte both ways and
parses only what the client sends (the frontend protocol: a type byte and a length per message).
A **round trip** is a message the client must wait for an answer to before it can go on: a
``Sync`` (end of an extended-protocol batch: Parse/Bind/Execute…) or a simple ``Query`` (BEGIN,
COMMIT, the pool's reset, ``execute()`` without arguments). **Statements** are ``Execute`` and
``Query`` messages; **commits** explicit ``COMMIT`` queries; **resets** the pool's reset query
when a connection is released (one per checkout). Counts are kept per ``application_name`` of
the connection (the runner names its pool after the service; the relay's own connection has
none), so a command's traffic is told apart from the relay's. Needs no server extension
(``pg_stat_statements`` must be preloaded, which a shared server rarely is) and no change to the
service.

SSL and GSS encryption requests are refused by the proxy itself, so the conversation stays
readable (the client then goes on in the clear, as with a server without SSL).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import astuple, dataclass, field

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_CANCEL_REQUEST = 80877102


@dataclass
class Tally:
    round_trips: float = 0
    statements: float = 0
    commits: float = 0
    #: asyncpg's reset when a connection goes back to the pool: one per checkout
    resets: float = 0

    def plus(self, other: Tally) -> Tally:
        return Tally(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def minus(self, other: Tally) -> Tally:
        return Tally(*(a - b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass
class FrontendParser:
    """Feeds on the client's bytes of one connection; counts into ``tally``."""

    tally: Tally = field(default_factory=Tally)
    application_name: str = ""
    _buffer: bytearray = field(default_factory=bytearray)
    _started: bool = False

    def feed(self, data: bytes) -> bytes | None:
        """Consume ``data``; returns a reply the proxy must send to the client instead of
        forwarding a (refused) encryption request, else None."""
        self._buffer += data
        reply = None
        while True:
            if not self._started:
                if len(self._buffer) < 8:
                    return reply
                length, code = struct.unpack("!ii", self._buffer[:8])
                if len(self._buffer) < length:
                    return reply
                body = bytes(self._buffer[8:length])
                del self._buffer[:length]
                if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                    reply = b"N"
                    continue
                self._started = True
                if code != _CANCEL_REQUEST:
                    self.application_name = _startup_params(body).get("application_name", "")
                continue
            if len(self._buffer) < 5:
                return reply
            kind = bytes(self._buffer[0:1])
            (length,) = struct.unpack("!i", self._buffer[1:5])
            if len(self._buffer) < 1 + length:
                return reply
            payload = bytes(self._buffer[5 : 1 + length])
            del self._buffer[: 1 + length]
            self._count(kind, payload)

    def _count(self, kind: bytes, payload: bytes) -> None:
        if kind == b"S":
            self.tally.round_trips += 1
        elif kind == b"E":
            self.tally.statements += 1
        elif kind == b"Q":
            self.tally.round_trips += 1
            self.tally.statements += 1
            head = payload.lstrip()[:6].upper()
            if head == b"COMMIT":
                self.tally.commits += 1
            elif b"RESET ALL" in payload:
                self.tally.resets += 1


def _startup_params(body: bytes) -> dict[str, str]:
    parts = body.split(b"\x00")
    return {
        parts[i].decode(errors="replace"): parts[i + 1].decode(errors="replace")
        for i in range(0, len(parts) - 1, 2)
        if parts[i]
    }


class RoundTripProxy:
    """``async with RoundTripProxy(host, port) as proxy``: listens on ``proxy.port``."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.parsers: list[FrontendParser] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    def tally(self, application_name: str) -> Tally:
        """The counts so far over every connection named ``application_name``."""
        total = Tally()
        for parser in self.parsers:
            if parser.application_name == application_name:
                total = total.plus(parser.tally)
        return total

    async def __aenter__(self) -> RoundTripProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = FrontendParser()
        self.parsers.append(parser)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return

        async def client_to_server() -> None:
            while data := await reader.read(65536):
                reply = parser.feed(data)
                if reply is not None:
                    writer.write(reply)
                    data = b""  # an encryption request is never forwarded (it comes alone)
                if data:
                    up_writer.write(data)
                    await up_writer.drain()
            up_writer.close()

        async def server_to_client() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(client_to_server(), server_to_client())
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            up_writer.close()
