"""Records to rows and back: the only place that knows the tables' shape.

Rules kept here:

1. Writing is idempotent. ``call_events`` and ``agent_state_intervals`` rows are
   inserted with ``ON CONFLICT DO NOTHING``: a record already there is skipped. A
   ``calls`` row is replaced only by a summary with a higher ``version``, so a retry,
   a spool replay or a late, older summary never undoes a newer one.
2. A batch is one transaction: it lands whole or not at all.
3. Each table gets one statement per batch (arrays passed through ``unnest``), not
   one round trip per row. Within a batch only the newest summary of a call is sent:
   one ``INSERT ... ON CONFLICT DO UPDATE`` may not touch the same row twice.
4. A record the database could never accept (wrong type, a time out of range, data
   that is not JSON) raises ``InvalidRecord`` before anything is sent; retrying it is
   pointless, unlike a connection error.
5. Times are epoch seconds on the Python side (as in ``ccqueue.core.records``) and
   ``timestamptz`` in the database; the read helpers convert back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ccqueue.core.records import AgentStateRecord, CallEventRecord, CallRecord, Record

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidRecord(ValueError):
    """A record that no retry can write; it names the record's identity."""

    error_id = "record-invalid"


def to_timestamp(seconds: float | None) -> datetime | None:
    if seconds is None:
        return None
    # Arithmetic instead of datetime.fromtimestamp: the latter may raise OSError for
    # an out-of-range value, which would read as an I/O failure worth retrying.
    try:
        return _EPOCH + timedelta(seconds=seconds)
    except (OverflowError, TypeError, ValueError) as exc:
        raise InvalidRecord(f"time {seconds!r} is out of range: {exc}") from exc


def to_epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _event_row(record: CallEventRecord) -> tuple[Any, ...]:
    try:
        data = json.dumps(record.data, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"call event {record.event_id}: data is not JSON: {exc}") from exc
    return (record.event_id, record.call_id, record.seq, to_timestamp(record.at),
            record.kind, data)


def _call_row(record: CallRecord) -> tuple[Any, ...]:
    return (record.call_id, record.version, record.caller, record.hotline, record.queue,
            record.agent, record.channel, to_timestamp(record.arrived_at),
            to_timestamp(record.answered_at), to_timestamp(record.ended_at),
            record.outcome.value)


def _interval_row(record: AgentStateRecord) -> tuple[Any, ...]:
    return (record.interval_id, record.agent_id, record.state, record.reason,
            to_timestamp(record.started_at), to_timestamp(record.ended_at))


_INSERT_EVENTS = """
INSERT INTO call_events (event_id, call_id, seq, at, kind, data)
SELECT e, c, s, a, k, d::jsonb
FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::text[], $6::text[])
    AS u(e, c, s, a, k, d)
ON CONFLICT DO NOTHING
"""

_UPSERT_CALLS = """
INSERT INTO calls (call_id, version, caller, hotline, queue, agent, channel,
                   arrived_at, answered_at, ended_at, outcome)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[],
                     $10::timestamptz[], $11::text[])
ON CONFLICT (call_id) DO UPDATE SET
    version = EXCLUDED.version, caller = EXCLUDED.caller, hotline = EXCLUDED.hotline,
    queue = EXCLUDED.queue, agent = EXCLUDED.agent, channel = EXCLUDED.channel,
    arrived_at = EXCLUDED.arrived_at, answered_at = EXCLUDED.answered_at,
    ended_at = EXCLUDED.ended_at, outcome = EXCLUDED.outcome
WHERE calls.version < EXCLUDED.version
"""

_INSERT_INTERVALS = """
INSERT INTO agent_state_intervals (interval_id, agent_id, state, reason, started_at, ended_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                     $5::timestamptz[], $6::timestamptz[])
ON CONFLICT DO NOTHING
"""


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


def rows_by_table(records: Sequence[Record]) -> tuple[list[tuple[Any, ...]], ...]:
    """Events, calls and intervals as row tuples; raises InvalidRecord."""
    events: dict[str, tuple[Any, ...]] = {}
    newest_calls: dict[str, CallRecord] = {}
    intervals: dict[str, tuple[Any, ...]] = {}
    for record in records:
        if isinstance(record, CallEventRecord):
            events.setdefault(record.event_id, _event_row(record))
        elif isinstance(record, CallRecord):
            known = newest_calls.get(record.call_id)
            if known is None or known.version < record.version:
                newest_calls[record.call_id] = record
        elif isinstance(record, AgentStateRecord):
            intervals.setdefault(record.interval_id, _interval_row(record))
        else:
            raise InvalidRecord(f"not a record: {type(record).__name__}")
    calls = [_call_row(newest_calls[call_id]) for call_id in sorted(newest_calls)]
    return list(events.values()), calls, list(intervals.values())


async def write_records(conn: asyncpg.Connection, records: Sequence[Record]) -> None:
    """Write a batch in one transaction; writing it again changes nothing."""
    events, calls, intervals = rows_by_table(records)
    async with conn.transaction():
        if events:
            await conn.execute(_INSERT_EVENTS, *_columns(events))
        if calls:
            await conn.execute(_UPSERT_CALLS, *_columns(calls))
        if intervals:
            await conn.execute(_INSERT_INTERVALS, *_columns(intervals))


_CALL_TIMES = ("arrived_at", "answered_at", "ended_at")


async def fetch_call(conn: asyncpg.Connection, call_id: str) -> dict[str, Any] | None:
    """The ``calls`` row as a dict (times in epoch seconds), or None."""
    row = await conn.fetchrow(
        """SELECT call_id, version, caller, hotline, queue, agent, channel, arrived_at,
                  answered_at, ended_at, outcome, wait_s
           FROM calls WHERE call_id = $1""",
        call_id,
    )
    if row is None:
        return None
    call = dict(row)
    for column in _CALL_TIMES:
        call[column] = to_epoch(call[column])
    return call


async def fetch_call_events(conn: asyncpg.Connection, call_id: str) -> list[dict[str, Any]]:
    """A call's timeline in ``seq`` order; ``data`` decoded, ``at`` in epoch seconds."""
    # data::text keeps the result the same whatever JSON codec the caller's pool has.
    rows = await conn.fetch(
        """SELECT event_id, call_id, seq, at, kind, data::text AS data
           FROM call_events WHERE call_id = $1 ORDER BY seq""",
        call_id,
    )
    return [
        {**dict(row), "at": to_epoch(row["at"]), "data": json.loads(row["data"])}
        for row in rows
    ]
