"""A customer's history across channels, and the agent's wrap-up of a call.

Rules kept here:

1. The history is read by number, newest first, from every table that holds one:
   inbound calls (with their disposition and note), callbacks, campaign attempts and
   survey answers. Each part is its own index range scan, limited before the merge
   (0011_workspace.sql), so a number with thousands of earlier calls answers in a few
   milliseconds.
2. Items are plain JSON-ready dicts; ``kind`` says which channel, ``at`` is ISO 8601,
   ``call_id`` names the call (a callback's: the call it came from; an attempt's: its
   attempt id). Nothing here escapes text for a page: the page shows it as text.
3. A call's recordings come from the recordings store (``recordings_by_call``); deleted
   or erased ones are not listed.
4. A wrap-up is written whole in one statement (disposition and note together), or not
   at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from ccqueue.store.recordings import recordings_by_call

__all__ = ["MAX_NOTE_CHARS", "WorkspaceStore", "call_agent", "customer_history", "disposition_counts", "save_wrapup", "wrapup_of"]

# Enough for a few paragraphs; the column's CHECK says the same.
MAX_NOTE_CHARS = 4000

_HISTORY = """
(SELECT 'call' AS kind, c.arrived_at AS at, c.call_id, c.queue, c.agent, c.outcome AS status,
        c.wait_s, n.disposition, n.note, NULL::text AS campaign, NULL::smallint AS rating,
        NULL::smallint AS recommend
   FROM calls c LEFT JOIN call_notes n ON n.call_id = c.call_id
  WHERE c.caller = $1 ORDER BY c.arrived_at DESC LIMIT $2)
UNION ALL
(SELECT 'callback', b.requested_at, coalesce(b.call_id, b.callback_id), b.queue, b.agent, b.status,
        NULL, NULL, NULL, NULL, NULL, NULL
   FROM callbacks b
  WHERE b.number = $1 ORDER BY b.requested_at DESC LIMIT $2)
UNION ALL
(SELECT 'attempt', a.started_at, a.attempt_id, NULL, a.agent_id, a.outcome,
        NULL, NULL, NULL, a.campaign, NULL, NULL
   FROM attempts a
  WHERE a.number = $1 ORDER BY a.started_at DESC LIMIT $2)
UNION ALL
(SELECT 'survey', s.answered_at, s.call_id, c.queue, c.agent, NULL,
        NULL, NULL, NULL, NULL, s.rating, s.recommend
   FROM (SELECT call_id, queue, agent FROM calls WHERE caller = $1 ORDER BY arrived_at DESC LIMIT $2) c
   JOIN surveys s ON s.call_id = c.call_id)
ORDER BY at DESC, call_id
LIMIT $2
"""


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat()


async def _recordings(pool: asyncpg.Pool | asyncpg.Connection, call_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """A call's recordings, by call id (rule 3)."""
    return await recordings_by_call(pool, call_ids)


async def customer_history(pool: asyncpg.Pool | asyncpg.Connection, number: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The number's history, newest first, at most ``limit`` items (rule 1)."""
    if not number or limit <= 0:
        return []
    rows = await pool.fetch(_HISTORY, number, limit)
    calls = [r["call_id"] for r in rows if r["kind"] == "call"]
    recordings = await _recordings(pool, calls) if calls else {}
    items: list[dict[str, Any]] = []
    for r in rows:
        item: dict[str, Any] = {"kind": r["kind"], "at": _iso(r["at"]), "call_id": r["call_id"], "queue": r["queue"]}
        item["agent"] = r["agent"]
        if r["kind"] == "call":
            item |= {
                "outcome": r["status"],
                "wait_s": None if r["wait_s"] is None else round(r["wait_s"], 1),
                "disposition": r["disposition"],
                "note": r["note"],
                "recordings": recordings.get(r["call_id"], []),
            }
        elif r["kind"] == "callback":
            item["status"] = r["status"]
        elif r["kind"] == "attempt":
            item |= {"campaign": r["campaign"], "outcome": r["status"]}
        else:
            item |= {"rating": r["rating"], "recommend": r["recommend"]}
        items.append(item)
    return items


async def save_wrapup(
    pool: asyncpg.Pool | asyncpg.Connection,
    *,
    call_id: str,
    agent: str,
    disposition: str,
    note: str,
    saved_by: str,
    at: float,
) -> dict[str, Any]:
    """Store (or correct) the wrap-up of ``call_id``; the row as stored (rule 4)."""
    row = await pool.fetchrow(
        """INSERT INTO call_notes (call_id, agent, disposition, note, saved_at, saved_by)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (call_id) DO UPDATE
              SET agent = EXCLUDED.agent, disposition = EXCLUDED.disposition, note = EXCLUDED.note,
                  saved_at = EXCLUDED.saved_at, saved_by = EXCLUDED.saved_by
           RETURNING call_id, agent, disposition, note, saved_at, saved_by""",
        call_id,
        agent,
        disposition,
        note,
        dt.datetime.fromtimestamp(at, dt.UTC),
        saved_by,
    )
    assert row is not None
    return {**dict(row), "saved_at": _iso(row["saved_at"])}


async def wrapup_of(pool: asyncpg.Pool | asyncpg.Connection, call_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT call_id, agent, disposition, note, saved_at FROM call_notes WHERE call_id = $1", call_id)
    return None if row is None else {**dict(row), "saved_at": _iso(row["saved_at"])}


async def call_agent(pool: asyncpg.Pool | asyncpg.Connection, call_id: str) -> tuple[str | None, str | None] | None:
    """(agent, queue) of a recorded call; None when no such call is recorded."""
    row = await pool.fetchrow("SELECT agent, queue FROM calls WHERE call_id = $1", call_id)
    return None if row is None else (row["agent"], row["queue"])


async def disposition_counts(
    pool: asyncpg.Pool | asyncpg.Connection, from_at: dt.datetime, to_at: dt.datetime
) -> Sequence[dict[str, Any]]:
    """Answered calls per queue and disposition (None: no wrap-up saved) over [from_at, to_at)."""
    rows = await pool.fetch(
        "SELECT queue, disposition, calls FROM report_dispositions_between($1, $2) ORDER BY queue, disposition NULLS LAST",
        from_at,
        to_at,
    )
    return [dict(r) for r in rows]


class WorkspaceStore:
    """The functions above on a small pool of the daemon's own, opened at first use (so a
    database that is down at start-up only delays the history, never the daemon)."""

    # Connections: the screen-pop's history fetches run one at a time; the API's reads
    # and wrap-ups beside them. Each statement must answer within COMMAND_TIMEOUT_S.
    POOL_SIZE = 3
    COMMAND_TIMEOUT_S = 5.0

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _get(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=self.POOL_SIZE,
                    timeout=self.COMMAND_TIMEOUT_S,
                    command_timeout=self.COMMAND_TIMEOUT_S,
                )
            return self._pool

    async def history(self, number: str, limit: int = 50) -> list[dict[str, Any]]:
        return await customer_history(await self._get(), number, limit=limit)

    async def recorded_call(self, call_id: str) -> tuple[str | None, str | None] | None:
        return await call_agent(await self._get(), call_id)

    async def save_wrapup(
        self, *, call_id: str, agent: str, disposition: str, note: str, saved_by: str, at: float
    ) -> dict[str, Any]:
        return await save_wrapup(
            await self._get(), call_id=call_id, agent=agent, disposition=disposition, note=note, saved_by=saved_by, at=at
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
