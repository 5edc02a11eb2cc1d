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
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from ccqueue.core import events as ev
from ccqueue.core.errors import ExternalError
from ccqueue.core.records import CallbackRecord, CallOutcome
from ccqueue.store.lease import check_epoch
from ccqueue.store.tables import load_open_callbacks, to_epoch, to_timestamp

__all__ = [
    "AwayCall",
    "CallbacksNotRestored",
    "StoredCall",
    "close_unfollowed_calls",
    "load_agents",
    "load_open_calls",
    "record_away_calls",
    "restore_callbacks",
]


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
       AND NOT c.call_id = ANY($2::text[])
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


async def close_unfollowed_calls(
    dsn: str, *, started_at: float, keep: Sequence[str] = (), connect_timeout_s: float = 5.0, epoch: int | None = None
) -> list[str]:
    """Close the calls an earlier process left open (arrived before ``started_at``),
    except those taken back (``keep``); returns their ids. Run after the spool is
    replayed, like the callbacks' restore. With a pair's ``epoch``, nothing is closed
    (``Fenced``) once a newer active exists: the closing is its to decide."""
    conn = await asyncpg.connect(dsn, timeout=connect_timeout_s)
    try:
        async with conn.transaction():
            if epoch is not None:
                await check_epoch(conn, epoch)
            rows = await conn.fetch(_CLOSE_UNFOLLOWED, to_timestamp(started_at), list(keep))
    finally:
        await conn.close()
    return [row["call_id"] for row in rows]


# --------------------------------------------------------------------------- a restart


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCall:
    """What the ``calls`` row of a call still open says (times in epoch seconds)."""

    call_id: str
    version: int
    queue: str | None
    agent: str | None
    arrived_at: float
    queued_at: float | None
    answered_at: float | None
    next_seq: int  # the timeline's next sequence number
    ended: bool = False  # closed already


async def load_open_calls(conn: asyncpg.Connection, call_ids: Sequence[str]) -> dict[str, StoredCall]:
    """The rows of ``call_ids``, with where their timelines stopped (``ended``: closed)."""
    rows = await conn.fetch(
        """SELECT c.call_id, c.version, c.queue, c.agent, c.arrived_at, c.queued_at, c.answered_at,
                  c.ended_at IS NOT NULL AS ended,
                  (SELECT coalesce(max(e.seq), -1) + 1 FROM call_events e WHERE e.call_id = c.call_id) AS next_seq
             FROM calls c
            WHERE c.call_id = ANY($1::text[])""",
        list(call_ids),
    )
    return {
        row["call_id"]: StoredCall(
            call_id=row["call_id"],
            version=row["version"],
            queue=row["queue"],
            agent=row["agent"],
            arrived_at=row["arrived_at"].timestamp(),
            queued_at=to_epoch(row["queued_at"]),
            answered_at=to_epoch(row["answered_at"]),
            next_seq=row["next_seq"],
            ended=row["ended"],
        )
        for row in rows
    }


# Each configured agent: its stored presence, and the last interval written for it (the
# newest by start; an index serves it), where its records go on from.
_AGENTS = """
SELECT a.agent_id, p.presence, p.reason, p.since, last.interval_id, last.ended_at
  FROM unnest($1::text[]) AS a(agent_id)
  LEFT JOIN agent_presence p ON p.agent_id = a.agent_id
  LEFT JOIN LATERAL (
        SELECT i.interval_id, i.ended_at FROM agent_state_intervals i
         WHERE i.agent_id = a.agent_id ORDER BY i.started_at DESC, i.ended_at DESC LIMIT 1
  ) last ON true
"""


async def load_agents(conn: asyncpg.Connection, agent_ids: Sequence[str]) -> tuple[ev.RestoredAgent, ...]:
    """Every configured agent as stored: logged in or not, paused and why, and where its
    intervals stopped (the next one starts no earlier than the last one ended)."""
    agents = []
    for row in await conn.fetch(_AGENTS, list(agent_ids)):
        last_end = to_epoch(row["ended_at"])
        since = to_epoch(row["since"]) or 0.0
        seq_text = (row["interval_id"] or "").rpartition(":")[2]
        agents.append(
            ev.RestoredAgent(
                agent_id=row["agent_id"],
                presence=ev.Presence(row["presence"] or ev.Presence.LOGGED_OUT.value),
                reason=row["reason"],
                since=max(since, last_end or 0.0),
                interval_seq=int(seq_text) if seq_text.isdigit() else 0,
            )
        )
    return tuple(agents)


@dataclass(frozen=True, slots=True, kw_only=True)
class AwayCall:
    """A caller that hung up (or was given the apology) while ccqueue was away, as the
    dialplan left it in Asterisk's database: keyed by the caller channel's uniqueid."""

    uniqueid: str
    call_id: str  # '' when the call never reached ccqueue
    hotline: str
    caller: str
    channel: str
    entered_at: float
    ended_at: float
    outcome: CallOutcome  # abandoned, failed when the dialplan gave up and apologised, or answered
    queue: str | None = None
    queued_at: float | None = None
    # A conversation's end (answered): keyed by its agent leg, whose channel ``channel``
    # is; ``cause`` is Asterisk's hang-up cause.
    cause: str = ""

    @property
    def row_id(self) -> str:
        """The call's id: ccqueue's own if it had given one, else one made of the key."""
        return self.call_id or f"away-{self.uniqueid}"


def _ended(call: AwayCall, outcome: str) -> dict[str, object]:
    """The ``call_ended`` event's data of a call recorded from its line."""
    if call.outcome is CallOutcome.REFUSED:
        return {
            "outcome": outcome,
            "reason": "overload: refused at the dialplan's door, before it was answered",
            "door": "overload",
        }
    ended: dict[str, object] = {
        "outcome": outcome,
        "reason": "the caller hung up while ccqueue was away",
        "while": "ccqueue away",
    }
    if call.outcome is CallOutcome.FAILED:
        ended["reason"] = "ccqueue was away past the dialplan's hold: the caller heard the apology"
    elif call.outcome is CallOutcome.ANSWERED:
        ended.update(reason="the conversation ended while ccqueue was away", agent_leg=call.channel, cause=call.cause)
    return ended


async def record_refused_at_door(conn: asyncpg.Connection, refused: Sequence[AwayCall]) -> set[str]:
    """Record new callers the dialplan's door refused for load, all in one transaction:
    each a row and its two events, keyed by its line as ``record_away_calls`` keys it, so
    that either records a caller once (a line read again adds nothing). Returns the ids
    of the rows written now."""
    if not refused:
        return set()
    rows, events = [], []
    for call in refused:
        rows.append(
            (call.row_id, call.caller, call.hotline, call.channel, to_timestamp(call.entered_at),
             to_timestamp(call.ended_at), CallOutcome.REFUSED.value, call.uniqueid)
        )  # fmt: skip
        timeline = (
            ("call_arrived", call.entered_at, {"caller": call.caller, "hotline": call.hotline}),
            ("call_ended", call.ended_at, _ended(call, CallOutcome.REFUSED.value)),
        )
        for seq, (kind, at, data) in enumerate(timeline):
            events.append((f"{call.row_id}:{seq}", call.row_id, seq, to_timestamp(at), kind, json.dumps(data)))
    async with conn.transaction():
        # A row already there (recorded by a start from the same line) keeps its timeline.
        new = await conn.fetch(
            """INSERT INTO calls (call_id, version, caller, hotline, queue, agent, channel, arrived_at,
                                  answered_at, ended_at, outcome, queued_at, away_uniqueid)
               SELECT r.call_id, 1, r.caller, r.hotline, NULL, NULL, r.channel, r.arrived_at,
                      NULL, r.ended_at, r.outcome, NULL, r.away_uniqueid
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                             $6::timestamptz[], $7::text[], $8::text[])
                   AS r(call_id, caller, hotline, channel, arrived_at, ended_at, outcome, away_uniqueid)
               ON CONFLICT DO NOTHING RETURNING call_id""",
            *map(list, zip(*rows, strict=True)),
        )
        written = {r["call_id"] for r in new}
        await conn.executemany(
            """INSERT INTO call_events (event_id, call_id, seq, at, kind, data)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING""",
            [e for e in events if e[1] in written],
        )
    return written


async def record_away_calls(conn: asyncpg.Connection, away: Sequence[AwayCall]) -> list[str]:
    """Record the calls that ended while ccqueue was away; returns the ids written.

    Exactly once: a call already closed is left alone, and a second reading of the same
    entry finds it closed (``away_uniqueid`` is unique besides). A call ccqueue had a row
    for is closed; one it never saw gets its row and a short timeline. A conversation's
    end closes its call's row; without one there is nothing of the call to close (the
    line alone does not say where the call came from).
    """
    written = []
    for call in away:
        async with conn.transaction():
            row = await conn.fetchrow(
                "SELECT call_id, ended_at, answered_at FROM calls WHERE call_id = $1 OR away_uniqueid = $2 FOR UPDATE",
                call.row_id,
                call.uniqueid,
            )
            if row is not None and row["ended_at"] is not None:
                continue
            if row is None and call.outcome is CallOutcome.ANSWERED:
                continue
            seq = await conn.fetchval("SELECT coalesce(max(seq), -1) + 1 FROM call_events WHERE call_id = $1", call.row_id)
            events = []
            if row is None:
                await conn.execute(
                    """INSERT INTO calls (call_id, version, caller, hotline, queue, agent, channel, arrived_at,
                                          answered_at, ended_at, outcome, queued_at, away_uniqueid)
                       VALUES ($1, 1, $2, $3, $4, NULL, $5, $6, NULL, $7, $8, $9, $10)
                       ON CONFLICT DO NOTHING""",
                    call.row_id, call.caller, call.hotline, call.queue, call.channel, to_timestamp(call.entered_at),
                    to_timestamp(call.ended_at), call.outcome.value, to_timestamp(call.queued_at), call.uniqueid,
                )  # fmt: skip
                events.append(("call_arrived", call.entered_at, {"caller": call.caller, "hotline": call.hotline}))
                outcome = call.outcome.value
            else:
                outcome = CallOutcome.ANSWERED.value if row["answered_at"] is not None else call.outcome.value
                await conn.execute(
                    """UPDATE calls SET version = version + 1, ended_at = $2, outcome = $3, away_uniqueid = $4
                        WHERE call_id = $1""",
                    call.row_id,
                    to_timestamp(call.ended_at),
                    outcome,
                    call.uniqueid,
                )
            events.append(("call_ended", call.ended_at, _ended(call, outcome)))
            for offset, (kind, at, data) in enumerate(events):
                await conn.execute(
                    """INSERT INTO call_events (event_id, call_id, seq, at, kind, data)
                       VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING""",
                    f"{call.row_id}:{seq + offset}",
                    call.row_id,
                    seq + offset,
                    to_timestamp(at),
                    kind,
                    json.dumps(data),
                )
            written.append(call.row_id)
    return written
