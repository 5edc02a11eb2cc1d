"""Recordings in PostgreSQL and on disk: look-ups, safe paths, the retention purge.

Rules kept here:

1. A recording's file is found only through its row: the id in a request is checked
   against the ids ccqueue makes, the row's ``file`` by ``ccqueue.recording_files``
   (inside the recordings folder, symbolic links resolved). Anything else is
   ``RecordingUnknown`` (404), never a path opened.
2. The purge deletes, per queue, recordings older than the queue's ``retention_days``
   (file, then row, with a tombstone so that a replayed write does not bring the row
   back), and, with ``call_retention_days``, calls older than that with their events,
   surveys and recordings. Rows go in one transaction; files after it commits, and a file
   that could not be deleted is reported (never silently kept). A file without a row
   (held on demand and never started) goes once a day old.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from ccqueue.core.errors import RecordingUnknown
from ccqueue.core.recording import RECORDING_ID
from ccqueue.recording_files import delete_files, recording_files, recording_path

__all__ = ["PurgeReport", "fetch_recording", "purge", "recordings_by_call", "remove_empty_day_folders"]


def _row(row: asyncpg.Record) -> dict[str, Any]:
    started, ended = row["started_at"], row["ended_at"]
    return {
        "id": row["recording_id"],
        "call_id": row["call_id"],
        "queue": row["queue"],
        "agent_id": row["agent_id"],
        "file": row["file"],
        "started_at": started.isoformat(),
        "ended_at": ended.isoformat() if ended is not None else None,
        "duration_s": round((ended - started).total_seconds(), 1) if ended is not None else None,
    }


async def fetch_recording(db: asyncpg.Pool | asyncpg.Connection, recording_id: str) -> dict[str, Any]:
    """A recording's row (rule 1); raises RecordingUnknown."""
    if not isinstance(recording_id, str) or not RECORDING_ID.fullmatch(recording_id):
        raise RecordingUnknown(f"{recording_id!r} is not a recording id")
    row = await db.fetchrow(
        "SELECT recording_id, call_id, queue, agent_id, file, started_at, ended_at FROM recordings WHERE recording_id = $1",
        recording_id,
    )
    if row is None:
        raise RecordingUnknown(f"no recording {recording_id!r}")
    return _row(row)


async def recordings_by_call(pool: asyncpg.Pool | asyncpg.Connection, call_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The recordings of each call (``{id, started_at, duration_s}``, oldest first); calls
    without any are left out. Deleted recordings have no row, so none is listed."""
    rows = await pool.fetch(
        """SELECT recording_id, call_id, queue, agent_id, file, started_at, ended_at FROM recordings
            WHERE call_id = ANY($1::text[]) ORDER BY call_id, started_at, recording_id""",
        list(call_ids),
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        item = _row(row)
        found.setdefault(row["call_id"], []).append(
            {"id": item["id"], "started_at": item["started_at"], "duration_s": item["duration_s"]}
        )
    return found


@dataclass(slots=True)
class PurgeReport:
    recordings: int = 0
    calls: int = 0
    orphans: int = 0  # files without a row, deleted
    files_deleted: int = 0
    files_failed: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "recordings": self.recordings,
            "calls": self.calls,
            "orphans": self.orphans,
            "files_deleted": self.files_deleted,
            "files_failed": self.files_failed,
        }


# A file with no row is deleted once this old (its row may still be on its way).
ORPHAN_AFTER = dt.timedelta(days=1)

# Tables holding rows of a call, by call id, deleted with the call when its retention ends.
_CALL_TABLES = ("call_events", "surveys", "agent_state_intervals")


async def purge(
    conn: asyncpg.Connection,
    *,
    directory: str | Path,
    retention_days: Mapping[str, int | None],
    call_retention_days: int | None,
    now: dt.datetime,
) -> PurgeReport:
    """The retention purge (rule 2). ``retention_days``: each queue's (None: kept)."""
    report = PurgeReport()
    files: list[str] = []
    async with conn.transaction():
        await conn.execute("SET LOCAL ccqueue.rewrite = 'retention'")
        for queue, days in sorted(retention_days.items()):
            if days is None:
                continue
            gone = await conn.fetch(
                "DELETE FROM recordings WHERE queue = $1 AND started_at < $2 RETURNING recording_id, file",
                queue,
                now - dt.timedelta(days=days),
            )
            files += [r["file"] for r in gone]
            await _tombstones(conn, [r["recording_id"] for r in gone])
            report.recordings += len(gone)
        if call_retention_days is not None:
            before = now - dt.timedelta(days=call_retention_days)
            calls = [r["call_id"] for r in await conn.fetch("SELECT call_id FROM calls WHERE arrived_at < $1", before)]
            if calls:
                gone = await conn.fetch(
                    "DELETE FROM recordings WHERE call_id = ANY($1::text[]) RETURNING recording_id, file", calls
                )
                files += [r["file"] for r in gone]
                await _tombstones(conn, [r["recording_id"] for r in gone])
                report.recordings += len(gone)
                for table in _CALL_TABLES:
                    await conn.execute(f"DELETE FROM {table} WHERE call_id = ANY($1::text[])", calls)
                await conn.execute("DELETE FROM calls WHERE call_id = ANY($1::text[])", calls)
                report.calls = len(calls)
    # Files without a row, a day old: a recording held on demand and never started, or a
    # file whose row a crash or an operator removed.
    known = {r["file"] for r in await conn.fetch("SELECT file FROM recordings")}
    old = (now - ORPHAN_AFTER).timestamp()
    for name in recording_files(directory):
        if name not in known and _mtime(directory, name) < old:
            files.append(name)
            report.orphans += 1
    report.files_deleted, report.files_failed = delete_files(directory, files)
    remove_empty_day_folders(directory)
    return report


def _mtime(directory: str | Path, name: str) -> float:
    try:
        return recording_path(directory, name).stat().st_mtime
    except (OSError, RecordingUnknown):
        return float("inf")


async def _tombstones(conn: asyncpg.Connection, recording_ids: list[str]) -> None:
    if recording_ids:
        await conn.execute(
            "INSERT INTO recordings_gone (recording_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", recording_ids
        )


def remove_empty_day_folders(directory: str | Path) -> None:
    """Day folders left empty by a purge (best effort; a folder still written is kept)."""
    root = Path(directory)
    if not root.is_dir():
        return
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            with contextlib.suppress(OSError):
                os.rmdir(child)
