"""How long ``ccqueue report`` takes over a busy day and a busy month.

Run from the repository root: ``python bench/report.py``. The lines printed say what is
measured; the last line is one JSON object with the figures. A few minutes, most of it
loading the rows.

A throwaway PostgreSQL (the tests' ``PgServer``: loopback, durability off) is migrated
with the shipped migrations, indexes included, then filled by SQL alone
(``generate_series``, ``INSERT ... SELECT``: no row crosses the client): 30 days of
50,000 calls each, 1.5 million calls, between 07:00 and 21:00 UTC, over four queues,
three hotlines, two trunks and 200 agents. Each call carries the rows ccqueue writes for
it: ``calls``; ``call_events`` (``call_arrived``, ``call_queued`` when it reached a
queue, ``call_overflowed`` when it moved between queues, ``call_ended``); the agent's
``on_call`` and ``wrap_up`` intervals for an answered call; a survey for one answered
call in five; a callback for one call in a hundred. Agents also get a lunch and a break
a day. The shares: 5 % served by the IVR alone, 1 % refused, of the rest 85 % answered,
9 % abandoned (a third of them within 5 s), 1 % overflowed, 0.5 % cut off.

Timed, through the same function ``ccqueue report`` runs (``ccqueue.reports.cli.produce``,
connection included): first the month's report by day read from the calls alone, the
per-day summary left aside (``month_report_raw_s``); then the building of the per-day
summary of every day (``summarise_s``: what the first reports after each day closed
pay, once, in a running system); then each report twice (the second, with warm caches,
is the figure; the first is in ``*_first_s``): the last day's report by 30-minute
interval (``day_report_s``, one ``ccqueue report`` run) and the month's by day
(``month_report_s``); the same periods by agent, with time in state, are timed too
(``day_agent_report_s``, ``month_agent_report_s``: an agent report reads the calls).
Targets: a day under 2 s, the month under 10 s (``target_met``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ccqueue.reports.cli import REPORT_SESSION, produce
from ccqueue.reports.period import GroupBy, parse_period
from ccqueue.reports.query import Objective, summarise_stale_days
from ccqueue.store import migrate
from tests.support.postgres import PgServer, find_bindir

FIRST_DAY = date(2026, 2, 1)
DAY_TARGET_S, MONTH_TARGET_S = 2.0, 10.0
QUEUES = {
    "support": Objective(),
    "sales": Objective(answer_within_s=10, target=0.9, short_abandon_s=3),
    "billing": Objective(answer_within_s=30),
    "vip": Objective(answer_within_s=5, target=0.95),
}

# One statement per table, all reading the same per-call draw (``bench_calls``), so the
# rows agree with each other the way the engine's do.
_DRAW = """
SELECT setseed(0.42);
CREATE UNLOGGED TABLE bench_calls AS
SELECT g AS n,
       'c' || g AS call_id,
       timestamptz '{first_day} 07:00+00' + (g / {per_day}) * interval '1 day'
           + (g % {per_day}) * (interval '14 hours' / {per_day}) AS arrived_at,
       random() AS r_kind, random() AS r_ivr, random() AS r_wait, random() AS r_talk, random() AS r_wrap,
       (ARRAY['support','support','sales','billing','vip'])[1 + (g % 5)] AS queue,
       'agent' || lpad((1 + (g::bigint * 7919) % {agents})::text, 3, '0') AS agent,
       (ARRAY['100','300','500'])[1 + (g % 3)] AS hotline,
       (ARRAY['PJSIP/trunk-','PJSIP/carrier-'])[1 + (g % 2)] || to_hex(g) AS channel
  FROM generate_series(0, {total} - 1) AS g;
CREATE UNLOGGED TABLE bench_shaped AS
SELECT b.*,
       CASE WHEN r_kind < 0.05 THEN 'self_service' WHEN r_kind < 0.06 THEN 'refused'
            WHEN r_kind < 0.867 THEN 'answered' WHEN r_kind < 0.949 THEN 'abandoned'
            WHEN r_kind < 0.99 THEN 'callback' WHEN r_kind < 0.995 THEN 'overflowed' ELSE 'failed' END AS outcome,
       CASE WHEN r_kind < 0.05 THEN 60 + r_ivr * 60 ELSE r_ivr * 30 END AS ivr_s,
       CASE WHEN r_kind BETWEEN 0.867 AND 0.894 THEN r_wait * 5 ELSE -ln(1 - r_wait * 0.999) * 25 END AS wait_s,
       60 + r_talk * 360 AS talk_s,
       r_wrap * 30 AS wrap_s
  FROM bench_calls b;
DROP TABLE bench_calls;
"""

_LOAD = """
INSERT INTO calls (call_id, version, caller, hotline, queue, agent, channel, arrived_at, answered_at, ended_at, outcome)
SELECT call_id, 3, '+1555' || lpad((n % 100000)::text, 7, '0'), hotline,
       CASE WHEN outcome = 'self_service' THEN NULL ELSE queue END,
       CASE WHEN outcome = 'answered' THEN agent END, channel, arrived_at,
       CASE WHEN outcome = 'answered' THEN arrived_at + make_interval(secs => ivr_s + wait_s) END,
       CASE WHEN outcome = 'answered' AND n % 1000 = 7 THEN NULL  -- ccqueue stopped: unfollowed
            WHEN outcome = 'answered' THEN arrived_at + make_interval(secs => ivr_s + wait_s + talk_s)
            WHEN outcome = 'self_service' THEN arrived_at + make_interval(secs => ivr_s)
            ELSE arrived_at + make_interval(secs => ivr_s + wait_s) END,
       outcome
  FROM bench_shaped;

INSERT INTO call_events (event_id, call_id, seq, at, kind, data)
SELECT call_id || ':0', call_id, 0, arrived_at, 'call_arrived',
       jsonb_build_object('hotline', hotline, 'channel', channel)
  FROM bench_shaped
UNION ALL
SELECT call_id || ':1', call_id, 1, arrived_at + make_interval(secs => ivr_s), 'call_queued',
       jsonb_build_object('queue', queue, 'position', 1)
  FROM bench_shaped WHERE outcome NOT IN ('self_service', 'refused')
UNION ALL
SELECT call_id || ':2', call_id, 2, arrived_at + make_interval(secs => ivr_s + wait_s / 2), 'call_overflowed',
       jsonb_build_object('queue', 'billing', 'destination', 'queue', 'target', queue)
  FROM bench_shaped WHERE outcome NOT IN ('self_service', 'refused') AND n % 97 = 0
UNION ALL
SELECT call_id || ':3', call_id, 3, arrived_at + make_interval(secs => ivr_s + wait_s + talk_s), 'call_unfollowed',
       '{{}}'::jsonb
  FROM bench_shaped WHERE outcome = 'answered' AND n % 1000 = 7
UNION ALL
SELECT call_id || ':4', call_id, 4,
       arrived_at + make_interval(secs => ivr_s + wait_s + CASE WHEN outcome = 'answered' THEN talk_s ELSE 0 END),
       'call_ended', jsonb_build_object('outcome', outcome)
  FROM bench_shaped WHERE NOT (outcome = 'answered' AND n % 1000 = 7);

INSERT INTO agent_state_intervals (interval_id, agent_id, state, reason, started_at, ended_at)
SELECT call_id || ':talk', agent, 'on_call', NULL, arrived_at + make_interval(secs => ivr_s + wait_s),
       arrived_at + make_interval(secs => ivr_s + wait_s + talk_s)
  FROM bench_shaped WHERE outcome = 'answered'
UNION ALL
SELECT call_id || ':wrap', agent, 'wrap_up', NULL, arrived_at + make_interval(secs => ivr_s + wait_s + talk_s),
       arrived_at + make_interval(secs => ivr_s + wait_s + talk_s + wrap_s)
  FROM bench_shaped WHERE outcome = 'answered' AND n % 1000 <> 7
UNION ALL
SELECT 'agent' || lpad(a::text, 3, '0') || ':' || d || ':' || p.reason,
       'agent' || lpad(a::text, 3, '0'), 'paused', p.reason,
       timestamptz '{first_day} 00:00+00' + d * interval '1 day' + p.starts,
       timestamptz '{first_day} 00:00+00' + d * interval '1 day' + p.starts + p.lasts
  FROM generate_series(1, {agents}) AS a, generate_series(0, {days} - 1) AS d,
       (VALUES ('lunch', interval '12:30', interval '30 minutes'),
               ('break', interval '16:00', interval '15 minutes')) AS p(reason, starts, lasts);

INSERT INTO surveys (call_id, rating, recommend, answered_at)
SELECT call_id, 1 + (n % 5), n % 11, arrived_at + make_interval(secs => ivr_s + wait_s + talk_s + 5)
  FROM bench_shaped WHERE outcome = 'answered' AND n % 5 = 0;

INSERT INTO callbacks (callback_id, version, queue, number, status, requested_at, place_at, expires_at,
                       attempts, call_id, agent, result)
SELECT 'cb-' || call_id, 2, queue, '+1650253' || lpad((n % 10000)::text, 4, '0'),
       CASE WHEN n % 3 = 0 THEN 'failed' ELSE 'completed' END,
       arrived_at + make_interval(secs => ivr_s + wait_s), arrived_at,
       arrived_at + interval '1 day', 1, call_id, agent, CASE WHEN n % 3 = 0 THEN 'NOANSWER' ELSE 'ANSWER' END
  FROM bench_shaped WHERE n % 100 = 3 AND outcome NOT IN ('self_service', 'refused');

DROP TABLE bench_shaped;
"""


async def load(dsn: str, days: int, per_day: int, agents: int) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        fill = {"first_day": FIRST_DAY.isoformat(), "per_day": per_day, "total": days * per_day, "agents": agents, "days": days}
        await conn.execute("SET maintenance_work_mem = '256MB'; SET work_mem = '64MB'")
        await conn.execute(_DRAW.format(**fill))
        await conn.execute(_LOAD.format(**fill))
        await conn.execute("VACUUM ANALYZE")
        counts = {}
        for table in ("calls", "call_events", "agent_state_intervals", "surveys", "callbacks"):
            counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return counts
    finally:
        await conn.close()


async def timed(dsn: str, start: str, end: str, groupings: tuple[GroupBy, ...]) -> tuple[float, list]:
    period = parse_period(start, end, "UTC", today=FIRST_DAY)
    began = time.perf_counter()
    reports = [await produce(dsn, period, by, 30, QUEUES) for by in groupings]
    return time.perf_counter() - began, reports


async def summarise_all(dsn: str) -> float:
    conn = await asyncpg.connect(dsn, server_settings=REPORT_SESSION)
    try:
        began = time.perf_counter()
        days = [r["day"] for r in await conn.fetch("SELECT day FROM report_summary_days ORDER BY day")]
        await summarise_stale_days(conn, days, now=datetime.now(UTC))
        return time.perf_counter() - began
    finally:
        await conn.close()


async def measure(dsn: str, days: int) -> dict[str, float]:
    last_day = date.fromordinal(FIRST_DAY.toordinal() + days - 1).isoformat()
    figures: dict[str, float] = {}
    period = parse_period(FIRST_DAY.isoformat(), last_day, "UTC", today=FIRST_DAY)
    began = time.perf_counter()
    raw = await produce(dsn, period, GroupBy.DAY, 30, QUEUES, use_summary=False)
    figures["month_report_raw_s"] = round(time.perf_counter() - began, 3)
    print(f"month report from the calls alone: {figures['month_report_raw_s']:.2f} s", flush=True)
    figures["summarise_s"] = round(await summarise_all(dsn), 3)
    print(f"per-day summary of {days} days built in {figures['summarise_s']:.2f} s", flush=True)
    for name, start, groupings in (
        ("day", last_day, (GroupBy.INTERVAL,)),
        ("month", FIRST_DAY.isoformat(), (GroupBy.DAY,)),
        ("day_agent", last_day, (GroupBy.AGENT,)),
        ("month_agent", FIRST_DAY.isoformat(), (GroupBy.AGENT,)),
    ):
        first, _ = await timed(dsn, start, last_day, groupings)
        second, reports = await timed(dsn, start, last_day, groupings)
        total = reports[0].total
        print(
            f"{name} report ({start} .. {last_day}, by {' + '.join(g.value for g in groupings)}): "
            f"{second:.2f} s (first run {first:.2f} s); offered {total['offered']}, answered {total['answered']}, "
            f"SL {100 * (total['service_level'] or 0):.1f} %, ASA {total['asa_s'] or 0:.1f} s, "
            f"AHT {total['aht_s'] or 0:.1f} s",
            flush=True,
        )
        if name == "month":  # the summary's figures are the calls' figures
            assert [(r["offered"], r["answered"], r["abandoned"]) for r in reports[0].rows] == [
                (r["offered"], r["answered"], r["abandoned"]) for r in raw.rows
            ]
        figures[f"{name}_report_s"] = round(second, 3)
        figures[f"{name}_report_first_s"] = round(first, 3)
        if not name.endswith("_agent"):
            figures[f"{name}_offered"] = total["offered"]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--calls-per-day", type=int, default=50_000)
    parser.add_argument("--agents", type=int, default=200)
    args = parser.parse_args(argv)
    bindir = find_bindir()
    if bindir is None:
        print("bench/report.py: PostgreSQL's server binaries are not installed", file=sys.stderr)
        return 1
    pg = PgServer(bindir, Path(tempfile.mkdtemp(prefix="ccqueue-report-bench-pg-")))
    began = time.monotonic()
    try:
        pg.init()
        pg.start()
        dsn = pg.create_database("report_bench")
        asyncio.run(migrate(dsn, log=_Quiet()))
        loading = time.monotonic()
        counts = asyncio.run(load(dsn, args.days, args.calls_per_day, args.agents))
        load_s = time.monotonic() - loading
        print(
            f"loaded {counts['calls']} calls, {counts['call_events']} events, "
            f"{counts['agent_state_intervals']} agent intervals, {counts['surveys']} surveys, "
            f"{counts['callbacks']} callbacks in {load_s:.0f} s",
            flush=True,
        )
        figures = asyncio.run(measure(dsn, args.days))
    finally:
        pg.remove()
    result = {
        **figures,
        "rows": counts["calls"],
        "rows_by_table": counts,
        "load_s": round(load_s, 1),
        "total_s": round(time.monotonic() - began, 1),
        "target_met": figures["day_report_s"] < DAY_TARGET_S and figures["month_report_s"] < MONTH_TARGET_S,
    }
    print(json.dumps(result))
    return 0


class _Quiet:
    def info(self, *_args: object, **_kwargs: object) -> None:
        pass


if __name__ == "__main__":
    sys.exit(main())
