"""The per-day summary (migration 0009) gives the same report as the calls it sums, and
a day whose records change is read from the calls again until it is summarised anew."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from ccqueue.core.records import CallOutcome, CallRecord
from ccqueue.reports.cli import REPORT_SESSION
from ccqueue.reports.period import GroupBy, parse_period
from ccqueue.reports.query import build_report, store_objectives, summarise_closed_days
from ccqueue.store import write_records
from tests.integration.test_reports import DAY, SALES, Objective, at, seeded  # noqa: F401 - the fixture

NOW = datetime(2026, 3, 20, tzinfo=UTC)  # long after the seeded days: they can be summarised
OBJECTIVES = {"support": Objective(), "sales": SALES}


async def both(dsn: str, by: GroupBy, *, start: str, end: str, tz: str, interval: int = 30) -> tuple[Any, Any]:
    period = parse_period(start, end, tz, today=date(2026, 3, 2))
    conn = await asyncpg.connect(dsn, server_settings=REPORT_SESSION)
    try:
        summary = await build_report(conn, period, by, interval_min=interval, now=NOW)
        raw = await build_report(conn, period, by, interval_min=interval, use_summary=False)
    finally:
        await conn.close()
    return summary, raw


def same(summary: list[dict[str, Any]], raw: list[dict[str, Any]]) -> None:
    assert [r["group"] for r in summary] == [r["group"] for r in raw]
    for s, r in zip(summary, raw, strict=True):
        assert s.keys() == r.keys()
        for key, value in r.items():
            if isinstance(value, float):
                assert s[key] == pytest.approx(value, rel=1e-12, abs=1e-9), (r["group"], key)
            else:
                assert s[key] == value, (r["group"], key)


async def days(dsn: str) -> dict[date, bool]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["day"]: r["stale"] for r in await conn.fetch("SELECT day, stale FROM report_summary_days")}
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("by", "tz", "interval"),
    [
        (GroupBy.DAY, "UTC", 30),
        (GroupBy.DAY, "America/New_York", 30),
        (GroupBy.INTERVAL, "UTC", 15),
        (GroupBy.INTERVAL, "Asia/Kathmandu", 30),  # +05:45
        (GroupBy.INTERVAL, "Europe/Paris", 60),
        (GroupBy.QUEUE, "UTC", 30),
        (GroupBy.HOTLINE, "UTC", 30),
        (GroupBy.CHANNEL, "Europe/Paris", 30),
    ],
)
async def test_the_summary_and_the_calls_give_the_same_report(seeded: str, by: GroupBy, tz: str, interval: int) -> None:  # noqa: F811
    conn = await asyncpg.connect(seeded)
    try:
        await store_objectives(conn, OBJECTIVES)
    finally:
        await conn.close()
    summary, raw = await both(seeded, by, start="2026-02-28", end="2026-03-04", tz=tz, interval=interval)
    # The seeded days were summarised and read from the summary.
    assert await days(seeded) == {date(2026, 3, 1): False, date(2026, 3, 2): False, date(2026, 3, 3): False}
    same(summary.rows, raw.rows)
    same([summary.total], [raw.total])
    assert (raw.total["offered"], raw.total["answered"]) == (9, 5)


async def test_a_change_to_a_summarised_day_is_seen_at_once(seeded: str) -> None:  # noqa: F811
    summary, _ = await both(seeded, GroupBy.QUEUE, start=DAY, end=DAY, tz="UTC")
    assert (await days(seeded))[date(2026, 3, 2)] is False
    before = summary.total["answered"]
    # A late record for that day (say, a spool replayed after an outage): the day is
    # stale in the same transaction, so no report can read the old summary.
    conn = await asyncpg.connect(seeded)
    try:
        late = CallRecord(
            call_id="late1",
            version=1,
            caller="+15550199",
            hotline="100",
            queue="support",
            agent="bob",
            arrived_at=at("10:00:00"),
            queued_at=at("10:00:00"),
            answered_at=at("10:00:07"),
            ended_at=at("10:02:07"),
            outcome=CallOutcome.ANSWERED,
        )
        await write_records(conn, [late])
    finally:
        await conn.close()
    assert (await days(seeded))[date(2026, 3, 2)] is True
    summary, raw = await both(seeded, GroupBy.QUEUE, start=DAY, end=DAY, tz="UTC")
    assert summary.total["answered"] == raw.total["answered"] == before + 1
    same(summary.rows, raw.rows)
    assert (await days(seeded))[date(2026, 3, 2)] is False  # summarised again, with it


async def test_the_same_objectives_again_leave_the_summary_alone_and_new_ones_do_not(seeded: str) -> None:  # noqa: F811
    conn = await asyncpg.connect(seeded)
    try:
        await store_objectives(conn, OBJECTIVES)
        await both(seeded, GroupBy.DAY, start=DAY, end=DAY, tz="UTC")
        await store_objectives(conn, OBJECTIVES)
        assert (await days(seeded))[date(2026, 3, 2)] is False
        await store_objectives(conn, {**OBJECTIVES, "support": Objective(answer_within_s=10)})
        assert set((await days(seeded)).values()) == {True}
    finally:
        await conn.close()
    summary, raw = await both(seeded, GroupBy.QUEUE, start=DAY, end=DAY, tz="UTC")
    same(summary.rows, raw.rows)


async def test_recent_days_are_read_from_the_calls(seeded: str) -> None:  # noqa: F811
    period = parse_period(DAY, DAY, "UTC", today=date(2026, 3, 2))
    conn = await asyncpg.connect(seeded)
    try:
        # The day after: its records may still be coming, so it is not summarised.
        await build_report(conn, period, GroupBy.DAY, now=datetime(2026, 3, 3, 12, tzinfo=UTC))
    finally:
        await conn.close()
    assert (await days(seeded))[date(2026, 3, 2)] is True


async def test_a_running_ccqueue_summarises_closed_days_a_few_at_a_time_newest_first(seeded: str) -> None:  # noqa: F811
    conn = await asyncpg.connect(seeded)
    try:
        assert await summarise_closed_days(conn, now=NOW, limit=2) == [date(2026, 3, 2), date(2026, 3, 3)]
        assert await days(seeded) == {date(2026, 3, 1): True, date(2026, 3, 2): False, date(2026, 3, 3): False}
        assert await summarise_closed_days(conn, now=NOW, limit=2) == [date(2026, 3, 1)]
        assert await summarise_closed_days(conn, now=NOW, limit=2) == []  # nothing stale: idempotent
        # 4 March 12:00: 3 March has not been closed for two days yet.
        await store_objectives(conn, {**OBJECTIVES, "sales": Objective()})
        assert await summarise_closed_days(conn, now=datetime(2026, 3, 4, 12, tzinfo=UTC), limit=7) == [date(2026, 3, 1)]
    finally:
        await conn.close()
