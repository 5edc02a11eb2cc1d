"""The pair's lease against a real PostgreSQL: one lock holder at a time, a new epoch
per activation, a holder's death frees the lock, and the fenced writer's batches are
refused while its successor's land."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest

from ccqueue.core.lease import Fenced
from ccqueue.core.records import CallEventRecord, CallOutcome, CallRecord
from ccqueue.store import RecordWriter, migrate, write_records
from ccqueue.store.lease import Lease, check_epoch
from ccqueue.store.restore import close_unfollowed_calls

pytestmark = pytest.mark.integration

T0 = 1_760_000_000.0


def event(call_id: str, seq: int) -> CallEventRecord:
    return CallEventRecord(event_id=f"{call_id}:{seq}", call_id=call_id, seq=seq, at=T0 + seq, kind="call_arrived", data={})


def open_call(call_id: str) -> CallRecord:
    return CallRecord(
        call_id=call_id, version=2, caller="+1555", hotline="100", queue="support", agent=None, arrived_at=T0,
        answered_at=None, ended_at=None, outcome=CallOutcome.WAITING, queued_at=T0 + 1,
    )  # fmt: skip


async def take(lease: Lease, timeout: float = 5.0) -> int:
    """Poll as a standby does: the server frees a dropped session's lock a moment later."""
    async with asyncio.timeout(timeout):
        while (epoch := await lease.try_take()) is None:
            await asyncio.sleep(0.02)
    return epoch


async def events_of(dsn: str, call_id: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", call_id))
    finally:
        await conn.close()


async def test_one_holder_at_a_time_and_each_activation_raises_the_epoch(pg_dsn: str) -> None:
    await migrate(pg_dsn)
    first, second = Lease(pg_dsn, holder="a"), Lease(pg_dsn, holder="b")
    try:
        epoch = await first.try_take()
        assert epoch is not None and first.held
        assert await second.try_take() is None  # the standby polls and waits
        assert await first.alive(1.0)
        # The holder dies (its session ends): the lock is free for the other at once.
        await first.drop()
        assert not await first.alive(1.0)
        taken = await take(second)
        assert taken == epoch + 1
        conn = await asyncpg.connect(pg_dsn)
        try:
            row = await conn.fetchrow("SELECT epoch, holder FROM ccqueue_lease")
        finally:
            await conn.close()
        assert (row["epoch"], row["holder"]) == (taken, "b")
        assert await first.try_take() is None  # the old holder, back, stays standby
    finally:
        await first.release()
        await second.release()


async def test_a_fenced_writer_is_refused_and_its_successor_writes(pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    old_lease, new_lease = Lease(pg_dsn, holder="old"), Lease(pg_dsn, holder="new")
    fenced: list[Fenced] = []
    old_epoch = await old_lease.try_take()
    assert old_epoch is not None
    old = RecordWriter(pg_dsn, spool_dir=tmp_path / "old", flush_interval_s=0.01, epoch=old_epoch, on_fenced=fenced.append)
    old_task = asyncio.create_task(old.run())
    new: RecordWriter | None = None
    new_task = None
    try:
        old.submit(event("before", 0))
        await old.flush(timeout=10)
        assert await events_of(pg_dsn, "before") == 1  # written while its epoch was current

        # The old active loses its lock connection; the standby takes over.
        await old_lease.drop()
        new_epoch = await take(new_lease)
        assert new_epoch == old_epoch + 1

        # The old writer is still running (a process that has not noticed yet): refused.
        old.submit(event("stale", 0))
        old.submit(event("stale", 1))
        await old.flush(timeout=10)
        assert await events_of(pg_dsn, "stale") == 0
        assert old.records_fenced == 2 and old.records_spooled == 0
        assert [(f.mine, f.current) for f in fenced] == [(old_epoch, new_epoch)]
        rejected = [json.loads(line) for line in (tmp_path / "old" / "rejected.jsonl").read_text().splitlines()]
        assert len(rejected) == 2 and all(r["reason"].startswith("fenced") for r in rejected)
        # Fenced for good: later records never reach PostgreSQL either.
        old.submit(event("stale", 2))
        await old.flush(timeout=10)
        assert await events_of(pg_dsn, "stale") == 0 and old.records_fenced == 3

        new = RecordWriter(pg_dsn, spool_dir=tmp_path / "new", flush_interval_s=0.01, epoch=new_epoch)
        new_task = asyncio.create_task(new.run())
        new.submit(event("fresh", 0))
        await new.flush(timeout=10)
        assert await events_of(pg_dsn, "fresh") == 1 and new.records_fenced == 0
    finally:
        await old.close(timeout=10)
        await old_task
        if new is not None and new_task is not None:
            await new.close(timeout=10)
            await new_task
        await old_lease.release()
        await new_lease.release()


async def test_an_epoch_update_waits_for_a_batch_in_flight_then_fences_the_next(pg_dsn: str) -> None:
    """The batch's FOR SHARE read orders it against the successor's update: it commits
    first, and nothing of the old epoch commits after the update."""
    await migrate(pg_dsn)
    first = Lease(pg_dsn, holder="first")
    epoch = await first.try_take()
    assert epoch is not None
    batch = await asyncpg.connect(pg_dsn)
    second = Lease(pg_dsn, holder="second")
    try:
        tx = batch.transaction()
        await tx.start()
        await check_epoch(batch, epoch)  # the old active's batch holds the row
        await first.drop()
        taking = asyncio.create_task(take(second))
        await asyncio.sleep(0.5)
        assert not taking.done()  # the update waits for the batch
        await tx.commit()
        assert await asyncio.wait_for(taking, 5) == epoch + 1
        async with batch.transaction():
            with pytest.raises(Fenced):
                await check_epoch(batch, epoch)
    finally:
        await batch.close()
        await second.release()


async def test_a_fenced_process_closes_no_call_as_unfollowed(pg_dsn: str) -> None:
    """Closing the calls nobody follows is the active's decision: under an old epoch it
    is refused whole, under the current one it is done."""
    await migrate(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        await write_records(conn, [open_call("left-open")])
        await conn.execute("UPDATE ccqueue_lease SET epoch = 5")
    finally:
        await conn.close()
    with pytest.raises(Fenced):
        await close_unfollowed_calls(pg_dsn, started_at=T0 + 60, epoch=4)
    assert await close_unfollowed_calls(pg_dsn, started_at=T0 + 60, epoch=5) == ["left-open"]


async def test_a_lock_session_the_server_ends_is_told_at_once(pg_dsn: str) -> None:
    await migrate(pg_dsn)
    closed = asyncio.Event()
    lease = Lease(pg_dsn, holder="a", on_closed=closed.set)
    try:
        assert await lease.try_take() is not None
        assert not closed.is_set()
        conn = await asyncpg.connect(pg_dsn)
        try:  # a failover, or an administrator, ends the lock's session
            await conn.execute(
                """SELECT pg_terminate_backend(pid) FROM pg_locks
                    WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"""
            )
        finally:
            await conn.close()
        # Told without a round trip of its own: the standby may take the lock any moment.
        async with asyncio.timeout(2.0):
            await closed.wait()
    finally:
        await lease.drop()
