"""Records to rows and back: the only place that knows the tables' shape.

Rules kept here:

1. Writing is idempotent. ``call_events``, ``agent_state_intervals``, ``surveys`` and ``audit_log``
   rows are inserted with ``ON CONFLICT DO NOTHING``: a record already there is skipped. A
   ``calls`` or ``callbacks`` row is replaced only by a record with a higher
   ``version``, so a retry, a spool replay or a late, older record never undoes a
   newer one.
2. A batch is one transaction: it lands whole or not at all.
3. Each table gets one statement per batch (arrays passed through ``unnest``), not
   one round trip per row. Within a batch only the newest version of a versioned row
   is sent (one ``INSERT ... ON CONFLICT DO UPDATE`` may not touch the same row
   twice), and only the first of a record written twice. ``_TABLES`` says, for each
   record type, its table, its identity and whether it is versioned.
4. A record the database could never accept (wrong type, a time out of range, data
   that is not JSON) raises ``InvalidRecord`` before anything is sent; retrying it is
   pointless, unlike a connection error.
5. Times are epoch seconds on the Python side (as in ``ccqueue.core.records``) and
   ``timestamptz`` in the database; the read helpers convert back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ccqueue.core.errors import InternalError
from ccqueue.core.records import (
    AgentPresenceRecord,
    AgentStateRecord,
    AttemptEvent,
    AttemptRecord,
    AuditRecord,
    CallbackRecord,
    CallbackStatus,
    CallEventRecord,
    CallRecord,
    CampaignRunRecord,
    ContactProgress,
    DoNotCallRecord,
    Record,
    RecordingRecord,
    SurveyRecord,
)
from ccqueue.recording_files import RECORDING_FILE

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidRecord(InternalError, ValueError):
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
    return (record.event_id, record.call_id, record.seq, to_timestamp(record.at), record.kind, data)


def _call_row(record: CallRecord) -> tuple[Any, ...]:
    return (
        record.call_id,
        record.version,
        record.caller,
        record.hotline,
        record.queue,
        record.agent,
        record.channel,
        to_timestamp(record.arrived_at),
        to_timestamp(record.answered_at),
        to_timestamp(record.ended_at),
        record.outcome.value,
        to_timestamp(record.queued_at),
    )


def _interval_row(record: AgentStateRecord) -> tuple[Any, ...]:
    return (
        record.interval_id,
        record.agent_id,
        record.state,
        record.reason,
        to_timestamp(record.started_at),
        to_timestamp(record.ended_at),
        record.call_id,
    )


def _survey_row(record: SurveyRecord) -> tuple[Any, ...]:
    for name, value, low, high in (("rating", record.rating, 1, 5), ("recommend", record.recommend, 0, 10)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            raise InvalidRecord(f"survey {record.call_id}: {name} must be {low}..{high} or None, got {value!r}")
    return (record.call_id, record.rating, record.recommend, to_timestamp(record.at))


def _callback_row(record: CallbackRecord) -> tuple[Any, ...]:
    if not isinstance(record.status, CallbackStatus):
        raise InvalidRecord(f"callback {record.callback_id}: status {record.status!r} is not a CallbackStatus")
    return (
        record.callback_id,
        record.version,
        record.queue,
        record.number,
        record.status.value,
        to_timestamp(record.requested_at),
        to_timestamp(record.place_at),
        to_timestamp(record.not_before),
        to_timestamp(record.expires_at),
        record.attempts,
        to_timestamp(record.next_attempt_at),
        record.call_id,
        record.agent,
        record.result,
    )


def _audit_row(record: AuditRecord) -> tuple[Any, ...]:
    return (
        record.audit_id,
        to_timestamp(record.at),
        record.actor,
        record.role,
        record.via,
        record.method,
        record.path,
        record.route,
        record.remote,
        record.status,
        record.outcome,
        record.error,
    )


_INSERT_EVENTS = """
INSERT INTO call_events (event_id, call_id, seq, at, kind, data)
SELECT e, c, s, a, k, d::jsonb
FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::text[], $6::text[])
    AS u(e, c, s, a, k, d)
ON CONFLICT DO NOTHING
"""

_UPSERT_CALLS = """
INSERT INTO calls (call_id, version, caller, hotline, queue, agent, channel,
                   arrived_at, answered_at, ended_at, outcome, queued_at)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[],
                     $10::timestamptz[], $11::text[], $12::timestamptz[])
ON CONFLICT (call_id) DO UPDATE SET
    version = EXCLUDED.version, caller = EXCLUDED.caller, hotline = EXCLUDED.hotline,
    queue = EXCLUDED.queue, agent = EXCLUDED.agent, channel = EXCLUDED.channel,
    arrived_at = EXCLUDED.arrived_at, answered_at = EXCLUDED.answered_at,
    ended_at = EXCLUDED.ended_at, outcome = EXCLUDED.outcome, queued_at = EXCLUDED.queued_at
WHERE calls.version < EXCLUDED.version
"""

_INSERT_INTERVALS = """
INSERT INTO agent_state_intervals (interval_id, agent_id, state, reason, started_at, ended_at, call_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                     $5::timestamptz[], $6::timestamptz[], $7::text[])
ON CONFLICT DO NOTHING
"""

_UPSERT_CALLBACKS = """
INSERT INTO callbacks (callback_id, version, queue, number, status, requested_at,
                       place_at, not_before, expires_at, attempts, next_attempt_at,
                       call_id, agent, result)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::timestamptz[], $8::timestamptz[],
                     $9::timestamptz[], $10::int[], $11::timestamptz[], $12::text[],
                     $13::text[], $14::text[])
ON CONFLICT (callback_id) DO UPDATE SET
    version = EXCLUDED.version, queue = EXCLUDED.queue, number = EXCLUDED.number,
    status = EXCLUDED.status, requested_at = EXCLUDED.requested_at,
    place_at = EXCLUDED.place_at, not_before = EXCLUDED.not_before,
    expires_at = EXCLUDED.expires_at, attempts = EXCLUDED.attempts,
    next_attempt_at = EXCLUDED.next_attempt_at, call_id = EXCLUDED.call_id,
    agent = EXCLUDED.agent, result = EXCLUDED.result, updated_at = now()
WHERE callbacks.version < EXCLUDED.version
"""


def _presence_row(record: AgentPresenceRecord) -> tuple[Any, ...]:
    return (record.agent_id, record.presence, record.reason, to_timestamp(record.since), to_timestamp(record.at))


_UPSERT_PRESENCE = """
INSERT INTO agent_presence (agent_id, presence, reason, since, at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
ON CONFLICT (agent_id) DO UPDATE SET
    presence = EXCLUDED.presence, reason = EXCLUDED.reason, since = EXCLUDED.since, at = EXCLUDED.at
WHERE agent_presence.at <= EXCLUDED.at
"""

_INSERT_SURVEYS = """
INSERT INTO surveys (call_id, rating, recommend, answered_at)
SELECT * FROM unnest($1::text[], $2::smallint[], $3::smallint[], $4::timestamptz[])
ON CONFLICT DO NOTHING
"""


_INSERT_AUDIT = """
INSERT INTO audit_log (audit_id, at, actor, role, via, method, path, route, remote, status, outcome, error)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::smallint[], $11::text[], $12::text[])
ON CONFLICT DO NOTHING
"""


# --- outbound: attempts, their timelines, contacts' progress, run states, do-not-call ---------

CAMPAIGN_STATES = ("stopped", "running", "paused")
DNC_SOURCES = ("import", "api", "opt_out")
# ccqueue.core.campaigns.AttemptOutcome's values (the attempts table checks the same).
ATTEMPT_OUTCOMES = (
    "connected",
    "abandoned",
    "machine",
    "busy",
    "no_answer",
    "failed",
    "opted_out",
    "broadcast_heard",
    "skipped",
)
E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def _text(value: Any) -> str | None:
    """An enum's value, or the text itself (records may carry either)."""
    return None if value is None else str(getattr(value, "value", value))


def attempt_row(record: Any) -> tuple[Any, ...]:
    """The ``attempts`` row of an attempt record (its fields named as the columns);
    times in epoch seconds, ``outcome`` an enum or its value."""
    outcome = _text(record.outcome)
    if outcome is not None and outcome not in ATTEMPT_OUTCOMES:
        raise InvalidRecord(f"attempt {record.attempt_id}: unknown outcome {outcome!r}")
    return (
        record.attempt_id,
        record.version,
        record.campaign,
        record.contact_id,
        record.number,
        to_timestamp(record.started_at),
        to_timestamp(record.answered_at),
        to_timestamp(record.connected_at),
        to_timestamp(record.ended_at),
        _text(record.amd),
        record.agent_id,
        outcome,
        bool(record.abandoned),
        bool(record.safe_harbour),
        bool(record.message_left),
        record.hangup_cause,
    )


def attempt_event_row(record: Any) -> tuple[Any, ...]:
    """The ``attempt_events`` row of a record with event_id, attempt_id, seq, at, kind, detail."""
    try:
        detail = json.dumps(dict(record.detail), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"attempt event {record.event_id}: detail is not JSON: {exc}") from exc
    return (record.event_id, record.attempt_id, record.seq, to_timestamp(record.at), record.kind, detail)


UPSERT_ATTEMPTS = """
INSERT INTO attempts (attempt_id, version, campaign, contact_id, number, started_at, answered_at,
                      connected_at, ended_at, amd, agent_id, outcome, abandoned, safe_harbour,
                      message_left, hangup_cause)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::bigint[], $5::text[],
                     $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[],
                     $10::text[], $11::text[], $12::text[], $13::bool[], $14::bool[], $15::bool[],
                     $16::text[])
ON CONFLICT (attempt_id) DO UPDATE SET
    version = EXCLUDED.version, campaign = EXCLUDED.campaign, contact_id = EXCLUDED.contact_id,
    number = EXCLUDED.number, started_at = EXCLUDED.started_at, answered_at = EXCLUDED.answered_at,
    connected_at = EXCLUDED.connected_at, ended_at = EXCLUDED.ended_at, amd = EXCLUDED.amd,
    agent_id = EXCLUDED.agent_id, outcome = EXCLUDED.outcome, abandoned = EXCLUDED.abandoned,
    safe_harbour = EXCLUDED.safe_harbour, message_left = EXCLUDED.message_left,
    hangup_cause = EXCLUDED.hangup_cause, updated_at = now()
WHERE attempts.version < EXCLUDED.version
"""

INSERT_ATTEMPT_EVENTS = """
INSERT INTO attempt_events (event_id, attempt_id, seq, at, kind, detail)
SELECT e, a, s, t, k, d::jsonb
FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::text[], $6::text[])
    AS u(e, a, s, t, k, d)
ON CONFLICT DO NOTHING
"""


def contact_progress_row(record: Any) -> tuple[Any, ...]:
    """The ``contacts`` columns a contact's progress rewrites (see ``UPDATE_CONTACT_PROGRESS``)."""
    outcome = _text(record.outcome)
    if record.attempts < 0:
        raise InvalidRecord(f"contact {record.contact_id}: attempts must not be negative, got {record.attempts}")
    if outcome is not None and outcome not in ATTEMPT_OUTCOMES:
        raise InvalidRecord(f"contact {record.contact_id}: unknown outcome {outcome!r}")
    return (
        record.contact_id,
        record.attempts,
        to_timestamp(record.next_at),
        to_timestamp(record.locked_until),
        bool(record.done),
        outcome,
        _outcome_counts(record),
    )


def _outcome_counts(record: Any) -> str | None:
    """A contact's per-outcome counts as JSON text, or None to keep the stored ones."""
    counts = getattr(record, "outcome_counts", None)
    if counts is None:
        return None
    for key, count in counts.items():
        if key not in ATTEMPT_OUTCOMES or not isinstance(count, int) or count < 0:
            raise InvalidRecord(f"contact {record.contact_id}: bad outcome count {key!r}: {count!r}")
    return json.dumps(dict(sorted(counts.items())), separators=(",", ":"))


# A contact's row is the dialer's state, not a record of the past: a mark lands unless
# the stored row has seen more attempts (a late replay never moves a contact back).
UPDATE_CONTACT_PROGRESS = """
UPDATE contacts c SET attempts = m.attempts, next_at = m.next_at,
       locked_until = m.locked_until, done = m.done, outcome = m.outcome,
       outcome_counts = COALESCE(m.outcome_counts::jsonb, c.outcome_counts)
  FROM unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::timestamptz[], $5::bool[], $6::text[], $7::text[])
       AS m(contact_id, attempts, next_at, locked_until, done, outcome, outcome_counts)
 WHERE c.contact_id = m.contact_id AND c.attempts <= m.attempts
"""


def campaign_run_row(record: Any) -> tuple[Any, ...]:
    if record.state not in CAMPAIGN_STATES:
        raise InvalidRecord(
            f"campaign {record.campaign}: state must be one of {', '.join(CAMPAIGN_STATES)}, got {record.state!r}"
        )
    return (record.campaign, record.state, to_timestamp(record.changed_at))


# The latest change wins, whatever order a replay brings them in.
UPSERT_CAMPAIGN_RUNS = """
INSERT INTO campaign_runs (campaign, state, changed_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
ON CONFLICT (campaign) DO UPDATE SET state = EXCLUDED.state, changed_at = EXCLUDED.changed_at
WHERE campaign_runs.changed_at <= EXCLUDED.changed_at
"""


def do_not_call_row(record: Any) -> tuple[Any, ...]:
    if record.source not in DNC_SOURCES:
        raise InvalidRecord(f"do-not-call {record.number}: source must be one of {', '.join(DNC_SOURCES)}, got {record.source!r}")
    if not E164.fullmatch(record.number):
        raise InvalidRecord(f"do-not-call: {record.number!r} is not an E.164 number")
    return (record.number, record.source, to_timestamp(record.at))


INSERT_DO_NOT_CALL = """
INSERT INTO do_not_call (number, source, added_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
ON CONFLICT (number) DO NOTHING
"""


def recording_row(record: Any) -> tuple[Any, ...]:
    if not RECORDING_FILE.fullmatch(record.file):
        raise InvalidRecord(f"recording {record.recording_id}: {record.file!r} is not a file name ccqueue makes")
    return (
        record.recording_id,
        record.version,
        record.call_id,
        record.queue,
        record.agent_id,
        record.file,
        to_timestamp(record.started_at),
        to_timestamp(record.ended_at),
    )


# The newest version wins; a recording already purged or erased never comes back.
UPSERT_RECORDINGS = """
INSERT INTO recordings (recording_id, version, call_id, queue, agent_id, file, started_at, ended_at)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[], $8::timestamptz[]) AS r(recording_id, version, call_id, queue, agent_id, file, started_at, ended_at)
 WHERE NOT EXISTS (SELECT 1 FROM recordings_gone g WHERE g.recording_id = r.recording_id)
ON CONFLICT (recording_id) DO UPDATE SET
    version = EXCLUDED.version, ended_at = EXCLUDED.ended_at
WHERE recordings.version < EXCLUDED.version
"""


@dataclass(frozen=True, slots=True)
class _Table:
    """How one type of record lands in its table."""

    name: str
    key: Callable[[Any], str]  # the record's identity: one row per key
    row: Callable[[Any], tuple[Any, ...]]
    statement: str
    versioned: bool = False  # the newest ``version`` per key wins; else the first record
    last_wins: bool = False  # a state rewritten whole: the last record of a key in a batch wins
    version: Callable[[Any], Any] = lambda r: r.version  # what "newest" compares


# In the order a batch writes them.
_TABLES: dict[type[Any], _Table] = {
    CallEventRecord: _Table("call_events", lambda r: r.event_id, _event_row, _INSERT_EVENTS),
    CallRecord: _Table("calls", lambda r: r.call_id, _call_row, _UPSERT_CALLS, versioned=True),
    AgentStateRecord: _Table("agent_state_intervals", lambda r: r.interval_id, _interval_row, _INSERT_INTERVALS),
    CallbackRecord: _Table("callbacks", lambda r: r.callback_id, _callback_row, _UPSERT_CALLBACKS, versioned=True),
    SurveyRecord: _Table("surveys", lambda r: r.call_id, _survey_row, _INSERT_SURVEYS),
    AuditRecord: _Table("audit_log", lambda r: r.audit_id, _audit_row, _INSERT_AUDIT),
    AttemptRecord: _Table("attempts", lambda r: r.attempt_id, attempt_row, UPSERT_ATTEMPTS, versioned=True),
    AttemptEvent: _Table("attempt_events", lambda r: r.event_id, attempt_event_row, INSERT_ATTEMPT_EVENTS),
    ContactProgress: _Table(
        "contact_progress", lambda r: str(r.contact_id), contact_progress_row, UPDATE_CONTACT_PROGRESS, last_wins=True
    ),
    CampaignRunRecord: _Table("campaign_runs", lambda r: r.campaign, campaign_run_row, UPSERT_CAMPAIGN_RUNS, last_wins=True),
    DoNotCallRecord: _Table("do_not_call", lambda r: r.number, do_not_call_row, INSERT_DO_NOT_CALL),
    # Versioned by time: the latest ``at`` of an agent wins (ties: the later in the batch).
    RecordingRecord: _Table("recordings", lambda r: r.recording_id, recording_row, UPSERT_RECORDINGS, versioned=True),
    AgentPresenceRecord: _Table(
        "agent_presence", lambda r: r.agent_id, _presence_row, _UPSERT_PRESENCE, versioned=True, version=lambda r: r.at
    ),
}


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


def _kept(table: _Table, records: list[Any]) -> list[Any]:
    """One record per key: the newest version (in key order, so concurrent batches lock
    rows in one order), or the first written."""
    chosen: dict[str, Any] = {}
    for record in records:
        key = table.key(record)
        known = chosen.get(key)
        if known is None or table.last_wins or (table.versioned and table.version(known) <= table.version(record)):
            chosen[key] = record
    if table.versioned:
        return [chosen[key] for key in sorted(chosen)]
    return list(chosen.values())


def rows_by_table(records: Sequence[Record]) -> dict[str, list[tuple[Any, ...]]]:
    """Row tuples by table name, in ``_TABLES`` order; raises InvalidRecord."""
    grouped: dict[type[Any], list[Any]] = {}
    for record in records:
        if type(record) not in _TABLES:
            raise InvalidRecord(f"not a record: {type(record).__name__}")
        grouped.setdefault(type(record), []).append(record)
    return {
        table.name: [_storable(table.row(record)) for record in _kept(table, grouped[record_type])]
        for record_type, table in _TABLES.items()
        if record_type in grouped
    }


# PostgreSQL's text holds no NUL character, and its jsonb no \u0000 escape: a value from
# outside holding one (a caller id, a request path, a pause reason) would have its whole
# record refused. It is stored with U+FFFD in its place, as data, like any other character.
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _storable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    if not any(isinstance(value, str) and ("\x00" in value or "\\u0000" in value) for value in row):
        return row
    return tuple(
        _JSON_NUL.sub(r"\1\\ufffd", value.replace("\x00", "\ufffd")) if isinstance(value, str) else value for value in row
    )


async def write_records(conn: asyncpg.Connection, records: Sequence[Record]) -> None:
    """Write a batch in one transaction; writing it again changes nothing."""
    rows = rows_by_table(records)
    async with conn.transaction():
        for table in _TABLES.values():
            if rows.get(table.name):
                await conn.execute(table.statement, *_columns(rows[table.name]))


_CALL_TIMES = ("arrived_at", "queued_at", "answered_at", "ended_at")


async def fetch_call(conn: asyncpg.Connection, call_id: str) -> dict[str, Any] | None:
    """The ``calls`` row as a dict (times in epoch seconds), or None."""
    row = await conn.fetchrow(
        """SELECT call_id, version, caller, hotline, queue, agent, channel, arrived_at,
                  queued_at, answered_at, ended_at, outcome, wait_s
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
    return [{**dict(row), "at": to_epoch(row["at"]), "data": json.loads(row["data"])} for row in rows]


_CALLBACK_COLUMNS = """callback_id, version, queue, number, status, requested_at, place_at,
    not_before, expires_at, attempts, next_attempt_at, call_id, agent, result"""


def _callback_record(row: asyncpg.Record) -> CallbackRecord:
    return CallbackRecord(
        callback_id=row["callback_id"],
        version=row["version"],
        queue=row["queue"],
        number=row["number"],
        status=CallbackStatus(row["status"]),
        requested_at=row["requested_at"].timestamp(),
        place_at=row["place_at"].timestamp(),
        not_before=to_epoch(row["not_before"]),
        expires_at=row["expires_at"].timestamp(),
        attempts=row["attempts"],
        next_attempt_at=to_epoch(row["next_attempt_at"]),
        call_id=row["call_id"],
        agent=row["agent"],
        result=row["result"],
    )


async def load_open_callbacks(conn: asyncpg.Connection) -> list[CallbackRecord]:
    """Every callback still pending or dialing, by place in line (the oldest first)."""
    open_statuses = [status.value for status in CallbackStatus if status.open]
    rows = await conn.fetch(
        f"SELECT {_CALLBACK_COLUMNS} FROM callbacks WHERE status = ANY($1::text[]) ORDER BY place_at, callback_id",
        open_statuses,
    )
    return [_callback_record(row) for row in rows]


async def fetch_callback(conn: asyncpg.Connection, callback_id: str) -> CallbackRecord | None:
    """The latest stored version of a callback, open or closed, or None."""
    row = await conn.fetchrow(f"SELECT {_CALLBACK_COLUMNS} FROM callbacks WHERE callback_id = $1", callback_id)
    return None if row is None else _callback_record(row)


async def fetch_survey(conn: asyncpg.Connection, call_id: str) -> dict[str, Any] | None:
    """The ``surveys`` row of a call as a dict (``answered_at`` in epoch seconds), or None."""
    row = await conn.fetchrow("SELECT call_id, rating, recommend, answered_at FROM surveys WHERE call_id = $1", call_id)
    if row is None:
        return None
    return {**dict(row), "answered_at": to_epoch(row["answered_at"])}
