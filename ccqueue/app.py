"""The composition root: every long-lived object is built and wired here, explicitly.

One ``asyncio.TaskGroup`` runs everything that lives as long as the daemon: the engine,
the AMI link, the record writer, and the FastAGI and HTTP servers. If one of them fails,
the group cancels the others and the daemon exits with the error, rather than limping on
half-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from ccqueue.asterisk.agi import AgiServer
from ccqueue.asterisk.ivr_runner import IvrRunner
from ccqueue.asterisk.session_check import parse_allow
from ccqueue.asterisk.telephony import AsteriskTelephony
from ccqueue.config import Config
from ccqueue.config.to_core import acd_settings, ivr_trees
from ccqueue.core.acd import Acd
from ccqueue.core.errors import CallbackRefused, CcqueueError
from ccqueue.core.ivr import IvrTree
from ccqueue.engine.engine import Engine
from ccqueue.http.app import build_app
from ccqueue.metrics import Metrics, StateCollector
from ccqueue.numbers import check_allowed, normalize
from ccqueue.reload import reload
from ccqueue.store import RecordWriter
from ccqueue.store.restore import (
    CallbacksNotRestored,
    close_unfollowed_calls,
    restore_callbacks,
)

log = structlog.get_logger("ccqueue.app")


@dataclass
class Daemon:
    config: Config
    engine: Engine
    telephony: AsteriskTelephony
    agi: AgiServer
    writer: RecordWriter
    registry: CollectorRegistry
    web_app: web.Application
    dsn: str = ""
    trees: Mapping[str, IvrTree] = field(default_factory=dict)  # the running IVR trees
    config_path: str = "config"  # reloaded from here (SIGHUP, POST /api/config/reload)

    def health(self) -> dict[str, Any]:
        ami = self.telephony.ami.state
        db = "ready" if self.writer.connected else "down"
        ok = ami == "ready"
        return {
            "status": "ok" if ok else "degraded",
            "ami": ami,
            "database": db,
            "records_pending": self.writer.buffered,
            "events_handled": self.engine.events_handled,
        }


def build(config: Config, *, dsn: str, spool_dir: Path, config_path: str = "config") -> Daemon:
    acd = Acd(acd_settings(config))
    writer = RecordWriter(dsn, spool_dir=spool_dir)
    registry = CollectorRegistry()
    metrics = Metrics(registry)

    # The engine and its adapters refer to each other; the adapters get the engine's
    # inbox through these two small closures, bound once the engine exists.
    holder: dict[str, Engine] = {}

    def post(event: Any) -> None:
        holder["engine"].post(event)

    async def ask(event: Any) -> Any:
        return await holder["engine"].ask(event)

    ami = config.asterisk.ami
    telephony = AsteriskTelephony(
        host=ami.host,
        port=ami.port,
        username=ami.username,
        secret=ami.secret.get_secret_value(),
        agent_context=config.asterisk.agent_context,
        post=post,
    )
    def normalize_number(raw: str) -> str:
        callbacks = daemon_ref[0].config.callbacks  # the running configuration's
        if callbacks is None:
            raise CallbackRefused("callbacks are not set up")
        return check_allowed(normalize(raw, region=callbacks.region), callbacks.allowed)

    def callback_number(raw: str) -> str | None:
        try:
            return normalize_number(raw)
        except CcqueueError:
            return None

    daemon_ref: list[Daemon] = []
    ivr_runner = IvrRunner(trees=lambda: daemon_ref[0].trees, ask=ask, post=post, callback_number=callback_number)
    agi = AgiServer(
        ask=ask,
        post=post,
        channel_status=telephony.channel_status,
        allowed_peers=parse_allow(config.asterisk.agi.allow),
        agent_for_endpoint=lambda endpoint: holder["engine"].acd.agent_for_endpoint(endpoint),
        callback_key=lambda: callbacks.key if (callbacks := daemon_ref[0].config.callbacks) is not None else None,
        normalize_number=normalize_number,
        ivr=ivr_runner,
        survey_for=lambda number: (h := daemon_ref[0].config.hotlines.get(number)) is not None and h.survey,
    )
    engine = Engine(acd, telephony=telephony, callers=agi, records=writer, on_record=metrics.on_record)
    holder["engine"] = engine
    registry.register(
        StateCollector(
            lambda: engine.acd,
            lambda: {"asterisk_ami": telephony.ami.state == "ready", "postgresql": writer.connected},
            lambda: {"records_pending": writer.buffered, "records_spooled": writer.records_spooled},
        )
    )
    web_app = build_app(
        engine=engine,
        registry=registry,
        health=lambda: daemon_ref[0].health(),
        ended_calls=lambda: dict(metrics.ended),
        callbacks_config=lambda: daemon_ref[0].config.callbacks,
        reload=lambda: reload(daemon_ref[0]),
    )
    daemon = Daemon(
        config, engine, telephony, agi, writer, registry, web_app, dsn=dsn, trees=ivr_trees(config), config_path=config_path
    )
    daemon_ref.append(daemon)
    return daemon


async def _restore_callbacks(daemon: Daemon) -> None:
    """Open callbacks back in line, and calls an earlier process left open closed;
    PostgreSQL being down delays this, never drops it."""
    started_at = time.time()
    while True:
        try:
            await restore_callbacks(daemon.dsn, daemon.engine.post, spool_replayed=daemon.writer.wait_spool_replayed)
            break
        except CallbacksNotRestored as exc:
            log.error("callbacks_not_restored_yet", error=str(exc), hint="retrying; calls are served meanwhile")
            await asyncio.sleep(10)
    for _attempt in range(5):
        try:
            closed = await close_unfollowed_calls(daemon.dsn, started_at=started_at)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("unfollowed_calls_not_closed_yet", error=str(exc))
            await asyncio.sleep(10)
            continue
        if closed:
            log.warning("unfollowed_calls_closed", count=len(closed), hint="a previous ccqueue process stopped without closing them")
        return


async def serve(daemon: Daemon, *, stop: asyncio.Event | None = None) -> None:
    """Run the daemon until ``stop`` is set (or SIGTERM/SIGINT)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[Any]] = set()

    def on_sighup() -> None:  # the result is logged by reload()
        task = loop.create_task(reload(daemon))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
    cfg = daemon.config
    agi_server = await asyncio.start_server(daemon.agi.handle_connection, cfg.asterisk.agi.host, cfg.asterisk.agi.port)
    runner = web.AppRunner(daemon.web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, cfg.http.host, cfg.http.port)
    await site.start()
    log.info(
        "ccqueue_started",
        agi=f"{cfg.asterisk.agi.host}:{cfg.asterisk.agi.port}",
        http=f"http://{cfg.http.host}:{cfg.http.port}/",
        ami=f"{cfg.asterisk.ami.host}:{cfg.asterisk.ami.port}",
    )
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(daemon.writer.run(), name="record-writer")
            restore = tasks.create_task(_restore_callbacks(daemon), name="restore-callbacks")
            others = [
                tasks.create_task(daemon.engine.run(), name="engine"),
                tasks.create_task(daemon.telephony.run(), name="ami"),
                tasks.create_task(agi_server.serve_forever(), name="fastagi"),
            ]
            await stop.wait()
            log.info("ccqueue_stopping")
            try:  # waiting callers hear the apology, every open record is closed
                await daemon.engine.shut_down(timeout=5)
            except TimeoutError:
                log.warning("shutdown_incomplete", hint="some callers or records may not have been settled")
            for task in [*others, restore]:
                task.cancel()
            # Last: everything the engine decided is written (or spooled) before exit.
            await daemon.writer.close(timeout=10)
    finally:
        agi_server.close()
        await runner.cleanup()
        log.info("ccqueue_stopped")
