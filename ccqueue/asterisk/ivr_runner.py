"""The IVR over FastAGI: wires `ccqueue.core.ivr`'s walk to the caller's line and the CRM.

Rules kept here:

- The core decides, this module only wires: the walk's caller actions go to the
  session's `DialoguePlayer` (the one place that speaks AGI to a caller), its CRM
  look-ups to HTTP here, and its results back to the machine.
- Every timeline entry of the machine is posted as a `CallProgressed` as it happens.
- A walk ends with exactly one question to the engine: `CallRouted`, `CallbackRequested`
  or `CallFinished`. After that the caller's session goes on with whatever the engine
  sends (music on hold, release). A caller who is `Gone` mid-walk ends it with a
  ``ivr_caller_left`` entry and no question; the session's end tells the engine the rest.
  A message being recorded when the caller hangs up is still a message left.
- A call keeps the tree it started with: `trees()` is read once, at the start.
- A CRM look-up never keeps the caller longer than the node's ``timeout_s``: a slow, dead
  or nonsensical CRM (not 200, not JSON, too large) is a failed look-up, at once or when
  the time is up, and the machine takes the node's ``on_failure`` path.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import structlog

from ccqueue.asterisk.dialogue_player import DialoguePlayer
from ccqueue.asterisk.paths import spool_path
from ccqueue.core import dialogue as dlg
from ccqueue.core import events as ev
from ccqueue.core import ivr
from ccqueue.core.ivr import IvrTree
from ccqueue.core.replies import Reply

log = structlog.get_logger("ccqueue.ivr")

# A CRM answer is a small JSON object about one customer; 64 KiB is far more than enough
# and keeps a misbehaving CRM from filling memory.
MAX_CRM_BYTES = 65536
DEFAULT_MESSAGES_DIR = "ccqueue-messages"  # under Asterisk's spool directory (ccqueue.asterisk.paths)
# How long a transfer target rings before the caller is told it did not answer.
TRANSFER_RING_S = 60

Ask = Callable[[ev.Event], Awaitable[Reply | None]]  # the core's reply, if any
Post = Callable[[ev.Event], None]


class CallerGone(Exception):
    """The caller hung up, or Asterisk ended the AGI session."""


def _plain_number(number: str) -> str | None:
    """The caller's number as the callback keeps it: digits, with a leading '+' if given."""
    digits = "".join(c for c in number if c.isdigit())
    if not digits:
        return None
    return f"+{digits}" if number.strip().startswith("+") else digits


async def _hear(player: DialoguePlayer, action: dlg.Action) -> dlg.Result:
    """One caller action; a caller who is gone ends the walk (`CallerGone`)."""
    result = await player.perform(action)
    if isinstance(result, dlg.Gone):
        raise CallerGone(result.detail)
    return result


class IvrRunner:
    """Runs IVR walks in callers' FastAGI sessions."""

    def __init__(
        self,
        *,
        trees: Callable[[], Mapping[str, IvrTree]],
        ask: Ask,
        post: Post,
        crm_session_factory: Callable[[], aiohttp.ClientSession] = aiohttp.ClientSession,
        clock: Callable[[], float] = time.time,
        messages_dir: str = DEFAULT_MESSAGES_DIR,
        callback_number: Callable[[str], str | None] = _plain_number,
    ) -> None:
        self._trees = trees
        self._ask = ask
        self._post = post
        self._crm_session_factory = crm_session_factory
        self._clock = clock
        self._messages_dir = messages_dir.rstrip("/")
        self._callback_number = callback_number

    # --- the walk ---------------------------------------------------------------------------

    async def run(self, player: DialoguePlayer, *, call_id: str, entry: str, caller: str, hotline: str, language: str) -> None:
        """Take the caller through tree `entry`; ends by asking the engine where the call goes."""
        bound = log.bind(call_id=call_id, ivr=entry)
        tree = self._trees().get(entry)
        if tree is None:
            bound.error("ivr_tree_unknown")
            await self._ask(ev.CallFinished(call_id=call_id, finish=ev.Finish.SELF_SERVICE, reason="ivr-unknown"))
            return
        machine = ivr.IvrCall(tree, caller=caller, language=language, hotline=hotline)
        try:
            await _hear(player, dlg.SetLanguage(language=language))
            step = machine.start(now=self._clock())
            while not step.final:
                self._report(call_id, step.timeline)
                action = step.action
                if isinstance(action, ivr.FetchJson):
                    result: ivr.Result = await self._fetch(action.url, action.timeout_s)
                else:
                    result = await self._caller_answer(player, action)
                step = machine.feed(result, now=self._clock())
            self._report(call_id, step.timeline)
            await self._finish(player, call_id, step.action, bound)
        except CallerGone:
            bound.info("ivr_caller_left", node=machine.node_name)
            self._post(ev.CallProgressed(call_id=call_id, kind="ivr_caller_left", data={"node": machine.node_name}))

    @staticmethod
    async def _caller_answer(player: DialoguePlayer, action: ivr.Action) -> ivr.Result:
        if not isinstance(action, dlg.Play | dlg.Collect | dlg.Say | dlg.SetLanguage):
            raise TypeError(f"not an IVR request: {action!r}")
        result = await _hear(player, action)
        if isinstance(result, dlg.Pressed) and not isinstance(action, dlg.Collect):
            return dlg.Heard()  # the walk's prompts are not cut short by keys
        assert isinstance(result, dlg.Heard | dlg.Pressed | dlg.TimedOut)
        return result

    def _report(self, call_id: str, timeline: tuple[ivr.TimelineEntry, ...]) -> None:
        for entry in timeline:
            self._post(ev.CallProgressed(call_id=call_id, kind=entry.kind, data=dict(entry.data)))

    async def _fetch(self, url: str, timeout_s: float) -> ivr.LookupAnswered | ivr.LookupFailed:
        try:
            async with asyncio.timeout(timeout_s):
                async with self._crm_session_factory() as http, http.get(url) as response:
                    if response.status != 200:
                        return ivr.LookupFailed(f"status {response.status}")
                    raw = await response.content.read(MAX_CRM_BYTES + 1)
        except TimeoutError:
            return ivr.LookupFailed("timeout")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return ivr.LookupFailed(f"unreachable: {type(exc).__name__}")
        if len(raw) > MAX_CRM_BYTES:
            return ivr.LookupFailed("too large")
        try:
            return ivr.LookupAnswered(json.loads(raw))
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            return ivr.LookupFailed("bad json")

    async def _finish(
        self, player: DialoguePlayer, call_id: str, outcome: ivr.Action, bound: structlog.typing.FilteringBoundLogger
    ) -> None:
        match outcome:
            case ivr.RouteToQueue():
                await self._ask(
                    ev.CallRouted(
                        call_id=call_id,
                        queue=outcome.queue,
                        priority=outcome.priority,
                        language=outcome.language,
                        preferred_agent=outcome.preferred_agent,
                        attributes=dict(outcome.variables),
                        skills=dict(outcome.skills) if outcome.skills is not None else None,
                    )
                )
            case ivr.RequestCallback(queue=queue, number=number):
                await self._callback(player, call_id, queue, number)
            case ivr.LeaveMessage():
                await self._message(player, call_id, outcome)
            case ivr.TransferCall(to=to, context=context):
                dialled = await player.perform(dlg.Transfer(to=to, context=context, ring_s=TRANSFER_RING_S))
                status = dialled.status if isinstance(dialled, dlg.Dialled) else "HANGUP"
                data = {"to": to, "context": context, "status": status}
                await self._ask(ev.CallFinished(call_id=call_id, finish=ev.Finish.TRANSFERRED, reason="ivr", data=data))
            case ivr.HangUp(prompts=prompts, reason=reason):
                if prompts:
                    await _hear(player, dlg.Play(prompts=prompts))
                await self._ask(ev.CallFinished(call_id=call_id, finish=ev.Finish.SELF_SERVICE, reason=reason))
        bound.info("ivr_finished", outcome=type(outcome).__name__)

    async def _callback(self, player: DialoguePlayer, call_id: str, queue: str, number: str) -> None:
        normalised = self._callback_number(number)
        if normalised is None:
            self._post(ev.CallProgressed(call_id=call_id, kind="ivr_callback_refused", data={"number": number}))
            await _hear(player, dlg.Play(prompts=(ivr.GOODBYE,)))
            reason = "callback-number-invalid"
            await self._ask(ev.CallFinished(call_id=call_id, finish=ev.Finish.SELF_SERVICE, reason=reason))
            return
        request = ev.CallbackRequested(callback_id=uuid.uuid4().hex, number=normalised, call_id=call_id, queue=queue)
        await self._ask(request)

    async def _message(self, player: DialoguePlayer, call_id: str, outcome: ivr.LeaveMessage) -> None:
        path = await spool_path(player.request, f"{self._messages_dir}/{call_id}")
        if outcome.prompt:
            await _hear(player, dlg.Play(prompts=(outcome.prompt,)))
        recorded = await player.perform(dlg.Record(path=path, max_s=outcome.max_s, beep=True))
        data = {"path": f"{path}.wav", "max_s": outcome.max_s, "caller_hung_up": isinstance(recorded, dlg.Gone)}
        await self._ask(ev.CallFinished(call_id=call_id, finish=ev.Finish.VOICEMAIL, reason="ivr", data=data))
