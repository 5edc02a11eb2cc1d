"""What a restart reads back from PostgreSQL and what it records there: agents' presence
(the latest write wins), where an agent's intervals stopped, the open calls' rows, and
the calls that ended while ccqueue was away — recorded exactly once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ccqueue.core import events as ev
from ccqueue.core.records import AgentPresenceRecord, AgentStateRecord, CallEventRecord, CallOutcome, CallRecord
from ccqueue.store import RecordWriter, migrate, write_records
from ccqueue.store.restore import (
    AwayCall,
    close_unfollowed_calls,
    load_agents,
    load_open_calls,
    record_away_calls,
    record_refused_at_door,
)

pytestmark = pytest.mark.integration

T0 = 1_760_000_000.0


async def connect(pg_dsn: str) -> asyncpg.Connection:
    await migrate(pg_dsn)
    return await asyncpg.connect(pg_dsn)


def presence(agent: str, state: str, at: float, reason: str | None = None) -> AgentPresenceRecord:
    return AgentPresenceRecord(agent_id=agent, presence=state, reason=reason, since=at, at=at)


async def test_agents_come_back_with_their_latest_presence_and_where_their_intervals_stopped(pg_dsn: str) -> None:
    conn = await connect(pg_dsn)
    try:
        await write_records(conn, [presence("a1", "available", T0), presence("a1", "paused", T0 + 10, "lunch")])
        await write_records(conn, [presence("a1", "available", T0 + 5)])  # older, arriving late: ignored
        await write_records(conn, [presence("a2", "available", T0)])
        await write_records(
            conn,
            [
                AgentStateRecord(
                    interval_id=f"a2:{n}",
                    agent_id="a2",
                    state="on_call",
                    reason=None,
                    started_at=T0 + 10 * n,
                    ended_at=T0 + 10 * n + 9,
                )
                for n in range(1, 12)
            ],
        )
        agents = {a.agent_id: a for a in await load_agents(conn, ["a1", "a2", "a3"])}
    finally:
        await conn.close()
    assert agents["a1"] == ev.RestoredAgent(agent_id="a1", presence=ev.Presence.PAUSED, reason="lunch", since=T0 + 10)
    # a2: the next interval starts where the last one ended, and its id goes on from 11.
    assert (agents["a2"].presence, agents["a2"].since, agents["a2"].interval_seq) == (ev.Presence.AVAILABLE, T0 + 119, 11)
    assert agents["a3"].presence is ev.Presence.LOGGED_OUT


def call(call_id: str, *, version: int = 2, answered: bool = False) -> CallRecord:
    return CallRecord(
        call_id=call_id, version=version, caller="+1555", hotline="100", queue="support",
        agent="a1" if answered else None, arrived_at=T0, answered_at=T0 + 5 if answered else None,
        ended_at=None, outcome=CallOutcome.ANSWERED if answered else CallOutcome.WAITING, queued_at=T0 + 1,
    )  # fmt: skip


def event(call_id: str, seq: int) -> CallEventRecord:
    return CallEventRecord(event_id=f"{call_id}:{seq}", call_id=call_id, seq=seq, at=T0 + seq, kind="x")


async def test_open_calls_are_read_with_where_their_timelines_stopped(pg_dsn: str) -> None:
    conn = await connect(pg_dsn)
    try:
        await write_records(conn, [call("c1"), event("c1", 0), event("c1", 1), event("c1", 2), call("c2", answered=True)])
        found = await load_open_calls(conn, ["c1", "c2", "nope"])
    finally:
        await conn.close()
    assert (found["c1"].version, found["c1"].next_seq, found["c1"].queued_at, found["c1"].ended) == (2, 3, T0 + 1, False)
    assert (found["c2"].agent, found["c2"].answered_at, found["c2"].next_seq) == ("a1", T0 + 5, 0)
    assert "nope" not in found


def away(uniqueid: str, call_id: str = "", outcome: CallOutcome = CallOutcome.ABANDONED) -> AwayCall:
    return AwayCall(
        uniqueid=uniqueid, call_id=call_id, hotline="100", caller="+1555", channel="PJSIP/trunk-1",
        entered_at=T0, ended_at=T0 + 30, outcome=outcome, queue="support" if call_id else None,
    )  # fmt: skip


async def rows(conn: asyncpg.Connection, sql: str, *args: Any) -> list[asyncpg.Record]:
    return list(await conn.fetch(sql, *args))


async def test_calls_that_ended_while_ccqueue_was_away_are_recorded_exactly_once(pg_dsn: str) -> None:
    conn = await connect(pg_dsn)
    try:
        # c1 reached ccqueue and has a row; u2 never reached it; c3's row was lost with the process.
        await write_records(conn, [call("c1"), event("c1", 0), event("c1", 1)])
        entries = [away("u1", "c1"), away("u2", outcome=CallOutcome.FAILED), away("u3", "c3")]
        assert sorted(await record_away_calls(conn, entries)) == ["away-u2", "c1", "c3"]
        assert await record_away_calls(conn, entries) == []  # read again: nothing changes
        calls = {r["call_id"]: r for r in await rows(conn, "SELECT * FROM calls")}
        events = await rows(conn, "SELECT call_id, seq, kind FROM call_events ORDER BY call_id, seq")
    finally:
        await conn.close()
    assert set(calls) == {"c1", "away-u2", "c3"}
    assert (calls["c1"]["outcome"], calls["c1"]["version"], calls["c1"]["ended_at"].timestamp()) == ("abandoned", 3, T0 + 30)
    assert (calls["away-u2"]["outcome"], calls["away-u2"]["arrived_at"].timestamp()) == ("failed", T0)
    assert calls["c3"]["queue"] == "support" and calls["c3"]["away_uniqueid"] == "u3"
    assert [(e["call_id"], e["seq"], e["kind"]) for e in events] == [
        ("away-u2", 0, "call_arrived"), ("away-u2", 1, "call_ended"),
        ("c1", 0, "x"), ("c1", 1, "x"), ("c1", 2, "call_ended"),
        ("c3", 0, "call_arrived"), ("c3", 1, "call_ended"),
    ]  # fmt: skip


async def test_a_call_taken_back_is_not_closed_as_unfollowed(pg_dsn: str) -> None:
    conn = await connect(pg_dsn)
    try:
        await write_records(conn, [call("kept"), call("lost")])
    finally:
        await conn.close()
    assert await close_unfollowed_calls(pg_dsn, started_at=T0 + 60, keep=["kept"]) == ["lost"]


async def test_an_agents_presence_is_written_at_once_not_after_the_batch_interval(pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    writer = RecordWriter(pg_dsn, spool_dir=tmp_path / "spool", flush_interval_s=30.0)
    async with asyncio.TaskGroup() as group:
        task = group.create_task(writer.run())
        try:
            await eventually(lambda: writer.connected)
            writer.submit(presence("a1", "paused", T0, "lunch"))
            conn = await asyncpg.connect(pg_dsn)
            try:
                async with asyncio.timeout(2):  # not the batch's 30 s
                    while await conn.fetchval("SELECT presence FROM agent_presence WHERE agent_id = 'a1'") != "paused":
                        await asyncio.sleep(0.02)
            finally:
                await conn.close()
        finally:
            await writer.close(timeout=10)
            await task


async def eventually(check: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def test_a_conversation_that_ended_while_ccqueue_was_away_is_closed_once_at_its_end(pg_dsn: str) -> None:
    ended = AwayCall(
        uniqueid="leg1", call_id="t1", hotline="", caller="", channel="PJSIP/agent1-0000002a",
        entered_at=T0 + 40, ended_at=T0 + 40, outcome=CallOutcome.ANSWERED, cause="16",
    )  # fmt: skip
    nobody = AwayCall(
        uniqueid="leg2", call_id="t2", hotline="", caller="", channel="PJSIP/agent2-0000002b",
        entered_at=T0 + 40, ended_at=T0 + 40, outcome=CallOutcome.ANSWERED,
    )  # fmt: skip
    conn = await connect(pg_dsn)
    try:
        await write_records(conn, [call("t1", answered=True), event("t1", 0), event("t1", 1)])
        assert await record_away_calls(conn, [ended, nobody]) == ["t1"]  # t2: no row to close
        assert await record_away_calls(conn, [ended, nobody]) == []
        row = await conn.fetchrow("SELECT * FROM calls WHERE call_id = 't1'")
        events = await rows(conn, "SELECT seq, at, kind, data FROM call_events WHERE call_id = 't1' ORDER BY seq")
        assert await conn.fetchval("SELECT count(*) FROM calls WHERE call_id = 't2'") == 0
    finally:
        await conn.close()
    assert (row["outcome"], row["agent"], row["ended_at"].timestamp(), row["answered_at"].timestamp()) == (
        "answered", "a1", T0 + 40, T0 + 5,
    )  # fmt: skip
    assert [(e["seq"], e["kind"]) for e in events] == [(0, "x"), (1, "x"), (2, "call_ended")]
    assert events[-1]["at"].timestamp() == T0 + 40
    assert json.loads(events[-1]["data"]) == {
        "outcome": "answered", "reason": "the conversation ended while ccqueue was away", "while": "ccqueue away",
        "agent_leg": "PJSIP/agent1-0000002a", "cause": "16",
    }  # fmt: skip


async def test_callers_refused_at_the_door_are_recorded_once_in_one_batch_or_from_their_lines(pg_dsn: str) -> None:
    conn = await connect(pg_dsn)
    try:
        refused = [away(f"d{n}", outcome=CallOutcome.REFUSED) for n in range(3)]
        assert await record_refused_at_door(conn, refused) == {"away-d0", "away-d1", "away-d2"}
        assert await record_refused_at_door(conn, refused[1:]) == set()  # told again: nothing changes
        # A start that reads the same lines (the ones not yet deleted) adds nothing either,
        # and one the batch never saw is recorded by it just the same.
        late = away("d9", outcome=CallOutcome.REFUSED)
        assert await record_away_calls(conn, [refused[0], late]) == ["away-d9"]
        assert await record_refused_at_door(conn, [late]) == set()
        calls = {r["call_id"]: r for r in await rows(conn, "SELECT * FROM calls")}
        events = await rows(conn, "SELECT call_id, seq, kind, data FROM call_events ORDER BY call_id, seq")
    finally:
        await conn.close()
    assert set(calls) == {"away-d0", "away-d1", "away-d2", "away-d9"}
    assert {(r["outcome"], r["version"], r["queue"], r["ended_at"].timestamp()) for r in calls.values()} == {
        ("refused", 1, None, T0 + 30)
    }
    assert [(e["call_id"], e["seq"], e["kind"]) for e in events] == [
        (f"away-d{n}", seq, kind) for n in (0, 1, 2, 9) for seq, kind in enumerate(("call_arrived", "call_ended"))
    ]
    ended = json.loads(events[1]["data"])
    assert ended["door"] == "overload" and ended["outcome"] == "refused"
    assert json.loads(events[-1]["data"])["door"] == "overload"  # the start's wording is the batch's
