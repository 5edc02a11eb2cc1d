"""At start-up: the callbacks still open in PostgreSQL go back to the engine.

Rules kept here:

1. Read only after the record writer has replayed its spool (``spool_replayed``):
   a callback completed or cancelled just before a crash may exist only in the spool,
   and reading before it lands would bring it back to life.
2. Read once, and hand the engine one ``CallbacksRestored`` with every open callback
   (pending or dialing), oldest place in line first. A callback that was dialing when
   ccqueue stopped is handed back as it is; the core decides what becomes of it.
3. A failure to read is retried with backoff (0.5 s doubling to 10 s, the writer's own
   figures), at most ``attempts`` times; then ``CallbacksNotRestored`` is raised, so
   the daemon's task group stops rather than serving with callbacks silently lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog

from ccqueue.core import events as ev
from ccqueue.core.errors import ExternalError
from ccqueue.core.records import CallbackRecord
from ccqueue.store.tables import load_open_callbacks, to_timestamp

__all__ = ["CallbacksNotRestored", "close_unfollowed_calls", "restore_callbacks"]


class CallbacksNotRestored(ExternalError, RuntimeError):
    """The open callbacks could not be read from PostgreSQL."""

    error_id = "callbacks-not-restored"


# What a read that may work next time raises: no connection, a timeout, the server
# going away or refusing for now. A wrong schema is also retried: a migration may be
# running.
_TRANSIENT = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def restore_callbacks(
    dsn: str,
    post: Callable[[ev.Event], None],
    *,
    spool_replayed: Callable[[], Awaitable[None]] | None = None,
    replay_timeout_s: float | None = None,
    attempts: int = 5,
    backoff_initial_s: float = 0.5,
    backoff_max_s: float = 10.0,
    connect_timeout_s: float = 5.0,
    log: Any = None,
) -> tuple[CallbackRecord, ...]:
    """Post ``CallbacksRestored`` with the open callbacks, once the spool is replayed.

    ``spool_replayed`` is ``RecordWriter.wait_spool_replayed`` (None: do not wait);
    waiting for it is bounded by ``replay_timeout_s`` (None: as long as the writer
    needs to reach PostgreSQL). Returns what was posted.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    log = (log if log is not None else structlog.get_logger("ccqueue.store.restore")).bind(component="callback_restore")
    if spool_replayed is not None:
        await _wait_for_replay(spool_replayed, replay_timeout_s)
    callbacks = await _load_with_retries(
        dsn,
        attempts=attempts,
        backoff_initial_s=backoff_initial_s,
        backoff_max_s=backoff_max_s,
        connect_timeout_s=connect_timeout_s,
        log=log,
    )
    post(ev.CallbacksRestored(callbacks=callbacks))
    log.info("callbacks_restored", count=len(callbacks))
    return callbacks


async def _wait_for_replay(spool_replayed: Callable[[], Awaitable[None]], timeout_s: float | None) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            await spool_replayed()
    except TimeoutError as exc:
        raise CallbacksNotRestored(
            f"the record spool was not replayed within {timeout_s} s; open callbacks were not read"
        ) from exc


async def _load_with_retries(
    dsn: str,
    *,
    attempts: int,
    backoff_initial_s: float,
    backoff_max_s: float,
    connect_timeout_s: float,
    log: Any,
) -> tuple[CallbackRecord, ...]:
    delay = backoff_initial_s
    for attempt in range(1, attempts):
        try:
            return await _load(dsn, connect_timeout_s)
        except _TRANSIENT as exc:
            log.warning("callback_restore_failed", error=repr(exc), attempt=attempt, retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, backoff_max_s)
    try:
        return await _load(dsn, connect_timeout_s)
    except _TRANSIENT as exc:
        log.error("callbacks_not_restored", error=repr(exc), attempts=attempts)
        raise CallbacksNotRestored(f"open callbacks not read after {attempts} attempts: {exc!r}") from exc


async def _load(dsn: str, connect_timeout_s: float) -> tuple[CallbackRecord, ...]:
    conn = await asyncpg.connect(dsn, timeout=connect_timeout_s)
    try:
        return tuple(await load_open_callbacks(conn))
    finally:
        await conn.close()


# Calls a previous ccqueue process left open (it was killed, or the machine went down):
# nobody follows them any more. Each gets a last timeline event and a final summary,
# as a graceful stop would have written: answered if an agent had it, failed if not.
# An open call reads 'waiting', or 'answered' with no end and no `call_unfollowed` yet
# (its summary says answered from the moment an agent has it).
_CLOSE_UNFOLLOWED = """
WITH open AS (
    SELECT c.call_id FROM calls c
     WHERE c.arrived_at < $1
       AND (c.outcome = 'waiting'
            OR (c.outcome = 'answered' AND c.ended_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM call_events e
                                 WHERE e.call_id = c.call_id AND e.kind = 'call_unfollowed')))
       FOR UPDATE
), last AS (
    SELECT o.call_id, coalesce(max(e.seq), -1) + 1 AS seq
    FROM open o LEFT JOIN call_events e ON e.call_id = o.call_id GROUP BY o.call_id
), noted AS (
    INSERT INTO call_events (event_id, call_id, seq, at, kind, data)
    SELECT call_id || ':' || seq, call_id, seq, $1, 'call_unfollowed',
           '{"reason": "ccqueue restarted: the call was left open by the process before"}'::jsonb
    FROM last
    ON CONFLICT DO NOTHING
)
UPDATE calls SET
    version = version + 1,
    outcome = CASE WHEN answered_at IS NULL THEN 'failed' ELSE 'answered' END,
    ended_at = CASE WHEN answered_at IS NULL THEN $1 ELSE ended_at END
WHERE call_id IN (SELECT call_id FROM open)
RETURNING call_id
"""


async def close_unfollowed_calls(dsn: str, *, started_at: float, connect_timeout_s: float = 5.0) -> list[str]:
    """Close the calls an earlier process left open (arrived before ``started_at``);
    returns their ids. Run after the spool is replayed, like the callbacks' restore."""
    conn = await asyncpg.connect(dsn, timeout=connect_timeout_s)
    try:
        async with conn.transaction():
            rows = await conn.fetch(_CLOSE_UNFOLLOWED, to_timestamp(started_at))
    finally:
        await conn.close()
    return [row["call_id"] for row in rows]
