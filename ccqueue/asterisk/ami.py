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

After the login the link is ``starting`` until the start-up actions (``on_ready``) have
their answers; only then is it ``ready``. Asterisk accepts logins about 0.35 s after it
starts, before every action is registered: in that window ``DeviceStateList`` answers
``Invalid/unknown command``. Asterisk's ``FullyBooted`` event would say when the boot is
over, but it only reaches users with the ``system`` read right, which ccqueue's user does
not have on purpose. So a start-up list that is refused is asked again every
``STARTUP_RETRY_S`` until ``STARTUP_DEADLINE_S`` (``ami_asterisk_booting`` is logged once
per link).

Nothing that goes wrong in one connection ends ``run``: a refused start-up, an action left
unanswered, a surprise in the protocol are logged once (``ami_session_failed`` with an
``error_id``), the link is dropped and made again with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from panoramisk import actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from ccqueue.core.errors import AsteriskMisbehaved, InternalError

log = structlog.get_logger("ccqueue.ami")
_wire_log = logging.getLogger("ccqueue.ami.wire")

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
# Start-up lists refused while Asterisk boots are asked again this often. On Asterisk 22
# the window between the first accepted login and the last registered action is about
# 0.1-0.2 s; a full boot with autoload takes about 5 s, so the deadline leaves room for a
# slow machine and still reports an Asterisk that never offers the action.
STARTUP_RETRY_S = 0.2
STARTUP_DEADLINE_S = 30.0
STARTUP_ACTION_TIMEOUT_S = 10.0
# Responses that refuse an action (panoramisk's ``Message.success`` is the opposite set).
_REFUSALS = frozenset({"error", "fail", "failure"})
# An AMI action is "Key: value" lines ended by a blank line: a line break in a value
# would end the field and start another (a Variable of the sender's choosing, or a whole
# second action), and Asterisk reads a NUL as the end of the value. No field may hold one.
_FIELD_BREAK = re.compile(r"[\r\n\x00]")


class AmiUnavailable(AsteriskMisbehaved):
    """The action could not be sent or its answer was lost with the link."""

    error_id = "ami-unavailable"


class AmiStartupRefused(AmiUnavailable):
    """Asterisk kept refusing a start-up list (still booting, or the action is missing)."""

    error_id = "ami-startup-refused"


class AmiFieldRefused(InternalError):
    """An action's field holds a line break or NUL; it is not sent. What ccqueue puts in
    a field is cleaned first (caller ids, ``ccqueue.asterisk.telephony``), so this is a
    value that escaped the cleaning: a bug of ours, refused rather than sent."""

    error_id = "ami-field-refused"


def check_fields(fields: Mapping[str, Any]) -> None:
    """Refuse an action a field of which would split the action on the wire."""
    for key, value in fields.items():
        for item in value if isinstance(value, list | tuple) else (value,):
            if _FIELD_BREAK.search(str(key)) or _FIELD_BREAK.search(str(item)):
                raise AmiFieldRefused(f"the {key!r} field of {fields.get('Action')!r} holds a line break or NUL", field=key)


class _Action(actions.Action):
    """panoramisk's action, except that a list action refused outright is answered.

    For an action sent ``as_list`` panoramisk 1.4 waits for the list's items even when the
    only answer is ``Response: Error``, so the caller would wait for its whole timeout.
    """

    @property
    def multi(self) -> bool:
        if self.as_list and (self.responses[0].get("Response") or "").lower() in _REFUSALS:
            return False
        return bool(super().multi)


class AmiMessageGarbled(AsteriskMisbehaved):
    """A message from Asterisk that panoramisk cannot take apart (a field it reads given
    twice, say); it is dropped, the link stays."""

    error_id = "ami-message-garbled"


class _Protocol(AMIProtocol):
    """panoramisk's protocol, except that:

    - a message it cannot handle is dropped with a log line: raised from
      ``data_received``, it would close the link and lose every action in flight, and the
      other messages of the same read;
    - an event the client does not read (``AmiClient.events_read``) is skipped unparsed,
      unless it answers an action (it has an ActionID): most of a call's events are of no
      use to ccqueue, and taking each apart into a message costs more than all the rest.
    """

    def data_received(self, data: bytes) -> None:
        wanted = getattr(self.factory, "events_read", None)
        if wanted is None:
            super().data_received(data)
            return
        text = data.decode(getattr(self, "encoding", "ascii"), "ignore")
        if self.queue:
            text = self.queue.popleft() + text
        chunks = text.split("\r\n\r\n")
        self.queue.append(chunks.pop())
        for chunk in chunks:
            chunk = chunk.strip()
            if chunk.startswith("Asterisk Call Manager/"):  # the banner, ahead of the first message
                banner, _, chunk = chunk.partition("\r\n")
                self.version = banner.partition("/")[2].strip()
            if chunk.startswith("Event: ") and "ActionID: " not in chunk:
                end = chunk.find("\r\n")
                if chunk[7 : end if end >= 0 else len(chunk)].strip().lower() not in wanted:
                    continue
            message = Message.from_line(chunk)
            if message is not None:
                self.handle_message(message)

    def handle_message(self, message: Message) -> None:
        try:
            super().handle_message(message)
        except Exception as exc:
            log.warning("ami_message_dropped", error_id=AmiMessageGarbled.error_id, error=repr(exc)[:200])


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
        events_read: frozenset[str] | None = None,
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
        # The events (lower-case names) handed to ``on_event``; None: every one. Asterisk's
        # Shutdown is always read (it ends the link).
        self.events_read = None if events_read is None else frozenset(events_read) | {"shutdown"}
        self._protocol: AMIProtocol | None = None
        self._lost: asyncio.Event = asyncio.Event()
        self._pending: set[asyncio.Future[Any]] = set()
        self.ready = asyncio.Event()  # logged in, start-up actions answered: usable
        self.state = "connecting"  # connecting | starting | ready | auth_failed | down
        self.connects = 0
        self._booting_logged = False  # ami_asterisk_booting is logged once per link

    # --- the factory side of panoramisk's protocol ---------------------------------
    forgetable_actions = _Everything()

    @property
    def awaiting_actions(self) -> list[Any]:
        return []  # appended to by AMIProtocol.close and dropped: nothing is re-sent

    def dispatch(self, message: Message) -> None:
        try:
            self._on_event(message)
        except Exception:
            log.exception("ami_event_handler_failed", ami_event=message.get("Event"), error_id="internal")

    def connection_lost(self, _exc: object) -> None:
        self._lost.set()
        # Whoever waits for an answer learns now, not at its own deadline.
        self._fail_pending()

    # --- public ---------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, log in, keep alive; reconnect with backoff forever (until cancelled)."""
        backoff = BACKOFF_FIRST_S
        while True:
            connects = self.connects
            try:
                ok = await self._session()
                backoff = BACKOFF_FIRST_S if ok else BACKOFF_MAX_S
            except OSError as exc:
                if self.connects != connects:  # logged in, then the socket failed
                    log.warning(
                        "ami_session_failed", host=self.host, port=self.port, error_id="ami-session-failed", error=repr(exc)
                    )
                elif self.state != "down":
                    log.warning("ami_unreachable", host=self.host, port=self.port, error=str(exc))
                self.state = "down"
            except AmiUnavailable as exc:
                self.state = "down"
                log.warning("ami_session_failed", host=self.host, port=self.port, error_id=exc.error_id, error=str(exc))
            except Exception as exc:
                self.state = "down"
                log.error(
                    "ami_session_failed",
                    host=self.host,
                    port=self.port,
                    error_id="ami-session-failed",
                    error=repr(exc),
                    exc_info=True,
                )
            log.debug("ami_reconnect_scheduled", in_s=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def send(self, action: Mapping[str, Any], *, timeout: float) -> Any:
        """Send one action; its response (a list for multi-part answers)."""
        protocol = self._protocol
        if protocol is None or not self.ready.is_set():
            raise AmiUnavailable("AMI is not connected")
        return await self._send(protocol, action, timeout=timeout)

    async def startup_list(self, action: str, *, complete: str) -> list[Message]:
        """For ``on_ready``: the items of a list action, once Asterisk gives the whole list.

        A refusal (Asterisk still booting) is asked again until ``STARTUP_DEADLINE_S``;
        then ``AmiStartupRefused``. The answer always starts with Asterisk's acceptance
        and ends with the ``complete`` event, so an empty list is a real one.
        """
        protocol = self._protocol
        if protocol is None or self.state != "starting":
            raise AmiUnavailable("AMI is not starting up")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP_DEADLINE_S
        while True:
            answer = await self._send(protocol, {"Action": action, "_as_list": True}, timeout=STARTUP_ACTION_TIMEOUT_S)
            messages: list[Message] = answer if isinstance(answer, list) else [answer]
            if _is_whole_list(messages, complete):
                return messages
            says = messages[0].get("Message", "") if messages else ""
            if not self._booting_logged:
                self._booting_logged = True
                log.info("ami_asterisk_booting", action=action, asterisk_says=says, retry_s=STARTUP_RETRY_S)
            if loop.time() + STARTUP_RETRY_S > deadline:
                raise AmiStartupRefused(f"{action} refused for {STARTUP_DEADLINE_S:g} s; Asterisk says: {says!r}")
            await asyncio.sleep(STARTUP_RETRY_S)

    # --- internals ------------------------------------------------------------------

    async def _send(self, protocol: AMIProtocol, action: Mapping[str, Any], *, timeout: float) -> Any:
        as_list = bool(action.get("_as_list"))
        fields = {k: v for k, v in action.items() if not k.startswith("_")}
        check_fields(fields)
        future = protocol.send(_Action(fields, as_list=as_list or None), as_list=as_list or None)
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
            _transport, protocol = await loop.create_connection(_Protocol, self.host, self.port)
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
            self.state = "starting"
            self._booting_logged = False
            log.info("ami_connected", host=self.host, port=self.port, connects=self.connects)
            if self._on_ready is not None:
                await self._on_ready()
            # Usable only now: the start-up actions told what Asterisk has.
            self.state = "ready"
            self.ready.set()
            log.info("ami_ready", host=self.host, port=self.port)
            await self._keepalive(protocol)
            return True
        finally:
            self.ready.clear()
            if self.state == "ready":
                log.warning("ami_link_lost", host=self.host, port=self.port)
            if self.state in ("starting", "ready"):
                self.state = "down"
            self._protocol = None
            self._fail_pending()
            with contextlib.suppress(Exception):
                protocol.close()

    def _fail_pending(self) -> None:
        for future in self._pending:
            if not future.done():
                future.set_exception(AmiUnavailable("AMI link lost"))

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


def _is_whole_list(messages: list[Message], complete: str) -> bool:
    """Whether a list action's answer is Asterisk's acceptance, the items, then ``complete``."""
    return (
        len(messages) >= 2
        and (messages[0].get("Response") or "").lower() == "success"
        and (messages[-1].get("Event") or "").lower() == complete.lower()
    )
