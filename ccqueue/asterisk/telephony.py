"""Asterisk as the engine sees it: ring an agent, hang up a channel, report events.

Built on ``AmiClient``. Every Originate carries a ``ChannelId`` (the offer id), so the
agent leg's uniqueid is known before it exists: its events, its claim and a hang-up all
name it, and an Originate is never sent twice for one offer.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import structlog
from panoramisk.message import Message

from ccqueue.asterisk.ami import AmiClient, AmiUnavailable
from ccqueue.asterisk.live import (
    AWAY_FAMILY,
    STATUS_VARIABLES,
    AwayEntry,
    LiveChannel,
    away_entries,
    away_entry,
    live_channels,
)
from ccqueue.asterisk.outbound import auto_answer_variables, originate_action
from ccqueue.asterisk.session_check import KEY_VARIABLE, UNIQUEID, ChannelStatus, session_key
from ccqueue.asterisk.translate import (
    EVENTS_READ,
    IncompleteMessage,
    channel_status,
    device_states,
    dial_failure,
    live_uniqueids,
    ring_failure,
    ringing_uniqueid,
    translate_event,
)
from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.errors import AsteriskMisbehaved

log = structlog.get_logger("ccqueue.telephony")

# Time past the ring timeout to wait for the OriginateResponse before giving up on it.
ORIGINATE_SLACK_S = 10.0
# How long a new FastAGI session may wait for the AMI link (to confirm its channel) and
# for Asterisk's answer; past it the session is refused and the dialplan apologises.
STATUS_WAIT_S = 5.0
# A session without the FastAGI key has the key set again at most this often.
KEY_RESET_S = 5.0
# Originates followed for the time they take to start dialling (see take_event_lag).
DIALLING_KEPT = 4096
# The dialplan's door for load (``CCQ_DOOR`` in extensions.conf): how long a value set
# holds. ccqueue renews it every second while it refuses; a process that stops renewing
# it (stopped, stalled, crashed) opens the door within this long.
DOOR_VARIABLE = "CCQ_DOOR"
DOOR_HOLD_S = 3
DOOR_OPEN = "0^0"
DOOR_EVENT = "ccqueue-door"


# What an agent's phone shows comes from outside (a caller's number as its carrier sent
# it, a contact's name from an uploaded list): it goes into AMI's CallerID field as
# data. Asterisk parses that field as '"name" <number>', so the name loses the quote,
# backslash and angle brackets, and anything not printable (a line break would end the
# field: ccqueue.asterisk.ami refuses it). The number part is kept only when it is one.
CALLER_NAME_MAX = 80
_NOT_IN_NAME = frozenset('"\\<>')
_NUMBER = re.compile(r"\+?[0-9*#]{1,40}")


def caller_id_field(shown: str) -> str:
    """AMI's CallerID for the text an agent's phone shows: '"name" <number>'."""
    name = "".join(c if c.isprintable() and c not in _NOT_IN_NAME else " " for c in shown)
    name = " ".join(name.split())[:CALLER_NAME_MAX] or "ccqueue"
    number = shown if _NUMBER.fullmatch(shown) else ""
    return f'"{name}" <{number}>'


class AsteriskTelephony:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        agent_context: str,
        post: Callable[[ev.Event], None],
        agi_url: str | None = None,
    ) -> None:
        self.agent_context = agent_context
        # The FastAGI session key, set in Asterisk's globals at each login (session_check
        # rule 4); ``keyless`` sets it again, at most once per KEY_RESET_S.
        self.session_key = session_key(secret)
        self._key_set_at = -KEY_RESET_S
        self._key_task: asyncio.Task[None] | None = None
        self._event_lag_s = self._dial_lag_s = 0.0  # see take_event_lag
        # Agent legs originated and not yet dialling: when each Originate was sent.
        self._dialling: dict[str, float] = {}
        # A member of a pair names its own FastAGI address on the agent legs it places,
        # so the leg's claim reaches the process that made the offer, whichever the
        # dialplan's CCQ_AGI global names first (docs/standby.md).
        self.agi_url = agi_url
        self._post = post
        # Told the uniqueid of every channel that starts ringing (the agents' screen-pop);
        # not an engine event: the core decides nothing on it.
        self.on_ringing: Callable[[str], None] | None = None
        # Told the uniqueid of every channel that hangs up (the agent legs' lines in
        # Asterisk's database); not an engine event either.
        self.on_hangup: Callable[[str], None] | None = None
        # Told each new caller the dialplan's door refused for load (its line, which the
        # hang-up handler also left in Asterisk's database: see extensions.conf).
        self.on_door_refused: Callable[[AwayEntry], None] | None = None
        # Hang-ups kept for a restore while it reads (``watch_hangups``).
        self._hangup_watches: list[dict[str, ev.ChannelHungUp]] = []
        self.ami = AmiClient(
            host=host,
            port=port,
            username=username,
            secret=secret,
            on_event=self._on_event,
            on_ready=self._on_ready,
            # 'user': the dialplan's UserEvent of a caller the door refused (DOOR_EVENT).
            events="call,user",
            events_read=EVENTS_READ,
        )

    async def run(self) -> None:
        await self.ami.run()

    async def originate_agent(self, command: cmd.OriginateAgent) -> ev.RingFailure | None:
        action: dict[str, Any] = {
            "Action": "Originate",
            "Channel": command.endpoint,
            "Context": self.agent_context,
            "Exten": "s",
            "Priority": "1",
            "Timeout": str(int(command.ring_timeout_s * 1000)),
            "CallerID": caller_id_field(command.caller_id),
            "ChannelId": command.offer_id,
            "Variable": [
                f"CCQ_OFFER={command.offer_id}",
                f"CCQ_CALL={command.call_id}",
                *([f"CCQ_AGI={self.agi_url}"] if self.agi_url else []),
                *(["CCQ_AUTOANSWER=1", *auto_answer_variables()] if command.auto_answer else []),
            ],
            "Async": "true",
        }
        self._dialling[command.offer_id] = time.time()
        if len(self._dialling) > DIALLING_KEPT:  # legs whose dial start was never seen
            del self._dialling[next(iter(self._dialling))]
        try:
            response = await self.ami.send(action, timeout=command.ring_timeout_s + ORIGINATE_SLACK_S)
        finally:
            self._dialling.pop(command.offer_id, None)
        messages = response if isinstance(response, list) else [response]
        final = next((m for m in messages if (m.get("Event") or "").lower() == "originateresponse"), None)
        if final is None:
            # Refused outright (e.g. no such endpoint): only the action's Error response came.
            log.warning("originate_refused", offer_id=command.offer_id, asterisk_says=messages[0].get("Message", ""))
            return ev.RingFailure.UNREACHABLE
        return ring_failure(final)

    async def originate_contact(self, command: cmd.DialContact) -> tuple[ev.DialFailure | None, str]:
        """Dial a campaign's contact; (None, '') once answered (its FastAGI session
        follows), else why not and what Asterisk said.

        ``/n``: the Local channel is never optimised away, so the half that runs the
        ``ccqueue-outbound`` context keeps the attempt id as its uniqueid for the
        agent's Bridge() (``ccqueue.asterisk.outbound.originate_action``).
        """
        action = originate_action(
            attempt_id=command.attempt_id,
            number=command.number,
            campaign=command.campaign,
            caller_id=command.caller_id,
            ring_timeout_s=command.ring_timeout_s,
            amd=command.amd,
            on_machine=command.on_machine,
            machine_message=command.machine_message,
        )
        response = await self.ami.send(action, timeout=command.ring_timeout_s + ORIGINATE_SLACK_S)
        messages = response if isinstance(response, list) else [response]
        final = next((m for m in messages if (m.get("Event") or "").lower() == "originateresponse"), None)
        if final is None:
            says = messages[0].get("Message", "") if messages else ""
            log.warning("originate_refused", attempt_id=command.attempt_id, asterisk_says=says)
            return ev.DialFailure.FAILED, f"refused: {says}"
        return dial_failure(final), f"reason {final.get('Reason') or '?'}"

    async def channel_status(self, uniqueid: str) -> ChannelStatus | None:
        """What Asterisk reports of the live channel ``uniqueid`` (None: no such channel).

        Sent without panoramisk's list mode: a refusal ("No such channel") is then one
        error response that completes the action, instead of a list that never ends.
        """
        if not self.ami.ready.is_set():  # a session may open while the link comes back
            try:
                async with asyncio.timeout(STATUS_WAIT_S):
                    await self.ami.ready.wait()
            except TimeoutError:
                raise AmiUnavailable("AMI is not connected") from None
        answer = await self.ami.send({"Action": "Status", "Channel": uniqueid}, timeout=STATUS_WAIT_S)
        return channel_status(answer if isinstance(answer, list) else [answer], uniqueid)

    async def live_channels(self, *, timeout: float = 5.0) -> list[LiveChannel]:
        """Every live channel with the variables ccqueue keeps on its calls (one Status)."""
        answer = await self.ami.send(
            {"Action": "Status", "Variables": ",".join(STATUS_VARIABLES), "_as_list": True}, timeout=timeout
        )
        messages = answer if isinstance(answer, list) else [answer]
        if not any((m.get("Event") or "").lower() == "statuscomplete" for m in messages):
            raise AmiUnavailable(f"Status gave no whole list: {messages[0].get('Message', '') if messages else ''}")
        return live_channels(messages)

    async def away_entries(self, *, timeout: float = 5.0) -> list[AwayEntry]:
        """What the dialplan left for callers that hung up while ccqueue was away."""
        answer = await self.ami.send({"Action": "DBGetTree", "Family": AWAY_FAMILY, "_as_list": True}, timeout=timeout)
        messages = answer if isinstance(answer, list) else [answer]
        if not any((m.get("Event") or "").lower() == "dbgettreecomplete" for m in messages):
            raise AmiUnavailable(f"DBGetTree gave no whole list: {messages[0].get('Message', '') if messages else ''}")
        return away_entries(messages)

    async def set_door(self, refused_per_mille: int, *, refusal: str, sound: str) -> None:
        """Narrow the dialplan's door (``CCQ_DOOR``): each new caller refused with this
        chance in a thousand, for the next ``DOOR_HOLD_S`` seconds, by ``refusal``
        ("message": answered and ``sound`` played; "busy": not answered). 0 opens it.
        Raises AsteriskMisbehaved when Asterisk refuses, AmiUnavailable without a link."""
        if refused_per_mille <= 0:
            value = DOOR_OPEN
        else:
            until = int(time.time()) + DOOR_HOLD_S
            value = f"{until}^{min(refused_per_mille, 1000)}^{refusal}^{sound}"
        answer = await self.ami.send({"Action": "Setvar", "Variable": DOOR_VARIABLE, "Value": value}, timeout=2)
        message = answer[0] if isinstance(answer, list) and answer else answer
        if (message.get("Response") or "").lower() != "success":
            raise AsteriskMisbehaved(f"Setvar {DOOR_VARIABLE} refused: {message.get('Message', '')}")

    async def redirect(self, channel: str, *, context: str, exten: str, priority: str) -> None:
        await self.ami.send(
            {"Action": "Redirect", "Channel": channel, "Context": context, "Exten": exten, "Priority": priority}, timeout=5
        )

    async def control_recording(self, command: cmd.ControlRecording, path: str) -> None:
        """Pause (mute, both directions) or resume or start (unmute) the MixMonitor on the
        agent's leg: AMI MixMonitorMute. ``path``: the file as Asterisk opens it (logged
        only; MixMonitor itself runs from the dialplan or the claim, ccqueue.core.recorder
        rule 1). Raises AsteriskMisbehaved when Asterisk refuses."""
        await self.mute_recording(command.uniqueid, muted=command.action == "pause")

    async def mute_recording(self, uniqueid: str, *, muted: bool = True) -> None:
        action = {"Action": "MixMonitorMute", "Channel": uniqueid, "Direction": "both", "State": "1" if muted else "0"}
        answer = await self.ami.send(action, timeout=5)
        message = answer[0] if isinstance(answer, list) and answer else answer
        if (message.get("Response") or "").lower() != "success":
            raise AsteriskMisbehaved(f"MixMonitorMute refused: {message.get('Message', '')}")

    async def hangup(self, uniqueid: str) -> None:
        await self.ami.send({"Action": "Hangup", "Channel": uniqueid, "Cause": "16"}, timeout=5)

    def take_event_lag(self) -> tuple[float, float]:
        """How far behind Asterisk was since the last call (seconds; 0: nothing seen): the
        oldest an event was on arrival, and the longest an agent leg's Originate took to
        start dialling (by the event's Timestamp). Both are Asterisk's own work, never a
        person's (an agent's phone rings after the dial starts); the first also counts
        whatever kept this process from reading (a stall of its own)."""
        lags = (self._event_lag_s, self._dial_lag_s)
        self._event_lag_s = self._dial_lag_s = 0.0
        return lags

    def _on_event(self, message: Message) -> None:
        # Asterisk stamps its events (manager.conf timestampevents): their age here, and
        # the time an Originate took to start dialling, say how far behind Asterisk is
        # (the overload gate's third signal).
        stamp = message.get("Timestamp")
        at = None
        if stamp:
            with contextlib.suppress(ValueError):
                at = float(stamp)
                self._event_lag_s = max(self._event_lag_s, time.time() - at)
        if (message.get("Event") or "").lower() == "userevent":
            self._user_event(message)
            return
        if (rang := ringing_uniqueid(message)) is not None:
            sent = self._dialling.pop(rang, None)
            if sent is not None and at is not None:
                self._dial_lag_s = max(self._dial_lag_s, at - sent)
            if self.on_ringing is not None:
                self.on_ringing(rang)
        try:
            event = translate_event(message)
        except IncompleteMessage as exc:
            log.warning("ami_event_incomplete", error=str(exc))
            return
        if event is not None:
            if isinstance(event, ev.ChannelHungUp):
                for watch in self._hangup_watches:
                    watch[event.uniqueid] = event
            self._post(event)
        if self.on_hangup is not None and isinstance(event, ev.ChannelHungUp):
            self.on_hangup(event.uniqueid)

    def _user_event(self, message: Message) -> None:
        # The door's refusal (extensions.conf, [ccqueue-away]); other user events are not ours.
        if (message.get("UserEvent") or "") != DOOR_EVENT or self.on_door_refused is None:
            return
        key = str(message.get("Key") or "")
        entry = away_entry(key, str(message.get("Line") or "")) if UNIQUEID.fullmatch(key) else None
        if entry is None or entry.outcome != "refused" or entry.call_id:
            log.warning("door_event_unreadable", key=key[:100], hint="its line is recorded at the next start")
            return
        self.on_door_refused(entry)

    @contextlib.contextmanager
    def watch_hangups(self) -> Iterator[dict[str, ev.ChannelHungUp]]:
        """The hang-ups seen while the block runs, by uniqueid: a restore reads channels
        that may hang up before the core knows them (their ``ChannelHungUp`` then means
        nothing to it), and tells them again once it does."""
        seen: dict[str, ev.ChannelHungUp] = {}
        self._hangup_watches.append(seen)
        try:
            yield seen
        finally:
            self._hangup_watches.remove(seen)

    def keyless(self) -> None:
        """A FastAGI session came without the key: set it again (once per KEY_RESET_S)."""
        now = time.monotonic()
        if now - self._key_set_at < KEY_RESET_S or not self.ami.ready.is_set():
            return
        self._key_set_at = now
        if self._key_task is None or self._key_task.done():
            self._key_task = asyncio.get_running_loop().create_task(self._set_key())

    async def _set_key(self) -> None:
        try:
            async with asyncio.timeout(STATUS_WAIT_S):  # AMI actions wait for the link's start-up
                await self.ami.ready.wait()
            answer = await self.ami.send({"Action": "Setvar", "Variable": KEY_VARIABLE, "Value": self.session_key}, timeout=5)
        except (AmiUnavailable, TimeoutError) as exc:
            log.warning("agi_key_not_set", error=str(exc) or "AMI not ready")
            return
        message = answer[0] if isinstance(answer, list) and answer else answer
        if (message.get("Response") or "").lower() != "success":
            log.warning("agi_key_not_set", asterisk_says=message.get("Message", ""))

    async def _on_ready(self) -> None:
        # Phones that registered or went busy while we were away. Asked first: Asterisk
        # registers DeviceStateList late in its boot, so its whole list also says that
        # Asterisk is past the window where it accepts logins but not yet every action.
        for state in device_states(await self.ami.startup_list("DeviceStateList", complete="DeviceStateListComplete")):
            self._post(state)
        # The core settles every call missing from this list: it is told only from a whole
        # list, never from a refusal (which would read as "no channel is alive").
        channels = await self.ami.startup_list("CoreShowChannels", complete="CoreShowChannelsComplete")
        self._post(ev.AsteriskReconnected(live_uniqueids=live_uniqueids(channels)))
        # The sessions' key, which spares each an AMI Status, once the link is ready
        # (past this start-up, which AMI actions wait for).
        self._key_set_at = time.monotonic()
        if self._key_task is None or self._key_task.done():
            self._key_task = asyncio.get_running_loop().create_task(self._set_key())
