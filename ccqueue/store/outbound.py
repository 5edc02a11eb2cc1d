"""Outbound campaigns in PostgreSQL: contact lists, dial attempts, do-not-call, run states.

Rules kept here:

1. Numbers are E.164 everywhere (the tables refuse anything else); they are
   normalised before they get here (``ccqueue.contacts``, ``ccqueue.numbers``).
2. A contact list is staged, then merged: rows are copied (COPY, not one INSERT per
   row) into a temporary table of the transaction, duplicates within the file and
   against the list are read from there by SQL, and ``merge_contacts`` inserts the
   first row of each number. A number already in the campaign is never a second row
   (``UNIQUE (campaign, number)``); the caller decides, inside its transaction,
   whether to merge at all, so an import lands whole or not at all.
3. ``due_contacts`` answers what may be dialled as far as the list knows: not done,
   not on the do-not-call list, due, under the campaign's attempts. Calling windows
   and the abandon lock are the core's decisions (the lock is handed over with the
   contact); a contact's zone is resolved here: its own, else its number's, else the
   campaign's.
4. Writes the engine repeats (a retry, a replay) change nothing the second time:
   attempts are versioned rows as ``calls`` are, attempt events are inserted once,
   a contact mark lands only if it is not older than what is stored (``attempts``
   never goes back).
5. Times are epoch seconds on the Python side and ``timestamptz`` in the database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import zoneinfo
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg
import phonenumbers
from phonenumbers import timezone as number_zones

from ccqueue.core.campaigns import CampaignSettings, Contact
from ccqueue.store.tables import (
    ATTEMPT_OUTCOMES,
    CAMPAIGN_STATES,
    DNC_SOURCES,
    INSERT_ATTEMPT_EVENTS,
    UPDATE_CONTACT_PROGRESS,
    UPSERT_ATTEMPTS,
    InvalidRecord,
    attempt_event_row,
    attempt_row,
    contact_progress_row,
    to_epoch,
    to_timestamp,
)

__all__ = [
    "ATTEMPT_OUTCOMES",
    "CAMPAIGN_STATES",
    "DNC_SOURCES",
    "AbandonCounts",
    "ContactMark",
    "LiveAnswer",
    "StagedDuplicates",
    "abandon_counts",
    "abandon_history",
    "add_do_not_call",
    "add_do_not_call_many",
    "attempt_event_row",
    "attempt_row",
    "campaign_states",
    "contact_history",
    "contact_row",
    "due_contacts",
    "fetch_attempt",
    "fetch_attempt_events",
    "fetch_contact",
    "is_do_not_call",
    "json_fields",
    "live_answers",
    "mark_contacts",
    "merge_contacts",
    "number_zone",
    "set_campaign_state",
    "stage_contacts",
    "staged_duplicates",
    "write_attempt_events",
    "write_attempts",
]


# Anything with fetch/fetchrow/fetchval/execute: a connection, or a pool (one
# connection per statement). The reads the dialer makes at start-up also take a DSN.
Db: TypeAlias = asyncpg.Connection | asyncpg.Pool


@contextlib.asynccontextmanager
async def _opened(db: Db | str) -> AsyncIterator[Db]:
    """``db`` itself, or a connection to the DSN ``db`` for the time of the block."""
    if not isinstance(db, str):
        yield db
        return
    conn = await asyncpg.connect(db)
    try:
        yield conn
    finally:
        await conn.close()


# --- contact lists ----------------------------------------------------------------------

STAGE_TABLE = "contacts_staged"
# The columns a staged row carries, in order (``stage_contacts`` copies tuples of these).
STAGE_COLUMNS = ("source_line", "number", "name", "tz", "fields")


async def stage_contacts(conn: asyncpg.Connection, rows: Iterable[tuple[int, str, str, str | None, str]]) -> None:
    """Copy ``(source_line, number, name, tz, fields_json)`` rows into the staging table,
    created on first use and dropped when the transaction ends (rule 2)."""
    await conn.execute(
        f"""CREATE TEMP TABLE IF NOT EXISTS {STAGE_TABLE} (
                source_line integer NOT NULL, number text NOT NULL, name text NOT NULL,
                tz text, fields jsonb NOT NULL
            ) ON COMMIT DROP"""
    )
    await conn.copy_records_to_table(STAGE_TABLE, records=rows, columns=STAGE_COLUMNS)


@dataclass(frozen=True, slots=True, kw_only=True)
class StagedDuplicates:
    """Staged rows that will not become contacts: ``(line, number, first line)`` of a
    number the file already had, ``(line, number)`` of one the campaign already has."""

    in_file: list[tuple[int, str, int]]
    in_list: list[tuple[int, str]]


async def staged_duplicates(conn: asyncpg.Connection, campaign: str, *, limit: int) -> tuple[StagedDuplicates, int]:
    """The staged duplicates (at most ``limit`` of each kind, by line) and how many there are in all."""
    in_file = await conn.fetch(
        f"""SELECT source_line, number, first_line FROM (
                SELECT source_line, number, min(source_line) OVER (PARTITION BY number) AS first_line
                  FROM {STAGE_TABLE}) s
             WHERE source_line <> first_line ORDER BY source_line LIMIT $1""",
        limit,
    )
    in_list = await conn.fetch(
        f"""SELECT DISTINCT ON (s.number) s.source_line, s.number
              FROM {STAGE_TABLE} s JOIN contacts c ON c.campaign = $1 AND c.number = s.number
             ORDER BY s.number, s.source_line""",
        campaign,
    )
    total = await conn.fetchval(
        f"""SELECT (SELECT count(*) - count(DISTINCT number) FROM {STAGE_TABLE})
                 + (SELECT count(DISTINCT s.number) FROM {STAGE_TABLE} s
                      JOIN contacts c ON c.campaign = $1 AND c.number = s.number)""",
        campaign,
    )
    listed = sorted((row["source_line"], row["number"]) for row in in_list)[:limit]
    return (
        StagedDuplicates(in_file=[(r["source_line"], r["number"], r["first_line"]) for r in in_file], in_list=listed),
        int(total),
    )


async def merge_contacts(conn: asyncpg.Connection, campaign: str, *, at: float) -> int:
    """Insert the first staged row of each number not yet in the campaign; returns how many."""
    status = await conn.execute(
        f"""INSERT INTO contacts (campaign, number, name, tz, fields, imported_at, source_line, next_at)
            SELECT $1, number, name, tz, fields, $2, source_line, $2 FROM (
                SELECT DISTINCT ON (number) * FROM {STAGE_TABLE} ORDER BY number, source_line) first_rows
             ORDER BY source_line  -- contact ids in the file's order: the list is dialled in it
            ON CONFLICT (campaign, number) DO NOTHING""",
        campaign,
        to_timestamp(at),
    )
    return int(status.rsplit(" ", 1)[-1])


@functools.lru_cache(maxsize=4096)
def _zone(name: str | None) -> dt.tzinfo | None:
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def number_zone(number: str) -> dt.tzinfo | None:
    """The one zone phonenumbers places ``number`` in, or None (unknown, or a country
    or range spanning several)."""
    try:
        zones = number_zones.time_zones_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return None
    if len(zones) != 1 or zones[0] == number_zones.UNKNOWN_TIMEZONE:
        return None
    return _zone(zones[0])


_CONTACT_COLUMNS = """contact_id, campaign, number, name, tz, fields::text AS fields, attempts,
    next_at, locked_until, done, outcome, imported_at, source_line, outcome_counts::text AS outcome_counts"""


def _contact(row: asyncpg.Record, fallback: dt.tzinfo) -> Contact:
    zone = _zone(row["tz"]) or number_zone(row["number"]) or fallback
    return Contact(
        contact_id=row["contact_id"],
        campaign=row["campaign"],
        number=row["number"],
        name=row["name"],
        zone=zone,
        fields=json.loads(row["fields"]),
        attempts=row["attempts"],
        next_at=row["next_at"].timestamp(),
        locked_until=to_epoch(row["locked_until"]) or 0.0,
        outcome_counts=json.loads(row["outcome_counts"]),
    )


async def due_contacts(
    db: Db | str,
    campaign: str,
    now: float,
    limit: int,
    *,
    max_attempts: int | None = None,
    zone: dt.tzinfo = dt.UTC,
    exclude: Collection[int] = (),
) -> list[Contact]:
    """Up to ``limit`` contacts that may be dialled at ``now`` as far as the list knows
    (rule 3), the longest due first. ``max_attempts``: the campaign's (None: no cap
    here); ``exclude``: contact ids already being dialled; ``zone``: the campaign's, for
    contacts whose list and number tell none."""
    async with _opened(db) as conn:
        rows = await conn.fetch(
            f"""SELECT {_CONTACT_COLUMNS} FROM contacts c
             WHERE c.campaign = $1 AND NOT c.done AND c.next_at <= $2 AND ($3::int IS NULL OR c.attempts < $3)
               AND NOT (c.contact_id = ANY($5::bigint[]))
               AND NOT EXISTS (SELECT 1 FROM do_not_call d WHERE d.number = c.number)
               AND NOT EXISTS (SELECT 1 FROM do_not_call_erased e WHERE e.number_hash = ccqueue_number_hash(c.number))
             ORDER BY c.next_at, c.contact_id
             LIMIT $4""",
            campaign,
            to_timestamp(now),
            max_attempts,
            limit,
            list(exclude),
        )
    return [_contact(row, zone) for row in rows]


class CampaignContacts:
    """The engine's source of due contacts: ``due_contacts`` with the campaign's own
    cap and zone as configured now (a reload may change them) and without the contacts
    the dialer is already dialling."""

    def __init__(
        self,
        db: Db | str,
        *,
        settings: Callable[[str], CampaignSettings | None],
        dialling: Callable[[str], Collection[int]],
    ) -> None:
        self._db = db
        self._settings = settings
        self._dialling = dialling

    async def due(self, campaign: str, now: float, limit: int) -> list[Contact]:
        settings = self._settings(campaign)
        return await due_contacts(
            self._db,
            campaign,
            now,
            limit,
            max_attempts=settings.max_attempts if settings is not None else None,
            # A contact with no zone of its own whose number has none either (toll-free)
            # is in the campaign's zone, not UTC.
            zone=settings.zone if settings is not None else dt.UTC,
            exclude=self._dialling(campaign),
        )


async def fetch_contact(db: Db, contact_id: int, *, zone: dt.tzinfo = dt.UTC) -> Contact | None:
    row = await db.fetchrow(f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE contact_id = $1", contact_id)
    return None if row is None else _contact(row, zone)


async def contact_row(db: Db, campaign: str, number: str) -> dict[str, Any] | None:
    """A contact's whole row (times in epoch seconds), for reports and tests."""
    row = await db.fetchrow(f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE campaign = $1 AND number = $2", campaign, number)
    if row is None:
        return None
    found = dict(row)
    found["fields"] = json.loads(found["fields"])
    found["outcome_counts"] = json.loads(found["outcome_counts"])
    for column in ("next_at", "locked_until", "imported_at"):
        found[column] = to_epoch(found[column])
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactMark:
    """A contact after one of its attempts: tries so far, when it may be dialled next,
    its abandon lock, whether it is finished, the last attempt's outcome, and how often
    each outcome ended its attempts (None: keep the stored counts)."""

    contact_id: int
    attempts: int
    next_at: float
    locked_until: float | None = None
    done: bool = False
    outcome: str | None = None
    outcome_counts: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        if self.attempts < 0:
            raise InvalidRecord(f"contact {self.contact_id}: attempts must not be negative, got {self.attempts}")
        if self.outcome is not None and self.outcome not in ATTEMPT_OUTCOMES:
            raise InvalidRecord(f"contact {self.contact_id}: unknown outcome {self.outcome!r}")


async def mark_contacts(db: Db, marks: Sequence[ContactMark]) -> int:
    """Write each mark unless the stored contact has seen more attempts (rule 4); returns
    how many rows changed. Of two marks of one contact in ``marks``, the later counts."""
    latest: dict[int, ContactMark] = {}
    for mark in marks:
        known = latest.get(mark.contact_id)
        if known is None or known.attempts <= mark.attempts:
            latest[mark.contact_id] = mark
    if not latest:
        return 0
    rows = [contact_progress_row(latest[key]) for key in sorted(latest)]
    status = await db.execute(UPDATE_CONTACT_PROGRESS, *_columns(rows))
    return int(status.rsplit(" ", 1)[-1])


async def contact_history(db: Db, contact_id: int) -> list[dict[str, Any]]:
    """The contact's attempts, the oldest first (what a preview agent sees)."""
    rows = await db.fetch(f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE contact_id = $1 ORDER BY started_at", contact_id)
    return [_attempt(row) for row in rows]


# --- do-not-call ------------------------------------------------------------------------


def _check_source(source: str) -> None:
    if source not in DNC_SOURCES:
        raise InvalidRecord(f"do-not-call source must be one of {', '.join(DNC_SOURCES)}, got {source!r}")


async def add_do_not_call(db: Db | str, number: str, source: str, *, at: float | None = None) -> bool:
    """Put ``number`` (E.164) on the do-not-call list; False when it was there already."""
    async with _opened(db) as conn:
        _check_source(source)
        status = await conn.execute(
            """INSERT INTO do_not_call (number, source, added_at) VALUES ($1, $2, coalesce($3, now()))
               ON CONFLICT (number) DO NOTHING""",
            number,
            source,
            to_timestamp(at),
        )
        return str(status).endswith(" 1")


async def add_do_not_call_many(conn: asyncpg.Connection, numbers: Iterable[str], source: str) -> int:
    """Many numbers at once (COPY into a staging table, then one INSERT); returns how many were new."""
    _check_source(source)
    await conn.execute("CREATE TEMP TABLE IF NOT EXISTS do_not_call_staged (number text NOT NULL) ON COMMIT DROP")
    await conn.copy_records_to_table("do_not_call_staged", records=((n,) for n in numbers), columns=("number",))
    status = await conn.execute(
        """INSERT INTO do_not_call (number, source)
           SELECT DISTINCT number, $1 FROM do_not_call_staged
           ON CONFLICT (number) DO NOTHING""",
        source,
    )
    return int(status.rsplit(" ", 1)[-1])


async def is_do_not_call(db: Db | str, number: str) -> bool:
    async with _opened(db) as conn:
        return bool(
            await conn.fetchval(
                """SELECT EXISTS (SELECT 1 FROM do_not_call WHERE number = $1)
                   OR EXISTS (SELECT 1 FROM do_not_call_erased WHERE number_hash = ccqueue_number_hash($1))""",
                number,
            )
        )


# --- campaign run states ----------------------------------------------------------------


async def set_campaign_state(db: Db | str, campaign: str, state: str, *, at: float) -> None:
    """Record that ``campaign`` is now ``state`` (stopped, running or paused)."""
    async with _opened(db) as conn:
        if state not in CAMPAIGN_STATES:
            raise InvalidRecord(f"campaign state must be one of {', '.join(CAMPAIGN_STATES)}, got {state!r}")
        await conn.execute(
            """INSERT INTO campaign_runs (campaign, state, changed_at) VALUES ($1, $2, $3)
               ON CONFLICT (campaign) DO UPDATE SET state = EXCLUDED.state, changed_at = EXCLUDED.changed_at""",
            campaign,
            state,
            to_timestamp(at),
        )


async def campaign_states(db: Db | str) -> dict[str, str]:
    """Every campaign's recorded state; a campaign with no row is stopped."""
    async with _opened(db) as conn:
        return {row["campaign"]: row["state"] for row in await conn.fetch("SELECT campaign, state FROM campaign_runs")}


# --- attempts ---------------------------------------------------------------------------

_ATTEMPT_COLUMNS = """attempt_id, version, campaign, contact_id, number, started_at, answered_at,
    connected_at, ended_at, amd, agent_id, outcome, abandoned, safe_harbour, message_left, hangup_cause"""
_ATTEMPT_TIMES = ("started_at", "answered_at", "connected_at", "ended_at")


def _attempt(row: asyncpg.Record) -> dict[str, Any]:
    found = dict(row)
    for column in _ATTEMPT_TIMES:
        found[column] = to_epoch(found[column])
    return found


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


async def write_attempts(db: Db, records: Sequence[Any]) -> None:
    """Write attempt records: per attempt the highest version wins, now and later (rule 4)."""
    newest: dict[str, Any] = {}
    for record in records:
        known = newest.get(record.attempt_id)
        if known is None or known.version < record.version:
            newest[record.attempt_id] = record
    rows = [attempt_row(newest[key]) for key in sorted(newest)]
    if rows:
        await db.execute(UPSERT_ATTEMPTS, *_columns(rows))


async def write_attempt_events(db: Db, records: Sequence[Any]) -> None:
    """Append attempt events; one already stored is skipped."""
    rows = [attempt_event_row(record) for record in {r.event_id: r for r in reversed(records)}.values()]
    if rows:
        await db.execute(INSERT_ATTEMPT_EVENTS, *_columns(rows))


async def fetch_attempt(db: Db, attempt_id: str) -> dict[str, Any] | None:
    """The ``attempts`` row as a dict (times in epoch seconds), or None."""
    row = await db.fetchrow(f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE attempt_id = $1", attempt_id)
    return None if row is None else _attempt(row)


async def fetch_attempt_events(db: Db, attempt_id: str) -> list[dict[str, Any]]:
    """An attempt's timeline in ``seq`` order; ``detail`` decoded, ``at`` in epoch seconds."""
    rows = await db.fetch(
        """SELECT event_id, attempt_id, seq, at, kind, detail::text AS detail
             FROM attempt_events WHERE attempt_id = $1 ORDER BY seq""",
        attempt_id,
    )
    return [{**dict(row), "at": to_epoch(row["at"]), "detail": json.loads(row["detail"])} for row in rows]


# --- the pacer's windows ----------------------------------------------------------------

# A live answer: a person answered. Machines are not, unless the attempt was counted as
# abandoned anyway (AMD false positives counted as abandons, when the campaign says so).
_LIVE = "answered_at IS NOT NULL AND (abandoned OR (amd IS DISTINCT FROM 'MACHINE' AND outcome IS DISTINCT FROM 'machine'))"


@dataclass(frozen=True, slots=True, kw_only=True)
class AbandonCounts:
    live_answers: int
    abandons: int

    @property
    def ratio(self) -> float:
        return self.abandons / self.live_answers if self.live_answers else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveAnswer:
    at: float  # when the person answered
    abandoned: bool


async def abandon_counts(db: Db | str, campaign: str, since: float) -> AbandonCounts:
    """Live answers and abandons of ``campaign`` answered at or after ``since``."""
    async with _opened(db) as conn:
        row = await conn.fetchrow(
            f"""SELECT count(*) FILTER (WHERE {_LIVE}) AS live, count(*) FILTER (WHERE {_LIVE} AND abandoned) AS abandons
                  FROM attempts WHERE campaign = $1 AND answered_at >= $2""",
            campaign,
            to_timestamp(since),
        )
        return AbandonCounts(live_answers=row["live"], abandons=row["abandons"])


async def live_answers(db: Db | str, campaign: str, since: float) -> list[LiveAnswer]:
    """Every live answer of ``campaign`` since ``since``, in time order: what the pacer
    replays at start-up to restore its rolling windows (24 h and 30 days)."""
    async with _opened(db) as conn:
        rows = await conn.fetch(
            f"""SELECT answered_at, abandoned FROM attempts
                 WHERE campaign = $1 AND answered_at >= $2 AND {_LIVE}
                 ORDER BY answered_at, attempt_id""",
            campaign,
            to_timestamp(since),
        )
        return [LiveAnswer(at=row["answered_at"].timestamp(), abandoned=row["abandoned"]) for row in rows]


async def abandon_history(db: Db | str, campaign: str, since: float) -> tuple[list[float], list[float]]:
    """The times of ``campaign``'s live answers and of its abandons since ``since``, each
    in time order: the pacer's rolling windows, as they were, for a restart."""
    async with _opened(db) as conn:
        answers = await live_answers(conn, campaign, since)
        return [a.at for a in answers], [a.at for a in answers if a.abandoned]


def json_fields(fields: Mapping[str, str]) -> str:
    """A contact's extra columns as the JSON the ``fields`` column holds."""
    return json.dumps(dict(fields), ensure_ascii=False, separators=(",", ":"))
