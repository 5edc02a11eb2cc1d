"""ccqueue.store against a real PostgreSQL: migrations, idempotent writes, the outage spool."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from ccqueue.core.records import AgentStateRecord, CallEventRecord, CallOutcome, CallRecord
from ccqueue.store import (
    RecordWriter,
    SpoolBusy,
    fetch_call,
    fetch_call_events,
    migrate,
    write_records,
)
from ccqueue.store.migrate import load_migrations
from ccqueue.store.spool import encode_record
from tests.support.postgres import PgServer, free_port

pytestmark = pytest.mark.integration

T0 = 1_760_000_000.0
FAST_BACKOFF = {"backoff_initial_s": 0.05, "backoff_max_s": 0.2}
SHIPPED_VERSIONS = [migration.version for migration in load_migrations()]


def event(call_id: str, seq: int, kind: str = "call_arrived", **data: object) -> CallEventRecord:
    return CallEventRecord(event_id=f"{call_id}:{seq}", call_id=call_id, seq=seq, at=T0 + seq, kind=kind, data=dict(data))


def call(call_id: str, version: int, **changes: object) -> CallRecord:
    fields: dict[str, object] = {
        "caller": "+15550100",
        "hotline": "100",
        "queue": "support",
        "agent": None,
        "arrived_at": T0,
        "answered_at": None,
        "ended_at": None,
        "outcome": CallOutcome.WAITING,
        "channel": "PJSIP/trunk-0001",
    }
    fields.update(changes)
    return CallRecord(call_id=call_id, version=version, **fields)  # type: ignore[arg-type]


def interval(agent_id: str, seq: int) -> AgentStateRecord:
    return AgentStateRecord(
        interval_id=f"{agent_id}:{seq}", agent_id=agent_id, state="ready", reason=None, started_at=T0 + seq, ended_at=T0 + seq + 1
    )


async def count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0) -> None:
    """Poll ``check`` until it holds, failing at the deadline."""
    async with asyncio.timeout(timeout):
        while True:
            outcome = check()
            if not isinstance(outcome, bool):
                outcome = await outcome
            if outcome:
                return
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(writer: RecordWriter) -> AsyncIterator[RecordWriter]:
    async with asyncio.TaskGroup() as group:
        group.create_task(writer.run())
        try:
            yield writer
        finally:
            await writer.close(timeout=10)


def spooled_lines(spool_dir: Path) -> list[dict[str, object]]:
    return [
        json.loads(line) for path in sorted(spool_dir.glob("segment-*.jsonl")) for line in path.read_text().splitlines() if line
    ]


async def schema_snapshot(dsn: str) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("""
            SELECT 'column', table_name || '.' || column_name,
                   data_type || is_nullable || coalesce(column_default, '') || is_generated
              FROM information_schema.columns WHERE table_schema = 'public'
            UNION ALL SELECT 'index', indexname, indexdef FROM pg_indexes
             WHERE schemaname = 'public'
            UNION ALL SELECT 'trigger', tgname, tgrelid::regclass::text FROM pg_trigger
             WHERE NOT tgisinternal
            ORDER BY 1, 2""")
        return [tuple(row) for row in rows]
    finally:
        await conn.close()


# -- migrations -----------------------------------------------------------------------


async def test_migrate_twice_applies_nothing_the_second_time(pg_dsn: str) -> None:
    assert await migrate(pg_dsn) == SHIPPED_VERSIONS
    before = await schema_snapshot(pg_dsn)
    assert await migrate(pg_dsn) == []
    assert await schema_snapshot(pg_dsn) == before
    assert {name for kind, name, _ in before if kind == "index"} >= {
        "calls_arrived_at_idx",
        "calls_queue_arrived_at_idx",
        "agent_state_intervals_agent_started_idx",
        "call_events_call_id_seq_key",
    }
    assert await count(pg_dsn, "SELECT count(*) FROM schema_migrations") == len(SHIPPED_VERSIONS)


async def test_concurrent_migrators_apply_each_file_once(pg_dsn: str) -> None:
    results = await asyncio.gather(*(migrate(pg_dsn) for _ in range(3)))
    assert sorted(results) == [[], [], SHIPPED_VERSIONS]
    assert await count(pg_dsn, "SELECT count(*) FROM schema_migrations") == len(SHIPPED_VERSIONS)


async def test_failed_migration_rolls_back_alone(pg_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT nonsense;")
    with pytest.raises(asyncpg.UndefinedColumnError):
        await migrate(pg_dsn, directory=tmp_path)
    assert await count(pg_dsn, "SELECT count(*) FROM schema_migrations") == 1
    assert await count(pg_dsn, "SELECT count(*) FROM pg_tables WHERE tablename = 'half'") == 0
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int);")
    assert await migrate(pg_dsn, directory=tmp_path) == ["0002"]


# -- write_records ----------------------------------------------------------------------


@pytest.fixture
async def conn(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate(pg_dsn)
    connection = await asyncpg.connect(pg_dsn)
    yield connection
    await connection.close()


async def table_counts(conn: asyncpg.Connection) -> tuple[int, int, int]:
    return tuple(
        [
            await conn.fetchval(f"SELECT count(*) FROM {table}")  # type: ignore[return-value]
            for table in ("calls", "call_events", "agent_state_intervals")
        ]
    )


async def test_write_records_twice_changes_nothing(conn: asyncpg.Connection) -> None:
    batch = [
        event("c1", 0),
        event("c1", 1, "agent_offered", agent="a1"),
        call("c1", 1),
        call("c2", 1),
        interval("a1", 0),
        interval("a1", 1),
    ]
    await write_records(conn, batch)
    first = await table_counts(conn)
    await write_records(conn, batch)
    await write_records(conn, [*batch, *batch])  # duplicates inside one batch too
    assert await table_counts(conn) == first == (2, 2, 2)


async def test_older_call_summary_never_overwrites_newer(conn: asyncpg.Connection) -> None:
    answered = call("c1", 3, agent="a1", answered_at=T0 + 12.5, outcome=CallOutcome.ANSWERED)
    await write_records(conn, [call("c1", 1), answered, call("c1", 2)])  # newest wins in a batch
    await write_records(conn, [call("c1", 2, outcome=CallOutcome.ABANDONED)])  # late, older
    stored = await fetch_call(conn, "c1")
    assert stored is not None
    assert (stored["version"], stored["outcome"], stored["agent"]) == (3, "answered", "a1")
    assert stored["answered_at"] == pytest.approx(T0 + 12.5)
    assert stored["wait_s"] == pytest.approx(12.5)
    ended = call("c1", 4, agent="a1", answered_at=T0 + 12.5, ended_at=T0 + 90, outcome=CallOutcome.ANSWERED)
    await write_records(conn, [ended])
    assert (await fetch_call(conn, "c1"))["ended_at"] == pytest.approx(T0 + 90)  # type: ignore[index]
    assert await fetch_call(conn, "missing") is None


async def test_every_outcome_is_accepted(conn: asyncpg.Connection) -> None:
    await write_records(conn, [call(f"c-{o.value}", 1, outcome=o) for o in CallOutcome])
    assert await conn.fetchval("SELECT count(*) FROM calls") == len(CallOutcome)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE calls SET outcome = 'lost'")


async def test_call_events_are_append_only(conn: asyncpg.Connection) -> None:
    await write_records(conn, [event("c1", 1, "b", n=2), event("c1", 0, "a", n=1)])
    timeline = await fetch_call_events(conn, "c1")
    assert [(e["seq"], e["kind"], e["data"]) for e in timeline] == [(0, "a", {"n": 1}), (1, "b", {"n": 2})]
    assert timeline[0]["at"] == pytest.approx(T0)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("UPDATE call_events SET kind = 'x'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("DELETE FROM call_events")
    assert len(await fetch_call_events(conn, "c1")) == 2


# -- RecordWriter --------------------------------------------------------------------------


async def test_writer_sends_full_batches_at_once_and_flush_forces_the_rest(pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    writer = RecordWriter(pg_dsn, spool_dir=tmp_path / "spool", batch_max=10, flush_interval_s=60.0)
    async with running(writer):
        await eventually(lambda: writer.connected)
        for seq in range(10):
            writer.submit(event("full", seq))
        await eventually(lambda: writer.records_written == 10)  # no flush needed
        for seq in range(25):
            writer.submit(event("rest", seq))
        await writer.flush(timeout=5)
        assert (writer.records_written, writer.batches_written) == (35, 4)
    assert await count(pg_dsn, "SELECT count(*) FROM call_events") == 35
    assert (writer.records_spooled, writer.batches_failed) == (0, 0)


async def test_writer_rejects_bad_records_alone(pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    writer = RecordWriter(pg_dsn, spool_dir=tmp_path / "spool")
    async with running(writer):
        writer.submit(event("ok", 0))
        writer.submit(event("bad", 0, payload={1, 2}))  # a set is not JSON
        writer.submit(event("bad", 2**40))  # seq out of the int column's range
        writer.submit(event("ok", 1))
        await writer.flush(timeout=5)
    assert (writer.records_written, writer.records_rejected) == (2, 2)
    assert await count(pg_dsn, "SELECT count(*) FROM call_events") == 2
    assert len((tmp_path / "spool" / "rejected.jsonl").read_text().splitlines()) == 2


async def test_outage_spools_then_replays_every_record_once(pg_server: PgServer, pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    spool_dir = tmp_path / "spool"
    writer = RecordWriter(pg_dsn, spool_dir=spool_dir, batch_max=50, **FAST_BACKOFF)
    async with running(writer):
        for seq in range(10):
            writer.submit(event("before", seq))
        await writer.flush(timeout=5)
        assert writer.records_written == 10

        await asyncio.to_thread(pg_server.stop)
        for seq in range(120):
            writer.submit(event("during", seq))
        writer.submit(call("during", 1))
        writer.submit(call("during", 2, outcome=CallOutcome.ABANDONED, ended_at=T0 + 5))
        await writer.flush(timeout=5)
        assert writer.records_spooled == 122
        assert writer.batches_failed >= 1
        assert len(spooled_lines(spool_dir)) == 122
        assert not writer.connected

        await asyncio.to_thread(pg_server.start)
        await eventually(lambda: writer.records_replayed == 122)
        assert spooled_lines(spool_dir) == []
        writer.submit(event("after", 0))
        await writer.flush(timeout=5)

    assert await count(pg_dsn, "SELECT count(*) FROM call_events") == 131
    assert await count(pg_dsn, "SELECT count(DISTINCT event_id) FROM call_events") == 131
    assert await count(pg_dsn, "SELECT version FROM calls WHERE call_id = 'during'") == 2
    assert writer.records_written == 10 + 122 + 1


async def test_torn_last_spool_line_is_ignored(pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    whole = [encode_record(event("torn", seq)) for seq in range(5)]
    half = encode_record(event("torn", 5))[:25]
    (spool_dir / "segment-000000000001.jsonl").write_text("\n".join(whole) + "\n" + half)
    # A complete object that lost only its newline is still a record.
    (spool_dir / "segment-000000000002.jsonl").write_text(encode_record(event("torn", 6)))
    writer = RecordWriter(pg_dsn, spool_dir=spool_dir)
    async with running(writer):
        await eventually(lambda: writer.records_replayed == 6)
    assert list(spool_dir.glob("segment-*")) == []
    assert writer.records_rejected == 0
    seqs = await count(pg_dsn, "SELECT array_agg(seq ORDER BY seq) FROM call_events")
    assert seqs == [0, 1, 2, 3, 4, 6]


async def test_restarted_writer_replays_what_an_earlier_one_spooled(pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    spool_dir = tmp_path / "spool"
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    first = RecordWriter(nowhere, spool_dir=spool_dir, batch_max=7, **FAST_BACKOFF)
    async with running(first):
        for seq in range(30):
            first.submit(event("restart", seq))
        first.submit(interval("a1", 0))
        await first.flush(timeout=5)
    assert (first.records_spooled, first.records_written) == (31, 0)

    second = RecordWriter(pg_dsn, spool_dir=spool_dir)
    async with running(second):
        await eventually(lambda: second.records_replayed == 31)
    assert spooled_lines(spool_dir) == []
    assert await count(pg_dsn, "SELECT count(*) FROM call_events") == 30
    assert await count(pg_dsn, "SELECT count(*) FROM agent_state_intervals") == 1


async def test_cancelled_or_unstarted_writer_spools_what_it_holds(tmp_path: Path) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    cancelled = RecordWriter(nowhere, spool_dir=tmp_path / "a", flush_interval_s=60.0)
    task = asyncio.create_task(cancelled.run())
    await eventually(lambda: cancelled.spool.is_open)
    for seq in range(3):
        cancelled.submit(event("cancel", seq))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert {line["event_id"] for line in spooled_lines(tmp_path / "a")} == {"cancel:0", "cancel:1", "cancel:2"}

    unstarted = RecordWriter(nowhere, spool_dir=tmp_path / "b")
    unstarted.submit(event("never", 0))
    await unstarted.close()
    assert [line["event_id"] for line in spooled_lines(tmp_path / "b")] == ["never:0"]


async def test_two_writers_cannot_share_a_spool(tmp_path: Path) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    first = RecordWriter(nowhere, spool_dir=tmp_path / "spool")
    async with running(first):
        await eventually(lambda: first.spool.is_open)
        with pytest.raises(SpoolBusy):
            await RecordWriter(nowhere, spool_dir=tmp_path / "spool").run()
