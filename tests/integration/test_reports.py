"""``ccqueue report`` against a real PostgreSQL: each figure computed by hand from rows
written through the store's own writer, the SQL definitions, the CLI's errors, and the
HTML page opened in a real headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import pytest

from ccqueue.cli import main as ccqueue_main
from ccqueue.core.records import (
    AgentStateRecord,
    CallbackRecord,
    CallbackStatus,
    CallEventRecord,
    CallOutcome,
    CallRecord,
    Record,
    SurveyRecord,
)
from ccqueue.reports.cli import produce
from ccqueue.reports.period import GroupBy, parse_period
from ccqueue.reports.query import Objective
from ccqueue.store import migrate, write_records

pytestmark = pytest.mark.integration

DAY = "2026-03-02"
SALES = Objective(answer_within_s=10, target=0.9, short_abandon_s=3)


def at(hms: str, day: str = DAY) -> float:
    return datetime.fromisoformat(f"{day}T{hms}+00:00").timestamp()


class Seed:
    """Records as the engine writes them: a timeline per call, then its summary."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._seq: dict[str, int] = {}
        self._interval = 0

    def event(self, call_id: str, when: float, kind: str, **data: object) -> None:
        seq = self._seq.get(call_id, 0)
        self._seq[call_id] = seq + 1
        self.records.append(
            CallEventRecord(event_id=f"{call_id}:{seq}", call_id=call_id, seq=seq, at=when, kind=kind, data=dict(data))
        )

    def call(
        self,
        call_id: str,
        *,
        queue: str | None,
        arrived: float,
        queued: float | None = None,
        answered: float | None = None,
        ended: float | None = None,
        outcome: CallOutcome,
        agent: str | None = None,
        hotline: str = "100",
        channel: str = "PJSIP/trunk-0001",
    ) -> None:
        self.event(call_id, arrived, "call_arrived", caller="+15550100", hotline=hotline, channel=channel)
        if queued is not None:
            self.event(call_id, queued, "call_queued", queue=queue, position=1)
        if answered is not None:
            self.event(call_id, answered, "call_answered", agent=agent)
        if ended is not None:
            self.event(call_id, ended, "call_ended", outcome=outcome.value)
        self.records.append(
            CallRecord(
                call_id=call_id,
                version=1,
                caller="+15550100",
                hotline=hotline,
                queue=queue,
                agent=agent,
                arrived_at=arrived,
                answered_at=answered,
                ended_at=ended,
                outcome=outcome,
                channel=channel,
            )
        )

    def state(self, agent: str, state: str, start: float, end: float, reason: str | None = None) -> None:
        self._interval += 1
        self.records.append(
            AgentStateRecord(
                interval_id=f"{agent}:{self._interval}",
                agent_id=agent,
                state=state,
                reason=reason,
                started_at=start,
                ended_at=end,
            )
        )

    def callback(self, callback_id: str, requested: float, status: CallbackStatus, call_id: str | None) -> None:
        self.records.append(
            CallbackRecord(
                callback_id=callback_id,
                version=1,
                queue="support",
                number="+16502530000",
                status=status,
                requested_at=requested,
                place_at=requested,
                not_before=None,
                expires_at=requested + 86400,
                attempts=1,
                next_attempt_at=None,
                call_id=call_id,
                agent="alice",
                result=None,
            )
        )


def the_day() -> Seed:
    s = Seed()
    A, X, S = CallOutcome.ANSWERED, CallOutcome.ABANDONED, "support"
    # a1: 10 s in the IVR, then 15 s in the queue (within 20 s); talk 180 s, wrap-up 15 s.
    s.call(
        "a1",
        queue=S,
        arrived=at("08:00:00"),
        queued=at("08:00:10"),
        answered=at("08:00:25"),
        ended=at("08:03:25"),
        outcome=A,
        agent="alice",
    )
    # a2: waits 40 s (late); talk 120 s, wrap-up 30 s.
    s.call(
        "a2",
        queue=S,
        arrived=at("08:05:00"),
        queued=at("08:05:00"),
        answered=at("08:05:40"),
        ended=at("08:07:40"),
        outcome=A,
        agent="bob",
    )
    # a3: hangs up after 3 s: a short abandon (support: 5 s). a4: after 60 s, abandoned.
    s.call("a3", queue=S, arrived=at("08:10:00"), queued=at("08:10:02"), ended=at("08:10:05"), outcome=X)
    s.call("a4", queue=S, arrived=at("08:12:00"), queued=at("08:12:00"), ended=at("08:13:00"), outcome=X)
    # a5: waiting when ccqueue stopped: cut off after 90 s, not an abandon.
    s.call("a5", queue=S, arrived=at("08:20:00"), queued=at("08:20:00"), ended=at("08:21:30"), outcome=CallOutcome.FAILED)
    # a6: answered in 5 s, then ccqueue stopped: answered, cut off, no talk time known.
    s.call("a6", queue=S, arrived=at("08:40:00"), queued=at("08:40:00"), answered=at("08:40:05"), outcome=A, agent="alice")
    s.event("a6", at("09:00:00"), "call_unfollowed", reason="ccqueue stopped during the call")
    # t1: 60 s in support, moved to sales, answered 5 s later: waited 65 s; talk 60 s, no wrap-up.
    s.event("t1", at("08:50:00"), "call_arrived")
    s.event("t1", at("08:50:00"), "call_queued", queue=S)
    s.event("t1", at("08:51:00"), "call_overflowed", queue=S, reason="max_wait", destination="queue", target="sales")
    s.call(
        "t1",
        queue="sales",
        arrived=at("08:50:00"),
        queued=at("08:51:00"),
        answered=at("08:51:05"),
        ended=at("08:52:05"),
        outcome=A,
        agent="bob",
        hotline="300",
        channel="PJSIP/carrier-00ab",
    )
    # s2: sales, hangs up after 4 s: not short there (3 s), so it counts against SL.
    s.call(
        "s2",
        queue="sales",
        arrived=at("09:10:00"),
        queued=at("09:10:00"),
        ended=at("09:10:04"),
        outcome=X,
        hotline="300",
        channel="PJSIP/carrier-00ac",
    )
    # i1: served by the IVR, never offered to a queue.
    s.call(
        "i1",
        queue=None,
        arrived=at("09:20:00"),
        ended=at("09:21:00"),
        outcome=CallOutcome.SELF_SERVICE,
        hotline="300",
        channel="PJSIP/carrier-00ad",
    )
    # o1: the next day in UTC, still 2 March in New York.
    s.call(
        "o1",
        queue=S,
        arrived=at("00:30:00", "2026-03-03"),
        queued=at("00:30:00", "2026-03-03"),
        answered=at("00:30:10", "2026-03-03"),
        ended=at("00:31:10", "2026-03-03"),
        outcome=A,
        agent="bob",
    )
    s.records += [
        SurveyRecord(call_id="a1", rating=5, recommend=10, at=at("08:04:00")),
        SurveyRecord(call_id="a2", rating=3, recommend=6, at=at("08:08:00")),
    ]
    s.callback("cb1", at("08:13:00"), CallbackStatus.COMPLETED, "a4")
    s.callback("cb2", at("09:00:00"), CallbackStatus.PENDING, None)
    # alice: a break across midnight (10 min of it today), two calls, lunch.
    s.state("alice", "paused", at("23:50:00", "2026-03-01"), at("00:10:00"), reason="break")
    s.state("alice", "available", at("08:00:00"), at("08:00:25"))
    s.state("alice", "on_call", at("08:00:25"), at("08:03:25"))
    s.state("alice", "wrap_up", at("08:03:25"), at("08:03:40"))
    s.state("alice", "available", at("08:03:40"), at("08:30:00"))
    s.state("alice", "paused", at("08:30:00"), at("08:40:00"), reason="lunch")
    s.state("alice", "available", at("08:40:00"), at("08:40:05"))
    s.state("alice", "on_call", at("08:40:05"), at("09:00:00"))
    s.state("bob", "on_call", at("08:05:40"), at("08:07:40"))
    s.state("bob", "wrap_up", at("08:07:40"), at("08:08:10"))
    s.state("bob", "available", at("08:08:10"), at("08:51:05"))
    s.state("bob", "on_call", at("08:51:05"), at("08:52:05"))
    return s


@pytest.fixture
async def seeded(pg_dsn: str) -> str:
    await migrate(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        await write_records(conn, the_day().records)
    finally:
        await conn.close()
    return pg_dsn


async def report(dsn: str, by: GroupBy, start: str = DAY, end: str = DAY, tz: str = "UTC", interval: int = 30):
    period = parse_period(start, end, tz, today=date(2026, 3, 2))
    return await produce(dsn, period, by, interval, {"support": Objective(), "sales": SALES})


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-6)


# -- every figure, by hand ---------------------------------------------------------------


async def test_figures_by_queue_match_the_hand_count(seeded: str) -> None:
    rep = await report(seeded, GroupBy.QUEUE)
    rows = {row["group"]: row for row in rep.rows}
    assert set(rows) == {"sales", "support", "(none)"}
    support, sales, total = rows["support"], rows["sales"], rep.total
    assert (support["offered"], support["answered"], support["abandoned"], support["short_abandoned"], support["cut_off"]) == (
        6,
        3,
        1,
        1,
        2,
    )
    assert support["service_level"] == approx(2 / 4)  # a1, a6 within 20 s; a1 a2 a6 a4 counted
    assert support["asa_s"] == approx((15 + 40 + 5) / 3)  # IVR time not counted
    assert support["aht_s"] == approx(((180 + 15) + (120 + 30)) / 2)  # a6's end is unknown
    assert support["longest_wait_s"] == approx(90)
    assert (support["callbacks_asked"], support["callbacks_completed"]) == (2, 1)
    assert support["csat"] == approx(1 / 2)
    assert support["nps"] == approx(0.0)  # one promoter (10), one detractor (6)
    assert support["transfers"] == 0
    assert (sales["offered"], sales["answered"], sales["abandoned"], sales["short_abandoned"]) == (2, 1, 1, 0)
    assert sales["service_level"] == approx(0.0)  # t1 waited 65 s across both queues
    assert sales["asa_s"] == approx(65) and sales["aht_s"] == approx(60) and sales["transfers"] == 1
    assert sales["csat"] is None and sales["nps"] is None
    assert rows["(none)"]["offered"] == 0
    assert (
        total["offered"],
        total["answered"],
        total["abandoned"],
        total["short_abandoned"],
        total["cut_off"],
        total["transfers"],
    ) == (8, 4, 2, 1, 2, 1)
    assert total["service_level"] == approx(2 / 6)
    assert total["asa_s"] == approx((15 + 40 + 5 + 65) / 4)
    assert total["aht_s"] == approx((195 + 150 + 60) / 3)
    assert total["longest_wait_s"] == approx(90)


async def test_the_default_short_abandon_threshold_applies_where_no_queue_says(seeded: str) -> None:
    period = parse_period(DAY, DAY, "UTC", today=date(2026, 3, 2))
    rep = await produce(seeded, period, GroupBy.QUEUE, 30, {})  # the configuration names no queue
    sales = next(row for row in rep.rows if row["group"] == "sales")
    assert (sales["abandoned"], sales["short_abandoned"]) == (0, 1)  # 4 s < 5 s
    assert sales["service_level"] == approx(0.0)  # t1: 65 s > 20 s


async def test_figures_by_agent_include_time_in_state(seeded: str) -> None:
    rep = await report(seeded, GroupBy.AGENT)
    rows = {row["group"]: row for row in rep.rows}
    alice, bob = rows["alice"], rows["bob"]
    assert (alice["answered"], alice["talk_s"]) == (2, approx(180))
    working = 25 + 180 + 15 + 1580 + 5 + 1195
    handling = 180 + 15 + 1195
    assert alice["logged_in_s"] == approx(working + 600 + 600)
    assert alice["occupancy"] == approx(handling / working)
    assert alice["utilisation"] == approx(handling / (working + 1200))
    assert alice["pause_by_reason"] == {"break": approx(600), "lunch": approx(600)}  # clipped at midnight
    assert (bob["answered"], bob["talk_s"]) == (2, approx(180))
    assert bob["occupancy"] == approx((120 + 30 + 60) / (120 + 30 + 2575 + 60))
    assert bob["pause_s"] == 0 and bob["pause_by_reason"] == {}
    assert rep.total["pause_s"] == approx(1200)


async def test_figures_by_interval_list_every_interval(seeded: str) -> None:
    rep = await report(seeded, GroupBy.INTERVAL, interval=60)
    assert [row["group"] for row in rep.rows] == [f"{DAY}T{h:02d}:00" for h in range(24)]
    eight, nine = rep.rows[8], rep.rows[9]
    assert (eight["offered"], eight["answered"], eight["abandoned"], eight["short_abandoned"]) == (7, 4, 1, 1)
    assert (nine["offered"], nine["abandoned"], nine["callbacks_asked"]) == (1, 1, 1)
    assert eight["callbacks_asked"] == 1
    assert all(row["offered"] == 0 and row["service_level"] is None for row in rep.rows[10:])


async def test_days_and_intervals_follow_the_time_zone(seeded: str) -> None:
    utc = await report(seeded, GroupBy.DAY)
    new_york = await report(seeded, GroupBy.DAY, tz="America/New_York")
    assert [r["group"] for r in utc.rows] == [DAY] and utc.rows[0]["offered"] == 8
    assert [r["group"] for r in new_york.rows] == [DAY] and new_york.rows[0]["offered"] == 9  # o1 too
    quarter = await report(seeded, GroupBy.INTERVAL, tz="America/New_York", interval=15)
    assert len(quarter.rows) == 96 and quarter.rows[0]["group"] == f"{DAY}T00:00"
    by_label = {r["group"]: r for r in quarter.rows}
    assert by_label[f"{DAY}T03:00"]["offered"] == 4  # a1 a2 a3 a4 at 08:00-08:15 UTC
    assert by_label[f"{DAY}T19:30"]["answered"] == 1  # o1


async def test_hotline_and_channel_groups(seeded: str) -> None:
    hotlines = {r["group"]: r for r in (await report(seeded, GroupBy.HOTLINE)).rows}
    assert (hotlines["100"]["offered"], hotlines["300"]["offered"]) == (6, 2)
    channels = {r["group"]: r for r in (await report(seeded, GroupBy.CHANNEL)).rows}
    assert set(channels) == {"PJSIP/trunk", "PJSIP/carrier", "(none)"}
    assert channels["PJSIP/carrier"]["offered"] == 2
    # A callback asked through the API came in on no line.
    assert (channels["(none)"]["offered"], channels["(none)"]["callbacks_asked"]) == (0, 1)


async def test_an_empty_period_gives_zeros(seeded: str) -> None:
    rep = await report(seeded, GroupBy.INTERVAL, start="2025-01-01", end="2025-01-01")
    assert len(rep.rows) == 48
    for row in [*rep.rows, rep.total]:
        assert (row["offered"], row["answered"], row["abandoned"], row["callbacks_asked"], row["transfers"]) == (0, 0, 0, 0, 0)
        assert row["longest_wait_s"] == 0 and row["service_level"] is None and row["asa_s"] is None
    agents = await report(seeded, GroupBy.AGENT, start="2025-01-01", end="2025-01-01")
    assert agents.rows == [] and agents.total["logged_in_s"] == 0 and agents.total["occupancy"] is None


async def test_the_sql_view_gives_the_same_per_call_fields(seeded: str) -> None:
    await report(seeded, GroupBy.QUEUE)  # stores the configuration's objectives, as `-c` does
    conn = await asyncpg.connect(seeded)
    try:
        rows = {r["call_id"]: r for r in await conn.fetch("SELECT * FROM report_calls")}
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN SELECT count(*) FROM report_calls_between($1, $2)",
                datetime(2026, 3, 2, tzinfo=UTC),
                datetime(2026, 3, 3, tzinfo=UTC),
            )
        )
    finally:
        await conn.close()
    assert len(rows) == 10
    a1 = rows["a1"]
    assert (a1["wait_s"], a1["total_s"], a1["talk_s"], a1["wrapup_s"], a1["handle_s"]) == (15, 25, 180, 15, 195)
    assert a1["within_objective"] and a1["sl_counted"] and not a1["cut_off"]
    assert rows["a3"]["short_abandon"] and not rows["a3"]["sl_counted"]
    assert rows["a5"]["cut_off"] and not rows["a5"]["abandoned"]
    assert rows["a6"]["cut_off"] and rows["a6"]["answered"] and rows["a6"]["unfollowed"] and rows["a6"]["talk_s"] is None
    assert rows["t1"]["transfers"] == 1 and rows["t1"]["wait_s"] == 65
    assert not rows["i1"]["offered"] and rows["i1"]["wait_s"] is None
    assert rows["s2"]["answer_within_s"] == 10  # the stored objective of sales
    assert "calls_arrived_at_idx" in plan  # the period reaches the index


# -- the command ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "error_id"),
    [
        (["--from", "2026-13-01"], "report-date-invalid"),
        (["--from", "yesterday"], "report-date-invalid"),
        (["--from", "2026-03-02", "--to", "2026-03-01"], "report-period-invalid"),
        (["--from", "2026-03-02T10:00", "--to", "2026-03-02T10:00"], "report-period-invalid"),
        (["--from", "2020-01-01", "--to", "2026-01-01"], "report-period-invalid"),
        (["--tz", "Mars/Olympus_Mons"], "report-timezone-unknown"),
    ],
)
def test_bad_input_is_a_clear_error(argv: list[str], error_id: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    code = ccqueue_main(["report", "--dsn", "postgresql://127.0.0.1:1/none", *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"ccqueue: {error_id}: " in err and "Traceback" not in err
    assert not out.exists()


def test_an_unreachable_database_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = ccqueue_main(["report", "--dsn", "postgresql://nobody@127.0.0.1:1/none", "--from", DAY])
    err = capsys.readouterr().err
    assert code == 1 and "ccqueue: report-database-unavailable: " in err and "Traceback" not in err


async def test_an_unmigrated_database_is_a_clear_error(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    code = await asyncio.to_thread(ccqueue_main, ["report", "--dsn", pg_dsn, "--from", DAY])
    err = capsys.readouterr().err
    assert code == 1 and "ccqueue: report-schema-outdated: " in err


async def test_every_format_from_the_command(seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    base = ["report", "--dsn", seeded, "--from", DAY, "--by", "queue"]
    assert await asyncio.to_thread(ccqueue_main, [*base, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["offered"] == 8 and data["by"] == "queue"
    assert await asyncio.to_thread(ccqueue_main, [*base, "--format", "csv", "--out", str(tmp_path / "r.csv")]) == 0
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0].startswith("queue,offered,answered,abandoned,short_abandoned")
    # No configuration given: sales has the default 5 s, so s2 (4 s) is a short abandon.
    assert lines[-1].startswith("total,8,4,1,2,2,0.4,31.25,135.0,90.0,1,2,1,0.5,0.0")
    assert await asyncio.to_thread(ccqueue_main, [*base, "--format", "table"]) == 0
    table = capsys.readouterr().out
    assert "support" in table and "50.0 %" in table and "total" in table


# -- the page in a real browser ---------------------------------------------------------


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    return (browser, driver) if browser and driver else None


async def test_the_html_page_stands_alone_in_a_real_browser(seeded: str, tmp_path: Path) -> None:
    import asyncio

    found = _chromium()
    if found is None:
        pytest.skip("chromium and chromium-driver are not installed (deploy/install-deps.sh installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    page = tmp_path / "report.html"
    argv = [
        "report",
        "--dsn",
        seeded,
        "--from",
        DAY,
        "--by",
        "interval",
        "--interval",
        "30",
        "--format",
        "html",
        "--out",
        str(page),
    ]
    assert await asyncio.to_thread(ccqueue_main, argv) == 0
    html = page.read_text()
    assert "<script" not in html and "<link" not in html and "url(" not in html and "@import" not in html

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1100"):
        opts.add_argument(arg)
    opts.binary_location = found[0]
    driver = webdriver.Chrome(service=Service(found[1]), options=opts)
    try:
        driver.get(page.as_uri())
        assert driver.title.startswith("Contact centre report")
        # Nothing was fetched beyond the page itself.
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        bars = driver.execute_script("return document.querySelectorAll('svg rect').length")
        # 08:00: answered, abandoned, short; 08:30: answered; 09:00: s2, a short abandon
        # under the default 5 s (no configuration given).
        assert bars == 3 + 1 + 1
        sl_points = driver.execute_script("return document.querySelectorAll('svg circle').length")
        assert sl_points == 2  # 08:00 and 08:30; 09:00 has nothing in SL's denominator
        rows = driver.execute_script("return document.querySelectorAll('tbody tr').length")
        assert rows == 48
        width = driver.execute_script("return document.querySelector('svg').getBoundingClientRect().width")
        assert width > 1000
        shot = Path(os.environ.get("CCQUEUE_REPORT_SCREENSHOT", str(tmp_path / "report.png")))
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
