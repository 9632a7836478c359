"""A minimal HTTP/1.1 keep-alive client for generating load: a few hundred µs of CPU per request.

The load generator shares the machine's two cores with the system it measures. httpx costs
2-3 ms of CPU per request here (see ``--client httpx``), which at 500 requests/s would take a
whole core away from the services. This client speaks just enough HTTP/1.1 for JSON POSTs to
uvicorn: a fixed pool of persistent connections, Content-Length bodies, reconnect on close, and
one retry of a request that met a kept-alive connection the server had just closed.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Protocol


class Response(Protocol):
    status_code: int

    def json(self) -> Any: ...


class _Response:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self._body = body

    def json(self) -> Any:
        return json.loads(self._body)


class HTTPError(Exception):
    pass


#: a kept-alive connection idle this long is replaced before use: a request written just as the
#: server closes an idle one would fail for no fault of the service (the services keep them 75 s)
IDLE_SECONDS = 4.0


class _Stale(Exception):
    """A kept-alive connection turned out closed before any byte of the response arrived."""


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_used = 0.0

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> _Response:
        """Send one request; like a real client, a request that met a kept-alive connection the
        server had closed (nothing answered) is sent again once on a fresh connection."""
        if self._reader is not None and (
            self._reader.at_eof() or time.monotonic() - self._last_used > IDLE_SECONDS
        ):
            self.close()
        reused = self._writer is not None and not self._writer.is_closing()
        try:
            return await self._exchange(method, path, body, headers)
        except _Stale as exc:
            self.close()
            if not reused:
                raise HTTPError(f"{method} {path}: connection closed without an answer") from exc
            return await self._exchange(method, path, body, headers)

    async def _exchange(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> _Response:
        if self._writer is None or self._writer.is_closing():
            try:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                raise HTTPError(f"{method} {path}: {exc!r}") from exc
        assert self._reader is not None
        head = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}", f"content-length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        try:
            self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            raw = await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise _Stale from exc
            self.close()
            raise HTTPError(f"{method} {path}: {exc!r}") from exc
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise _Stale from exc
        except (OSError, asyncio.LimitOverrunError) as exc:
            self.close()
            raise HTTPError(f"{method} {path}: {exc!r}") from exc
        try:
            lines = raw.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            fields = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            payload = await self._reader.readexactly(int(fields.get("content-length", "0")))
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            self.close()
            raise HTTPError(f"{method} {path}: {exc!r}") from exc
        self._last_used = time.monotonic()
        if fields.get("connection", "").lower() == "close":
            self.close()
        return _Response(status, payload)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class LoadClient:
    """``connections`` persistent connections to ``base_url``; a request waits for a free one."""

    def __init__(self, base_url: str, connections: int) -> None:
        host, _, port = base_url.removeprefix("http://").rstrip("/").partition(":")
        self._all = [_Connection(host, int(port or 80)) for _ in range(connections)]
        self._idle: asyncio.Queue[_Connection] = asyncio.Queue()
        for conn in self._all:
            self._idle.put_nowait(conn)

    async def post(self, path: str, *, json: Any, headers: dict[str, str] | None = None) -> Response:
        return await self.request("POST", path, json=json, headers=headers)

    async def get(self, path: str, *, headers: dict[str, str] | None = None) -> Response:
        return await self.request("GET", path, headers=headers)

    async def request(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        body = b"" if json is None else _dumps(json)
        fields = {"content-type": "application/json", **(headers or {})} if body else dict(headers or {})
        conn = await self._idle.get()
        try:
            return await conn.request(method, path, body, fields)
        except asyncio.CancelledError:
            conn.close()  # a request may be half-way: the connection cannot be reused
            raise
        finally:
            self._idle.put_nowait(conn)

    async def aclose(self) -> None:
        for conn in self._all:
            conn.close()

    async def __aenter__(self) -> LoadClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
