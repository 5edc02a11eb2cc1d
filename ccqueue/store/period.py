"""At start-up: the calls of the wallboard's period that an earlier process saw.

Rules kept here:

1. Read after the record writer has replayed its spool, so that calls an earlier run
   only spooled are counted too (the caller waits for ``spool_replayed``).
2. The calls come through ``report_calls_between`` (migrations 0004 and 0005): the
   reports' own definitions of offered, answered, abandoned and wait. The thresholds
   (answer within, short abandon) are applied by the caller from the running
   configuration, as for live calls.
3. A failed read is retried with backoff, at most ``attempts`` times; then the error
   is raised for the caller to log. The wallboard meanwhile shows the live part alone
   and says so.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from ccqueue.core.period_counts import CallFacts
from ccqueue.store.tables import to_timestamp

__all__ = ["load_period_calls"]

_TRANSIENT = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

_PERIOD_CALLS = """
SELECT call_id, queue, agent, offered, answered, abandoned, wait_s
  FROM report_calls_between($1, $2)
 WHERE offered
"""


async def load_period_calls(
    dsn: str,
    start: float,
    end: float,
    *,
    attempts: int = 6,
    backoff_initial_s: float = 0.5,
    backoff_max_s: float = 10.0,
    connect_timeout_s: float = 5.0,
    log: Any = None,
) -> list[CallFacts]:
    """The offered calls that arrived in ``[start, end)`` (rules 2-3)."""
    delay = backoff_initial_s
    for attempt in range(1, attempts + 1):
        try:
            return await _load(dsn, start, end, connect_timeout_s)
        except _TRANSIENT as exc:
            if attempt == attempts:
                raise
            if log is not None:
                log.warning("period_counts_not_read_yet", error=repr(exc), attempt=attempt, retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, backoff_max_s)
    raise AssertionError("unreachable")  # the loop returns or raises


async def _load(dsn: str, start: float, end: float, connect_timeout_s: float) -> list[CallFacts]:
    conn = await asyncpg.connect(dsn, timeout=connect_timeout_s)
    try:
        rows = await conn.fetch(_PERIOD_CALLS, to_timestamp(start), to_timestamp(end))
    finally:
        await conn.close()
    return [
        CallFacts(
            call_id=r["call_id"],
            queue=r["queue"],
            agent=r["agent"],
            offered=r["offered"],
            answered=r["answered"],
            abandoned=r["abandoned"],
            wait_s=r["wait_s"],
        )
        for r in rows
    ]
