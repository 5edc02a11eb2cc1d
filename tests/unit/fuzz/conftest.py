"""The product's log, as ``ccqueue run --json-logs`` writes it, captured for a fuzz test,
and the check that no traceback in it lacks a known error id."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog

from ccqueue.cli import _setup_logging
from ccqueue.http.errors import STATUS_BY_ERROR


class ProductLog:
    """Lines the product logged while a test ran (JSON, one object a line)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def records(self) -> list[dict[str, object]]:
        out = []
        for line in self.buffer.getvalue().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"event": "not a JSON line", "exception": line})  # whatever it is, it is looked at
        return out

    def tracebacks_without_id(self) -> list[dict[str, object]]:
        return untraced(self.records())


def untraced(records: list[dict[str, object]]) -> list[dict[str, object]]:
    """Records that carry a traceback (or are not JSON) but no error id of the table."""
    return [
        r
        for r in records
        if ("exception" in r or "Traceback (most recent call last)" in json.dumps(r)) and r.get("error_id") not in STATUS_BY_ERROR
    ]


def _forget_cached_loggers() -> None:
    # ``cache_logger_on_first_use`` keeps, on each module's logger, the configuration of the
    # first test that logged through it: drop it so that this test's capture is used.
    for name, module in list(sys.modules.items()):
        if name.startswith("ccqueue"):
            for value in list(vars(module).values()):
                if isinstance(value, structlog._config.BoundLoggerLazyProxy):
                    vars(value).pop("bind", None)


@contextlib.contextmanager
def capture_product_log() -> Iterator[ProductLog]:
    """The product's logging set up as ``--json-logs`` does, writing into a buffer."""
    captured = ProductLog()
    root = logging.getLogger()
    handlers, level, stderr = list(root.handlers), root.level, sys.stderr
    sys.stderr = captured.buffer  # type: ignore[assignment]
    try:
        _setup_logging(json_logs=True, level="debug")
        _forget_cached_loggers()
        yield captured
    finally:
        sys.stderr = stderr
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        structlog.reset_defaults()
        _forget_cached_loggers()


@pytest.fixture
def product_log() -> Iterator[ProductLog]:
    with capture_product_log() as captured:
        yield captured
