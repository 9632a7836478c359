"""Structured logs: JSON lines with the context fields, readable text, scrubbing kept, quiet libraries."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from shared import logs
from shared.logs import JSON_FIELDS, LogContextMiddleware, bind, choose_format, configure_logging

log = logging.getLogger("tests.logs")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    libraries = {name: logging.getLogger(name).level for name in logs.CHATTY_LIBRARIES}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, lib_level in libraries.items():
        logging.getLogger(name).setLevel(lib_level)
    logs.set_trace_id_source(lambda: "")


def lines(out: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_carry_service_level_and_the_bound_ids(restore_logging: None) -> None:
    out = io.StringIO()
    assert configure_logging("complaint", "INFO", "json", stream=out) == "json"
    log.info("outside")
    with bind(correlation_id="c-1", stream_id="complaint-42"):
        log.warning("inside %s", "a command")
    logs.set_trace_id_source(lambda: "4bf92f3577b34da6a3ce929d0e0e4736")
    log.info("traced")
    first, second, third = lines(out)
    for line in (first, second, third):
        assert set(JSON_FIELDS) <= set(line) and "time" in line
        assert line["service"] == "complaint" and line["logger"] == "tests.logs"
    assert first["correlation_id"] == "" and first["stream_id"] == "" and first["level"] == "INFO"
    assert second["message"] == "inside a command" and second["level"] == "WARNING"
    assert (second["correlation_id"], second["stream_id"]) == ("c-1", "complaint-42")
    assert third["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" and third["correlation_id"] == ""


def test_json_keeps_chinese_and_scrubs_pii(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("reception", "INFO", "json", stream=out)
    phone = "138" + "0013" + "8000"
    log.info("客户来电 %s", phone)
    try:
        raise ValueError(f"bad number {phone}")
    except ValueError:
        log.exception("failed")
    first, second = lines(out)
    assert first["message"].startswith("客户来电") and phone not in out.getvalue()
    assert "ValueError" in second["exc_info"] and phone not in second["exc_info"]


def test_text_format_is_one_readable_line(restore_logging: None) -> None:
    out = io.StringIO()
    assert configure_logging("hq", "INFO", "text", stream=out) == "text"
    with bind(correlation_id="c-9"):
        log.info("rebuilt")
    text = out.getvalue()
    assert " hq INFO tests.logs: rebuilt [correlation_id=c-9]" in text and not text.startswith("{")


def test_libraries_are_quiet_and_the_format_follows_the_terminal(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("followup", "DEBUG", "json", stream=out)
    logging.getLogger("aiokafka.consumer.group_coordinator").info("Joined group ... assignment")
    logging.getLogger("aiokafka.consumer.group_coordinator").warning("heartbeat failed")
    assert [line["level"] for line in lines(out)] == ["WARNING"]

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert choose_format(None, Tty()) == "text"
    assert choose_format("", io.StringIO()) == "json"
    assert choose_format("TEXT", io.StringIO()) == "text"
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        choose_format("yaml")


async def test_the_request_correlation_id_reaches_the_route_log_lines(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("reception", "INFO", "json", stream=out)
    app = FastAPI()

    @app.get("/x")
    async def route() -> dict[str, str]:
        log.info("in the route")
        return {}

    app.add_middleware(LogContextMiddleware)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        await client.get("/x", headers={"X-Correlation-Id": "corr-77"})
        await client.get("/x")
    with_id, without = lines(out)
    assert with_id["correlation_id"] == "corr-77" and without["correlation_id"] == ""
