"""The 503 answers of database faults: JSON, Retry-After, the outcome and the correlation id."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shared.dbfaults import NOTHING_RECORDED, DatabaseFaultMiddleware, DatabaseUnavailable, OutcomeUnknown


def _app(exc: Exception) -> FastAPI:
    app = FastAPI()

    @app.post("/things")
    async def create() -> None:
        raise exc

    @app.get("/things")
    async def read() -> None:
        raise exc

    app.add_middleware(DatabaseFaultMiddleware, service="test")
    return app


async def _call(exc: Exception, method: str = "POST") -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(exc), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return await http.request(method, "/things", headers={"X-Correlation-Id": "c-1"})


@pytest.mark.parametrize(
    ("exc", "method", "outcome"),
    [
        (DatabaseUnavailable("x"), "POST", "nothing_recorded"),
        (OutcomeUnknown("x"), "POST", "outcome_unknown"),
        (ConnectionRefusedError(), "POST", "nothing_recorded"),
        (asyncpg.ConnectionDoesNotExistError("closed in the middle"), "POST", "outcome_unknown"),
        (asyncpg.ConnectionDoesNotExistError("closed in the middle"), "GET", "nothing_recorded"),
        (asyncpg.AdminShutdownError("terminating"), "POST", "nothing_recorded"),
    ],
)
async def test_a_database_fault_is_a_503_json_with_its_outcome(
    exc: Exception, method: str, outcome: str
) -> None:
    response = await _call(exc, method)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["outcome"] == outcome and body["correlation_id"] == "c-1"
    if outcome == "nothing_recorded":
        assert body["detail"] == NOTHING_RECORDED
    else:
        assert "outcome unknown" in body["detail"]


async def test_other_errors_are_not_its_business() -> None:
    response = await _call(ValueError("a bug"))
    assert response.status_code == 500
