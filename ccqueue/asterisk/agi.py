"""The FastAGI server: one TCP session per call, on loopback.

Two scripts:

- ``inbound``: a caller from the hotline. The session announces the call to the engine
  and then does what the engine asks of this caller (prompts, music on hold, release),
  until an agent's ``Bridge()`` pulls the channel out — Asterisk then fails the AGI
  command in progress and the session ends — or the caller hangs up.
- ``claim``: an answered agent leg asks for its caller. The engine's single task decides;
  the answer is set as channel variables for the agent context (``CCQ_CALLER_CHAN`` or
  ``CCQ_CLAIM=lost``).

panoramisk's ``Request`` is used for the command exchange. The accept loop is our own:
panoramisk's reads the headers in a loop that never sees end-of-file (a client that
connects and closes would spin it) and swallows cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable

import structlog
from panoramisk.fast_agi import Request

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.errors import CcqueueError

log = structlog.get_logger("ccqueue.agi")

HEADER_TIMEOUT_S = 5.0
HEADER_MAX_BYTES = 16384
# A hold segment: how long one MusicOnHold command lasts before the session looks for new
# instructions. An agent's Bridge() interrupts it at once, so this never delays a call.
HOLD_SEGMENT_S = 10

Ask = Callable[[ev.Event], Awaitable[list[cmd.Command]]]
Post = Callable[[ev.Event], None]


class CallerSession:
    """What the engine has asked of one waiting caller, in order."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.instructions: asyncio.Queue[cmd.Command] = asyncio.Queue()
        self.holding: str | None = None  # MOH class while on hold


class AgiServer:
    def __init__(
        self,
        *,
        ask: Ask,
        post: Post,
        agent_for_endpoint: Callable[[str], str | None] = lambda _endpoint: None,
        new_call_id: Callable[[], str] | None = None,
    ) -> None:
        self._ask = ask
        self._post = post
        self._agent_for_endpoint = agent_for_endpoint
        self._new_call_id = new_call_id or (lambda: str(uuid.uuid4()))
        self.sessions: dict[str, CallerSession] = {}
        self._routes: dict[str, Callable[[Request], Awaitable[None]]] = {
            "inbound": self._inbound,
            "claim": self._claim,
            "feature": self._feature,
        }

    def deliver(self, command: cmd.Command) -> None:
        """Hand a caller-facing command to its session (dropped if the session is gone)."""
        call_id = getattr(command, "call_id", None)
        session = self.sessions.get(call_id) if call_id else None
        if session is not None:
            session.instructions.put_nowait(command)

    async def handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEADER_TIMEOUT_S):
                headers = await _read_headers(reader)
            script = headers.get("agi_network_script", "").split("?")[0].strip("/")
            route = self._routes.get(script)
            if route is None:
                log.warning("agi_unknown_script", script=script)
                return
            await route(Request(app=None, headers=headers, reader=reader, writer=writer))
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, EOFError) as exc:
            log.info("agi_session_dropped", error=type(exc).__name__)
        except Exception:
            log.exception("agi_session_failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # --- scripts ------------------------------------------------------------------

    async def _inbound(self, request: Request) -> None:
        h = request.headers
        call_id = self._new_call_id()
        caller = h.get("agi_callerid", "")
        if caller in ("unknown", "<unknown>"):
            caller = ""
        arrived = ev.CallArrived(
            call_id=call_id,
            hotline=h.get("agi_extension", ""),
            caller=caller,
            channel=h.get("agi_channel", ""),
            uniqueid=h.get("agi_uniqueid", ""),
        )
        session = CallerSession(call_id)
        self.sessions[call_id] = session
        bound = log.bind(call_id=call_id, channel=arrived.channel)
        try:
            await self._ask(arrived)
            await self._serve(request, session, bound)
        finally:
            del self.sessions[call_id]
            self._post(ev.CallerSessionEnded(call_id=call_id))

    async def _serve(self, request: Request, session: CallerSession, log: structlog.typing.FilteringBoundLogger) -> None:
        while True:
            if session.holding is not None and session.instructions.empty():
                result = await request.send_command(f"EXEC MusicOnHold {session.holding},{HOLD_SEGMENT_S}")
            else:
                instruction = await session.instructions.get()
                match instruction:
                    case cmd.PlayToCaller(sound=sound):
                        result = await request.send_command(f'STREAM FILE {sound} ""')
                    case cmd.HoldCaller(moh_class=moh_class):
                        session.holding = moh_class
                        continue
                    case cmd.ReleaseCaller(sound=sound):
                        if sound:
                            await request.send_command(f'STREAM FILE {sound} ""')
                        await request.send_command("HANGUP")
                        return
                    case _:
                        continue
            if "error" in result:
                # Bridged by an agent (the command fails with AGIAppError) or hung up.
                log.info("agi_caller_left_session", agi_error=result.get("error"))
                return

    async def _claim(self, request: Request) -> None:
        offer_id = request.headers.get("agi_uniqueid", "")
        if not offer_id:
            await request.send_command("SET VARIABLE CCQ_CLAIM lost")
            return
        commands = await self._ask(ev.OfferClaimed(offer_id=offer_id))
        answer = next((c for c in commands if isinstance(c, cmd.AnswerClaim) and c.offer_id == offer_id), None)
        if answer is None or answer.caller_channel is None:
            await request.send_command("SET VARIABLE CCQ_CLAIM lost")
            return
        await request.send_command(f"SET VARIABLE CCQ_CALLER_CHAN {answer.caller_channel}")
        await request.send_command("SET VARIABLE CCQ_CLAIM granted")

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


FEATURE_PROMPTS = {
    ev.AgentAction.LOGIN: "agent-loginok",
    ev.AgentAction.LOGOUT: "agent-loggedoff",
    ev.AgentAction.PAUSE: "beep",
    ev.AgentAction.UNPAUSE: "beep",
}


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    size = 0
    while True:
        line = await reader.readline()
        if not line:
            raise EOFError("AGI client closed before sending its headers")
        size += len(line)
        if size > HEADER_MAX_BYTES:
            raise EOFError("AGI headers too large")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            return headers
        key, sep, value = text.partition(": ")
        if sep:
            headers[key] = value
