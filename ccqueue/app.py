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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from ccqueue.asterisk.agi import AgiServer
from ccqueue.asterisk.ami import AmiUnavailable
from ccqueue.asterisk.ivr_runner import IvrRunner
from ccqueue.asterisk.live import AwayEntry
from ccqueue.asterisk.session_check import parse_allow
from ccqueue.asterisk.spy import SpyDesk
from ccqueue.asterisk.telephony import AsteriskTelephony
from ccqueue.config import Config
from ccqueue.config.callbacks import Callbacks
from ccqueue.config.models import Recordings
from ccqueue.config.running import RunningConfig, Snapshot
from ccqueue.config.to_core import acd_settings, ivr_trees
from ccqueue.contacts import import_contacts
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd
from ccqueue.core.errors import CallbackRefused, CcqueueError
from ccqueue.core.ivr import IvrTree
from ccqueue.core.lease import Fenced, Role, RoleState
from ccqueue.core.overload import OverloadSettings
from ccqueue.core.records import Record
from ccqueue.engine.engine import Engine
from ccqueue.engine.inbox import Inbox
from ccqueue.engine.load import DOOR, LoadCollector, LoadWatch
from ccqueue.http.app import IDLE_TIMEOUT_S, build_app
from ccqueue.listen import (
    HttpConnections,
    budget,
    listening_socket,
    raise_open_files_limit,
)
from ccqueue.metrics import CampaignCollector, Metrics, RoleCollector, StateCollector
from ccqueue.numbers import check_allowed, normalize
from ccqueue.recovery import record_away_after_reconnect, record_door_refusals, recover
from ccqueue.reload import Reloader
from ccqueue.reports.cli import REPORT_SESSION
from ccqueue.reports.query import summarise_closed_days
from ccqueue.store import RecordWriter
from ccqueue.store import outbound as outbound_store
from ccqueue.store import recordings as recordings_store
from ccqueue.store.erasure import erase_number
from ccqueue.store.history import WorkspaceStore
from ccqueue.store.period import load_period_calls
from ccqueue.store.restore import (
    CallbacksNotRestored,
    close_unfollowed_calls,
    restore_callbacks,
)
from ccqueue.workspace import HISTORY_LIMIT, Workspace

log = structlog.get_logger("ccqueue.app")

# Connections the kernel queues for the FastAGI listener (nginx's default on Linux is 511;
# HTTP keeps listening_socket's 128).
AGI_BACKLOG = 1024


@dataclass
class Daemon:
    running: RunningConfig
    inbox: Inbox
    engine: Engine
    telephony: AsteriskTelephony
    agi: AgiServer
    writer: RecordWriter
    registry: CollectorRegistry
    web_app: web.Application
    reloader: Reloader
    http_connections: HttpConnections
    dsn: str = ""
    metrics: Metrics | None = None
    workspace: Workspace | None = None
    workspace_store: WorkspaceStore | None = None
    load: LoadWatch | None = None
    # Set once the start-up restore is with the engine (ccqueue.recovery).
    restored: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def config(self) -> Config:
        return self.running.now.config

    def health(self) -> dict[str, Any]:
        return health_of(self.telephony, self.writer, self.engine, self.restored)


def health_of(
    telephony: AsteriskTelephony,
    writer: RecordWriter,
    engine: Engine,
    restored: asyncio.Event | None = None,
    role: RoleState | None = None,
) -> dict[str, Any]:
    """What /healthz answers: ready while Asterisk's AMI link is, once the start-up
    restore (when there is one) has reached the engine. ``active`` is the readiness to
    serve calls (a pair's standby answers from ``ccqueue.standby``)."""
    ami = telephony.ami.state
    back = restored is None or restored.is_set()
    ok = ami == "ready" and back
    return {
        "status": "ok" if ok else "degraded",
        "role": "active",
        "active": ok,
        "epoch": role.epoch if role is not None else None,
        "restored": back,
        "ami": ami,
        "database": "ready" if writer.connected else "down",
        "records_pending": writer.buffered,
        "events_handled": engine.events_handled,
    }


def build(
    config: Config,
    *,
    dsn: str,
    spool_dir: Path,
    config_path: str = "config",
    role: RoleState | None = None,
    on_fenced: Callable[[Fenced], None] | None = None,
    agi_url: str | None = None,
) -> Daemon:
    """Every long-lived object, in dependency order: the inbox and the running
    configuration first, then the core, the adapters that post to the inbox, the engine
    that reads it, and the HTTP side that reads the views.

    ``role``: the member of a pair this daemon serves for (``ccqueue.standby``): its
    epoch fences the record writer. None: a lone process, always active."""
    role = role if role is not None else RoleState(role=Role.ACTIVE)  # a lone process is active from the start
    inbox = Inbox()
    running = RunningConfig(Snapshot(config=config, trees=ivr_trees(config)), path=Path(config_path))
    acd = Acd(acd_settings(config))
    writer = RecordWriter(dsn, spool_dir=spool_dir, epoch=role.epoch, on_fenced=on_fenced)
    registry = CollectorRegistry()
    # The service-level objectives are read from the running configuration, so a reload applies them.
    metrics = Metrics(registry, config=lambda: running.now.config)

    ami = config.asterisk.ami
    telephony = AsteriskTelephony(
        host=ami.host,
        port=ami.port,
        username=ami.username,
        secret=ami.secret.get_secret_value(),
        agent_context=config.asterisk.agent_context,
        post=inbox.post,
        agi_url=agi_url,
    )

    # Settings a reload may change are read from the running configuration when used.
    def callbacks() -> Callbacks | None:
        return running.now.config.callbacks

    def normalize_number(raw: str) -> str:
        policy = callbacks()
        if policy is None:
            raise CallbackRefused("callbacks are not set up")
        return check_allowed(normalize(raw, region=policy.region), policy.allowed)

    def callback_number(raw: str) -> str | None:
        try:
            return normalize_number(raw)
        except CcqueueError:
            return None

    def callback_key() -> str | None:
        policy = callbacks()
        return policy.key if policy is not None else None

    def survey_for(number: str) -> bool:
        hotline = running.now.config.hotlines.get(number)
        return hotline is not None and hotline.survey

    def trees() -> Mapping[str, IvrTree]:
        return running.now.trees

    def dialling(campaign: str) -> list[int]:
        return [a.contact.contact_id for a in acd.attempts.values() if a.campaign == campaign]

    store_contacts = (
        outbound_store.CampaignContacts(dsn, settings=lambda name: acd.settings.campaigns.get(name), dialling=dialling)
        if dsn
        else None
    )

    async def import_list(campaign: str, body: bytes, skip_invalid: bool) -> dict[str, Any]:
        policy = running.now.config.outbound
        if policy is None:
            raise CallbackRefused("no outbound section in the configuration: campaigns cannot dial")
        conn = await asyncpg.connect(dsn)
        try:
            report = await import_contacts(
                conn,
                campaign,
                [body],
                region=policy.region,
                allowed=policy.allowed,
                skip_invalid=skip_invalid,
                source="upload",
            )
        finally:
            await conn.close()
        return report.as_json()

    async def do_not_call(raw: str) -> str:
        policy = running.now.config.outbound
        region = policy.region if policy is not None else "US"
        number = normalize(raw, region=region)
        await outbound_store.add_do_not_call(dsn, number, "api")
        return number

    # The agents' screen-pop: told every record and every ring; its history from PostgreSQL.
    workspace_store = WorkspaceStore(dsn) if dsn else None
    workspace = Workspace(
        history=(lambda number: workspace_store.history(number, HISTORY_LIMIT)) if workspace_store is not None else None
    )
    telephony.on_ringing = workspace.on_ringing

    def on_record(record: Record) -> None:
        metrics.on_record(record)
        workspace.on_record(record)

    def recordings_settings() -> Recordings:
        return running.now.config.recordings

    def asterisk_path(file: str) -> str:
        return recordings_settings().in_asterisk(file)

    async def fetch_recording(recording_id: str) -> dict[str, Any]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return await recordings_store.fetch_recording(conn, recording_id)
        finally:
            await conn.close()

    async def erase(number: str, actor: str | None, via: str) -> dict[str, Any]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            report = await erase_number(conn, number, directory=recordings_settings().directory, actor=actor, via=via)
        finally:
            await conn.close()
        if report.files_failed:
            log.error("erasure_files_left", erasure_id=report.erasure_id, files=report.files_failed)
        return report.as_json()

    ivr_runner = IvrRunner(trees=trees, ask=inbox.ask, post=inbox.post, callback_number=callback_number)
    restored = asyncio.Event()
    overload_memo: list[Any] = [None, None]

    def overload_settings() -> OverloadSettings:
        section = running.now.config.overload  # a reload applies at the next sample
        if overload_memo[0] is not section:
            overload_memo[:] = [section, section.to_core()]
        settings: OverloadSettings = overload_memo[1]
        return settings

    async def set_door(refused_per_mille: int) -> None:
        section = running.now.config.overload  # a reload's refusal applies at the next setting
        await telephony.set_door(refused_per_mille, refusal=section.refusal, sound=section.sound)

    # The backlog: events for the engine, sessions opening, commands awaiting Asterisk.
    load = LoadWatch(
        overload_settings,
        backlog=lambda: inbox.qsize() + agi.opening + engine.pending_commands,
        asterisk_lag=telephony.take_event_lag,
        door=set_door,
    )
    agi = AgiServer(
        restored=restored,
        ask=inbox.ask,
        post=inbox.post,
        channel_status=telephony.channel_status,
        session_key=telephony.session_key,
        keyless=telephony.keyless,
        allowed_peers=parse_allow(config.asterisk.agi.allow),
        agent_for_endpoint=acd.agent_for_endpoint,
        callback_key=callback_key,
        normalize_number=normalize_number,
        ivr=ivr_runner,
        survey_for=survey_for,
        recording_path=asterisk_path,
        mute_recording=telephony.mute_recording,
        door=load,
        refused_sound=lambda: running.now.config.overload.sound,
    )
    telephony.on_hangup = agi.leg_gone
    engine = Engine(
        acd,
        inbox=inbox,
        telephony=telephony,
        callers=agi,
        records=writer,
        on_record=on_record,
        contacts=store_contacts,
        recording_path=asterisk_path,
    )
    reloader = Reloader(running, ask=inbox.ask)
    registry.register(
        StateCollector(
            acd.views,
            lambda: {"asterisk_ami": telephony.ami.state == "ready", "postgresql": writer.connected},
            lambda: {
                "records_pending": writer.buffered,
                "records_spooled": writer.records_spooled,
                "spool_write_failures": writer.spool_failures,
            },
            metrics=metrics,
        )
    )
    registry.register(RoleCollector(role))
    registry.register(LoadCollector(load))
    registry.register(CampaignCollector(lambda: [acd.campaign_status(name, time.time()) for name in acd.campaign_names()]))
    http_connections = HttpConnections()
    web_app = build_app(
        middlewares=(http_connections.track,),
        engine=engine,
        registry=registry,
        health=lambda: health_of(telephony, writer, engine, restored, role),
        metrics=metrics,
        callbacks_config=callbacks,
        reload=reloader.reload,
        # Users are read on every request, so a reload adds, removes or changes them at once.
        users=lambda: running.now.config.users,
        settings=config.http,
        audit=writer.submit,  # spooled to disk while PostgreSQL is away, like every record
        import_contacts=import_list if dsn else None,
        add_do_not_call=do_not_call if dsn else None,
        spy=SpyDesk(telephony.ami).spy,  # supervisors listening in from their own phones
        config=lambda: running.now.config,
        workspace=workspace,
        workspace_store=workspace_store,
        fetch_recording=fetch_recording if dsn else None,
        recordings_directory=lambda: recordings_settings().directory,
        erase=erase if dsn else None,
    )
    if not config.users:
        log.warning(
            "no_users_configured",
            open=list(config.http.open),
            hint="only the paths in http.open answer; add users (docs/configuration.md, users) and reload",
        )
    return Daemon(
        running=running,
        inbox=inbox,
        engine=engine,
        telephony=telephony,
        agi=agi,
        writer=writer,
        registry=registry,
        web_app=web_app,
        reloader=reloader,
        http_connections=http_connections,
        dsn=dsn,
        metrics=metrics,
        restored=restored,
        workspace=workspace,
        workspace_store=workspace_store,
        load=load,
    )


async def _restore_state(daemon: Daemon, began: float) -> tuple[str, ...]:
    """What an earlier process left, taken back (``ccqueue.recovery``); the ids of the
    calls taken back. Tried again while Asterisk cannot be asked; returning callers
    wait for it at most ``agi.RESTORE_WAIT_S``."""
    try:
        for attempt in range(1, 31):
            try:
                recovered = await recover(
                    telephony=daemon.telephony,
                    dsn=daemon.dsn,
                    agent_ids=list(daemon.config.agents),
                    agent_for_endpoint=daemon.engine.acd.agent_for_endpoint,
                    post=daemon.engine.post,
                    spool_replayed=daemon.writer.wait_spool_replayed,
                    began=began,
                )
                daemon.agi.forget_away(recovered.away_settled)
                return recovered.calls
            except (AmiUnavailable, TimeoutError) as exc:
                log.warning("restore_not_done_yet", error=str(exc), attempt=attempt, hint="retrying; new calls are served")
                daemon.restored.set()  # new and returning callers are not held back any longer
                await asyncio.sleep(2)
        log.error("restore_given_up", hint="calls left by the previous process are closed as unfollowed")
        return ()
    finally:
        daemon.restored.set()


async def _restore_callbacks(daemon: Daemon, began: float) -> None:
    """Calls and agents taken back, open callbacks back in line (after them: a callback
    being dialled is followed, not dialled again), and the calls an earlier process left
    open and nobody can follow closed; PostgreSQL being down delays this, never drops it."""
    started_at = began
    kept = await _restore_state(daemon, began)
    while True:
        try:
            await restore_callbacks(daemon.dsn, daemon.engine.post, spool_replayed=daemon.writer.wait_spool_replayed)
            break
        except CallbacksNotRestored as exc:
            log.error("callbacks_not_restored_yet", error=str(exc), hint="retrying; calls are served meanwhile")
            await asyncio.sleep(10)
    for _attempt in range(5):
        try:
            # Kept open: the calls taken back, and those this process serves now (a caller
            # held while ccqueue was away arrived before it started).
            keep = [*kept, *daemon.engine.acd.views.call_ids()]
            closed = await close_unfollowed_calls(daemon.dsn, started_at=started_at, keep=keep, epoch=daemon.writer.epoch)
        except Fenced as exc:  # a newer active decides; this one is stepping down (ccqueue.standby)
            log.error("unfollowed_calls_not_closed_fenced", error=str(exc))
            return
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("unfollowed_calls_not_closed_yet", error=str(exc))
            await asyncio.sleep(10)
            continue
        if closed:
            log.warning(
                "unfollowed_calls_closed", count=len(closed), hint="a previous ccqueue process stopped without closing them"
            )
        return


async def _away_after_reconnects(daemon: Daemon) -> None:
    """Each time the AMI link comes back after the first (Asterisk restarted, most of
    the time), the callers that hung up meanwhile without reaching ccqueue are recorded
    from the dialplan's lines, as a start does; the first link is the start-up restore's."""
    if not daemon.dsn:
        return
    ami = daemon.telephony.ami
    await ami.ready.wait()
    done = ami.connects
    while True:
        await asyncio.sleep(AWAY_AFTER_RECONNECT_POLL_S)
        if ami.state != "ready" or ami.connects == done:
            continue
        try:
            settled = await record_away_after_reconnect(telephony=daemon.telephony, dsn=daemon.dsn)
        except (AmiUnavailable, OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("away_calls_not_recorded_yet", error=repr(exc), hint="tried again shortly")
            await asyncio.sleep(AWAY_AFTER_RECONNECT_RETRY_S)
            continue
        done = ami.connects
        daemon.agi.forget_away(settled)


def _door_refused(daemon: Daemon, queue: asyncio.Queue[AwayEntry], entry: AwayEntry) -> None:
    if daemon.load is not None:
        daemon.load.door_refused()
    with contextlib.suppress(asyncio.QueueFull):  # its line waits for the next start
        queue.put_nowait(entry)


async def _door_refusals(daemon: Daemon, refused: asyncio.Queue[AwayEntry]) -> None:
    """Record the new callers the dialplan's door refused for load, as Asterisk tells of
    them (``AsteriskTelephony.on_door_refused``), a batch every DOOR_RECORD_S, and have
    their lines deleted. Exactly once (``record_refused_at_door``, keyed by the line as
    the start-up keys it); a batch PostgreSQL did not take is tried again, and whatever
    this process never recorded is recorded from its line at the next start."""
    load = daemon.load
    batch: dict[str, AwayEntry] = {}
    while True:
        await asyncio.sleep(DOOR_RECORD_S)
        while not refused.empty() and len(batch) < DOOR_BATCH_MAX:
            entry = refused.get_nowait()
            batch[entry.uniqueid] = entry
        if not batch or not daemon.dsn:
            batch.clear()
            continue
        try:
            recorded = await record_door_refusals(daemon.dsn, list(batch.values()))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("door_refusals_not_recorded_yet", count=len(batch), error=repr(exc), hint="tried again shortly")
            continue
        if load is not None:
            load.refused[DOOR] += len(batch)
        daemon.agi.forget_away(list(batch))
        if daemon.metrics is not None:
            for record in recorded:  # the wallboard's counts and /metrics, as for any call
                daemon.metrics.on_record(record)
        log.info("door_refusals_recorded", count=len(batch))
        batch.clear()


async def _seed_period_counts(daemon: Daemon) -> None:
    """The wallboard's period counts, from the calls PostgreSQL holds of the period's part
    before this process started; live calls are counted meanwhile, apart."""
    if daemon.metrics is None or not daemon.metrics.period.seed_needed:
        return
    period = daemon.metrics.period
    await daemon.writer.wait_spool_replayed()
    start = period.start
    try:
        calls = await load_period_calls(daemon.dsn, start, period.cutoff, log=log)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.error("period_counts_not_read", error=repr(exc), hint="the wallboard counts only calls since start-up")
        return
    if period.seed(start, calls):
        log.info("period_counts_read", label=period.label, calls=len(calls))


# Closed days' report summaries are brought up to date this often, a few days a pass
# (one day of 50,000 calls takes about half a second of PostgreSQL's time).
SUMMARY_EVERY_S = 3600.0
SUMMARY_DAYS_PER_PASS = 7
# How often the AMI link is looked at for a new connection, and the pause after an
# attempt to record the away callers failed (PostgreSQL or Asterisk not ready yet).
AWAY_AFTER_RECONNECT_POLL_S = 1.0
# The door's refused callers are recorded in a batch (one transaction) this often, at most
# this many at once; at most DOOR_QUEUE_MAX wait (past it, their lines wait for the next
# start).
DOOR_RECORD_S = 0.5
DOOR_BATCH_MAX = 2000
DOOR_QUEUE_MAX = 20000
AWAY_AFTER_RECONNECT_RETRY_S = 10.0


async def _keep_report_summary(daemon: Daemon) -> None:
    """Summarise the days that closed since the last pass (docs/reports.md, "The per-day
    summary"), so that the first report over a month finds them ready. A failure is
    logged and tried again at the next pass; the reports are right either way."""
    await daemon.writer.wait_spool_replayed()
    while True:
        try:
            conn = await asyncpg.connect(daemon.dsn, timeout=10, server_settings=REPORT_SESSION)
            try:
                done = await summarise_closed_days(conn, now=datetime.now(UTC), limit=SUMMARY_DAYS_PER_PASS)
            finally:
                await conn.close()
            if done:
                log.info("report_days_summarised", days=[d.isoformat() for d in done])
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("report_days_not_summarised", error=repr(exc), retry_in_s=SUMMARY_EVERY_S)
        await asyncio.sleep(SUMMARY_EVERY_S)


async def _purge_recordings(daemon: Daemon) -> None:
    """Delete recordings (and, when configured, call records) past their retention, every
    recordings.purge_every_s. A failure is logged and tried again at the next pass."""
    await daemon.writer.wait_spool_replayed()
    while True:
        settings = daemon.config.recordings
        try:
            conn = await asyncpg.connect(daemon.dsn, timeout=10)
            try:
                report = await recordings_store.purge(
                    conn,
                    directory=settings.directory,
                    retention_days={name: q.recording.retention_days for name, q in daemon.config.queues.items()},
                    call_retention_days=settings.call_retention_days,
                    now=datetime.now(UTC),
                )
            finally:
                await conn.close()
            if report.recordings or report.calls:
                log.info("recordings_purged", **report.as_json())
            if report.files_failed:
                log.error("recording_files_left", files=report.files_failed)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("recordings_not_purged", error=repr(exc), retry_in_s=settings.purge_every_s)
        await asyncio.sleep(settings.purge_every_s)


async def _restore_campaigns(daemon: Daemon) -> None:
    """Campaigns' run states and the pacer's rolling windows as an earlier process left
    them; PostgreSQL being down delays this (campaigns stay stopped meanwhile)."""
    campaigns = list(daemon.engine.acd.campaign_names())
    if not campaigns or not daemon.dsn:
        return
    for _attempt in range(30):
        try:
            await daemon.writer.wait_spool_replayed()
            states = await outbound_store.campaign_states(daemon.dsn)
            since = time.time() - 30 * 86_400.0
            answers: dict[str, tuple[float, ...]] = {}
            abandons: dict[str, tuple[float, ...]] = {}
            for name in campaigns:
                live, lost = await outbound_store.abandon_history(daemon.dsn, name, since)
                answers[name], abandons[name] = tuple(live), tuple(lost)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("campaigns_not_restored_yet", error=str(exc), hint="retrying; campaigns stay stopped meanwhile")
            await asyncio.sleep(10)
            continue
        daemon.engine.post(ev.CampaignsRestored(states=states, answers=answers, abandons=abandons))
        log.info("campaigns_restored", states={n: states.get(n, "stopped") for n in campaigns})
        return


async def serve(daemon: Daemon, *, stop: asyncio.Event | None = None) -> None:
    """Run the daemon until ``stop`` is set (or SIGTERM/SIGINT)."""
    began = time.time()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[Any]] = set()

    def on_sighup() -> None:  # the result is logged by the reloader
        task = loop.create_task(daemon.reloader.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
    cfg = daemon.config
    # Descriptors: as many as the system allows, shared out so that HTTP clients can
    # never take the ones Asterisk's FastAGI sessions need (ccqueue.listen).
    soft_before, open_files = raise_open_files_limit()
    shares = budget(open_files)
    daemon.http_connections.limit = shares.http
    log.info("open_files_limit", limit=open_files, raised_from=soft_before, http_connections=shares.http, agi_sessions=shares.agi)
    # Asterisk opens a FastAGI connection per call (and per agent leg's claim): a burst
    # of arrivals while the loop is busy waits in the kernel's queue rather than being
    # dropped (a dropped connect is retried by Asterisk only after a second, and given
    # up after two). The kernel caps it at net.core.somaxconn.
    agi_sock = listening_socket(cfg.asterisk.agi.host, cfg.asterisk.agi.port, backlog=AGI_BACKLOG)
    try:
        http_sock = listening_socket(cfg.http.host, cfg.http.port)
    except OSError:
        agi_sock.close()
        raise
    runner = web.AppRunner(daemon.web_app, access_log=None, keepalive_timeout=IDLE_TIMEOUT_S)
    await runner.setup()
    assert runner.server is not None
    log.info(
        "ccqueue_started",
        agi=f"{cfg.asterisk.agi.host}:{cfg.asterisk.agi.port}",
        http=f"http://{cfg.http.host}:{cfg.http.port}/",
        ami=f"{cfg.asterisk.ami.host}:{cfg.asterisk.ami.port}",
    )
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(daemon.writer.run(), name="record-writer")
            restore = tasks.create_task(_restore_callbacks(daemon, began), name="restore-callbacks")
            seed = tasks.create_task(_seed_period_counts(daemon), name="seed-period-counts")
            summary = tasks.create_task(_keep_report_summary(daemon), name="report-summary")
            restore_campaigns = tasks.create_task(_restore_campaigns(daemon), name="restore-campaigns")
            purge = tasks.create_task(_purge_recordings(daemon), name="purge-recordings")
            away = tasks.create_task(_away_after_reconnects(daemon), name="away-after-reconnects")
            door_refused: asyncio.Queue[AwayEntry] = asyncio.Queue(maxsize=DOOR_QUEUE_MAX)
            daemon.telephony.on_door_refused = lambda entry: _door_refused(daemon, door_refused, entry)
            door = tasks.create_task(_door_refusals(daemon, door_refused), name="door-refusals")
            http = tasks.create_task(daemon.http_connections.serve(http_sock, runner.server), name="http")
            others = [
                *([tasks.create_task(daemon.workspace.run(), name="workspace")] if daemon.workspace is not None else []),
                tasks.create_task(daemon.engine.run(), name="engine"),
                *([tasks.create_task(daemon.load.run(), name="load-watch")] if daemon.load is not None else []),
                tasks.create_task(daemon.telephony.run(), name="ami"),
                tasks.create_task(daemon.agi.serve(agi_sock, max_sessions=shares.agi), name="fastagi"),
            ]
            await stop.wait()
            log.info("ccqueue_stopping")
            try:  # waiting callers stay in the dialplan's hold loop for the next process
                daemon.agi.stopping()
                await daemon.engine.shut_down(timeout=5)
            except TimeoutError:
                log.warning("shutdown_incomplete", hint="some callers or records may not have been settled")
            for task in [*others, restore, seed, summary, restore_campaigns, purge, away, door]:
                task.cancel()
            # Last: everything the engine decided is written (or spooled) before exit.
            await daemon.writer.close(timeout=10)
            if daemon.workspace_store is not None:
                with contextlib.suppress(Exception):  # a pool that never connected, or a lost link
                    await daemon.workspace_store.close()
            http.cancel()
    finally:
        agi_sock.close()
        http_sock.close()
        await runner.cleanup()
        log.info("ccqueue_stopped")
