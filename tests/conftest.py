"""Shared test set-up: fixture plugins, and fresh global state for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog

pytest_plugins = ["tests.support.postgres"]


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    # structlog's configuration is process-global; a test that configures it must
    # not leak its processors into the next one.
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    # Where the whole suite must run (CI, the README's test command), a skipped test is
    # a failure: a part that could not be set up has not been tested.
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CCQUEUE_FORBID_SKIPS") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, and skips are forbidden here: {report.longrepr}"
