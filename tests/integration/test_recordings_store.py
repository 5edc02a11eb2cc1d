"""Recordings and erasure in a real PostgreSQL (and real files).

After ``erase_number`` on a number with calls (and their timelines), a callback, a survey,
a recording, campaign contacts, attempts and a do-not-call entry, no text column of any
table holds the number in any form, its recording's file is gone, the person is still
not called, and the erasure is recorded under the number's hash only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from ccqueue.core.errors import ErasureRefused, RecordingUnknown
from ccqueue.core.records import (
    AttemptEvent,
    AttemptRecord,
    CallbackRecord,
    CallbackStatus,
    CallEventRecord,
    CallOutcome,
    CallRecord,
    DoNotCallRecord,
    RecordingRecord,
    SurveyRecord,
)
from ccqueue.store import migrate, write_records
from ccqueue.store.erasure import STATEMENTS, erase_number
from ccqueue.store.outbound import due_contacts, is_do_not_call
from ccqueue.store.recordings import fetch_recording, purge, recordings_by_call

pytestmark = pytest.mark.integration

T0 = 1_760_000_000.0
NUMBER = "+12025550177"
OTHER = "+12025550188"
REPO = Path(__file__).resolve().parents[2]


async def connected(dsn: str) -> asyncpg.Connection:
    await migrate(dsn)
    return await asyncpg.connect(dsn)


def call(call_id: str, caller: str, *, version: int = 2, ended: bool = True) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        version=version,
        caller=caller,
        hotline="100",
        queue="support",
        agent="agent1",
        arrived_at=T0,
        answered_at=T0 + 5,
        ended_at=T0 + 60 if ended else None,
        outcome=CallOutcome.ANSWERED if ended else CallOutcome.WAITING,
        channel="PJSIP/trunk-00000001",
    )


def recording(call_id: str, *, started: float = T0 + 5) -> RecordingRecord:
    return RecordingRecord(
        recording_id=f"{call_id}.1",
        version=2,
        call_id=call_id,
        queue="support",
        agent_id="agent1",
        file=f"2025-10-09/{call_id}.1.wav",
        started_at=started,
        ended_at=started + 55,
    )


async def person_and_another(conn: asyncpg.Connection, folder: Path) -> None:
    records = [
        call("c-1", NUMBER),
        call("c-2", NUMBER[1:]),  # the caller id as Asterisk may give it, without '+'
        call("c-3", OTHER),
        CallEventRecord(
            event_id="c-1:0",
            call_id="c-1",
            seq=0,
            at=T0,
            kind="call_arrived",
            data={"caller": NUMBER, "caller_name": "Alex Morgan"},
        ),
        CallEventRecord(
            event_id="c-1:1",
            call_id="c-1",
            seq=1,
            at=T0 + 1,
            kind="queue_joined",
            data={"queue": "support", "attributes": {"customer": "Alex Morgan", "tier": "gold"}},
        ),
        CallEventRecord(event_id="c-2:0", call_id="c-2", seq=0, at=T0, kind="call_arrived", data={"caller": NUMBER[1:]}),
        CallEventRecord(event_id="c-3:0", call_id="c-3", seq=0, at=T0, kind="call_arrived", data={"caller": OTHER}),
        SurveyRecord(call_id="c-1", rating=5, recommend=10, at=T0 + 70),
        SurveyRecord(call_id="c-3", rating=3, recommend=7, at=T0 + 70),
        CallbackRecord(
            callback_id="cb-1",
            version=3,
            queue="support",
            number=NUMBER,
            status=CallbackStatus.COMPLETED,
            requested_at=T0,
            place_at=T0,
            not_before=None,
            expires_at=T0 + 3600,
            attempts=1,
            next_attempt_at=None,
            call_id="c-1",
            agent="agent1",
            result="ANSWER",
        ),
        recording("c-1"),
        recording("c-3"),
        AttemptRecord(attempt_id="a-1", version=1, campaign="camp", contact_id=None, number=NUMBER, started_at=T0),
        AttemptEvent(event_id="a-1:0", attempt_id="a-1", seq=0, at=T0, kind="dialled", detail={"number": NUMBER}),
        DoNotCallRecord(number=NUMBER, source="opt_out", at=T0),
    ]
    await write_records(conn, records)
    await conn.execute(
        "INSERT INTO contacts (campaign, number, name, fields) VALUES ('camp', $1, 'Alex Morgan', $2::jsonb),"
        " ('camp2', $1, 'Alex Morgan', '{}'::jsonb), ('camp', $3, 'Sam Other', '{}'::jsonb)",
        NUMBER,
        json.dumps({"account": "A-1", "phone": NUMBER}),
        OTHER,
    )
    await conn.execute(
        "INSERT INTO call_notes (call_id, agent, disposition, note, saved_at, saved_by)"
        " VALUES ('c-1', 'agent1', 'resolved', 'Alex Morgan asks to be called on ' || $1, now(), 'alice'),"
        " ('c-3', 'agent1', 'resolved', 'Sam Other, all fine', now(), 'alice')",
        NUMBER,
    )
    for rid in ("c-1", "c-3"):
        path = folder / "2025-10-09" / f"{rid}.1.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF" + b"\0" * 100)


async def text_holding(conn: asyncpg.Connection, needles: list[str]) -> list[str]:
    """Every (table.column) of the public schema whose text holds one of ``needles``."""
    columns = await conn.fetch(
        """SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = 'public' AND data_type IN ('text', 'jsonb', 'character varying', 'json')
              AND table_name IN (SELECT table_name FROM information_schema.tables
                                  WHERE table_schema = 'public' AND table_type = 'BASE TABLE')"""
    )
    found = []
    for c in columns:
        hit = await conn.fetchval(
            f'SELECT count(*) FROM "{c["table_name"]}" WHERE "{c["column_name"]}"::text LIKE ANY($1::text[])',
            [f"%{n}%" for n in needles],
        )
        if hit:
            found.append(f"{c['table_name']}.{c['column_name']}")
    return found


async def test_erasure_leaves_no_trace_of_the_number_and_keeps_the_person_uncalled(pg_dsn: str, tmp_path: Path) -> None:
    conn = await connected(pg_dsn)
    try:
        await person_and_another(conn, tmp_path)
        assert await text_holding(conn, [NUMBER[1:]])  # the grep finds it before
        report = await erase_number(conn, NUMBER, directory=tmp_path, actor="root", via="token")

        assert await text_holding(conn, [NUMBER[1:], "Alex Morgan"]) == []
        # The name the network gave, the CRM card and the agent's note go; the disposition
        # code and another person's note stay.
        assert await conn.fetchval("SELECT disposition FROM call_notes WHERE call_id = 'c-1'") == "resolved"
        assert await conn.fetchval("SELECT note FROM call_notes WHERE call_id = 'c-3'") == "Sam Other, all fine"
        assert not (tmp_path / "2025-10-09" / "c-1.1.wav").exists()
        assert (tmp_path / "2025-10-09" / "c-3.1.wav").exists()  # another person's stays
        assert report.files_deleted == 1 and report.files_failed == []
        assert report.rows == {
            "recordings": 1,
            "surveys": 1,
            "call_events": 3,
            "call_notes": 1,
            "calls": 2,
            "callbacks": 1,
            "attempt_events": 1,
            "attempts": 1,
            "contacts": 2,
            "do_not_call": 1,
        }
        # The rows that count for the business stay, pseudonymised alike.
        callers = {r["call_id"]: r["caller"] for r in await conn.fetch("SELECT call_id, caller FROM calls")}
        assert callers["c-1"] == callers["c-2"] == f"erased:{report.number_hash[:16]}" and callers["c-3"] == OTHER
        assert await conn.fetchval("SELECT count(*) FROM surveys WHERE call_id = 'c-3'") == 1
        assert await recordings_by_call(conn, ["c-1", "c-3"]) == {
            "c-3": [{"id": "c-3.1", "started_at": dt.datetime.fromtimestamp(T0 + 5, dt.UTC).isoformat(), "duration_s": 55.0}]
        }
        # Still not to be called: by hash, in the dialer's query and in the check.
        assert await is_do_not_call(conn, NUMBER) and not await is_do_not_call(conn, OTHER)
        await conn.execute("INSERT INTO contacts (campaign, number) VALUES ('camp', $1)", NUMBER)
        due = await due_contacts(conn, "camp", T0 + 10**9, 10)
        assert [c.number for c in due] == [OTHER]
        # The erasure is on record, under the hash only.
        row = await conn.fetchrow("SELECT * FROM erasures")
        assert row["number_hash"] == report.number_hash and row["actor"] == "root" and row["files_deleted"] == 1

        # Repeated: idempotent (the same hash, nothing more to change), recorded again.
        await conn.execute("DELETE FROM contacts WHERE number = $1", NUMBER)
        again = await erase_number(conn, NUMBER, directory=tmp_path, actor="root", via="cli")
        assert again.number_hash == report.number_hash and set(again.rows.values()) == {0}
        assert await conn.fetchval("SELECT count(*) FROM erasures") == 2
        # A late write of the erased recording (a replayed spool) does not bring it back.
        await write_records(conn, [RecordingRecord(**{**_fields(recording("c-1")), "version": 3})])
        with pytest.raises(RecordingUnknown):
            await fetch_recording(conn, "c-1.1")
    finally:
        await conn.close()


def _fields(record: RecordingRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__slots__}


async def test_erasure_is_refused_while_a_callback_is_open_and_changes_nothing(pg_dsn: str, tmp_path: Path) -> None:
    conn = await connected(pg_dsn)
    try:
        await person_and_another(conn, tmp_path)
        await conn.execute("UPDATE callbacks SET status = 'pending'")
        with pytest.raises(ErasureRefused):
            await erase_number(conn, NUMBER, directory=tmp_path, actor="root", via="token")
        assert await conn.fetchval("SELECT caller FROM calls WHERE call_id = 'c-1'") == NUMBER
        assert (tmp_path / "2025-10-09" / "c-1.1.wav").exists()
        with pytest.raises(ErasureRefused):
            await erase_number(conn, "12025550177", directory=tmp_path, actor="root", via="token")
    finally:
        await conn.close()


async def test_a_file_that_cannot_be_deleted_is_reported_and_recorded(pg_dsn: str, tmp_path: Path) -> None:
    conn = await connected(pg_dsn)
    try:
        await person_and_another(conn, tmp_path)
        stuck = tmp_path / "2025-10-09" / "c-1.1.wav"
        stuck.unlink()
        stuck.mkdir()  # a folder where the file should be: unlink fails
        report = await erase_number(conn, NUMBER, directory=tmp_path, actor="root", via="token")
        assert report.files_deleted == 0 and [f["file"] for f in report.files_failed] == ["2025-10-09/c-1.1.wav"]
        assert json.loads(await conn.fetchval("SELECT files_failed::text FROM erasures"))[0]["file"] == "2025-10-09/c-1.1.wav"
        assert await text_holding(conn, [NUMBER[1:], "Alex Morgan"]) == []
        # The name the network gave, the CRM card and the agent's note go; the disposition
        # code and another person's note stay.
        assert await conn.fetchval("SELECT disposition FROM call_notes WHERE call_id = 'c-1'") == "resolved"
        assert (
            await conn.fetchval("SELECT note FROM call_notes WHERE call_id = 'c-3'") == "Sam Other, all fine"
        )  # the rows went all the same
    finally:
        await conn.close()


async def test_the_purge_deletes_recordings_past_their_queue_retention(pg_dsn: str, tmp_path: Path) -> None:
    conn = await connected(pg_dsn)
    try:
        await person_and_another(conn, tmp_path)
        now = dt.datetime.fromtimestamp(T0, dt.UTC) + dt.timedelta(days=31)
        report = await purge(conn, directory=tmp_path, retention_days={"support": 60}, call_retention_days=None, now=now)
        assert (report.recordings, report.calls) == (0, 0)
        report = await purge(conn, directory=tmp_path, retention_days={"support": 30}, call_retention_days=None, now=now)
        assert (report.recordings, report.files_deleted, report.files_failed) == (2, 2, [])
        assert not (tmp_path / "2025-10-09").exists()  # its day folder went with its last file
        assert await conn.fetchval("SELECT count(*) FROM calls") == 3
        report = await purge(conn, directory=tmp_path, retention_days={}, call_retention_days=30, now=now)
        assert report.calls == 3
        for table in ("calls", "call_events", "surveys"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
    finally:
        await conn.close()


def test_every_statement_names_a_table_once() -> None:
    tables = [t for t, _, _ in STATEMENTS]
    assert len(tables) == len(set(tables))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ccqueue.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )


async def test_the_commands_erase_and_purge(pg_dsn: str, tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "recordings.yaml").write_text(f"recordings:\n  directory: {folder}\n  call_retention_days: 30\n")
    conn = await connected(pg_dsn)
    try:
        await person_and_another(conn, folder)
        result = _cli("erase", "--number", NUMBER, "-c", str(config), "--dsn", pg_dsn)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["rows"]["calls"] == 2 and report["files_deleted"] == 1 and NUMBER[1:] not in result.stdout
        assert await text_holding(conn, [NUMBER[1:], "Alex Morgan"]) == []
        # The name the network gave, the CRM card and the agent's note go; the disposition
        # code and another person's note stay.
        assert await conn.fetchval("SELECT disposition FROM call_notes WHERE call_id = 'c-1'") == "resolved"
        assert await conn.fetchval("SELECT note FROM call_notes WHERE call_id = 'c-3'") == "Sam Other, all fine"
        refused = _cli("erase", "--number", "2025550177", "-c", str(config), "--dsn", pg_dsn)
        assert refused.returncode == 2 and "E.164" in refused.stderr

        result = _cli("recordings", "purge", "-c", str(config), "--dsn", pg_dsn)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"recordings": 1, "calls": 3, "orphans": 0, "files_deleted": 1, "files_failed": []}
        assert await conn.fetchval("SELECT count(*) FROM calls") == 0
    finally:
        await conn.close()


async def test_files_without_a_row_go_with_their_calls_erasure_or_a_day_later(pg_dsn: str, tmp_path: Path) -> None:
    conn = await connected(pg_dsn)
    try:
        await person_and_another(conn, tmp_path)
        day = tmp_path / "2025-10-09"
        held = day / "c-2.1.wav"  # the person's call, held on demand and never started: no row
        stray = day / "c-9.1.wav"  # nobody's row
        fresh = day / "c-8.1.wav"  # nobody's row yet, just written
        for path in (held, stray, fresh):
            path.write_bytes(b"RIFF")
        now = dt.datetime.now(dt.UTC)
        old = (now - dt.timedelta(days=2)).timestamp()
        os.utime(stray, (old, old))
        report = await erase_number(conn, NUMBER, directory=tmp_path, actor="root", via="token")
        assert report.files_deleted == 2 and not held.exists()
        report = await purge(conn, directory=tmp_path, retention_days={}, call_retention_days=None, now=now)
        assert (report.orphans, stray.exists(), fresh.exists()) == (1, False, True)
    finally:
        await conn.close()
