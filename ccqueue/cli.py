"""The ``ccqueue`` command: check, migrate, run, simulate, import-asterisk, schema, user, report, staff.

Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import os
import sys
from pathlib import Path

import structlog

from ccqueue.config import Config, ConfigError, load_config

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _setup_logging(*, json_logs: bool, level: str) -> None:
    """structlog for ccqueue's own events, and the same renderer for everything the
    standard library's logging carries (asyncio, aiohttp, asyncpg), so that with
    ``--json-logs`` every line is one JSON object, tracebacks included."""
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    logging.captureWarnings(True)  # Python's warnings too, as log lines
    # Other libraries' debug chatter is not ccqueue's: they speak from INFO up.
    root.setLevel(max(logging.getLevelName(level.upper()), logging.INFO))


def _load(path: str) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"ccqueue: configuration {path} has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


def _dsn(args: argparse.Namespace, config: Config | None) -> str | None:
    return args.dsn or os.environ.get("CCQUEUE_DSN") or (config.database.dsn if config else None)


def cmd_check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    print(
        f"ccqueue: configuration OK: {len(config.files)} file(s), {len(config.queues)} queue(s), "
        f"{len(config.agents)} agent(s), {len(config.hotlines)} hotline(s)"
    )
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from ccqueue.store import migrate

    config = _load(args.config) if args.config else None
    if args.config and config is None:
        return EXIT_CONFIG
    dsn = _dsn(args, config)
    if not dsn:
        print("ccqueue: no database: give --dsn, set CCQUEUE_DSN, or database.dsn in the config", file=sys.stderr)
        return EXIT_CONFIG
    applied = asyncio.run(migrate(dsn))
    print(f"ccqueue: applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else " (schema up to date)"))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from ccqueue.app import build, serve

    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    dsn = _dsn(args, config)
    if not dsn:
        print("ccqueue: no database: give --dsn, set CCQUEUE_DSN, or database.dsn in the config", file=sys.stderr)
        return EXIT_CONFIG
    spool = Path(args.spool_dir or os.environ.get("CCQUEUE_SPOOL_DIR") or "var/spool")
    spool.mkdir(parents=True, exist_ok=True)
    daemon = build(config, dsn=dsn, spool_dir=spool, config_path=args.config)
    try:
        asyncio.run(serve(daemon))
    except OSError as exc:
        print(f"ccqueue: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from ccqueue.sim.cli import main as simulate_main

    return int(simulate_main([args.scenario, *(["--json"] if args.json else [])]))


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def version() -> str:
    """The installed package's version (the checkout's, when it is not installed)."""
    try:
        return importlib.metadata.version("ccqueue")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccqueue", description="Call queues and ACD for Asterisk")
    parser.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default=os.environ.get("CCQUEUE_LOG_LEVEL", "info").lower(),
        help="debug, info (default), warning, error or critical; or CCQUEUE_LOG_LEVEL",
    )
    parser.add_argument("--version", action="version", version=f"ccqueue {version()}")
    parser.add_argument("--json-logs", action="store_true", help="log one JSON object per line")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="validate the configuration and exit")
    p.add_argument("-c", "--config", default="config", help="config directory or file (default: config)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("migrate", help="create or update the PostgreSQL schema")
    p.add_argument("-c", "--config", default=None)
    p.add_argument("--dsn", default=None, help="PostgreSQL DSN (else CCQUEUE_DSN, else database.dsn)")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("run", help="run the daemon")
    p.add_argument("-c", "--config", default="config")
    p.add_argument("--dsn", default=None, help="PostgreSQL DSN (else CCQUEUE_DSN, else database.dsn)")
    p.add_argument("--spool-dir", default=None, help="where records wait while PostgreSQL is down (default var/spool)")
    p.set_defaults(func=cmd_run)

    from ccqueue.config import import_asterisk, schema

    p = sub.add_parser("import-asterisk", help="convert an Asterisk queues.conf into queues.yaml and agents.yaml")
    import_asterisk.configure_parser(p)
    p.set_defaults(func=import_asterisk.run)

    p = sub.add_parser("schema", help="print the JSON Schema of the configuration files")
    schema.configure_parser(p)
    p.set_defaults(func=schema.run)

    from ccqueue import credentials

    p = sub.add_parser("user", help="passwords and API tokens for the users section: hash-password, new-token")
    credentials.configure_parser(p)
    p.set_defaults(func=credentials.run)

    from ccqueue.reports import cli as report_cli

    p = sub.add_parser("report", help="contact-centre figures over a period, from PostgreSQL")
    report_cli.configure_parser(p)
    p.set_defaults(func=report_cli.run)

    from ccqueue.reports import staffing

    p = sub.add_parser("staff", help="agents needed per interval and queue: Erlang C, Erlang A, checked in the simulator")
    staffing.configure_parser(p)
    p.set_defaults(func=staffing.run)

    p = sub.add_parser("simulate", help="run a scenario through the real core on a virtual clock")
    p.add_argument("scenario", help="scenario YAML (see docs/simulator.md)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_simulate)

    args = parser.parse_args(argv)
    if args.log_level not in LOG_LEVELS:  # from CCQUEUE_LOG_LEVEL, which argparse does not check
        parser.error(f"CCQUEUE_LOG_LEVEL: {args.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    _setup_logging(json_logs=args.json_logs, level=args.log_level)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
