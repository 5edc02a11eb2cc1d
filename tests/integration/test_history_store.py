"""The customer's history and the wrap-up, against a real PostgreSQL: every channel in one
list, newest first; a number with 1,000 earlier calls (among 20,000 other calls) answers
well under 50 ms from the indexes of 0011_workspace.sql."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time

import asyncpg
import pytest

from ccqueue.reports.cli import produce
from ccqueue.reports.period import GroupBy, parse_period
from ccqueue.reports.render import render_json
from ccqueue.store import migrate
from ccqueue.store.history import WorkspaceStore, customer_history, disposition_counts, save_wrapup, wrapup_of

pytestmark = pytest.mark.integration

NUMBER = "+15550100100"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


async def _seed(conn: asyncpg.Connection, *, calls: int, others: int) -> None:
    """``calls`` answered calls from NUMBER an hour apart (the newest at T0), ``others`` from
    other numbers; two callbacks, two campaign attempts and a survey for NUMBER."""
    await conn.execute(
        """INSERT INTO calls (call_id, version, caller, hotline, queue, agent, arrived_at, answered_at, ended_at, outcome)
           SELECT 'n' || i, 1, $1, '100', 'support', 'agent1', $2::timestamptz - i * interval '1 hour',
                  $2::timestamptz - i * interval '1 hour' + interval '20 s', $2::timestamptz - i * interval '1 hour' + interval '3 min', 'answered'
             FROM generate_series(0, $3 - 1) i""",
        NUMBER,
        T0,
        calls,
    )
    await conn.execute(
        """INSERT INTO calls (call_id, version, caller, hotline, queue, arrived_at, ended_at, outcome)
           SELECT 'o' || i, 1, '+1555' || lpad(i::text, 7, '0'), '100', 'support', $1::timestamptz - i * interval '1 minute',
                  $1::timestamptz - i * interval '1 minute' + interval '1 min', 'abandoned'
             FROM generate_series(1, $2) i""",
        T0,
        others,
    )
    await conn.execute(
        """INSERT INTO callbacks (callback_id, version, queue, number, status, requested_at, place_at, expires_at, attempts, call_id)
           VALUES ('cb1', 1, 'support', $1, 'completed', $2::timestamptz, $2::timestamptz, $2::timestamptz + interval '1 day', 1, 'n3'),
                  ('cb2', 1, 'support', $1, 'expired', $2::timestamptz - interval '40 min', $2::timestamptz, $2::timestamptz, 0, NULL)""",
        NUMBER,
        T0 - dt.timedelta(minutes=90),
    )
    await conn.execute(
        """INSERT INTO attempts (attempt_id, campaign, number, started_at, outcome, agent_id)
           VALUES ('at1', 'renewals', $1, $2::timestamptz, 'no_answer', NULL), ('at2', 'renewals', $1, $2::timestamptz + interval '5 min', 'connected', 'agent2')""",
        NUMBER,
        T0 - dt.timedelta(minutes=10),
    )
    await conn.execute(
        "INSERT INTO surveys (call_id, rating, recommend, answered_at) VALUES ('n0', 4, 9, $1)", T0 + dt.timedelta(minutes=4)
    )
    await conn.execute("ANALYZE")


@pytest.fixture
async def conn(pg_dsn: str) -> asyncpg.Connection:
    await migrate(pg_dsn)
    c = await asyncpg.connect(pg_dsn)
    yield c
    await c.close()


async def test_the_history_lists_every_channel_newest_first_with_the_wrapup(conn: asyncpg.Connection) -> None:
    await _seed(conn, calls=5, others=50)
    await save_wrapup(
        conn,
        call_id="n0",
        agent="agent1",
        disposition="resolved",
        note="<script>x</script> refund",
        saved_by="alice",
        at=T0.timestamp() + 300,
    )
    items = await customer_history(conn, NUMBER, limit=50)
    assert [(i["kind"], i["call_id"]) for i in items] == [
        ("survey", "n0"),
        ("call", "n0"),
        ("attempt", "at2"),
        ("attempt", "at1"),
        ("call", "n1"),
        ("callback", "n3"),  # a callback names the call it came from
        ("call", "n2"),
        ("callback", "cb2"),  # asked for through the API: its own id
        ("call", "n3"),
        ("call", "n4"),
    ]
    call = items[1]
    assert call["disposition"] == "resolved" and call["note"] == "<script>x</script> refund"  # stored as typed
    assert call["recordings"] == [] and call["outcome"] == "answered" and call["wait_s"] == 20.0
    assert call["at"] == "2026-03-02T09:00:00+00:00" and call["queue"] == "support" and call["agent"] == "agent1"
    assert items[0]["rating"] == 4 and items[0]["recommend"] == 9
    assert items[2]["campaign"] == "renewals" and items[2]["outcome"] == "connected"
    assert items[5]["status"] == "completed"
    assert items[4]["disposition"] is None and items[4]["note"] is None
    assert await customer_history(conn, NUMBER, limit=3) == items[:3]
    assert await customer_history(conn, "+15559999999") == []
    assert await customer_history(conn, "") == []


async def test_a_wrapup_is_corrected_whole_and_a_bad_one_changes_nothing(conn: asyncpg.Connection) -> None:
    await _seed(conn, calls=3, others=0)
    await save_wrapup(
        conn, call_id="n1", agent="agent1", disposition="resolved", note="first", saved_by="alice", at=T0.timestamp()
    )
    await save_wrapup(
        conn, call_id="n1", agent="agent1", disposition="follow-up", note="", saved_by="sam", at=T0.timestamp() + 60
    )
    row = await wrapup_of(conn, "n1")
    assert row is not None and (row["disposition"], row["note"]) == ("follow-up", "")
    with pytest.raises(asyncpg.CheckViolationError):
        await save_wrapup(
            conn, call_id="n1", agent="agent1", disposition="Bad Code", note="lost", saved_by="x", at=T0.timestamp()
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await save_wrapup(conn, call_id="n2", agent="agent1", disposition="ok", note="x" * 4001, saved_by="x", at=T0.timestamp())
    assert (await wrapup_of(conn, "n1"))["disposition"] == "follow-up"  # type: ignore[index]
    assert await wrapup_of(conn, "n2") is None


async def test_the_report_counts_answered_calls_by_disposition(pg_dsn: str, conn: asyncpg.Connection) -> None:
    await _seed(conn, calls=4, others=3)
    for call_id, code in (("n0", "resolved"), ("n1", "resolved"), ("n2", "escalated")):
        await save_wrapup(conn, call_id=call_id, agent="agent1", disposition=code, note="", saved_by="alice", at=T0.timestamp())
    counts = await disposition_counts(conn, T0 - dt.timedelta(days=1), T0 + dt.timedelta(hours=1))
    assert counts == [
        {"queue": "support", "disposition": "escalated", "calls": 1},
        {"queue": "support", "disposition": "resolved", "calls": 2},
        {"queue": "support", "disposition": None, "calls": 1},  # answered, not wrapped up
    ]
    # ccqueue report carries them (its JSON: "dispositions").
    report = await produce(pg_dsn, parse_period("2026-03-01", "2026-03-02", "UTC", today=T0.date()), GroupBy.QUEUE, 30)
    assert json.loads(render_json(report))["dispositions"] == counts


async def test_a_number_with_1000_earlier_calls_answers_well_under_50_ms(pg_dsn: str, conn: asyncpg.Connection) -> None:
    await _seed(conn, calls=1000, others=20_000)
    plan = "\n".join(
        r[0] for r in await conn.fetch("EXPLAIN SELECT * FROM calls WHERE caller = $1 ORDER BY arrived_at DESC LIMIT 50", NUMBER)
    )
    assert "calls_caller_arrived_at_idx" in plan, plan
    store = WorkspaceStore(pg_dsn)
    try:
        await store.history(NUMBER)  # the pool opens
        times = []
        for _ in range(50):
            started = time.perf_counter()
            items = await store.history(NUMBER, 50)
            times.append((time.perf_counter() - started) * 1000)
        assert len(items) == 50 and items[1]["call_id"] == "n0"
    finally:
        await store.close()
    p99 = sorted(times)[-1]
    assert statistics.median(times) < 20 and p99 < 50, times
