"""Shared test set-up: fixture plugins, and fresh global state for every test."""

from __future__ import annotations

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
