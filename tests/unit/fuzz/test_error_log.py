"""Every traceback in the log carries a stable error id: the call site's, a ccqueue
error's own, or ``internal`` for an exception nobody classified — from ccqueue's
structlog events and the standard library's loggers alike."""

from __future__ import annotations

import logging

import structlog

from ccqueue.asterisk.agi import AgiCommandRefused
from tests.unit.fuzz.conftest import ProductLog, untraced


def test_each_logged_exception_has_its_error_id(product_log: ProductLog) -> None:
    log = structlog.get_logger("ccqueue.test")
    try:
        raise AgiCommandRefused("a line break")
    except AgiCommandRefused:
        log.exception("own_failure")
    try:
        {}["missing"]  # an unclassified error
    except KeyError:
        log.exception("unclassified_failure")
        logging.getLogger("aiohttp.server").exception("Error handling request")
    try:
        raise ValueError("named at the call site")
    except ValueError:
        log.error("named_failure", error_id="asterisk-misbehaved", exc_info=True)
    log.error("no_exception_here")

    records = {r["event"]: r for r in product_log.records()}
    assert (
        records["own_failure"]["error_id"] == "agi-command-refused" and "AgiCommandRefused" in records["own_failure"]["exception"]
    )
    assert records["unclassified_failure"]["error_id"] == "internal"
    assert (
        records["Error handling request"]["error_id"] == "internal"
        and "KeyError" in records["Error handling request"]["exception"]
    )
    assert records["named_failure"]["error_id"] == "asterisk-misbehaved"
    assert "error_id" not in records["no_exception_here"]
    assert product_log.tracebacks_without_id() == []


def test_the_scan_finds_a_traceback_without_an_id() -> None:
    assert untraced([{"event": "x", "exception": "Traceback (most recent call last): ..."}]) != []
    assert untraced([{"event": "x", "exception": "...", "error_id": "no-such-id"}]) != []
    assert untraced([{"event": "not a JSON line", "exception": "Traceback (most recent call last):"}]) != []
    assert untraced([{"event": "x", "exception": "...", "error_id": "internal"}, {"event": "y"}]) == []
