"""``ccqueue staff``: the agents each interval needs to meet each queue's objective.

Rules kept here:

1. The load of an interval and queue comes from a forecast CSV
   (``interval_start,queue,calls,aht_s[,patience_s]``) or from the history in
   PostgreSQL, read through migration 0004's ``report_calls_between``: calls are the
   offered ones, the AHT is the mean handle time (talk plus wrap-up) of the answered
   ones, and the mean patience is estimated as the total time offered callers waited
   over the number who abandoned (the exponential patience's maximum likelihood with
   answered callers' waits as censored observations); no abandon: nobody gives up.
2. A forecast is checked whole before anything is computed: every bad row is a
   problem with ``file:line``, and one problem means no figures at all
   (``staffing-forecast-invalid``, exit 2).
3. Objectives per queue from the configuration (``queues.<q>.service_level``); a queue
   the configuration does not name, or no configuration: 20 s / 80 %.
4. The agents are Erlang C's and Erlang A's (``ccqueue.core.staffing_math``); with
   ``--simulate`` the real core serves each model's staffing and one agent fewer in the
   simulator (``ccqueue.sim.staffing``) on ``--seeds`` seeds, and the mean service
   level it reached, with its 95 % confidence interval, is shown beside the formulas',
   with a verdict per model (``judge``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from ccqueue.core.errors import CcqueueError, InputError, RequestError
from ccqueue.core.staffing_math import (
    agents_erlang_a,
    agents_erlang_c,
    service_level_erlang_a,
    service_level_erlang_c,
)
from ccqueue.reports.cli import REPORT_SESSION, objectives_from_config
from ccqueue.reports.period import INTERVALS_MIN, GroupBy, Period, parse_period, zone
from ccqueue.reports.query import DatabaseUnavailable, Objective, SchemaOutdated, _key_sql

if TYPE_CHECKING:
    from ccqueue.sim.staffing import SeedsLevel

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
FORMATS = ("table", "json", "csv")
_DEFAULT = Objective()
_CSV_COLUMNS = ("interval_start", "queue", "calls", "aht_s")


class ForecastInvalid(InputError):
    error_id = "staffing-forecast-invalid"

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        super().__init__(f"forecast {path} has {len(problems)} problem(s)", path=path)
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class Load:
    """One interval of one queue."""

    interval_start: str
    queue: str
    calls: float
    aht_s: float
    patience_s: float | None = None


@dataclass(slots=True)
class Staffing:
    interval_start: str
    queue: str
    calls: float
    aht_s: float
    patience_s: float | None
    erlangs: float
    answer_within_s: float
    target: float
    agents_c: int
    agents_a: int
    sl_c: float  # Erlang C's SL with agents_c
    sl_a: float  # Erlang A's SL with agents_a
    # The simulator's SL, the mean over the seeds, and the half-width of its 95 %
    # confidence interval (None: one seed), with agents_c, agents_c - 1, agents_a, agents_a - 1.
    sim_sl: float | None = None
    sim_sl_ci: float | None = None
    sim_sl_fewer: float | None = None
    sim_sl_fewer_ci: float | None = None
    sim_sl_a: float | None = None
    sim_sl_a_ci: float | None = None
    sim_sl_a_fewer: float | None = None
    sim_sl_a_fewer_ci: float | None = None
    # How each model's N fared in the simulator: right, over, under or unsure (``judge``).
    verdict_c: str | None = None
    verdict_a: str | None = None


# ---------------------------------------------------------------------- input


def _number(text: str, name: str, problems: list[str], where: str, *, positive: bool) -> float | None:
    try:
        value = float(text)
    except ValueError:
        problems.append(f"{where}: {name} {text!r} is not a number")
        return None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        problems.append(f"{where}: {name} must be {'above' if positive else 'at least'} 0, not {text}")
        return None
    return value


def read_forecast(path: str, text: str | None = None) -> list[Load]:
    """The forecast's rows (rule 2); ``ForecastInvalid`` lists every problem."""
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ForecastInvalid(path, [f"{path}: cannot read: {exc}"]) from exc
    reader = csv.reader(io.StringIO(text))
    problems: list[str] = []
    header = next(reader, None)
    if header is None:
        raise ForecastInvalid(path, [f"{path}:1: empty file; expected the header {','.join(_CSV_COLUMNS)}[,patience_s]"])
    names = [h.strip() for h in header]
    if tuple(names[:4]) != _CSV_COLUMNS or names[4:] not in ([], ["patience_s"]):
        raise ForecastInvalid(
            path, [f"{path}:1: the header is {','.join(names)}; expected {','.join(_CSV_COLUMNS)}[,patience_s]"]
        )
    loads: list[Load] = []
    seen: set[tuple[str, str]] = set()
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            problems.append(f"{where}: {len(row)} field(s), expected {len(names)}")
            continue
        cells = [c.strip() for c in row]
        start, queue = cells[0], cells[1]
        try:
            datetime.fromisoformat(start)
        except ValueError:
            problems.append(f"{where}: interval_start {start!r} is not an ISO time (2026-03-02T09:00)")
        if not queue:
            problems.append(f"{where}: queue is empty")
        calls = _number(cells[2], "calls", problems, where, positive=False)
        aht = _number(cells[3], "aht_s", problems, where, positive=True)
        patience = None
        if len(cells) == 5 and cells[4] != "":
            patience = _number(cells[4], "patience_s", problems, where, positive=True)
            if patience is None:
                continue
        if (start, queue) in seen:
            problems.append(f"{where}: interval {start} of queue {queue} is given twice")
        seen.add((start, queue))
        if calls is not None and aht is not None:
            loads.append(Load(start, queue, calls, aht, patience))
    if problems:
        raise ForecastInvalid(path, problems)
    return loads


_HISTORY = """
SELECT {key} AS grp, r.queue,
       count(*) FILTER (WHERE r.offered) AS calls,
       avg(r.handle_s) FILTER (WHERE r.answered) AS aht_s,
       coalesce(sum(r.wait_s) FILTER (WHERE r.offered), 0) AS waited_s,
       count(*) FILTER (WHERE r.abandoned) AS abandoned
  FROM report_calls_between($1, $2) r
 WHERE r.offered AND r.queue IS NOT NULL
 GROUP BY 1, 2
 ORDER BY 1, 2
"""


async def read_history(dsn: str, period: Period, interval_min: int) -> list[Load]:
    """Each interval's and queue's load from the records (rule 1)."""
    try:
        conn = await asyncpg.connect(dsn, timeout=10, server_settings=REPORT_SESSION)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailable(f"cannot reach PostgreSQL: {exc}") from exc
    key = _key_sql(GroupBy.INTERVAL, time_col="r.arrived_at", queue="", agent="", hotline="", channel="")
    try:
        rows = await conn.fetch(_HISTORY.format(key=key), period.start, period.end, period.tz_name, interval_min)
    except (asyncpg.UndefinedFunctionError, asyncpg.UndefinedTableError) as exc:
        raise SchemaOutdated(f"the database has no report views: run `ccqueue migrate` ({exc})") from exc
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailable(f"PostgreSQL failed the query: {exc}") from exc
    finally:
        await conn.close()
    return loads_from_history(rows, interval_min)


def loads_from_history(rows: Sequence[Mapping[str, Any]], interval_min: int) -> list[Load]:
    """Rows of ``_HISTORY`` into loads; an interval with no answered call has no AHT and
    is left out (no staffing can be worked out from it)."""
    loads = []
    for r in rows:
        if not r["calls"] or r["aht_s"] is None or r["aht_s"] <= 0:
            continue
        patience = float(r["waited_s"]) / r["abandoned"] if r["abandoned"] and r["waited_s"] > 0 else None
        start = r["grp"].isoformat(timespec="minutes") if isinstance(r["grp"], datetime) else str(r["grp"])
        loads.append(Load(start, r["queue"], float(r["calls"]), float(r["aht_s"]), patience))
    return loads


# ------------------------------------------------------------------ the plan


def judge(staffed: SeedsLevel, fewer: SeedsLevel, target: float) -> str:
    """``right``: N meets the target in the simulator and N-1 misses it; ``over``: N-1
    meets it too; ``under``: N misses it; ``unsure``: the confidence intervals do not
    tell (more seeds or hours would)."""
    from ccqueue.sim.staffing import Verdict

    with_n, with_fewer = staffed.verdict(target), fewer.verdict(target)
    if with_n is Verdict.MISSES:
        return "under"
    if with_n is Verdict.MEETS and with_fewer is Verdict.MISSES:
        return "right"
    if with_n is Verdict.MEETS and with_fewer is Verdict.MEETS:
        return "over"
    return "unsure"


def plan(
    loads: Sequence[Load],
    interval_min: int,
    objectives: Mapping[str, Objective],
    *,
    simulate: bool = False,
    seed: int = 1,
    seeds: int = 1,
    sigma: float | None = None,
    measure_s: float | None = None,
) -> list[Staffing]:
    """Rules 3 and 4, for every load in order."""
    interval_s = interval_min * 60.0
    out = []
    for load in loads:
        objective = objectives.get(load.queue, _DEFAULT)
        t, target = objective.answer_within_s, objective.target
        erlangs = load.calls / interval_s * load.aht_s
        n_c = agents_erlang_c(erlangs, load.aht_s, t, target)
        n_a = agents_erlang_a(erlangs, load.aht_s, t, target, load.patience_s)
        row = Staffing(
            interval_start=load.interval_start,
            queue=load.queue,
            calls=load.calls,
            aht_s=load.aht_s,
            patience_s=load.patience_s,
            erlangs=erlangs,
            answer_within_s=t,
            target=target,
            agents_c=n_c,
            agents_a=n_a,
            sl_c=service_level_erlang_c(n_c, erlangs, load.aht_s, t),
            sl_a=service_level_erlang_a(n_a, erlangs, load.aht_s, t, load.patience_s),
        )
        if simulate and load.calls > 0:
            from ccqueue.sim.staffing import MEASURE_S, across_seeds

            common: dict[str, Any] = {
                "rate_per_s": load.calls / interval_s,
                "aht_s": load.aht_s,
                "answer_within_s": t,
                "patience_s": load.patience_s,
                "seeds": range(seed, seed + seeds),
                "sigma": sigma,
                "measure_s": measure_s or MEASURE_S,
            }
            runs = {n: across_seeds(agents=n, **common) for n in sorted({n_c, n_c - 1, n_a, n_a - 1})}
            row.sim_sl, row.sim_sl_ci = runs[n_c].mean, runs[n_c].half_width
            row.sim_sl_fewer, row.sim_sl_fewer_ci = runs[n_c - 1].mean, runs[n_c - 1].half_width
            row.sim_sl_a, row.sim_sl_a_ci = runs[n_a].mean, runs[n_a].half_width
            row.sim_sl_a_fewer, row.sim_sl_a_fewer_ci = runs[n_a - 1].mean, runs[n_a - 1].half_width
            row.verdict_c = judge(runs[n_c], runs[n_c - 1], target)
            row.verdict_a = judge(runs[n_a], runs[n_a - 1], target)
        out.append(row)
    return out


# ------------------------------------------------------------------ output

_COLUMNS = (
    ("interval_start", "interval"),
    ("queue", "queue"),
    ("calls", "calls"),
    ("aht_s", "AHT s"),
    ("patience_s", "patience s"),
    ("erlangs", "Erlangs"),
    ("agents_c", "N (C)"),
    ("sl_c", "SL C"),
    ("agents_a", "N (A)"),
    ("sl_a", "SL A"),
    ("sim_sl", "sim N(C)"),
    ("sim_sl_ci", ""),
    ("sim_sl_fewer", "sim N(C)-1"),
    ("sim_sl_fewer_ci", ""),
    ("verdict_c", "C"),
    ("sim_sl_a", "sim N(A)"),
    ("sim_sl_a_ci", ""),
    ("sim_sl_a_fewer", "sim N(A)-1"),
    ("sim_sl_a_fewer_ci", ""),
    ("verdict_a", "A"),
)
_SIMULATED = ("sim_", "verdict_")


def _cell(key: str, value: Any, half_width: Any = None) -> str:
    if value is None:
        return "-"
    if key.startswith(("sl_", "sim_")):
        return f"{100 * value:.1f}%" if half_width is None else f"{100 * value:.1f}±{100 * half_width:.1f}%"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def render(rows: Sequence[Staffing], fmt: str, *, simulated: bool) -> str:
    columns = [c for c in _COLUMNS if simulated or not c[0].startswith(_SIMULATED)]
    if fmt == "json":
        return json.dumps([{k: getattr(r, k) for k, _ in columns} for r in rows], indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([k for k, _ in columns])
        for r in rows:
            writer.writerow(["" if getattr(r, k) is None else getattr(r, k) for k, _ in columns])
        return buffer.getvalue()
    # The table shows a simulated level with its confidence interval in one cell.
    shown = [(k, title) for k, title in columns if not k.endswith("_ci")]
    table = [[title for _, title in shown]] + [
        [_cell(k, getattr(r, k), getattr(r, f"{k}_ci", None)) for k, _ in shown] for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(shown))]
    lines = [
        "  ".join(cell.rjust(w) if i > 1 else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True)))
        for line in table
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def agreement(rows: Sequence[Staffing]) -> dict[str, int]:
    """How often each model's staffing was right, over-staffed, under-staffed or could not
    be told (``judge``) against the simulator: keys ``right``, ``over``, ``under``,
    ``unsure`` for Erlang C and the same prefixed ``a_`` for Erlang A."""
    counts = {f"{prefix}{v}": 0 for prefix in ("", "a_") for v in ("right", "over", "under", "unsure")}
    for r in rows:
        if r.verdict_c is not None:
            counts[r.verdict_c] += 1
        if r.verdict_a is not None:
            counts[f"a_{r.verdict_a}"] += 1
    return counts


# ------------------------------------------------------------------ command


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--forecast", metavar="FILE", help="CSV: interval_start,queue,calls,aht_s[,patience_s]")
    source.add_argument("--dsn", default=None, help="PostgreSQL DSN: the history of --from/--to")
    parser.add_argument("-c", "--config", default=None, help="configuration: each queue's service-level objective")
    parser.add_argument("--from", dest="start", default=None, metavar="WHEN", help="with --dsn: a date or ISO time")
    parser.add_argument("--to", dest="end", default=None, metavar="WHEN", help="with --dsn: a date (included) or ISO time")
    parser.add_argument("--tz", default="UTC", help="IANA time zone of dates and intervals (default UTC)")
    parser.add_argument("--interval", type=int, default=30, choices=INTERVALS_MIN, help="minutes per interval")
    parser.add_argument("--simulate", action="store_true", help="check Erlang C's staffing and one agent fewer in the simulator")
    parser.add_argument("--seed", type=int, default=1, help="the simulator's first seed (default 1)")
    parser.add_argument("--seeds", type=int, default=5, help="runs per staffing, seeds --seed onwards (default 5)")
    parser.add_argument("--sim-hours", type=float, default=4.0, help="hours of steady load measured per run (default 4)")
    parser.add_argument("--lognormal", type=float, default=None, metavar="SIGMA", help="simulated handle times lognormal")
    parser.add_argument("--format", default="table", choices=FORMATS)
    return parser


def _fail(error: CcqueueError) -> int:
    print(f"ccqueue: {error.error_id}: {error}", file=sys.stderr)
    for problem in getattr(error, "problems", []):
        print(f"  {problem}", file=sys.stderr)
    return EXIT_INPUT if isinstance(error, RequestError | InputError) else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    from ccqueue.config import ConfigError, load_config

    config = None
    if args.config:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            return _fail(exc)
    objectives = objectives_from_config(config) if config is not None else {}
    if args.sim_hours <= 0 or args.seeds < 1 or (args.lognormal is not None and args.lognormal <= 0):
        print("ccqueue: --sim-hours, --seeds and --lognormal must be above 0", file=sys.stderr)
        return EXIT_INPUT
    try:
        if args.forecast:
            loads = read_forecast(args.forecast)
        else:
            dsn = args.dsn or os.environ.get("CCQUEUE_DSN")
            today = datetime.now(zone(args.tz)).date()
            period = parse_period(args.start, args.end, args.tz, today=today)
            loads = asyncio.run(read_history(dsn, period, args.interval))
    except CcqueueError as exc:
        return _fail(exc)
    rows = plan(
        loads,
        args.interval,
        objectives,
        simulate=args.simulate,
        seed=args.seed,
        seeds=args.seeds,
        sigma=args.lognormal,
        measure_s=args.sim_hours * 3600.0,
    )
    sys.stdout.write(render(rows, args.format, simulated=args.simulate))
    if args.simulate and args.format == "table":
        counts = agreement(rows)
        for model, prefix in (("Erlang C", ""), ("Erlang A", "a_")):
            print(
                f"{model} against the simulator ({args.seeds} seed(s) each, 95 % intervals): "
                f"right {counts[prefix + 'right']}, over-staffed {counts[prefix + 'over']}, "
                f"under-staffed {counts[prefix + 'under']}, unsure {counts[prefix + 'unsure']} interval(s)"
            )
    return EXIT_OK
