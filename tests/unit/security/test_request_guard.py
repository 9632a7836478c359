"""The request guard over real HTTP (uvicorn on localhost, no database): 413 before parsing,
for a declared and for a chunked body; 415 for a body that is not JSON; JSON reasons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from shared.request_guard import FORM_TYPES, install_request_guard
from tests.support.services import serve_app

LIMIT = 4096


class Body(BaseModel):
    text: str = ""


def make_app(accept: frozenset[str] = frozenset()) -> tuple[FastAPI, list[int]]:
    app = FastAPI()
    parsed: list[int] = []

    @app.post("/json")
    async def take_json(body: Body) -> dict[str, int]:
        parsed.append(len(body.text))
        return {"length": len(body.text)}

    @app.post("/nobody")
    async def no_body() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/form")
    async def take_form(request: Request) -> dict[str, Any]:
        form = await request.form()
        parsed.append(len(form))
        return {"fields": sorted(form.keys())}

    install_request_guard(app, max_body_bytes=LIMIT, accept=accept)
    return app, parsed


async def _chunks(total: int, size: int = 1024) -> AsyncIterator[bytes]:
    yield b'{"text": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


async def test_sizes_and_types() -> None:
    app, parsed = make_app()
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        ok = await http.post("/json", json={"text": "x" * 1000})
        assert ok.status_code == 200 and ok.json() == {"length": 1000}

        big = await http.post("/json", json={"text": "x" * (LIMIT + 1)})
        assert big.status_code == 413 and big.headers["content-type"] == "application/json"
        assert "larger than 4 KiB" in big.json()["detail"]

        chunked = await http.post(
            "/json", content=_chunks(LIMIT * 4), headers={"content-type": "application/json"}
        )
        assert chunked.status_code == 413, chunked.text
        small_chunked = await http.post(
            "/json", content=_chunks(1024), headers={"content-type": "application/json"}
        )
        assert small_chunked.status_code == 200 and small_chunked.json() == {"length": 1024}

        plain = await http.post("/json", content=b'{"text": "a"}', headers={"content-type": "text/plain"})
        assert plain.status_code == 415 and "send application/json" in plain.json()["detail"]
        form = await http.post("/json", data={"text": "a"})
        assert form.status_code == 415
        untyped = await http.post("/json", content=b'{"text": "a"}', headers={"content-type": ""})
        assert untyped.status_code == 415 and "no Content-Type" in untyped.json()["detail"]
        vendor = await http.post(
            "/json", content=b'{"text": "ab"}', headers={"content-type": "application/merge-patch+json"}
        )
        assert vendor.status_code == 200
        charset = await http.post(
            "/json", content=b'{"text": "abc"}', headers={"content-type": "application/json; charset=utf-8"}
        )
        assert charset.status_code == 200

        # no body at all: whatever the declared type, the route runs
        assert (await http.post("/nobody", headers={"content-type": "text/plain"})).status_code == 200
        assert (await http.post("/nobody")).status_code == 200
    assert parsed == [1000, 1024, 2, 3], "refused bodies were never parsed"


async def test_the_console_keeps_its_forms() -> None:
    app, parsed = make_app(FORM_TYPES)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        form = await http.post("/form", data={"a": "1", "b": "2"})
        assert form.status_code == 200 and form.json() == {"fields": ["a", "b"]}
        big = await http.post("/form", data={"a": "x" * (LIMIT + 10)})
        assert big.status_code == 413
        multipart = await http.post("/form", files={"f": b"x"})
        assert multipart.status_code == 415
        assert "application/x-www-form-urlencoded" in multipart.json()["detail"]
    assert parsed == [2]


def test_a_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        make_app_with_limit(0)


def make_app_with_limit(limit: int) -> None:
    from shared.request_guard import RequestGuard

    RequestGuard(FastAPI(), max_body_bytes=limit)
