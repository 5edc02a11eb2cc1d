"""``--json-logs``: every line on stderr is one JSON object, whoever logged it."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from ccqueue.cli import _setup_logging


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_library_errors_and_tracebacks_are_json_lines(root_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    _setup_logging(json_logs=True, level="info")
    try:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    except OSError:
        logging.getLogger("asyncpg.pool").exception("connection lost")
    loop = asyncio.new_event_loop()  # asyncio reports through the stdlib "asyncio" logger
    try:
        loop.call_exception_handler(
            {"message": "socket.accept() out of system resource", "exception": OSError(24, "Too many open files")}
        )
    finally:
        loop.close()
    logging.getLogger("aiohttp.server").debug("not ccqueue's chatter")
    structlog.get_logger("ccqueue.test").error("own_event", detail=1)

    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]  # each line parses on its own
    assert [r["event"] for r in records] == ["connection lost", "socket.accept() out of system resource", "own_event"]
    assert records[0]["logger"] == "asyncpg.pool" and records[0]["level"] == "error"
    assert "ConnectionRefusedError" in records[0]["exception"]
    assert "Too many open files" in records[1]["exception"]
