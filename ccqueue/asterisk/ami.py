"""The AMI link: one connection to Asterisk's manager interface, kept alive.

We use panoramisk's protocol (framing, actions, response correlation) and supervise the
connection ourselves, because its ``Manager``:

- re-sends, after a reconnect, every action that had no response yet, so an
  ``Originate`` could ring an agent twice — here nothing is ever re-sent: a caller of
  ``send`` whose action was in flight gets ``AmiUnavailable`` and decides;
- pings without a deadline, so a silent link is noticed only when TCP gives up — here a
  ping unanswered within ``ping_timeout_s`` drops the link and reconnects;
- schedules event callbacks with ``ensure_future`` and keeps no reference — here events
  are handed synchronously to ``on_event`` (which only puts them on the engine's inbox).

Wrong credentials are reported once per attempt as ``ami_login_failed`` with Asterisk's
own message, and the retry waits the longest backoff: an administrator sees it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from panoramisk import actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

log = structlog.get_logger("ccqueue.ami")
_wire_log = logging.getLogger("ccqueue.ami.wire")

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0


class AmiUnavailable(Exception):
    """The action could not be sent or its answer was lost with the link."""


class _Everything:
    """A container holding every name: no pending action is ever queued for re-sending."""

    def __contains__(self, _item: object) -> bool:
        return True


class AmiClient:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        on_event: Callable[[Message], None],
        on_ready: Callable[[], Awaitable[None]] | None = None,
        ping_interval_s: float = 5.0,
        ping_timeout_s: float = 3.0,
        events: str = "call",
    ) -> None:
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self._on_event = on_event
        self._on_ready = on_ready
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        # Event classes Asterisk sends us. ccqueue reads only 'call' events (Hangup,
        # BridgeEnter, DeviceStateChange); 'dialplan' and 'agi' would be most of the
        # traffic (Newexten and VarSet for every priority of every call).
        self._events = events
        self._protocol: AMIProtocol | None = None
        self._lost: asyncio.Event = asyncio.Event()
        self._pending: set[asyncio.Future[Any]] = set()
        self.ready = asyncio.Event()  # logged in and usable
        self.state = "connecting"  # connecting | ready | auth_failed | down
        self.connects = 0

    # --- the factory side of panoramisk's protocol ---------------------------------
    forgetable_actions = _Everything()

    @property
    def awaiting_actions(self) -> list[Any]:
        return []  # appended to by AMIProtocol.close and dropped: nothing is re-sent

    def dispatch(self, message: Message) -> None:
        try:
            self._on_event(message)
        except Exception:
            log.exception("ami_event_handler_failed", ami_event=message.get("Event"))

    def connection_lost(self, _exc: object) -> None:
        self._lost.set()

    # --- public ---------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, log in, keep alive; reconnect with backoff forever (until cancelled)."""
        backoff = BACKOFF_FIRST_S
        while True:
            try:
                ok = await self._session()
                backoff = BACKOFF_FIRST_S if ok else BACKOFF_MAX_S
            except OSError as exc:
                if self.state != "down":
                    log.warning("ami_unreachable", host=self.host, port=self.port, error=str(exc))
                self.state = "down"
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def send(self, action: Mapping[str, Any], *, timeout: float) -> Any:
        """Send one action; its response (a list for multi-part answers)."""
        protocol = self._protocol
        if protocol is None or not self.ready.is_set():
            raise AmiUnavailable("AMI is not connected")
        return await self._send(protocol, action, timeout=timeout)

    # --- internals ------------------------------------------------------------------

    async def _send(self, protocol: AMIProtocol, action: Mapping[str, Any], *, timeout: float) -> Any:
        as_list = bool(action.get("_as_list"))
        fields = {k: v for k, v in action.items() if not k.startswith("_")}
        future = protocol.send(actions.Action(fields, as_list=as_list or None), as_list=as_list or None)
        self._pending.add(future)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that arrives as the result does, and the task would live on.
            async with asyncio.timeout(timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            raise AmiUnavailable(f"no answer to {fields.get('Action')} within {timeout} s") from None
        finally:
            self._pending.discard(future)

    async def _session(self) -> bool:
        """One connection's life. Returns False when the login was refused."""
        self._lost = asyncio.Event()
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(5):
            _transport, protocol = await loop.create_connection(AMIProtocol, self.host, self.port)
        protocol.factory = self
        protocol.encoding = "utf8"
        protocol.log = _wire_log  # panoramisk logs every message at debug: keep it quiet
        self._protocol = protocol
        try:
            response = await self._send(
                protocol,
                {"Action": "Login", "Username": self._username, "Secret": self._secret, "Events": self._events},
                timeout=5,
            )
            if not response.success:
                self.state = "auth_failed"
                log.error(
                    "ami_login_failed",
                    host=self.host,
                    port=self.port,
                    username=self._username,
                    asterisk_says=response.get("Message", ""),
                    hint="check asterisk.ami.username and secret against manager.conf",
                )
                return False
            self.connects += 1
            self.state = "ready"
            self.ready.set()
            log.info("ami_connected", host=self.host, port=self.port, connects=self.connects)
            if self._on_ready is not None:
                await self._on_ready()
            await self._keepalive(protocol)
            return True
        finally:
            self.ready.clear()
            if self.state == "ready":
                self.state = "down"
                log.warning("ami_link_lost", host=self.host, port=self.port)
            self._protocol = None
            for future in self._pending:
                if not future.done():
                    future.set_exception(AmiUnavailable("AMI link lost"))
            with contextlib.suppress(Exception):
                protocol.close()

    async def _keepalive(self, protocol: AMIProtocol) -> None:
        while True:
            try:
                async with asyncio.timeout(self.ping_interval_s):
                    await self._lost.wait()
                return
            except TimeoutError:
                pass
            try:
                await self._send(protocol, {"Action": "Ping"}, timeout=self.ping_timeout_s)
            except AmiUnavailable:
                log.warning("ami_ping_unanswered", timeout_s=self.ping_timeout_s)
                return
