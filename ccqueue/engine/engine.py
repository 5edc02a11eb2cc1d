"""The engine: one task owns all mutable state.

Adapters (AMI, FastAGI, HTTP) only put events on the inbox — ``post`` for facts,
``ask`` when they need the core's reply back (an agent leg's claim, an API request). The
engine's loop takes one event at a time, asks the core, and hands each command to the
adapter that carries it out. Between events it sleeps until the core's next deadline,
so timers are exact and nothing polls.

Commands that must wait on Asterisk (an Originate that rings for seconds) run as tasks
of the engine's own TaskGroup and report back through the inbox; none is
fire-and-forget.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd
from ccqueue.core.campaigns import Contact
from ccqueue.core.errors import CcqueueError
from ccqueue.core.records import Record
from ccqueue.core.replies import CallbackBooked, ClaimAnswer, Reply
from ccqueue.engine.inbox import Envelope, Inbox

log = structlog.get_logger("ccqueue.engine")


class Telephony(Protocol):
    """What the engine needs from Asterisk (the AMI adapter provides it)."""

    async def originate_agent(self, command: cmd.OriginateAgent) -> ev.RingFailure | None: ...
    async def originate_contact(self, command: cmd.DialContact) -> tuple[ev.DialFailure | None, str]: ...
    async def hangup(self, uniqueid: str) -> None: ...
    async def redirect(self, channel: str, *, context: str, exten: str, priority: str) -> None: ...
    async def control_recording(self, command: cmd.ControlRecording, path: str) -> None: ...


class Callers(Protocol):
    def deliver(self, command: cmd.Command) -> None: ...


class ContactSource(Protocol):
    """Where campaigns' contacts come from (the store)."""

    async def due(self, campaign: str, now: float, limit: int) -> list[Contact]: ...


class RecordSink(Protocol):
    def submit(self, record: Record) -> None: ...


class Engine:
    def __init__(
        self,
        acd: Acd,
        *,
        telephony: Telephony,
        callers: Callers,
        records: RecordSink,
        inbox: Inbox | None = None,
        on_record: Callable[[Record], None] | None = None,
        clock: Callable[[], float] = time.time,
        contacts: ContactSource | None = None,
        recording_path: Callable[[str], str] = lambda file: file,
    ) -> None:
        self._contacts = contacts
        self._recording_path = recording_path  # a recording's file as Asterisk opens it
        self.acd = acd
        self.inbox = inbox or Inbox()
        self._telephony = telephony
        self._callers = callers
        self._records = records
        self._on_record = on_record
        self._clock = clock
        self._tasks: asyncio.TaskGroup | None = None
        self.events_handled = 0
        self._pending: set[asyncio.Task[None]] = set()  # commands still talking to Asterisk
        # While stopping, commands sent to Asterisk (and those that failed) are counted
        # here and logged once, not once per call: hundreds of callers may be waiting.
        self._stop_sent: collections.Counter[str] | None = None
        self._stop_failures: collections.Counter[str] | None = None

    @property
    def pending_commands(self) -> int:
        """Commands still waiting on Asterisk (Originates not yet answered, ...)."""
        return len(self._pending)

    # --- for adapters ------------------------------------------------------------

    def post(self, event: ev.Event) -> None:
        self.inbox.post(event)

    async def ask(self, event: ev.Event) -> Reply | None:
        return await self.inbox.ask(event)

    # --- the loop ----------------------------------------------------------------

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            try:
                await self._loop()
            finally:
                self._tasks = None

    async def _loop(self) -> None:
        while True:
            deadline = self.acd.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self._clock())
            try:
                async with asyncio.timeout(timeout):  # not wait_for: it can swallow a cancel
                    envelope = await self.inbox.get()
            except TimeoutError:
                self._execute(self.acd.tick(self._clock()))
                continue
            self._handle(envelope)

    def _handle(self, envelope: Envelope) -> None:
        self.events_handled += 1
        try:
            handled = self.acd.handle_with_reply(envelope.event, self._clock())
        except CcqueueError as exc:
            if envelope.reply is not None and not envelope.reply.done():
                envelope.reply.set_exception(exc)
            else:
                log.warning("event_refused", event_type=type(envelope.event).__name__, error_id=exc.error_id, error=str(exc))
            return
        self._execute(handled.commands)
        match handled.reply:
            case ClaimAnswer() as answer:
                log.info(
                    "claim_answered", offer_id=answer.offer_id, granted=answer.caller_uniqueid is not None, reason=answer.reason
                )
            case CallbackBooked(callback=callback, duplicate=duplicate):
                log.info("callback_queued", callback_id=callback.callback_id, queue=callback.queue, duplicate=duplicate)
        if envelope.reply is not None and not envelope.reply.done():
            envelope.reply.set_result(handled.reply)

    def _execute(self, commands: list[cmd.Command]) -> None:
        for command in commands:
            match command:
                case cmd.Write(record=record):
                    self._records.submit(record)
                    if self._on_record is not None:
                        self._on_record(record)
                case _ if isinstance(command, cmd.CALLER_COMMANDS):
                    self._callers.deliver(command)
                case cmd.OriginateAgent():
                    log.info("agent_offered", call_id=command.call_id, agent=command.agent_id, offer_id=command.offer_id)
                    self._spawn(self._originate(command))
                case cmd.RedirectCaller():
                    if self._stop_sent is not None:
                        self._stop_sent["callers_redirected"] += 1
                    else:
                        log.info(
                            "caller_redirected",
                            call_id=command.call_id,
                            to=f"{command.context},{command.exten},{command.priority}",
                        )
                    self._spawn(self._redirect(command))
                case cmd.HangupChannel():
                    if self._stop_sent is not None:
                        self._stop_sent["channels_hung_up"] += 1
                    else:
                        log.info("channel_hangup_requested", uniqueid=command.uniqueid, reason=command.reason)
                    self._spawn(self._hangup(command.uniqueid))
                case cmd.DialContact():
                    log.info("contact_dialled", attempt_id=command.attempt_id, campaign=command.campaign)
                    self._spawn(self._dial_contact(command))
                case cmd.FetchContacts():
                    self._spawn(self._fetch_contacts(command))
                case cmd.ControlRecording():
                    log.info("recording_control", recording_id=command.recording_id, action=command.action)
                    self._spawn(self._control_recording(command))
                case cmd.NotifyAgentPaused():
                    log.warning("agent_auto_paused", agent=command.agent_id, reason=command.reason)

    def _spawn(self, coro: Any) -> None:
        if self._tasks is None:  # not running (unit tests drive _handle directly)
            coro.close()
            return
        task = self._tasks.create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _originate(self, command: cmd.OriginateAgent) -> None:
        try:
            failure = await self._telephony.originate_agent(command)
        except Exception as exc:  # the link dropped: reconciliation or the core's deadline settles it
            log.warning("originate_unsettled", offer_id=command.offer_id, error=str(exc))
            return
        if failure is not None:
            self.post(ev.OfferFailed(offer_id=command.offer_id, failure=failure))

    async def _control_recording(self, command: cmd.ControlRecording) -> None:
        try:
            await self._telephony.control_recording(command, self._recording_path(command.file))
        except Exception as exc:  # the call's timeline says what was asked; the log says it failed
            log.warning("recording_control_failed", recording_id=command.recording_id, action=command.action, error=str(exc))

    async def _dial_contact(self, command: cmd.DialContact) -> None:
        try:
            failure, said = await self._telephony.originate_contact(command)
        except Exception as exc:  # the link dropped: the core's backstop settles the attempt
            log.warning("dial_unsettled", attempt_id=command.attempt_id, error=str(exc))
            return
        if failure is not None:
            self.post(ev.ContactDialEnded(attempt_id=command.attempt_id, failure=failure, cause=said))

    async def _fetch_contacts(self, command: cmd.FetchContacts) -> None:
        if self._contacts is None:
            self.post(ev.ContactsSupplied(campaign=command.campaign, contacts=(), failed=True))
            return
        try:
            contacts = await self._contacts.due(command.campaign, self._clock(), command.limit)
        except Exception as exc:  # PostgreSQL away: asked again later
            log.warning("contacts_not_fetched", campaign=command.campaign, error=str(exc))
            self.post(ev.ContactsSupplied(campaign=command.campaign, contacts=(), failed=True))
            return
        self.post(ev.ContactsSupplied(campaign=command.campaign, contacts=tuple(contacts)))

    async def _redirect(self, command: cmd.RedirectCaller) -> None:
        try:
            await self._telephony.redirect(
                command.channel, context=command.context, exten=command.exten, priority=command.priority
            )
        except Exception as exc:
            if self._stop_failures is not None:
                self._stop_failures[f"redirect: {exc}"] += 1
                return
            log.warning("redirect_failed", call_id=command.call_id, error=str(exc))

    async def shut_down(self, timeout: float = 5.0) -> None:
        """Let the core close every call and agent state, and wait for what it asked of Asterisk.

        Hundreds of callers may be waiting: what was sent, and what failed, is logged as
        one summary each.
        """
        self._stop_sent = sent = collections.Counter()
        self._stop_failures = failures = collections.Counter()
        try:
            async with asyncio.timeout(timeout):
                await self.ask(ev.ShutdownRequested())
                while self._pending:
                    await asyncio.sleep(0.02)
        finally:
            self._stop_sent = self._stop_failures = None
            log.info(
                "shutdown_commands_sent", callers_redirected=sent["callers_redirected"], channels_hung_up=sent["channels_hung_up"]
            )
            if failures:
                log.warning(
                    "shutdown_commands_failed",
                    count=sum(failures.values()),
                    errors=dict(failures.most_common(5)),
                    hint="those callers are held by the dialplan once their FastAGI sessions close",
                )

    async def _hangup(self, uniqueid: str) -> None:
        try:
            await self._telephony.hangup(uniqueid)
        except Exception as exc:
            if self._stop_failures is not None:
                self._stop_failures[f"hangup: {exc}"] += 1
                return
            log.warning("hangup_failed", uniqueid=uniqueid, error=str(exc))
