"""``ccqueue report``: the contact centre's figures over a period, from PostgreSQL.

Exit codes as the rest of ``ccqueue``: 0 done, 1 the database failed us, 2 bad input
(a date, a period, a time zone, the configuration). An error is one line
``ccqueue: <error-id>: <message>`` on stderr, never a traceback, and ``--out`` is
written whole (a temporary file renamed into place) or not at all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from ccqueue.core.errors import CcqueueError, RequestError
from ccqueue.reports.page import render_html
from ccqueue.reports.period import INTERVALS_MIN, GroupBy, Period, parse_period, zone
from ccqueue.reports.query import (
    DatabaseUnavailable,
    Objective,
    Report,
    SchemaOutdated,
    build_report,
    fetch_objectives,
    store_objectives,
)
from ccqueue.reports.render import render_csv, render_json, render_table

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
RENDERERS = {"table": render_table, "csv": render_csv, "json": render_json, "html": render_html}
_DEFAULT = Objective()
# A month's report hashes a million and more call ids: PostgreSQL's default work_mem
# (4 MB) sends that to disk. JIT compilation costs more than it saves at this size
# (seen: 70 ms of a 0.8 s day).
REPORT_SESSION = {"work_mem": "64MB", "jit": "off"}


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--dsn", default=None, help="PostgreSQL DSN (else CCQUEUE_DSN, else database.dsn of --config)")
    parser.add_argument(
        "-c", "--config", default=None, help="configuration: its queues' service-level objectives are stored for the report"
    )
    parser.add_argument("--from", dest="start", default=None, metavar="WHEN", help="a date or ISO time (default: today in --tz)")
    parser.add_argument(
        "--to",
        dest="end",
        default=None,
        metavar="WHEN",
        help="a date (included) or ISO time (excluded); default: one day after --from",
    )
    parser.add_argument("--tz", default="UTC", help="IANA time zone of dates, intervals and days (default UTC)")
    parser.add_argument("--by", default="interval", choices=[g.value for g in GroupBy])
    parser.add_argument("--interval", type=int, default=30, choices=INTERVALS_MIN, help="minutes per interval")
    parser.add_argument("--format", default="table", choices=sorted(RENDERERS))
    parser.add_argument("--out", metavar="FILE", default=None, help="write the report here instead of printing it")
    return parser


def objectives_from_config(config: Any) -> dict[str, Objective]:
    """Each queue's objective as configured (``service_level``, ``short_abandon_s``),
    the defaults where a queue does not say."""
    found = {}
    for name, queue in getattr(config, "queues", {}).items():
        level = getattr(queue, "service_level", None)
        found[name] = Objective(
            answer_within_s=float(getattr(level, "answer_within_s", _DEFAULT.answer_within_s)),
            target=float(getattr(level, "target", _DEFAULT.target)),
            short_abandon_s=float(getattr(queue, "short_abandon_s", _DEFAULT.short_abandon_s)),
        )
    return found


async def produce(
    dsn: str,
    period: Period,
    by: GroupBy,
    interval_min: int,
    objectives: Mapping[str, Objective] | None = None,
    *,
    use_summary: bool = True,
) -> Report:
    """Connect, (store the configuration's objectives,) report, disconnect. ``use_summary``
    False reads every call, ignoring the per-day summary (the same figures, slower)."""
    try:
        conn = await asyncpg.connect(dsn, timeout=10, server_settings=REPORT_SESSION)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailable(f"cannot reach PostgreSQL: {exc}") from exc
    try:
        if objectives is not None:
            await store_objectives(conn, objectives)
        report = await build_report(conn, period, by, interval_min=interval_min, use_summary=use_summary)
        report.objectives = await fetch_objectives(conn)
        return report
    except (asyncpg.UndefinedFunctionError, asyncpg.UndefinedTableError) as exc:
        raise SchemaOutdated(f"the database has no report views: run `ccqueue migrate` ({exc})") from exc
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailable(f"PostgreSQL failed the report: {exc}") from exc
    finally:
        await conn.close()


def _write(path: str, text: str) -> None:
    target = Path(path)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)


def _fail(error: CcqueueError) -> int:
    print(f"ccqueue: {error.error_id}: {error}", file=sys.stderr)
    return EXIT_INPUT if isinstance(error, RequestError) else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    from ccqueue.config import ConfigError, load_config

    try:
        today = datetime.now(zone(args.tz)).date()
        period = parse_period(args.start, args.end, args.tz, today=today)
    except CcqueueError as exc:
        return _fail(exc)
    config = None
    if args.config:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(f"ccqueue: {exc.error_id}: configuration {args.config} has {len(exc.problems)} problem(s):", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return EXIT_INPUT
    dsn = args.dsn or os.environ.get("CCQUEUE_DSN") or (config.database.dsn if config else None)
    if not dsn:
        print("ccqueue: no database: give --dsn, set CCQUEUE_DSN, or database.dsn in --config", file=sys.stderr)
        return EXIT_INPUT
    objectives = objectives_from_config(config) if config is not None else None
    try:
        report = asyncio.run(produce(dsn, period, GroupBy(args.by), args.interval, objectives))
    except CcqueueError as exc:
        return _fail(exc)
    text = RENDERERS[args.format](report)
    if args.out is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        _write(args.out, text)
    except OSError as exc:
        print(f"ccqueue: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
