"""One member of an active/standby pair (docs/standby.md): ``ccqueue run`` with a
``standby`` section.

Rules kept here:

1. PostgreSQL decides (``ccqueue.store.lease``): this process serves only while its
   dedicated connection holds the pair's advisory lock and the epoch it raised is the
   database's. Both members run this same loop; whoever takes the lock first is active.
2. A standby holds nothing: no FastAGI listener (Asterisk's connection is refused and the
   dialplan tries the next address), no AMI link, no record writer. Its HTTP port
   answers ``/healthz`` (200, ``role: standby``, ``active: false``) and ``/metrics``
   (``ccqueue_active`` 0) when ``http.open`` lists them; every other path 503 ``standby``.
3. Becoming active is a restart without the process: a fresh daemon is built
   (``ccqueue.app.build``) with the new epoch and runs the same recovery as a start-up
   (``ccqueue.recovery``: Asterisk's live channels and PostgreSQL), so the callers held
   in the dialplan and the conversations in progress are taken back.
4. Losing the lease (the lock connection closed or silent, or the writer fenced by a
   newer epoch) stops the daemon at once: FastAGI sessions, the AMI link and the writer
   are cancelled before anything else, with no goodbye that could act (no hang-ups, no
   records). The process is then a standby again, and only a new activation, through a
   full rebuild, lets it serve.
5. Records an activation could not write wait in the spool folder of its epoch
   (``<spool>/epoch-N``); only the next activation of this same process, with epoch
   N+1, replays them (``ccqueue.core.lease.inherited_spool``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ccqueue.app import Daemon, build, serve
from ccqueue.config import Config
from ccqueue.core.lease import Fenced, LeaseChange, RoleState, inherited_spool
from ccqueue.listen import listening_socket
from ccqueue.metrics import RoleCollector
from ccqueue.store.lease import Lease

__all__ = ["Pair", "own_agi_url", "prepare_spool"]

log = structlog.get_logger("ccqueue.standby")

_EPOCH_FOLDER = re.compile(r"^epoch-(\d+)$")
_SEGMENT = re.compile(r"^segment-\d{12}\.jsonl$")
# A standby that cannot reach PostgreSQL tries again this often (it cannot take the
# lock meanwhile, and neither can anyone cut off like it).
RECONNECT_S = 1.0
# Polls a member that stepped down lets pass before trying the lock again (rule 4).
STEP_DOWN_HOLDOFF_POLLS = 3


def own_agi_url(config: Config) -> str | None:
    """This process's FastAGI address as the dialplan knows it (``asterisk.agi.addresses``),
    for the agent legs it places; None when the list does not name it."""
    agi = config.asterisk.agi
    for address in agi.addresses:
        host, _, port = address.rpartition(":")
        if int(port) == agi.port and (host == agi.host or agi.host in ("0.0.0.0", "::")):
            return f"agi://{address}"
    return None


def prepare_spool(spool: Path, epoch: int) -> Path:
    """The spool folder of ``epoch`` (rule 5): the previous epoch's segments moved in when
    that epoch was this process's own, every other leftover only reported."""
    spool.mkdir(parents=True, exist_ok=True)
    folders = {int(m[1]): p for p in spool.iterdir() if p.is_dir() and (m := _EPOCH_FOLDER.match(p.name))}
    target = spool / f"epoch-{epoch}"
    target.mkdir(exist_ok=True)
    inherited = inherited_spool(folders, epoch)
    if inherited is not None:
        moved = 0
        for index, segment in enumerate(sorted(p for p in folders[inherited].iterdir() if _SEGMENT.match(p.name))):
            # Numbered ahead of anything the new writer starts, in their order.
            os.replace(segment, target / f"segment-{index + 1:012d}.jsonl")
            moved += 1
        if moved:
            log.info("spool_inherited", from_epoch=inherited, epoch=epoch, segments=moved)
    for old, folder in folders.items():
        if old in (epoch, inherited):
            continue
        left = [p for p in folder.iterdir() if _SEGMENT.match(p.name)]
        if left:
            log.warning(
                "fenced_spool_kept",
                folder=str(folder),
                segments=len(left),
                hint="records of an earlier epoch another process superseded; never replayed (docs/standby.md)",
            )
    return target


class Pair:
    """The standby/active loop of one process (rules 1-4)."""

    def __init__(
        self,
        config: Config,
        *,
        dsn: str,
        spool_dir: Path,
        config_path: str,
        load: Callable[[], Config | None] | None = None,
    ) -> None:
        assert config.standby is not None, "a pair member needs the standby section"
        self.config = config
        self.dsn = dsn
        self.spool_dir = spool_dir
        self.config_path = config_path
        self._load = load
        self.role = RoleState()
        holder = f"{socket.gethostname()}:{os.getpid()}:http={config.http.port}:agi={config.asterisk.agi.port}"
        self.lease = Lease(dsn, holder=holder, on_closed=self._lock_closed)
        self.registry = CollectorRegistry()
        self.registry.register(RoleCollector(self.role))
        self.daemon: Daemon | None = None
        self._lost = asyncio.Event()

    # -- the loop ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        try:
            holdoff = 0.0
            while not stop.is_set():
                epoch = await self._wait_as_standby(stop, holdoff)
                if epoch is None:
                    break
                await self._serve_as_active(epoch, stop)
                # A member that just lost its lease leaves the first try to its peer,
                # whose connection was not the one cut (it polls every poll_s).
                holdoff = STEP_DOWN_HOLDOFF_POLLS * self.config.standby.poll_s if self.config.standby else 0.0
        finally:
            await self.lease.release()
            log.info("pair_member_stopped")

    async def _wait_as_standby(self, stop: asyncio.Event, holdoff: float = 0.0) -> int | None:
        """Rule 2: answer health and metrics, try the lock every ``poll_s`` (the first
        try after ``holdoff`` seconds)."""
        settings = self.config.standby
        assert settings is not None
        runner, sock = await self._standby_http()
        log.info("standby_waiting", http=f"http://{self.config.http.host}:{self.config.http.port}/", poll_s=settings.poll_s)
        try:
            await _sleep_unless(stop, holdoff)
            while not stop.is_set():
                try:
                    epoch = await self.lease.try_take()
                except Exception as exc:  # PostgreSQL away: stay standby, try again
                    log.warning("lease_not_reachable", error=repr(exc), retry_in_s=RECONNECT_S)
                    await _sleep_unless(stop, RECONNECT_S)
                    continue
                if epoch is not None:
                    return epoch
                await _sleep_unless(stop, settings.poll_s)
            return None
        finally:
            await runner.cleanup()
            sock.close()

    async def _serve_as_active(self, epoch: int, stop: asyncio.Event) -> None:
        """Rules 3 and 4: a fresh daemon with this epoch, until stop or the lease is lost."""
        took_at = time.monotonic()
        self.role.apply(LeaseChange.TAKEN, epoch=epoch)
        self._lost.clear()
        config = self._reload() or self.config
        self.config = config
        spool = await asyncio.to_thread(prepare_spool, self.spool_dir, epoch)
        daemon = build(
            config,
            dsn=self.dsn,
            spool_dir=spool,
            config_path=self.config_path,
            role=self.role,
            on_fenced=self._fenced,
            agi_url=own_agi_url(config),
        )
        self.daemon = daemon
        log.warning("became_active", epoch=epoch, takeovers=self.role.takeovers)
        serving = asyncio.create_task(serve(daemon, stop=stop), name="active")
        watch = asyncio.create_task(self._watch_lease(), name="lease-watch")
        ready = asyncio.create_task(self._log_ready(daemon, took_at, epoch), name="active-ready")
        try:
            done, _ = await asyncio.wait({serving, watch}, return_when=asyncio.FIRST_COMPLETED)
            if serving in done:
                serving.result()  # a stop (or the daemon's own failure, raised)
                return
            # Rule 4: the lease is gone. Nothing of this daemon acts from here on.
            daemon.agi.stopping()  # its closing sessions leave their callers to the dialplan
            serving.cancel()
            try:
                await serving
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # whatever the cancelled daemon raised, it no longer serves
                log.error("step_down_unclean", error=repr(exc))
            log.error("stepped_down", epoch=epoch, hint="the lease was lost; waiting as the standby")
        finally:
            for task in (watch, ready):
                task.cancel()
            await asyncio.gather(watch, ready, return_exceptions=True)
            self.daemon = None
            if self.role.active:
                self.role.apply(LeaseChange.LOST)
            await self.lease.drop()

    async def _watch_lease(self) -> None:
        settings = self.config.standby
        assert settings is not None
        while not self._lost.is_set():
            await _sleep_unless(self._lost, settings.poll_s)
            if not self._lost.is_set() and not await self.lease.alive(settings.check_timeout_s):
                log.error("lease_lost", epoch=self.role.epoch, hint="the lock connection closed or stopped answering")
                return

    def _lock_closed(self) -> None:
        """Rule 4: the lock connection closed under an active: step down now, before the
        standby takes the lock (a standby's or a dropped connection changes nothing)."""
        if self.role.active and not self._lost.is_set():
            log.error("lease_lost", epoch=self.role.epoch, hint="the lock connection was closed")
            self._lost.set()

    def _fenced(self, exc: Fenced) -> None:
        log.error("fenced", epoch=exc.mine, active_epoch=exc.current)
        self._lost.set()

    async def _log_ready(self, daemon: Daemon, took_at: float, epoch: int) -> None:
        """How long the takeover took: from the lock taken to healthy and restored."""
        while daemon.health()["status"] != "ok":
            await asyncio.sleep(0.05)
        log.warning("active_serving", epoch=epoch, after_s=round(time.monotonic() - took_at, 3))

    def _reload(self) -> Config | None:
        if self._load is None:
            return None
        try:
            fresh = self._load()
        except Exception as exc:  # the configuration last loaded serves instead
            log.error("config_not_reloaded_for_takeover", error=repr(exc))
            return None
        if fresh is not None and fresh.standby is None:
            log.error("config_not_reloaded_for_takeover", error="the standby section is gone; a restart applies that")
            return None
        return fresh

    # -- the standby's HTTP ------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "role": "standby", "active": False, "epoch": None, "takeovers": self.role.takeovers}

    async def _standby_http(self) -> tuple[web.AppRunner, socket.socket]:
        opened = set(self.config.http.open)
        app = web.Application()

        async def healthz(_request: web.Request) -> web.Response:
            if "healthz" not in opened:
                return _standby_refusal()
            return web.json_response(self.health())

        async def metrics(_request: web.Request) -> web.Response:
            if "metrics" not in opened:
                return _standby_refusal()
            response = web.Response(body=generate_latest(self.registry))
            response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
            return response

        async def elsewhere(_request: web.Request) -> web.Response:
            return _standby_refusal()

        app.router.add_get("/healthz", healthz)
        app.router.add_get("/metrics", metrics)
        app.router.add_route("*", "/{tail:.*}", elsewhere)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        # The active's HTTP server binds the same port after this one closes; a restart
        # of the loop may find the port briefly held, so it is tried for a moment.
        for attempt in range(50):
            try:
                sock = listening_socket(self.config.http.host, self.config.http.port)
                break
            except OSError:
                if attempt == 49:
                    await runner.cleanup()
                    raise
                await asyncio.sleep(0.1)
        await web.SockSite(runner, sock).start()
        return runner, sock


def _standby_refusal() -> web.Response:
    return web.json_response(
        {"error": "standby", "message": "this ccqueue is the standby of its pair; the active one serves"}, status=503
    )


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
