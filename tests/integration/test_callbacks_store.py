"""Callbacks in a real PostgreSQL: the migration, versioned idempotent writes, reading the
open ones back, the outage spool, and the restore at start-up."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ccqueue.core import events as ev
from ccqueue.core.records import CallbackRecord, CallbackStatus, CallOutcome
from ccqueue.store import (
    CallbacksNotRestored,
    InvalidRecord,
    RecordWriter,
    fetch_callback,
    load_open_callbacks,
    migrate,
    restore_callbacks,
    write_records,
)
from ccqueue.store.migrate import load_migrations
from ccqueue.store.spool import decode_record, encode_record
from tests.integration.test_store import (
    FAST_BACKOFF,
    call,
    eventually,
    running,
    spooled_lines,
)
from tests.support.postgres import PgServer, free_port

pytestmark = pytest.mark.integration

T0 = 1_760_000_000.0


def callback(callback_id: str, version: int = 1, **changes: Any) -> CallbackRecord:
    fields: dict[str, Any] = {
        "queue": "support",
        "number": "+16502530000",
        "status": CallbackStatus.PENDING,
        "requested_at": T0,
        "place_at": T0 - 30.5,
        "not_before": None,
        "expires_at": T0 + 14400,
        "attempts": 0,
        "next_attempt_at": None,
        "call_id": "call-1",
        "agent": None,
        "result": None,
    }
    fields.update(changes)
    return CallbackRecord(callback_id=callback_id, version=version, **fields)


def nowhere() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/none"


@pytest.fixture
async def conn(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate(pg_dsn)
    connection = await asyncpg.connect(pg_dsn)
    yield connection
    await connection.close()


# -- the migration --------------------------------------------------------------------


def test_the_callbacks_migration_follows_the_first() -> None:
    assert [(m.version, m.name) for m in load_migrations()][:2] == [("0001", "init"), ("0002", "callbacks")]


async def test_the_migration_adds_the_table_its_checks_and_every_outcome(conn: asyncpg.Connection) -> None:
    indexes = {row["indexname"] for row in await conn.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'callbacks'")}
    assert indexes >= {"callbacks_pkey", "callbacks_open_idx", "callbacks_number_idx"}
    await write_records(conn, [call(f"c-{o.value}", 1, outcome=o) for o in CallOutcome])
    assert await conn.fetchval("SELECT count(*) FROM calls") == len(CallOutcome)
    await write_records(conn, [callback(f"cb-{s.value}", status=s) for s in CallbackStatus])
    assert await conn.fetchval("SELECT count(*) FROM callbacks") == len(CallbackStatus)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE callbacks SET status = 'lost'")
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE callbacks SET attempts = -1")


# -- writing and reading -----------------------------------------------------------------


async def test_writing_a_callback_again_changes_nothing(conn: asyncpg.Connection) -> None:
    batch = [callback("a"), callback("b", number="+16502530001")]
    await write_records(conn, batch)
    first = await conn.fetch("SELECT * FROM callbacks ORDER BY callback_id")
    await write_records(conn, batch)
    await write_records(conn, [*batch, *batch])  # duplicates inside one batch too
    assert await conn.fetch("SELECT * FROM callbacks ORDER BY callback_id") == first
    assert len(first) == 2


async def test_a_callback_round_trips_exactly(conn: asyncpg.Connection) -> None:
    record = callback(
        "a",
        4,
        status=CallbackStatus.PENDING,
        not_before=T0 + 600.25,
        attempts=2,
        next_attempt_at=T0 + 900.5,
        agent="agent1",
        result="NOANSWER",
        call_id=None,
    )
    await write_records(conn, [record])
    assert await fetch_callback(conn, "a") == record
    assert await fetch_callback(conn, "missing") is None


async def test_only_a_newer_version_replaces_a_callback(conn: asyncpg.Connection) -> None:
    dialing = callback("a", 2, status=CallbackStatus.DIALING, agent="agent1")
    done = callback("a", 3, status=CallbackStatus.COMPLETED, agent="agent1", attempts=1, result="ANSWER")
    await write_records(conn, [callback("a", 1), done, dialing])  # the newest wins within a batch
    assert await fetch_callback(conn, "a") == done
    await write_records(conn, [dialing, callback("a", 1)])  # late, older versions
    assert await fetch_callback(conn, "a") == done
    written_at = await conn.fetchval("SELECT updated_at FROM callbacks WHERE callback_id = 'a'")
    failed_later = callback("a", 4, status=CallbackStatus.FAILED, attempts=3, result="BUSY")
    await write_records(conn, [failed_later])
    assert await fetch_callback(conn, "a") == failed_later
    assert await conn.fetchval("SELECT updated_at FROM callbacks WHERE callback_id = 'a'") > written_at


async def test_load_open_returns_pending_and_dialing_by_place_in_line(conn: asyncpg.Connection) -> None:
    records = [
        callback("late", place_at=T0 + 50, number="+16502530001"),
        callback("dialing", 2, status=CallbackStatus.DIALING, place_at=T0 + 10, agent="agent1"),
        callback("early", place_at=T0 - 100, number="+16502530002"),
        *(callback(f"closed-{s.value}", 3, status=s, place_at=T0 - 500) for s in CallbackStatus if not s.open),
    ]
    await write_records(conn, records)
    open_ones = await load_open_callbacks(conn)
    assert [r.callback_id for r in open_ones] == ["early", "dialing", "late"]
    assert open_ones[1] == records[1]
    await write_records(conn, [callback("early", 2, status=CallbackStatus.CANCELLED, place_at=T0 - 100, number="+16502530002")])
    assert [r.callback_id for r in await load_open_callbacks(conn)] == ["dialing", "late"]


async def test_a_callback_the_database_cannot_take_is_invalid_before_anything_is_sent(
    conn: asyncpg.Connection,
) -> None:
    bad_status = dataclasses.replace(callback("a"), status="pending")  # a string, not the enum
    with pytest.raises(InvalidRecord):
        await write_records(conn, [callback("b"), bad_status])
    with pytest.raises(InvalidRecord):
        await write_records(conn, [callback("c", expires_at=1e300)])
    assert await conn.fetchval("SELECT count(*) FROM callbacks") == 0


# -- the spool -----------------------------------------------------------------------------


def test_a_callback_line_decodes_to_the_same_record() -> None:
    for record in (
        callback("a"),
        callback(
            "b", 7, status=CallbackStatus.DIALING, not_before=T0 + 1.5, next_attempt_at=T0 + 2, agent="agent1", result="BUSY"
        ),
    ):
        assert decode_record(encode_record(record)) == record


async def test_callbacks_spooled_in_an_outage_are_replayed_once_newest_last(pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    spool_dir = tmp_path / "spool"
    first = RecordWriter(nowhere(), spool_dir=spool_dir, **FAST_BACKOFF)
    versions = [
        callback("a", 1),
        callback("a", 2, status=CallbackStatus.DIALING, agent="agent1"),
        callback("a", 3, status=CallbackStatus.COMPLETED, attempts=1, result="ANSWER"),
    ]
    async with running(first):
        for record in versions:
            first.submit(record)
        first.submit(call("c1", 1, outcome=CallOutcome.CALLBACK, ended_at=T0 + 5))
        await first.flush(timeout=5)
    assert [line["type"] for line in spooled_lines(spool_dir)] == ["callback"] * 3 + ["call"]
    assert spooled_lines(spool_dir)[2]["status"] == "completed"

    second = RecordWriter(pg_dsn, spool_dir=spool_dir)
    async with running(second):
        await eventually(lambda: second.records_replayed == 4)
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await fetch_callback(conn, "a") == versions[-1]
        assert await conn.fetchval("SELECT outcome FROM calls WHERE call_id = 'c1'") == "callback"
    finally:
        await conn.close()


async def test_the_writer_says_when_its_spool_is_replayed(pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    cut_off = RecordWriter(nowhere(), spool_dir=tmp_path / "a", **FAST_BACKOFF)
    async with running(cut_off):
        with pytest.raises(TimeoutError):  # several connection attempts, none through
            await asyncio.wait_for(cut_off.wait_spool_replayed(), timeout=0.3)
        assert not cut_off.spool_replayed
    reachable = RecordWriter(pg_dsn, spool_dir=tmp_path / "b")
    async with running(reachable):
        await asyncio.wait_for(reachable.wait_spool_replayed(), timeout=5)
        assert reachable.spool_replayed


# -- the restore at start-up ---------------------------------------------------------------------


async def test_restore_waits_for_the_spool_and_posts_only_what_is_still_open(pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:  # in the database: two pending callbacks and a closed one
        await write_records(
            conn,
            [
                callback("a", place_at=T0 + 5),
                callback("b", number="+16502530001"),
                callback("old", 2, status=CallbackStatus.EXPIRED),
            ],
        )
    finally:
        await conn.close()
    # In the spool only: "a" completed just before the crash, and a new one, "c".
    spool_dir = tmp_path / "spool"
    crashed = RecordWriter(nowhere(), spool_dir=spool_dir, **FAST_BACKOFF)
    async with running(crashed):
        crashed.submit(callback("a", 2, status=CallbackStatus.COMPLETED, place_at=T0 + 5, result="ANSWER"))
        crashed.submit(callback("c", number="+16502530002", place_at=T0 + 60))
        await crashed.flush(timeout=5)

    posted: list[ev.Event] = []
    writer = RecordWriter(pg_dsn, spool_dir=spool_dir)
    async with running(writer):
        restored = await asyncio.wait_for(
            restore_callbacks(pg_dsn, posted.append, spool_replayed=writer.wait_spool_replayed), timeout=10
        )
    assert [r.callback_id for r in restored] == ["b", "c"]
    assert posted == [ev.CallbacksRestored(callbacks=restored)]


async def test_restore_posts_an_empty_tuple_when_nothing_is_open(pg_dsn: str) -> None:
    await migrate(pg_dsn)
    posted: list[ev.Event] = []
    assert await restore_callbacks(pg_dsn, posted.append) == ()
    assert posted == [ev.CallbacksRestored(callbacks=())]


async def test_restore_gives_up_after_its_attempts(pg_server: PgServer, pg_dsn: str) -> None:
    posted: list[ev.Event] = []
    with pytest.raises(CallbacksNotRestored, match="after 3 attempts"):
        await restore_callbacks(nowhere(), posted.append, attempts=3, backoff_initial_s=0.01, backoff_max_s=0.02)
    never = asyncio.Event()
    with pytest.raises(CallbacksNotRestored, match="not replayed"):
        await restore_callbacks(pg_dsn, posted.append, spool_replayed=never.wait, replay_timeout_s=0.05)
    assert posted == []


class Log:
    """Collects the events a component logs, for tests to wait on."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def bind(self, **_context: object) -> Log:
        return self

    def info(self, event: str, **_fields: object) -> None:
        self.events.append(event)

    warning = error = info


async def test_restore_retries_until_the_schema_is_there(pg_dsn: str) -> None:
    posted: list[ev.Event] = []
    log = Log()
    restoring = asyncio.create_task(
        restore_callbacks(pg_dsn, posted.append, attempts=50, backoff_initial_s=0.02, backoff_max_s=0.05, log=log)
    )
    await eventually(lambda: "callback_restore_failed" in log.events)  # no table yet
    await migrate(pg_dsn)
    assert await asyncio.wait_for(restoring, timeout=10) == ()
    assert posted == [ev.CallbacksRestored(callbacks=())]
    assert log.events[-1] == "callbacks_restored"
