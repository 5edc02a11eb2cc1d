"""A call's queue time and the agent intervals of a call, from the core through the real
RecordWriter into PostgreSQL, read back by the report's SQL; rows and spool lines of the
previous shape still read the same."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import asyncpg
import pytest

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.records import AgentStateRecord, CallEventRecord, CallOutcome, CallRecord
from ccqueue.store import RecordWriter, fetch_call, migrate, write_records
from ccqueue.store.restore import close_unfollowed_calls

pytestmark = pytest.mark.integration

T0 = 1_760_000_000.0


@contextlib.asynccontextmanager
async def running(writer: RecordWriter) -> AsyncIterator[RecordWriter]:
    async with asyncio.TaskGroup() as group:
        group.create_task(writer.run())
        try:
            yield writer
        finally:
            await writer.close(timeout=10)


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def eventually(check: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


def ivr_call_answered() -> list[cmd.Command]:
    """An IVR caller (30 s in the IVR) queued at T0+30, answered at T0+45 by a1, ended at
    T0+100, with 5 s of wrap-up."""
    queue = QueueSettings(name="support", ring_timeout_s=15, wrapup_s=5)
    acd = Acd(
        AcdSettings(
            queues=MappingProxyType({"support": queue}),
            agents=MappingProxyType({"a1": AgentSettings(agent_id="a1", name="A1", endpoint="PJSIP/a1", queues=("support",))}),
            hotlines=MappingProxyType({"200": HotlineSettings(number="200", queue=None, ivr="main")}),
        )
    )
    out = acd.handle(
        ev.CallArrived(call_id="c1", hotline="200", caller="+4930123", channel="PJSIP/trunk-0001", uniqueid="u1"), T0
    )
    out += acd.handle(ev.CallRouted(call_id="c1", queue="support"), T0 + 30)
    out += acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN), T0 + 40)
    (offer,) = [c for c in out if isinstance(c, cmd.OriginateAgent)]
    out += acd.handle(ev.OfferClaimed(offer_id=offer.offer_id), T0 + 45)
    out += acd.handle(ev.ChannelHungUp(uniqueid="u1"), T0 + 100)
    out += acd.tick(T0 + 105)
    return out


async def test_the_core_s_records_land_with_queue_time_and_call_ids_and_the_report_reads_them(
    pg_dsn: str, tmp_path: Path
) -> None:
    await migrate(pg_dsn)
    records = [c.record for c in ivr_call_answered() if isinstance(c, cmd.Write)]
    writer = RecordWriter(pg_dsn, spool_dir=tmp_path / "spool")
    async with running(writer):
        for record in records:
            writer.submit(record)
        await writer.flush(timeout=10)
    assert writer.records_written == len(records) and writer.records_spooled == 0
    conn = await asyncpg.connect(pg_dsn)
    try:
        stored = await fetch_call(conn, "c1")
    finally:
        await conn.close()
    assert stored is not None
    assert (stored["arrived_at"], stored["queued_at"], stored["answered_at"]) == pytest.approx((T0, T0 + 30, T0 + 45))
    assert stored["outcome"] == "answered"
    intervals = await fetch(
        pg_dsn, "SELECT state, call_id FROM agent_state_intervals WHERE agent_id = 'a1' ORDER BY started_at, state"
    )
    assert [tuple(r) for r in intervals] == [("available", None), ("ringing", "c1"), ("on_call", "c1"), ("wrap_up", "c1")]
    (row,) = await fetch(pg_dsn, "SELECT * FROM report_calls")
    assert row["queued_at"].timestamp() == pytest.approx(T0 + 30)
    assert row["wait_s"] == pytest.approx(15)  # the IVR's 30 s are not in it
    assert row["total_s"] == pytest.approx(45)
    assert (row["talk_s"], row["wrapup_s"], row["handle_s"]) == pytest.approx((55, 5, 60))


async def test_the_report_prefers_the_call_s_own_fields_over_the_timeline(pg_dsn: str) -> None:
    """queued_at and call_id win over the older readings (first `call_queued` event;
    the agent's wrap-up starting at the call's end), which they can differ from."""
    await migrate(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        await write_records(
            conn,
            [
                CallRecord(
                    call_id="new",
                    version=1,
                    caller="+1",
                    hotline="100",
                    queue="support",
                    agent="a1",
                    arrived_at=T0,
                    queued_at=T0 + 10,
                    answered_at=T0 + 12,
                    ended_at=T0 + 50,
                    outcome=CallOutcome.ANSWERED,
                ),
                CallEventRecord(event_id="new:1", call_id="new", seq=1, at=T0 + 2, kind="call_queued"),
                # the wrap-up carrying the call's id began a little after its end
                AgentStateRecord(
                    interval_id="a1:9",
                    agent_id="a1",
                    state="wrap_up",
                    reason=None,
                    started_at=T0 + 50.5,
                    ended_at=T0 + 57.5,
                    call_id="new",
                ),
            ],
        )
    finally:
        await conn.close()
    (row,) = await fetch(pg_dsn, "SELECT wait_s, wrapup_s FROM report_calls WHERE call_id = 'new'")
    assert (row["wait_s"], row["wrapup_s"]) == pytest.approx((2, 7))


async def test_a_newer_call_row_keeps_its_queue_time_against_a_late_older_one(pg_dsn: str) -> None:
    await migrate(pg_dsn)
    base: dict[str, Any] = {"caller": "+1", "hotline": "100", "queue": "support", "agent": None, "arrived_at": T0}
    conn = await asyncpg.connect(pg_dsn)
    try:
        newer = CallRecord(
            call_id="c", version=2, queued_at=T0 + 3, ended_at=T0 + 9, outcome=CallOutcome.ABANDONED, answered_at=None, **base
        )
        older = CallRecord(
            call_id="c", version=1, queued_at=None, ended_at=None, outcome=CallOutcome.WAITING, answered_at=None, **base
        )
        await write_records(conn, [newer])
        await write_records(conn, [older, older])
        stored = await fetch_call(conn, "c")
    finally:
        await conn.close()
    assert stored is not None and (stored["version"], stored["queued_at"]) == (2, pytest.approx(T0 + 3))


async def test_a_spool_line_of_the_previous_shape_is_replayed_with_the_new_fields_empty(pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    (spool_dir / "segment-000000000001.jsonl").write_text(
        '{"type":"call","call_id":"old","version":1,"caller":"+1","hotline":"100","queue":"support",'
        f'"agent":null,"arrived_at":{T0},"answered_at":null,"ended_at":{T0 + 8},"outcome":"abandoned","channel":""}}\n'
        '{"type":"agent_state","interval_id":"a1:1","agent_id":"a1","state":"available","reason":null,'
        f'"started_at":{T0},"ended_at":{T0 + 60}}}\n'
    )
    writer = RecordWriter(pg_dsn, spool_dir=spool_dir)
    async with running(writer):
        await eventually(lambda: writer.records_replayed == 2)
    assert writer.records_rejected == 0 and list(spool_dir.glob("segment-*")) == []
    (call,) = await fetch(pg_dsn, "SELECT outcome, queued_at FROM calls WHERE call_id = 'old'")
    (interval,) = await fetch(pg_dsn, "SELECT state, call_id FROM agent_state_intervals")
    assert tuple(call) == ("abandoned", None) and tuple(interval) == ("available", None)


async def test_a_restart_closes_a_call_left_connected_once_but_not_one_a_graceful_stop_closed(pg_dsn: str) -> None:
    await migrate(pg_dsn)
    base: dict[str, Any] = {"caller": "+1", "hotline": "100", "queue": "support", "agent": "a1", "arrived_at": T0}
    conn = await asyncpg.connect(pg_dsn)
    try:
        await write_records(
            conn,
            [
                # connected when the process died: its summary says answered, with no end
                CallRecord(
                    call_id="died",
                    version=3,
                    queued_at=T0,
                    answered_at=T0 + 5,
                    ended_at=None,
                    outcome=CallOutcome.ANSWERED,
                    **base,
                ),
                # connected when the process stopped gracefully: `call_unfollowed` written
                CallRecord(
                    call_id="stopped",
                    version=4,
                    queued_at=T0,
                    answered_at=T0 + 5,
                    ended_at=None,
                    outcome=CallOutcome.ANSWERED,
                    **base,
                ),
                CallEventRecord(event_id="stopped:5", call_id="stopped", seq=5, at=T0 + 20, kind="call_unfollowed"),
                # waiting when the process died
                CallRecord(
                    call_id="waited",
                    version=2,
                    queued_at=T0,
                    answered_at=None,
                    ended_at=None,
                    outcome=CallOutcome.WAITING,
                    **base,
                ),
            ],
        )
    finally:
        await conn.close()
    closed = await close_unfollowed_calls(pg_dsn, started_at=T0 + 60)
    assert sorted(closed) == ["died", "waited"]
    assert await close_unfollowed_calls(pg_dsn, started_at=T0 + 61) == []
    rows = {r["call_id"]: r for r in await fetch(pg_dsn, "SELECT call_id, version, outcome, ended_at FROM calls")}
    assert (rows["died"]["outcome"], rows["died"]["version"], rows["died"]["ended_at"]) == ("answered", 4, None)
    assert (rows["waited"]["outcome"], rows["waited"]["version"]) == ("failed", 3)
    assert rows["stopped"]["version"] == 4
    unfollowed = await fetch(pg_dsn, "SELECT call_id FROM call_events WHERE kind = 'call_unfollowed' ORDER BY call_id")
    assert [r["call_id"] for r in unfollowed] == ["died", "stopped", "waited"]
