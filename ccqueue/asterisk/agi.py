"""The FastAGI server: one TCP session per call, on loopback.

Its scripts:

- ``inbound``: a caller from the hotline. The session announces the call to the engine
  and then does what the engine asks of this caller (prompts, music on hold, the IVR,
  the callback-number dialog, release), until an agent's ``Bridge()`` pulls the channel
  out — Asterisk then fails the AGI command in progress and the session ends — or the
  caller hangs up. Everything the caller hears and presses goes through the session's
  `DialoguePlayer` (``ccqueue.core.dialogue``'s vocabulary), which alone decides that
  the caller is gone.
- ``survey``: a caller whose agent hung up first rates the call (`SurveyDialog`).
- ``outbound``: a campaign's callee who answered (after the dialplan's AMD). The
  session tells the engine (``ContactAnswered``) and does what it asks of the attempt:
  hold in silence until an agent's ``Bridge()`` pulls the callee out, the safe-harbour
  message, a machine's message, a broadcast with its keys — or, after the operator key,
  everything an inbound caller's session does.
- ``claim``: an answered agent leg asks for its caller. The engine's single task decides;
  the answer is set as channel variables for the agent context (``CCQ_CALLER_UID``, the
  caller's uniqueid, or ``CCQ_CLAIM=lost``).

A caller the dialplan held while ccqueue was away (its session dropped, or could not
be opened) comes back with its call id on the channel (``CCQ_CALL_ID``, set by the
first session): it is announced as ``CallerReturned``, with what the channel says of
its arrival, queue and place, once the start-up restore has been handed to the engine.
A session clears ``CCQ_AWAY`` (the dialplan's mark that ccqueue is away) as it starts.

A session is served only once ``session_check`` believes it: from an allowed address, with
well-formed values, for a channel Asterisk itself reports running that script. Nothing a
session or a caller sent is ever spliced into an application's arguments: the caller is
referred to by its uniqueid, checked, never by its channel name.

panoramisk's ``Request`` is used for the command exchange. The accept loop is our own:
panoramisk's reads the headers in a loop that never sees end-of-file (a client that
connects and closes would spin it) and swallows cancellation.

Every read has a deadline, so a peer that stops talking cannot hold a session: the
headers within ``HEADER_TIMEOUT_S``, and each command's answer within the time the
command may take by itself (``answer_deadline_s``). A caller waits in a session for
minutes, but always inside commands of bounded length (hold segments of
``HOLD_SEGMENT_MS``), each answered by Asterisk as it ends.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import ipaddress
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

import structlog
from panoramisk.fast_agi import Request
from panoramisk.utils import parse_agi_result

from ccqueue.asterisk.ami import AmiUnavailable
from ccqueue.asterisk.dialogue_player import DialoguePlayer, converse
from ccqueue.asterisk.live import AWAY_FAMILY
from ccqueue.asterisk.paths import spool_path
from ccqueue.asterisk.session_check import UNIQUEID, ChannelStatus, malformed, peer_allowed, presents_key, verdict
from ccqueue.core import commands as cmd
from ccqueue.core import dialogue as dlg
from ccqueue.core import events as ev
from ccqueue.core.errors import AsteriskMisbehaved, CcqueueError, ExternalError, InternalError
from ccqueue.core.overload import Shed
from ccqueue.core.recording import RECORDING_NOTICE
from ccqueue.core.replies import ClaimAnswer, Reply
from ccqueue.listen import Tally, accept_forever

log = structlog.get_logger("ccqueue.agi")

HEADER_TIMEOUT_S = 5.0
HEADER_MAX_BYTES = 16384
# The longest line read from a FastAGI peer (headers and answers alike); Asterisk's own
# buffer for a line is 2 KiB (AGI_BUF_LEN).
AGI_LINE_LIMIT = 64 * 1024
# How late Asterisk may answer a command beyond the time the command itself may take.
# Asterisk answers at once (SET VARIABLE) or when the command's own wait ends.
ANSWER_SLACK_S = 10.0
# A prompt's length is not known here; no prompt of a call centre lasts this long.
PLAYBACK_MAX_S = 180.0
# EXEC Dial (an IVR transfer) returns when the conversation ends.
CONVERSATION_MAX_S = 4 * 3600.0
# A hold segment: music on hold plays in the background (SET MUSIC ON) while the session
# waits this long for a key before it looks for new instructions. An agent's Bridge()
# interrupts it at once, so it never delays a call; it bounds how late an announcement
# starts.
HOLD_SEGMENT_S = 2.0

# A campaign's callee waiting for an agent is checked on this often (silence between).
CALLEE_STEP_S = 0.1
# A machine's message starts after this much silence following its beep; the wait for
# it is bounded (Asterisk's WaitForSilence arguments: silence ms, times, timeout s).
MACHINE_SILENCE_MS = 1500
MACHINE_WAIT_S = 30
# A broadcast's callee may press a key this long after the message ends.
BROADCAST_KEY_WAIT_S = 5.0
# AMDSTATUS values the dialplan's AMD() sets.
OUTBOUND_AMD = frozenset({"HUMAN", "MACHINE", "NOTSURE", "HANGUP"})

# The longest an answered agent waits for its caller to finish hearing the recording
# notice (the shipped prompts last about 2.5 s).
NOTICE_WAIT_S = 8.0

# A recording's path as set on the agent leg: absolute, no blanks, quotes, "..", or
# characters the dialplan would read as separators (',', '|', '$', '(').
SAFE_PATH = re.compile(r"(/[A-Za-z0-9_][A-Za-z0-9_.-]*)+\.wav")

Ask = Callable[[ev.Event], Awaitable[Reply | None]]
Post = Callable[[ev.Event], None]
# Asks Asterisk (AMI Status) about a live channel by its uniqueid; None: no such channel.
ChannelLookup = Callable[[str], Awaitable[ChannelStatus | None]]
Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


async def _cannot_mute(uniqueid: str) -> None:
    raise AsteriskMisbehaved(f"no AMI link to mute the recording on {uniqueid}")


class Door(Protocol):
    """The overload gate as the door sees it (``ccqueue.engine.load.LoadWatch``)."""

    def admit(self) -> Shed | None: ...


class CallerSession:
    """What the engine has asked of one waiting caller, in order."""

    def __init__(self, call_id: str, player: DialoguePlayer) -> None:
        self.call_id = call_id
        self.player = player  # the caller's line: language set, whether music plays
        self.instructions: asyncio.Queue[cmd.Command] = asyncio.Queue()
        self.holding: str | None = None  # MOH class while on hold
        # The newest announcement of each kind not yet started: a caller who is still
        # hearing one is not given a backlog of stale ones, only the latest.
        self.announcements: dict[str, cmd.AnnounceToCaller] = {}
        # Set once the "this call may be recorded" notice has been heard (or the caller is
        # gone): an agent's claim waits for it before its Bridge() cuts the prompt short.
        self.notice: asyncio.Event | None = None


class AgiServer:
    def __init__(
        self,
        *,
        ask: Ask,
        post: Post,
        channel_status: ChannelLookup,
        allowed_peers: Networks,
        agent_for_endpoint: Callable[[str], str | None] = lambda _endpoint: None,
        new_call_id: Callable[[], str] | None = None,
        callback_key: Callable[[], str | None] = lambda: None,
        normalize_number: Callable[[str], str] | None = None,
        ivr: IvrHost | None = None,
        survey_for: Callable[[str], bool] = lambda _hotline: False,
        restored: asyncio.Event | None = None,
        recording_path: Callable[[str], str] = lambda file: file,
        mute_recording: Callable[[str], Awaitable[None]] | None = None,
        door: Door | None = None,
        refused_sound: Callable[[], str] = lambda: "ccqueue/queue-full",
        session_key: str | None = None,
        keyless: Callable[[], None] = lambda: None,
    ) -> None:
        # Sessions presenting this key are Asterisk's own (session_check rule 4); one
        # without it has ``keyless`` called, which has ccqueue set the key again.
        self._session_key = session_key
        self._keyless = keyless
        self._mute_recording = mute_recording or _cannot_mute
        self._survey_for = survey_for
        self._recording_path = recording_path  # a recording's file as Asterisk opens it
        # Past what the box can serve, new callers are refused here, before anything
        # else is asked of Asterisk or the engine (ccqueue.core.overload).
        self._door = door
        self._refused_sound = refused_sound
        # Inbound sessions accepted and not yet handed to the engine: part of the backlog.
        self.opening = 0
        # Set once the start-up restore is with the engine: a returning caller waits for
        # it, so that it is not taken for a new one ahead of callers who came earlier.
        self._restored = restored
        # Lines the dialplan left in Asterisk's database for callers that hung up while
        # ccqueue was away, already recorded: new callers' sessions delete a few each
        # (ccqueue's AMI user may read Asterisk's database but not write it).
        self._away_recorded: collections.deque[str] = collections.deque(maxlen=AWAY_FORGET_MAX)
        # Agent legs granted their caller: each leaves its conversation's end in that
        # database as it hangs up (for a ccqueue that was away then); once its Hangup is
        # seen here, ccqueue follows the end itself and the line is deleted like those.
        self._bridged_legs: dict[str, None] = {}
        self._ask = ask
        self._post = post
        self._channel_status = channel_status
        self._allowed_peers = tuple(allowed_peers)
        # The channels (uniqueids) with a session open now: one session per channel.
        self._open: set[str] = set()
        self._stopping = False
        self._callback_key = callback_key
        self._normalize_number = normalize_number
        self._ivr = ivr
        self._agent_for_endpoint = agent_for_endpoint
        self._new_call_id = new_call_id or (lambda: str(uuid.uuid4()))
        self.sessions: dict[str, CallerSession] = {}
        self._routes: dict[str, Callable[[Request], Awaitable[None]]] = {
            "inbound": self._inbound,
            "outbound": self._outbound,
            "claim": self._claim,
            "feature": self._feature,
            "survey": self._survey,
        }

    def deliver(self, command: cmd.Command) -> None:
        """Hand a caller-facing command to its session (dropped if the session is gone)."""
        call_id = getattr(command, "call_id", None)
        session = self.sessions.get(call_id) if call_id else None
        if session is None:
            return
        if isinstance(command, cmd.PlayToCaller) and command.sound == RECORDING_NOTICE:
            session.notice = asyncio.Event()
        if isinstance(command, cmd.AnnounceToCaller):
            waiting = command.reason in session.announcements
            session.announcements[command.reason] = command
            if waiting:
                return
        session.instructions.put_nowait(command)

    async def serve(self, sock: socket.socket, *, max_sessions: int) -> None:
        """Accept FastAGI sessions on ``sock``, at most ``max_sessions`` at a time.

        Beyond the cap a connection is closed at once: Asterisk's AGI() then fails and
        the dialplan plays its apology, which beats a caller held in silence. Sessions
        still open when this is cancelled are ended together, and counted in one line.
        """
        loop = asyncio.get_running_loop()
        sessions: set[asyncio.Task[None]] = set()
        refused = Tally("agi_sessions_refused", limit=max_sessions)

        async def open_session(conn: socket.socket) -> None:
            reader = asyncio.StreamReader(limit=AGI_LINE_LIMIT)
            try:
                transport, protocol = await loop.connect_accepted_socket(lambda: asyncio.StreamReaderProtocol(reader), conn)
            except OSError:  # the peer left before it was set up
                conn.close()
                return
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            await self.handle_connection(reader, writer)

        async def admit(conn: socket.socket) -> None:
            if len(sessions) >= max_sessions:
                conn.close()
                refused.add("at the session cap")
                return
            # The session is set up in its own task: the accept loop goes straight back
            # to the next connection. Awaiting the set-up here took one turn of the event
            # loop per connection, which bounded the accept rate by the loop's load: past
            # it the kernel's queue filled and Asterisk's connects timed out (2 s).
            task = loop.create_task(open_session(conn))
            sessions.add(task)
            task.add_done_callback(sessions.discard)

        try:
            await accept_forever(sock, admit, name="fastagi")
        finally:
            refused.close()
            open_sessions = list(sessions)
            for task in open_sessions:
                task.cancel()
            if open_sessions:
                await asyncio.gather(*open_sessions, return_exceptions=True)
                log.info("agi_sessions_closed", count=len(open_sessions), hint="ccqueue is stopping")

    async def handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        uniqueid = None
        self.opening += 1
        opened = [True]  # cleared once the session's caller is with the engine
        try:
            peer = writer.get_extra_info("peername")
            if not peer_allowed(peer, self._allowed_peers):
                log.warning("agi_peer_refused", peer=str(peer), hint="not in asterisk.agi.allow")
                return
            async with asyncio.timeout(HEADER_TIMEOUT_S):
                headers = await _read_headers(reader)
            script = headers.get("agi_network_script", "").split("?")[0].strip("/")
            route = self._routes.get(script)
            if route is None:
                log.warning("agi_unknown_script", script=script[:64])
                return
            if script != "inbound":  # only a new caller's arrival is work waiting to start
                opened.clear()
                self.opening -= 1
            elif await self._shed(headers, reader, writer, opened):
                return
            uniqueid = await self._believe(script, headers)
            if uniqueid == REFUSED:  # a real caller, recorded as refused: the apology at once
                request = BoundedRequest(app=None, headers=headers, reader=reader, writer=writer)
                await request.send_command('SET VARIABLE CCQ_AWAY ""')
                await request.send_command("SET VARIABLE CCQ_END refused")
                return
            if uniqueid is None:
                return
            request = BoundedRequest(app=None, headers=headers, reader=reader, writer=writer)
            request.opened = opened  # type: ignore[attr-defined]
            try:
                await route(request)
            finally:
                self._open.discard(uniqueid)
        except AgiPeerSilent as exc:
            log.info("agi_session_dropped", error="peer-silent", command=exc.command, waited_s=exc.waited_s)
        except AgiHeadersRefused as exc:
            log.info("agi_session_refused", error="headers-refused", reason=str(exc))
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, EOFError) as exc:
            log.info("agi_session_dropped", error=type(exc).__name__)
        except ExternalError as exc:  # the peer's fault (a garbled answer): no traceback
            log.warning("agi_session_dropped", error_id=exc.error_id, error=str(exc))
        except CcqueueError as exc:
            log.error("agi_session_failed", uniqueid=uniqueid, error_id=exc.error_id, error=str(exc), exc_info=True)
        except Exception:
            log.exception("agi_session_failed", uniqueid=uniqueid, error_id="internal")
        finally:
            if opened:
                self.opening -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _handed(self, request: Request) -> None:
        """The session's caller is with the engine: no longer counted as opening."""
        opened = getattr(request, "opened", None)
        if opened:
            opened.clear()
            self.opening -= 1

    async def _shed(
        self, headers: dict[str, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter, opened: list[bool]
    ) -> bool:
        """A new caller refused at the door for load (True): recorded as refused, and its
        session ended at once for the dialplan to play the refusal and hang up
        (``CCQ_END=busy``, the sound in ``CCQ_SOUND``). Costs two AGI round trips and no
        AMI action, and the session does not stay open while the message plays: under
        overload the door must be the cheapest path. A caller coming back to its place
        (``CCQ_CALL_ID`` on its channel) is not a new arrival and goes on (rule 5 of the
        gate)."""
        if self._door is None or not UNIQUEID.fullmatch(headers.get("agi_uniqueid", "")) or malformed(headers):
            return False
        shed = self._door.admit()
        if shed is None:
            return False
        request = BoundedRequest(app=None, headers=headers, reader=reader, writer=writer)
        if _variable(await request.send_command("GET VARIABLE CCQ_CALL_ID")):
            return False
        self._post(self._arrival(headers, refused=f"overload: {shed.value}"))
        # Settled: no longer work waiting to start. Counted while its message plays, the
        # refused would keep the backlog up and have everyone after them refused too.
        opened.clear()
        self.opening -= 1
        log.info("caller_refused_overload", reason=shed.value, channel=headers.get("agi_channel", "")[:200])
        # The away mark cleared: the hang-up after the message is not a caller lost while
        # ccqueue was away. The sound is a plain name (config: no ',' or quote).
        await request.send_command(mset(["CCQ_AWAY=", "CCQ_END=busy", f"CCQ_SOUND={self._refused_sound()}"]))
        return True

    async def _believe(self, script: str, headers: dict[str, str]) -> str | None:
        """The uniqueid of the channel a session is for, once Asterisk has confirmed it
        runs that script now; None (logged, and a refused call recorded where the channel
        is real) when the session is not to be served."""
        uniqueid = headers.get("agi_uniqueid", "")
        channel = headers.get("agi_channel", "")
        bound = log.bind(script=script, uniqueid=uniqueid[:160], channel=channel[:200])
        if not UNIQUEID.fullmatch(uniqueid):
            bound.warning("agi_session_refused", reason="uniqueid malformed")
            return None
        # A session presenting the key was opened by Asterisk's dialplan: not asked about
        # (session_check rule 4).
        if not presents_key(headers.get("agi_network_script", ""), self._session_key):
            if self._session_key:
                self._keyless()  # Asterisk has lost the key (a restart, a reload): set again
            try:
                status = await self._channel_status(uniqueid)
            except AmiUnavailable as exc:
                bound.warning("agi_session_refused", reason="Asterisk could not be asked", error=str(exc))
                return None
            contradiction = verdict(script, headers, status)
            if contradiction is not None:
                # Not a session Asterisk opened: nothing changes, nothing is recorded.
                bound.warning("agi_session_forged", reason=contradiction)
                return None
        if uniqueid in self._open:
            bound.warning("agi_session_forged", reason="a session is already open for this channel")
            return None
        reason = malformed(headers)
        if reason is not None:
            bound.warning("agi_session_refused", reason=reason)
            if script == "inbound":  # a real caller: its call is recorded as refused
                self._post(self._arrival(headers, refused=reason))
                return REFUSED
            return None
        self._open.add(uniqueid)
        return uniqueid

    def _arrival(
        self, headers: dict[str, str], *, refused: str | None = None, call_id: str | None = None, arrived_at: float | None = None
    ) -> ev.CallArrived:
        caller = headers.get("agi_callerid", "")
        if caller in ("unknown", "<unknown>"):
            caller = ""
        # The caller's name as the network gave it: shown to the agent as text, never markup.
        name = headers.get("agi_calleridname", "")
        if name in ("unknown", "<unknown>", caller):
            name = ""
        return ev.CallArrived(
            call_id=call_id or self._new_call_id(),
            # No extension at all: a hotline no configuration has, so the call is recorded
            # and refused like any unknown number (the caller hears the apology).
            hotline=headers.get("agi_extension", "") or NO_EXTENSION,
            caller=caller,
            caller_name=name[: ev.MAX_CALLER_NAME_CHARS],
            channel=headers.get("agi_channel", ""),
            uniqueid=headers.get("agi_uniqueid", ""),
            refused=refused,
            arrived_at=arrived_at,
        )

    # --- scripts ------------------------------------------------------------------

    async def _inbound(self, request: Request) -> None:
        facts = _channel_facts(await request.send_command(f"GET FULL VARIABLE {CHANNEL_FACTS}"))
        returning = facts.get("CCQ_CALL_ID", "")
        if returning and not CALL_ID.fullmatch(returning):
            returning = ""  # not one ccqueue wrote: the caller is taken as a new one
        arrived = self._arrival(request.headers, call_id=returning or None, arrived_at=_seconds(facts.get("CCQ_ENTERED", "")))
        call_id = arrived.call_id
        if call_id in self.sessions:  # a second session for a call still served: not believed
            log.warning("agi_session_refused", call_id=call_id, reason="the call has a session already")
            return
        session = CallerSession(call_id, DialoguePlayer(request))
        self.sessions[call_id] = session
        bound = log.bind(call_id=call_id, channel=arrived.channel)
        try:
            # One round trip for what the channel keeps of the call (MSet; the call id is
            # ccqueue's own and checked): its id, the away mark cleared, the survey.
            notes = [] if returning else [f"CCQ_CALL_ID={call_id}"]
            notes.append("CCQ_AWAY=")
            if self._survey_for(arrived.hotline):
                notes.append("CCQ_SURVEY=yes")
            if len(notes) == 1:  # a returning caller: only the away mark
                await request.send_command('SET VARIABLE CCQ_AWAY ""')
            else:
                await request.send_command(mset(notes))
            if returning:
                await self._wait_restored()
                bound.info("agi_caller_returned")
                await self._ask(ev.CallerReturned(call=_returned(arrived, facts)))
            else:
                await self._ask(arrived)
            self._handed(request)
            await self._clear_away(request)
            await self._serve(session, arrived, bound)
        finally:
            if session.notice is not None:
                session.notice.set()
            del self.sessions[call_id]
            self._post(ev.CallerSessionEnded(call_id=call_id))

    async def _outbound(self, request: Request) -> None:
        attempt_id = _variable(await request.send_command("GET VARIABLE CCQ_ATTEMPT"))
        amd = _variable(await request.send_command("GET VARIABLE AMDSTATUS"))
        headers = request.headers
        bound = log.bind(attempt_id=attempt_id[:160], channel=headers.get("agi_channel", ""))
        if not UNIQUEID.fullmatch(attempt_id) or attempt_id in self.sessions:
            bound.warning("agi_session_refused", reason="no campaign attempt on this channel")
            await request.send_command("HANGUP")
            return
        amd = amd.upper() if amd.upper() in OUTBOUND_AMD else ""
        campaign = _variable(await request.send_command("GET VARIABLE CCQ_CAMPAIGN")) or "campaign"
        # The callee's session as a caller's: after the operator key it is one.
        as_call = ev.CallArrived(
            call_id=attempt_id,
            hotline=f"campaign:{campaign}"[:80],
            caller=headers.get("agi_dnid", "") or "",
            channel=headers.get("agi_channel", ""),
            uniqueid=headers.get("agi_uniqueid", ""),
        )
        session = CallerSession(attempt_id, DialoguePlayer(request))
        self.sessions[attempt_id] = session
        try:
            self._post(ev.ContactAnswered(attempt_id=attempt_id, amd=amd, uniqueid=as_call.uniqueid, channel=as_call.channel))
            await self._serve_callee(session, as_call, bound)
        finally:
            del self.sessions[attempt_id]
            self._post(ev.CallerSessionEnded(call_id=attempt_id))

    async def _serve_callee(
        self, session: CallerSession, as_call: ev.CallArrived, log: structlog.typing.FilteringBoundLogger
    ) -> None:
        """Carry out the engine's instructions for a campaign's callee until it leaves."""
        player = session.player
        while True:
            if session.instructions.empty() and session.holding is None:
                # Waiting for an agent (or the safe harbour): silence, in short steps so
                # that an instruction or a hang-up is seen at once.
                heard = await player.perform(dlg.Listen(timeout_s=CALLEE_STEP_S))
                if isinstance(heard, dlg.Gone):
                    self._left(log, agi_error=heard.detail)
                    return
                continue
            if session.holding is not None:  # an inbound caller now (operator key)
                await self._serve(session, as_call, log)
                return
            instruction = await session.instructions.get()
            match instruction:
                case cmd.LeaveMessage(sound=sound):
                    # The machine's beep ends its greeting: wait for the silence after it.
                    await player.request.send_command(f"EXEC WaitForSilence {MACHINE_SILENCE_MS},1,{MACHINE_WAIT_S}")
                    await player.perform(dlg.Play(prompts=(sound,)))
                    await player.perform(dlg.Hangup())
                    return
                case cmd.PlayBroadcast(sound=sound, keys=keys):
                    heard = await player.perform(dlg.Play(prompts=(sound,), interruptible_by=keys))
                    if not isinstance(heard, dlg.Pressed | dlg.Gone):
                        heard = await player.perform(dlg.Listen(timeout_s=BROADCAST_KEY_WAIT_S))
                    if isinstance(heard, dlg.Gone):
                        self._left(log, agi_error=heard.detail)
                        return
                    digit = heard.digits[:1] if isinstance(heard, dlg.Pressed) and heard.digits[:1] in keys else None
                    self._post(ev.CalleePressed(attempt_id=session.call_id, digit=digit))
                case _:
                    if not await self._carry_out(session, as_call, instruction):
                        self._left(log, instruction=type(instruction).__name__)
                        return

    async def _serve(self, session: CallerSession, arrived: ev.CallArrived, log: structlog.typing.FilteringBoundLogger) -> None:
        """Carry out the engine's instructions for one caller until it leaves the session."""
        player = session.player
        while True:
            if session.instructions.empty() and session.holding is not None:
                heard = dlg.Heard() if player.music_on else await player.perform(dlg.Hold(moh_class=session.holding))
                if not isinstance(heard, dlg.Gone):
                    heard = await player.perform(dlg.Listen(timeout_s=HOLD_SEGMENT_S))
                if isinstance(heard, dlg.Gone):
                    self._left(log, agi_error=heard.detail)
                    return
                self._pressed(session, heard)
                continue
            instruction = await session.instructions.get()
            if not await self._carry_out(session, arrived, instruction):
                self._left(log, instruction=type(instruction).__name__)
                return

    def forget_away(self, uniqueids: Iterable[str]) -> None:
        """These callers' lines in Asterisk's database are recorded: delete them."""
        self._away_recorded.extend(u for u in uniqueids if UNIQUEID.fullmatch(u))

    def leg_gone(self, uniqueid: str) -> None:
        """A channel hung up: if it was an agent leg bridged to its caller, the line its
        hang-up handler left is ccqueue's to delete (the process saw the end itself)."""
        if uniqueid in self._bridged_legs:
            del self._bridged_legs[uniqueid]
            self._away_recorded.append(uniqueid)

    async def _clear_away(self, request: Request) -> None:
        # Taken off the list before each await: sessions starting together share it.
        for _ in range(AWAY_FORGET_PER_SESSION):
            if not self._away_recorded:
                return
            uniqueid = self._away_recorded.popleft()
            await request.send_command(f"DATABASE DEL {AWAY_FAMILY} {uniqueid}")

    async def _wait_restored(self) -> None:
        if self._restored is None or self._restored.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RESTORE_WAIT_S):
                await self._restored.wait()

    def stopping(self) -> None:
        """ccqueue is stopping: every waiting caller is about to leave its session at once,
        which the engine reports in one summary; the sessions stay quiet about it."""
        self._stopping = True

    def _left(self, log: structlog.typing.FilteringBoundLogger, **why: object) -> None:
        if self._stopping:
            log.debug("agi_caller_left_session", **why)
        else:
            log.info("agi_caller_left_session", **why)

    async def _carry_out(self, session: CallerSession, arrived: ev.CallArrived, instruction: cmd.Command) -> bool:
        """One instruction; False when the caller has left the session (bridged or gone)."""
        player = session.player
        match instruction:
            case cmd.HoldCaller(moh_class=moh_class):
                session.holding = moh_class
                return True
            case cmd.PlayToCaller(sound=sound):
                try:
                    return await self._play(session, (dlg.Play(prompts=(sound,)),))
                finally:
                    if sound == RECORDING_NOTICE and session.notice is not None:
                        session.notice.set()
            case cmd.AnnounceToCaller(reason=reason):
                latest = session.announcements.pop(reason, instruction)
                if not await self._set_language(player, latest.language):
                    return False
                return await self._play(session, latest.prompts)
            case cmd.OfferCallback():
                return await self._offer_callback(session, instruction)
            case cmd.RecordMessage(path=path, max_s=max_s, language=language):
                await self._set_language(player, language)
                await player.perform(dlg.Play(prompts=("ccqueue/leave-message", "beep")))
                path = await spool_path(player.request, path)
                await player.perform(dlg.Record(path=path, max_s=max_s, beep=False))
                await player.perform(dlg.Hangup())
                return False
            case cmd.RunIvr(entry=entry, language=language):
                if self._ivr is None:
                    log.error("ivr_not_available", call_id=session.call_id, entry=entry)
                    await player.perform(dlg.Play(prompts=("ccqueue/unavailable",)))
                    await player.perform(dlg.Hangup())
                    return False
                await self._ivr.run(
                    player, call_id=session.call_id, entry=entry, caller=arrived.caller, hotline=arrived.hotline,
                    language=language,
                )  # fmt: skip
                return True
            case cmd.NoteOnCaller(variables=variables):
                # One round trip for all of them (MSet). The values are ccqueue's own, and
                # checked all the same: nothing that could split an argument is spliced in.
                pairs = [f"{name}={value}" for name, value in variables if NOTE_VALUE.fullmatch(value)]
                if pairs:
                    await player.request.send_command(mset(pairs))
                return True
            case cmd.ReleaseCaller(sound=sound):
                if sound:
                    await player.perform(dlg.Play(prompts=(sound,)))
                await player.perform(dlg.Hangup())
                return False
        return True

    async def _play(self, session: CallerSession, prompts: tuple[cmd.Prompt, ...]) -> bool:
        """Play prompts in order; the callback key (if any) stops them and is reported.
        False when the caller has left."""
        keys = self._callback_key() or ""
        for prompt in prompts:
            heard = await session.player.perform(dataclasses.replace(prompt, interruptible_by=keys))
            if isinstance(heard, dlg.Gone):
                return False
            if self._pressed(session, heard):
                break
        return True

    def _pressed(self, session: CallerSession, heard: dlg.Result) -> bool:
        if isinstance(heard, dlg.Pressed):
            self._post(ev.CallerPressed(call_id=session.call_id, digit=heard.digits))
            return True
        return False

    @staticmethod
    async def _set_language(player: DialoguePlayer, language: str) -> bool:
        """The channel's prompts in ``language``; False when the caller has left."""
        if language == player.language:
            return True
        return not isinstance(await player.perform(dlg.SetLanguage(language=language)), dlg.Gone)

    async def _offer_callback(self, session: CallerSession, offer: cmd.OfferCallback) -> bool:
        """Read the caller's number back; confirm it, or key another (`CallbackNumberDialog`).
        Nothing is booked unless the caller pressed a key for it and the number passed
        validation."""
        player = session.player
        if not await self._set_language(player, offer.language):
            return False
        chosen = await converse(player, dlg.CallbackNumberDialog(own=offer.number, normalise=self._normalized))
        if chosen.caller_left:
            return False
        if chosen.number is not None:
            try:
                await self._ask(ev.CallbackRequested(callback_id=uuid.uuid4().hex, number=chosen.number, call_id=session.call_id))
                return True  # the engine releases the caller with the confirmation
            except CcqueueError as exc:
                log.info("callback_refused", call_id=session.call_id, error_id=exc.error_id)
                await player.perform(dlg.Play(prompts=(dlg.CALLBACK_INVALID,)))
        # Declined: the caller waits on (its music resumes), or is released by the engine.
        await self._ask(ev.CallbackDeclined(call_id=session.call_id))
        return True

    def _normalized(self, raw: str) -> str | None:
        if self._normalize_number is None:
            return None
        try:
            return self._normalize_number(raw)
        except CcqueueError:
            return None

    async def _claim(self, request: Request) -> None:
        offer_id = request.headers.get("agi_uniqueid", "")
        if not offer_id:
            await request.send_command("SET VARIABLE CCQ_CLAIM lost")
            return
        reply = await self._ask(ev.OfferClaimed(offer_id=offer_id))
        answer = reply if isinstance(reply, ClaimAnswer) and reply.offer_id == offer_id else None
        if answer is not None and answer.dial is not None:
            # Set as one quoted argument: the number in it is one ccqueue validated (E.164),
            # checked again here all the same, since Dial() gets the value as it is.
            number = answer.callback_number or ""
            if not DIAL_VALUE.fullmatch(answer.dial) or not E164.fullmatch(number):
                log.error("claim_refused", offer_id=offer_id, error_id="internal", reason="dial string not plain")
                await request.send_command("SET VARIABLE CCQ_CLAIM lost")
                return
            await request.send_command(f'SET VARIABLE CCQ_DIAL "{answer.dial}"')
            await request.send_command(f"SET VARIABLE CCQ_CB_NUMBER {number}")
            await request.send_command("SET VARIABLE CCQ_CLAIM callback")
            return
        # The agent is bridged to the caller's uniqueid, which Asterisk confirmed when the
        # caller's session opened (and which is a plain token): never to a channel name.
        caller = None if answer is None else answer.caller_uniqueid
        if caller is None or not UNIQUEID.fullmatch(caller):
            await request.send_command("SET VARIABLE CCQ_CLAIM lost")
            return
        await self._notice_heard(answer.call_id)
        # The grant is one round trip (MSet): the caller's uniqueid, the recording's file if
        # the dialplan is to start it, and the verdict last. Every value is a plain token
        # (UNIQUEID, SAFE_PATH), so none can split MSet's arguments.
        notes = [f"CCQ_CALLER_UID={caller}"]
        # The conversation's end is left in Asterisk's database as the leg hangs up (the
        # dialplan pushes [ccqueue-ended] once the caller's channel is found): a ccqueue
        # away then records it at its next start; this one deletes it when it sees the end.
        self._bridged_legs[offer_id] = None
        if len(self._bridged_legs) > AWAY_FORGET_MAX:  # legs whose Hangup was never seen
            del self._bridged_legs[next(iter(self._bridged_legs))]
        # A recorded call: the agent context runs MixMonitor into this file before its
        # Bridge. The name is ccqueue's own (ccqueue.core.recording), checked once more.
        path = None if answer.recording_file is None else self._recording_path(answer.recording_file)
        if path is not None and not SAFE_PATH.fullmatch(path):
            log.error("recording_path_refused", offer_id=offer_id)
        elif path is not None and answer.recording_held:
            await self._hold_recording(request, offer_id, path)
        elif path is not None:
            notes.append(f"CCQ_REC_FILE={path}")
        notes.append("CCQ_CLAIM=granted")
        await request.send_command(mset(notes))

    async def _hold_recording(self, request: Request, uniqueid: str, path: str) -> None:
        """On demand: start MixMonitor here, then mute it (AMI MixMonitorMute) before the
        dialplan's Bridge(), so nothing is heard in the file until the agent starts it. If
        it cannot be muted it is stopped: never a recording nobody asked for."""
        await request.send_command(f"EXEC MixMonitor {path},b")
        try:
            await self._mute_recording(uniqueid)
        except Exception as exc:
            log.warning("recording_not_held", offer_id=uniqueid, error=str(exc))
            await request.send_command("EXEC StopMixMonitor")

    async def _notice_heard(self, call_id: str | None) -> None:
        """Let the caller hear the whole recording notice before the agent's Bridge() pulls
        it out of its session (at most NOTICE_WAIT_S: a prompt of a few seconds)."""
        session = self.sessions.get(call_id) if call_id else None
        if session is None or session.notice is None or session.notice.is_set():
            return
        try:
            async with asyncio.timeout(NOTICE_WAIT_S):
                await session.notice.wait()
        except TimeoutError:
            log.warning("recording_notice_unfinished", call_id=call_id, waited_s=NOTICE_WAIT_S)

    async def _survey(self, request: Request) -> None:
        """A caller whose agent hung up first (Bridge's F option): the survey, if any."""
        result = await request.send_command("GET VARIABLE CCQ_CALL_ID")
        call_id = _variable(result)
        wanted = _variable(await request.send_command("GET VARIABLE CCQ_SURVEY")) == "yes"
        if not call_id or not wanted:
            await request.send_command("HANGUP")
            return
        language = _variable(await request.send_command("GET VARIABLE CHANNEL(language)")) or "en"
        player = DialoguePlayer(request, language=language)
        await take_survey(player, self._post, call_id=call_id, language=language)
        await player.perform(dlg.Hangup())

    async def _feature(self, request: Request) -> None:
        """A feature code dialled from an agent's phone: log in, log out, pause, unpause."""
        channel = request.headers.get("agi_channel", "")
        endpoint = channel.rsplit("-", 1)[0]  # PJSIP/agent1-0000002a -> PJSIP/agent1
        agent_id = self._agent_for_endpoint(endpoint)
        try:
            action = ev.AgentAction(request.headers.get("agi_arg_1", ""))
        except ValueError:
            action = None
        if agent_id is None or action is None:
            log.warning("feature_code_refused", channel=channel, action=request.headers.get("agi_arg_1"))
            await request.send_command('STREAM FILE agent-incorrect ""')
            return
        reason = "phone" if action is ev.AgentAction.PAUSE else None
        try:
            await self._ask(ev.AgentRequested(agent_id=agent_id, action=action, reason=reason))
        except CcqueueError as exc:
            log.info("feature_code_refused", agent=agent_id, action=action.value, error_id=exc.error_id)
            await request.send_command('STREAM FILE agent-incorrect ""')
            return
        log.info("feature_code_used", agent=agent_id, action=action.value)
        await request.send_command(f'STREAM FILE {FEATURE_PROMPTS[action]} ""')


# A session refused for a real caller: recorded, and the dialplan apologises at once.
REFUSED = ""
# The hotline of a session whose headers name no extension.
NO_EXTENSION = "?"
# Recorded away callers whose lines are deleted from Asterisk's database, a few per new
# session (after its caller is with the engine) and at most this many remembered.
AWAY_FORGET_PER_SESSION = 5
AWAY_FORGET_MAX = 10_000
# The hang-up handler [ccqueue-agent] pushes on an agent leg granted its caller, once the
# caller's channel is found (dialplan/extensions.conf).
ENDED_HANDLER = "ccqueue-ended,s,1"
# How long a returning caller's session waits for the start-up restore to reach the engine.
RESTORE_WAIT_S = 10.0
# What the dialplan and ccqueue keep on a caller's channel, read in one command.
CHANNEL_FACTS = "${CCQ_CALL_ID}|${CCQ_ENTERED}|${CCQ_QUEUE}|${CCQ_QUEUED}|${CCQ_PRIORITY}|${CCQ_LANG}"
_FACT_NAMES = ("CCQ_CALL_ID", "CCQ_ENTERED", "CCQ_QUEUE", "CCQ_QUEUED", "CCQ_PRIORITY", "CCQ_LANG")
CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
NOTE_VALUE = re.compile(r"[A-Za-z0-9._+-]{0,80}")
# A callback's dial string and number as the claim sets them for the agent's Dial():
# no quote, backslash, '$' or space that AGI's argument parser or the dialplan would read.
DIAL_VALUE = re.compile(r"[A-Za-z0-9_/@:.+*#,=%~!-]{1,200}")  # a configured dial string's characters, and ","
E164 = re.compile(r"\+[0-9]{1,15}")
# The channel's language as the dialplan or ccqueue set it: a plain tag (en, pt_BR).
LANGUAGE = re.compile(r"[A-Za-z0-9_-]{1,16}")


def mset(pairs: Sequence[str]) -> str:
    """One AGI command setting several channel variables (``NAME=value`` each): one round
    trip. The values must hold no ',' or '"' (MSet's separators); callers check them."""
    return f'EXEC MSet "{",".join(pairs)}"'


def _channel_facts(result: dict[str, object]) -> dict[str, str]:
    """The answer to ``GET FULL VARIABLE CHANNEL_FACTS``, by name (unset ones left out)."""
    value, data = _value(result)
    parts = data.split("|") if value == "1" else []
    if len(parts) != len(_FACT_NAMES):
        return {}
    facts = {name: part for name, part in zip(_FACT_NAMES, parts, strict=True) if part}
    if not LANGUAGE.fullmatch(facts.get("CCQ_LANG", "en")):
        del facts["CCQ_LANG"]  # it would be set back on the channel: not one ccqueue wrote
    return facts


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value < float("inf") else None


def _returned(arrived: ev.CallArrived, facts: dict[str, str]) -> ev.RestoredCall:
    """A returning caller as its channel describes it."""
    priority = facts.get("CCQ_PRIORITY", "")
    queue = facts.get("CCQ_QUEUE") or None
    return ev.RestoredCall(
        call_id=arrived.call_id,
        hotline=arrived.hotline,
        caller=arrived.caller,
        channel=arrived.channel,
        uniqueid=arrived.uniqueid,
        arrived_at=arrived.arrived_at or _seconds(facts.get("CCQ_QUEUED", "")) or time.time(),
        queue=queue,
        queued_at=_seconds(facts.get("CCQ_QUEUED", "")),
        priority=int(priority) if priority.lstrip("-").isdigit() else None,
        language=facts.get("CCQ_LANG") or None,
    )


FEATURE_PROMPTS = {
    ev.AgentAction.LOGIN: "agent-loginok",
    ev.AgentAction.LOGOUT: "agent-loggedoff",
    ev.AgentAction.PAUSE: "beep",
    ev.AgentAction.UNPAUSE: "beep",
}


class IvrHost(Protocol):
    """What the caller sessions need of the IVR runner."""

    async def run(
        self, player: DialoguePlayer, *, call_id: str, entry: str, caller: str, hotline: str, language: str
    ) -> None: ...


async def take_survey(player: DialoguePlayer, post: Post, *, call_id: str, language: str) -> None:
    """Ask the post-call survey in ``language`` and post the answers (what was answered
    before a hang-up is kept; an unanswered question is None)."""
    await player.perform(dlg.SetLanguage(language=language))
    done = await converse(player, dlg.SurveyDialog())
    if done.rating is None and done.recommend is None:
        log.info("survey_unanswered", call_id=call_id)
    post(ev.SurveyAnswered(call_id=call_id, rating=done.rating, recommend=done.recommend))


def _value(result: dict[str, object]) -> tuple[str, str]:
    """``result=<value> (<data>)`` of an AGI answer, as panoramisk parses it."""
    answer = result.get("result")
    if isinstance(answer, tuple) and len(answer) == 2:
        return str(answer[0]), str(answer[1])
    return "", ""


def _variable(result: dict[str, object]) -> str:
    """The value of a GET VARIABLE answer ('200 result=1 (value)'), '' when unset."""
    value, data = _value(result)
    return data if value == "1" else ""


class AgiHeadersRefused(AsteriskMisbehaved):
    """The peer's headers are not acceptable (too large); the session is closed."""

    error_id = "agi-headers-refused"


class AgiPeerSilent(AsteriskMisbehaved):
    """The peer did not answer a command within its deadline."""

    error_id = "agi-peer-silent"

    def __init__(self, command: str, waited_s: float) -> None:
        super().__init__(f"no answer to {command} within {waited_s:g} s")
        self.command = command
        self.waited_s = waited_s


_MS_ARG = re.compile(r"-?\d+")


def answer_deadline_s(command: str) -> float:
    """How long Asterisk may take to answer ``command``: its own wait, plus slack.

    WAIT FOR DIGIT and GET DATA give their waits in milliseconds (GET DATA's per key),
    RECORD FILE its longest recording; prompts take ``PLAYBACK_MAX_S`` at most.
    """
    words = command.split()
    verb = " ".join(words[:3]).upper()
    numbers = [int(w) for w in words if _MS_ARG.fullmatch(w)]
    if verb.startswith("WAIT FOR DIGIT"):
        return max(numbers[0], 0) / 1000 + ANSWER_SLACK_S if numbers else PLAYBACK_MAX_S
    if verb.startswith("GET DATA"):
        timeout_ms, keys = ([*numbers, 0, 1])[:2] if numbers else (0, 1)
        return PLAYBACK_MAX_S + max(timeout_ms, 0) / 1000 * max(keys, 1) + ANSWER_SLACK_S
    if verb.startswith("RECORD FILE"):
        return PLAYBACK_MAX_S + (max(numbers[0], 0) / 1000 if numbers else PLAYBACK_MAX_S) + ANSWER_SLACK_S
    if verb.startswith("EXEC DIAL"):
        return CONVERSATION_MAX_S
    if verb.startswith(("STREAM FILE", "SAY ", "CONTROL STREAM", "EXEC", "GET OPTION")):
        return PLAYBACK_MAX_S + ANSWER_SLACK_S
    return ANSWER_SLACK_S


class AgiCommandRefused(InternalError):
    """A command holds a line break or NUL: sent, it would be two commands (the second of
    a value's choosing). What ccqueue sends is its own text and checked values, so this is
    a value that escaped its check: refused rather than sent, and the session ends."""

    error_id = "agi-command-refused"


class AgiReplyGarbled(AsteriskMisbehaved):
    """The peer's answer to a command is not an AGI answer (cut off, or endless)."""

    error_id = "agi-reply-garbled"


# A FastAGI command is one line: nothing in it may end the line early.
_COMMAND_BREAK = re.compile(r"[\r\n\x00]")
# An answer starts with its three-digit code (or is Asterisk's bare "HANGUP").
_ANSWER = re.compile(r"\d{3}(?:[ -].*)?|HANGUP")
# "520-..." starts a usage text that ends with a "520 End of proper usage." line; "100
# Trying..." comes before the real answer. Asterisk's longest usage text is ~40 lines.
USAGE_MAX_LINES = 200
TRYING_MAX = 10


class BoundedRequest(Request):
    """panoramisk's ``Request`` with a deadline on every command's answer, and the answer
    read as data: a line that is not an answer is an error result (panoramisk's parser
    raises on it), a usage text is read to its end (panoramisk reads one line of it and
    the next command would read the rest), end-of-file mid-answer ends the session, and
    bytes that are not UTF-8 are replaced, not raised on."""

    async def send_command(self, command: str) -> dict[str, object]:
        if _COMMAND_BREAK.search(command):
            raise AgiCommandRefused("an AGI command holds a line break or NUL", command=command.split(" ", 2)[:2])
        waited_s = answer_deadline_s(command)
        try:
            async with asyncio.timeout(waited_s):
                return await self._exchange(command)
        except TimeoutError:
            raise AgiPeerSilent(" ".join(command.split()[:2]), waited_s) from None

    async def _exchange(self, command: str) -> dict[str, object]:
        self.writer.write((command + "\n").encode(self.encoding))
        await self.writer.drain()
        line = await self._line()
        for _ in range(TRYING_MAX):
            if not line.startswith("100"):
                break
            line = await self._line()
        if not _ANSWER.fullmatch(line) or line.startswith("100"):
            return {"status_code": 0, "result": ("", ""), "error": "AGIUnknownError", "msg": line[:200]}
        result: dict[str, object] = parse_agi_result(line)
        if line.startswith("520-"):
            for _ in range(USAGE_MAX_LINES):
                if (await self._line()).startswith("520 "):
                    return result
            raise AgiReplyGarbled(f"a usage text of more than {USAGE_MAX_LINES} lines")
        return result

    async def _line(self) -> str:
        raw = await self.reader.readline()
        if not raw.endswith(b"\n"):
            raise asyncio.IncompleteReadError(raw, None)  # the peer closed mid-answer
        return raw.decode(self.encoding, "replace").rstrip("\r\n")


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    size = 0
    while True:
        try:
            line = await reader.readline()
        except ValueError:  # a line past the reader's limit (LimitOverrunError inside)
            raise AgiHeadersRefused("a header line past the line limit") from None
        if not line:
            raise EOFError("AGI client closed before sending its headers")
        size += len(line)
        if size > HEADER_MAX_BYTES:
            raise AgiHeadersRefused(f"headers longer than {HEADER_MAX_BYTES} bytes")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            return headers
        key, sep, value = text.partition(": ")
        if sep:
            headers[key] = value
