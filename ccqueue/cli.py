"""The ``ccqueue`` command: check, migrate, run, simulate, import-asterisk, schema, user, report, staff,
contacts and dnc.

Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
import uvloop

from ccqueue.config import Config, ConfigError, load_config
from ccqueue.error_log import add_error_id

if TYPE_CHECKING:
    from ccqueue.contacts import DncReport, ImportReport

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
T = TypeVar("T")


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
        processors=[*shared, add_error_id, structlog.processors.format_exc_info, renderer],
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
                add_error_id,  # every traceback with its stable id
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


def _with_ports(config: Config, args: argparse.Namespace) -> Config:
    """``--http-port`` and ``--agi-port``: two members of a pair from one configuration."""
    for value, flag in ((args.http_port, "--http-port"), (args.agi_port, "--agi-port")):
        if value is not None and not 1 <= value <= 65535:
            raise ValueError(f"{flag} must be a port number (1-65535), not {value}")
    if args.http_port is not None:
        config = config.model_copy(update={"http": config.http.model_copy(update={"port": args.http_port})})
    if args.agi_port is not None:
        agi = config.asterisk.agi.model_copy(update={"port": args.agi_port})
        config = config.model_copy(update={"asterisk": config.asterisk.model_copy(update={"agi": agi})})
    return config


def _run_daemon(main: Coroutine[Any, Any, None]) -> None:
    """The daemon's event loop is uvloop's: its sockets, timers and transports cost a
    fraction of the standard loop's, and a call is mostly socket work (FastAGI, AMI)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def cmd_run(args: argparse.Namespace) -> int:
    from ccqueue.app import build, serve
    from ccqueue.standby import Pair

    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    try:
        config = _with_ports(config, args)
    except ValueError as exc:
        print(f"ccqueue: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    dsn = _dsn(args, config)
    if not dsn:
        print("ccqueue: no database: give --dsn, set CCQUEUE_DSN, or database.dsn in the config", file=sys.stderr)
        return EXIT_CONFIG
    spool = Path(args.spool_dir or os.environ.get("CCQUEUE_SPOOL_DIR") or "var/spool")
    spool.mkdir(parents=True, exist_ok=True)
    if config.standby is not None:  # one member of an active/standby pair (docs/standby.md)

        def reload() -> Config | None:
            fresh = load_config(args.config)
            return _with_ports(fresh, args)

        pair = Pair(config, dsn=dsn, spool_dir=spool, config_path=args.config, load=reload)
        try:
            _run_daemon(pair.run())
        except OSError as exc:
            print(f"ccqueue: cannot start: {exc}", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    daemon = build(config, dsn=dsn, spool_dir=spool, config_path=args.config)
    try:
        _run_daemon(serve(daemon))
    except OSError as exc:
        print(f"ccqueue: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from ccqueue.sim.cli import main as simulate_main

    return int(simulate_main([args.scenario, *(["--json"] if args.json else [])]))


def _outbound_target(args: argparse.Namespace) -> tuple[Config, str] | int:
    """The configuration and DSN an outbound list command needs, or its exit code."""
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    dsn = _dsn(args, config)
    if not dsn:
        print("ccqueue: no database: give --dsn, set CCQUEUE_DSN, or database.dsn in the config", file=sys.stderr)
        return EXIT_CONFIG
    return config, dsn


def _print_list_report(report: ImportReport | DncReport, path: str, *, as_json: bool) -> None:
    import json

    if as_json:
        print(json.dumps(report.as_json()))
        return
    print(f"ccqueue: {report.summary()}", file=sys.stdout if report.committed else sys.stderr)
    for problem in report.problems:
        where = path if problem.line is None else f"{path}:{problem.line}"
        print(f"  {where}: {problem.message}", file=sys.stderr)
    shown, total = len(report.problems), report.problems_total
    if total > shown:
        print(f"  ... and {total - shown} more problem(s)", file=sys.stderr)


async def _with_connection(dsn: str, work: Callable[[Any], Awaitable[T]]) -> T:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await work(conn)
    finally:
        await conn.close()


def cmd_contacts_import(args: argparse.Namespace) -> int:
    from ccqueue.contacts import import_contacts

    target = _outbound_target(args)
    if isinstance(target, int):
        return target
    config, dsn = target
    if args.campaign not in config.campaigns or config.outbound is None:
        known = ", ".join(sorted(config.campaigns)) or "none"
        print(f"ccqueue: no campaign {args.campaign!r} in {args.config} (campaigns: {known})", file=sys.stderr)
        return EXIT_CONFIG
    outbound = config.outbound
    return _import_list(
        args,
        dsn,
        lambda conn, stream: import_contacts(
            conn,
            args.campaign,
            stream,
            region=outbound.region,
            allowed=outbound.allowed,
            skip_invalid=args.skip_invalid,
            source=args.file,
        ),
    )


def _import_list(args: argparse.Namespace, dsn: str, load: Callable[[Any, Any], Awaitable[Any]]) -> int:
    """Read ``args.file`` into the database with ``load(conn, stream)`` and print its report
    (every problem by line when nothing was imported: exit 2)."""
    from ccqueue.contacts import ContactsInvalid

    try:
        with open(args.file, "rb") as stream:
            report = asyncio.run(_with_connection(dsn, lambda conn: load(conn, stream)))
    except OSError as exc:
        print(f"ccqueue: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ContactsInvalid as exc:
        _print_list_report(exc.report, args.file, as_json=args.json)
        return EXIT_CONFIG
    _print_list_report(report, args.file, as_json=args.json)
    return EXIT_OK


def _region(args: argparse.Namespace, config: Config) -> str:
    # Without a region, only numbers written with '+' can be read ("ZZ": no country).
    return args.region or (config.outbound.region if config.outbound else "ZZ")


def cmd_dnc_import(args: argparse.Namespace) -> int:
    from ccqueue.contacts import import_do_not_call

    target = _outbound_target(args)
    if isinstance(target, int):
        return target
    config, dsn = target
    region = _region(args, config)
    return _import_list(
        args,
        dsn,
        lambda conn, stream: import_do_not_call(conn, stream, region=region, skip_invalid=args.skip_invalid, source=args.file),
    )


def cmd_dnc_add(args: argparse.Namespace) -> int:
    from ccqueue.numbers import NumberRejected, normalize
    from ccqueue.store.outbound import add_do_not_call

    target = _outbound_target(args)
    if isinstance(target, int):
        return target
    config, dsn = target
    try:
        number = normalize(args.number, region=_region(args, config))
    except NumberRejected as exc:
        print(f"ccqueue: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    added = asyncio.run(_with_connection(dsn, lambda conn: add_do_not_call(conn, number, "api")))
    print(f"ccqueue: {number} " + ("added to the do-not-call list" if added else "was already on the do-not-call list"))
    return EXIT_OK


def cmd_recordings_purge(args: argparse.Namespace) -> int:
    """Delete recordings (and call records, when configured) past their retention."""
    import json
    from datetime import UTC, datetime

    from ccqueue.store.recordings import purge

    target = _outbound_target(args)
    if isinstance(target, int):
        return target
    config, dsn = target
    report = asyncio.run(
        _with_connection(
            dsn,
            lambda conn: purge(
                conn,
                directory=config.recordings.directory,
                retention_days={name: q.recording.retention_days for name, q in config.queues.items()},
                call_retention_days=config.recordings.call_retention_days,
                now=datetime.now(UTC),
            ),
        )
    )
    print(json.dumps(report.as_json()))
    for failed in report.files_failed:
        print(f"ccqueue: recording file not deleted: {failed['file']}: {failed['error']}", file=sys.stderr)
    return EXIT_OK if not report.files_failed else 1


def cmd_erase(args: argparse.Namespace) -> int:
    """Erase a number's personal data (ccqueue.store.erasure); prints what went, by table."""
    import getpass
    import json

    from ccqueue.core.errors import ErasureRefused
    from ccqueue.store.erasure import erase_number

    target = _outbound_target(args)
    if isinstance(target, int):
        return target
    config, dsn = target
    try:
        report = asyncio.run(
            _with_connection(
                dsn,
                lambda conn: erase_number(
                    conn, args.number, directory=config.recordings.directory, actor=getpass.getuser(), via="cli"
                ),
            )
        )
    except ErasureRefused as exc:
        print(f"ccqueue: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(json.dumps(report.as_json()))
    for failed in report.files_failed:
        print(f"ccqueue: recording file not deleted: {failed['file']}: {failed['error']}", file=sys.stderr)
    return EXIT_OK if not report.files_failed else 1


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def version() -> str:
    """The installed package's version (the checkout's, when it is not installed)."""
    try:
        return importlib.metadata.version("ccqueue")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _list_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", default="config", help="config directory or file (default: config)")
    p.add_argument("--dsn", default=None, help="PostgreSQL DSN (else CCQUEUE_DSN, else database.dsn)")
    p.add_argument(
        "--skip-invalid", action="store_true", help="import the rows without problems and report the others as skipped"
    )
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


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
    p.add_argument("--http-port", type=int, default=None, help="instead of http.port (the second member of a pair)")
    p.add_argument("--agi-port", type=int, default=None, help="instead of asterisk.agi.port (the second member of a pair)")
    p.set_defaults(func=cmd_run)

    from ccqueue import credentials
    from ccqueue.config import import_asterisk, schema
    from ccqueue.reports import cli as report_cli
    from ccqueue.reports import staffing

    # Subcommands that bring their own arguments (configure_parser) and entry point (run).
    for name, help_text, module in (
        ("import-asterisk", "convert an Asterisk queues.conf into queues.yaml and agents.yaml", import_asterisk),
        ("schema", "print the JSON Schema of the configuration files", schema),
        ("user", "passwords and API tokens for the users section: hash-password, new-token", credentials),
        ("report", "contact-centre figures over a period, from PostgreSQL", report_cli),
        ("staff", "agents needed per interval and queue: Erlang C, Erlang A, checked in the simulator", staffing),
    ):
        p = sub.add_parser(name, help=help_text)
        module.configure_parser(p)
        p.set_defaults(func=module.run)

    p = sub.add_parser("contacts", help="outbound contact lists")
    contacts = p.add_subparsers(dest="contacts_command", required=True)
    p = contacts.add_parser(
        "import",
        help="import a CSV contact list into a campaign (UTF-8; columns number, name, tz and any others)",
        description="Import a CSV contact list. Every problem is reported with its line; by default a file "
        "with any problem imports nothing (see --skip-invalid).",
    )
    p.add_argument("campaign", help="a campaign of the configuration")
    p.add_argument("file", help="the CSV file")
    _list_options(p)
    p.set_defaults(func=cmd_contacts_import)

    p = sub.add_parser("dnc", help="the do-not-call list")
    dnc = p.add_subparsers(dest="dnc_command", required=True)
    p = dnc.add_parser("import", help="add the numbers of a file (a CSV with a number column, or one number a line)")
    p.add_argument("file")
    _list_options(p)
    p.add_argument("--region", default=None, help="read numbers without '+' in this country (default: outbound.region)")
    p.set_defaults(func=cmd_dnc_import)
    p = dnc.add_parser("add", help="add one number")
    p.add_argument("number")
    p.add_argument("-c", "--config", default="config")
    p.add_argument("--dsn", default=None, help="PostgreSQL DSN (else CCQUEUE_DSN, else database.dsn)")
    p.add_argument("--region", default=None, help="read a number without '+' in this country (default: outbound.region)")
    p.set_defaults(func=cmd_dnc_add)

    p = sub.add_parser("recordings", help="call recordings")
    recordings = p.add_subparsers(dest="recordings_command", required=True)
    p = recordings.add_parser("purge", help="delete recordings and call records past their retention")
    p.add_argument("-c", "--config", default="config")
    p.add_argument("--dsn", default=None, help="PostgreSQL DSN (else CCQUEUE_DSN, else database.dsn)")
    p.set_defaults(func=cmd_recordings_purge)

    p = sub.add_parser("erase", help="erase a customer's personal data by number (right to erasure)")
    p.add_argument("--number", required=True, help="the number, E.164 (+ and digits)")
    p.add_argument("-c", "--config", default="config")
    p.add_argument("--dsn", default=None, help="PostgreSQL DSN (else CCQUEUE_DSN, else database.dsn)")
    p.set_defaults(func=cmd_erase)

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
