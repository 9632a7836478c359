"""The load generator's client behaves like a real one when a server closes an idle connection."""

from __future__ import annotations

import asyncio

import pytest

from bench import http_client
from bench.http_client import LoadClient


async def serve_one_request_per_connection() -> tuple[asyncio.Server, list[int]]:
    """A server that answers one request per connection and then closes it silently (as uvicorn
    does to a connection idle past its keep-alive), counting the requests it saw."""
    seen: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        seen.append(length)
        body = b'{"ok":true}'
        writer.write(b"HTTP/1.1 201 Created\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, seen


async def test_a_request_on_a_connection_the_server_closed_is_sent_again() -> None:
    server, seen = await serve_one_request_per_connection()
    port = server.sockets[0].getsockname()[1]
    async with server, LoadClient(f"http://127.0.0.1:{port}", connections=1) as client:
        for _ in range(3):
            response = await client.post("/x", json={"a": 1})
            assert response.status_code == 201 and response.json() == {"ok": True}
            await asyncio.sleep(0.05)  # the server's close has arrived: reconnect before sending
        # the close not yet seen when the next request is written: the retry covers it
        for _ in range(3):
            assert (await client.post("/x", json={"a": 1})).status_code == 201
    assert len(seen) == 6  # each request reached the server exactly once


async def test_an_idle_connection_is_replaced_before_the_server_drops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http_client, "IDLE_SECONDS", 0.0)
    server, seen = await serve_one_request_per_connection()
    port = server.sockets[0].getsockname()[1]
    async with server, LoadClient(f"http://127.0.0.1:{port}", connections=1) as client:
        for _ in range(3):
            assert (await client.get("/y")).status_code == 201
    assert seen == [0, 0, 0]
