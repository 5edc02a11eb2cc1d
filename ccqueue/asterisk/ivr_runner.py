"""The IVR over FastAGI: carries out what `ccqueue.core.ivr` decides, in the caller's AGI session.

Rules kept here:

- The core decides, this module only acts: each action becomes AGI commands (STREAM FILE
  with every key as an escape digit, WAIT FOR DIGIT, SAY NUMBER/DIGITS/DATE, RECORD FILE,
  SET VARIABLE CHANNEL(language), EXEC Dial) and its result goes back to the machine.
- Every timeline entry of the machine is posted as a `CallProgressed` as it happens.
- A walk ends with exactly one question to the engine: `CallRouted`, `CallbackRequested`
  or `CallFinished`. After that the caller's session goes on with whatever the engine
  sends (music on hold, release). A caller who hangs up mid-walk ends it with a
  ``ivr_caller_left`` entry and no question; the session's end tells the engine the rest.
  A message being recorded when the caller hangs up is still a message left.
- A call keeps the tree it started with: `trees()` is read once, at the start.
- A CRM look-up never keeps the caller longer than the node's ``timeout_s``: a slow, dead
  or nonsensical CRM (not 200, not JSON, too large) is a failed look-up, at once or when
  the time is up, and the machine takes the node's ``on_failure`` path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import structlog
from panoramisk.fast_agi import Request

from ccqueue.asterisk.paths import spool_path
from ccqueue.core import events as ev
from ccqueue.core import ivr
from ccqueue.core.ivr import IvrTree
from ccqueue.core.replies import Reply

log = structlog.get_logger("ccqueue.ivr")

ALL_KEYS = "0123456789*#"
# A CRM answer is a small JSON object about one customer; 64 KiB is far more than enough
# and keeps a misbehaving CRM from filling memory.
MAX_CRM_BYTES = 65536
DEFAULT_MESSAGES_DIR = "ccqueue-messages"  # under Asterisk's spool directory (ccqueue.asterisk.paths)
# RECORD FILE stops after this many seconds of silence (Asterisk's own example uses 5).
RECORD_SILENCE_S = 5
# How long a transfer target rings before the caller is told it did not answer.
TRANSFER_RING_S = 60
SURVEY_TIMEOUT_S = 5.0
SURVEY_TRIES = 2

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


class IvrRunner:
    """Runs IVR walks and post-call surveys in callers' FastAGI sessions."""

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

    async def run(self, request: Request, *, call_id: str, entry: str, caller: str, language: str) -> None:
        """Take the caller through tree `entry`; ends by asking the engine where the call goes."""
        bound = log.bind(call_id=call_id, ivr=entry)
        tree = self._trees().get(entry)
        if tree is None:
            bound.error("ivr_tree_unknown")
            await self._ask(ev.CallFinished(call_id=call_id, finish=ev.Finish.SELF_SERVICE, reason="ivr-unknown"))
            return
        machine = ivr.IvrCall(tree, caller=caller, language=language, hotline=request.headers.get("agi_extension", ""))
        session = _Session(request)
        try:
            await session.set_language(language)
            step = machine.start(now=self._clock())
            while not step.final:
                self._report(call_id, step.timeline)
                result = await self._perform(session, step.action)
                step = machine.feed(result, now=self._clock())
            self._report(call_id, step.timeline)
            await self._finish(session, call_id, step.action, bound)
        except CallerGone:
            bound.info("ivr_caller_left", node=machine.node_name)
            self._post(ev.CallProgressed(call_id=call_id, kind="ivr_caller_left", data={"node": machine.node_name}))

    def _report(self, call_id: str, timeline: tuple[ivr.TimelineEntry, ...]) -> None:
        for entry in timeline:
            self._post(ev.CallProgressed(call_id=call_id, kind=entry.kind, data=dict(entry.data)))

    async def _perform(self, session: _Session, action: ivr.Action) -> ivr.Result:
        match action:
            case ivr.PlayPrompts(prompts=prompts):
                for prompt in prompts:
                    await session.play(prompt)
                return ivr.Done()
            case ivr.ReadDigits():
                return ivr.Digits(await session.read_digits(action))
            case ivr.SayValue(format=fmt, value=value):
                await session.say(fmt, value)
                return ivr.Done()
            case ivr.FetchJson(url=url, timeout_s=timeout_s):
                return await self._fetch(url, timeout_s)
            case ivr.SetLanguage(language=language):
                await session.set_language(language)
                return ivr.Done()
        raise TypeError(f"not an IVR request: {action!r}")

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
        self, session: _Session, call_id: str, outcome: ivr.Action, bound: structlog.typing.FilteringBoundLogger
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
                await self._callback(session, call_id, queue, number)
            case ivr.LeaveMessage():
                await self._message(session, call_id, outcome)
            case ivr.TransferCall(to=to, context=context):
                status = await session.dial(f"Local/{to}@{context}")
                data = {"to": to, "context": context, "status": status}
                await self._ask(ev.CallFinished(call_id=call_id, finish=ev.Finish.TRANSFERRED, reason="ivr", data=data))
            case ivr.HangUp(prompts=prompts, reason=reason):
                for prompt in prompts:
                    await session.play(prompt)
                await self._ask(ev.CallFinished(call_id=call_id, finish=ev.Finish.SELF_SERVICE, reason=reason))
        bound.info("ivr_finished", outcome=type(outcome).__name__)

    async def _callback(self, session: _Session, call_id: str, queue: str, number: str) -> None:
        normalised = self._callback_number(number)
        if normalised is None:
            self._post(ev.CallProgressed(call_id=call_id, kind="ivr_callback_refused", data={"number": number}))
            await session.play(ivr.GOODBYE)
            reason = "callback-number-invalid"
            await self._ask(ev.CallFinished(call_id=call_id, finish=ev.Finish.SELF_SERVICE, reason=reason))
            return
        request = ev.CallbackRequested(callback_id=uuid.uuid4().hex, number=normalised, call_id=call_id, queue=queue)
        await self._ask(request)

    async def _message(self, session: _Session, call_id: str, outcome: ivr.LeaveMessage) -> None:
        path = await spool_path(session.request, f"{self._messages_dir}/{call_id}")
        if outcome.prompt:
            await session.play(outcome.prompt)
        recorded = await session.record(path, outcome.max_s)
        data = {"path": f"{path}.wav", "max_s": outcome.max_s, "caller_hung_up": not recorded}
        await self._ask(ev.CallFinished(call_id=call_id, finish=ev.Finish.VOICEMAIL, reason="ivr", data=data))

    # --- the survey ---------------------------------------------------------------------------

    async def run_survey(self, request: Request, *, call_id: str, language: str) -> None:
        """Ask the caller to rate the call (1-5) and whether they would recommend us (0-10).

        What was answered before a hang-up is kept; an unanswered question is None.
        """
        session = _Session(request)
        rating: int | None = None
        recommend: int | None = None
        try:
            await session.set_language(language)
            rating = await _score(session, "ccqueue/survey-rate", 1, 5, max_digits=1)
            recommend = await _score(session, "ccqueue/survey-recommend", 0, 10, max_digits=2)
            await session.play("ccqueue/survey-thanks")
        except CallerGone:
            log.info("survey_caller_left", call_id=call_id)
        self._post(ev.SurveyAnswered(call_id=call_id, rating=rating, recommend=recommend))


async def _score(session: _Session, prompt: str, low: int, high: int, *, max_digits: int) -> int | None:
    read = ivr.ReadDigits(prompts=(prompt,), timeout_s=SURVEY_TIMEOUT_S, max_digits=max_digits, terminator="#")
    for _ in range(SURVEY_TRIES):
        digits = await session.read_digits(read)
        if digits.isdigit() and low <= int(digits) <= high:
            return int(digits)
    return None


class _Session:
    """AGI commands for one caller; a hang-up raises `CallerGone`."""

    def __init__(self, request: Request) -> None:
        self._request = request

    @property
    def request(self) -> Request:
        return self._request

    async def _command(self, text: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request.send_command(text)
        error = result.get("error")
        if error == "AGIResultHangup" or result.get("status_code") == 511:
            raise CallerGone(error or "dead channel")
        return result

    async def _code(self, text: str) -> int:
        """The numeric result of a command; -1 (failure) ends the walk as a hang-up would."""
        result = await self._command(text)
        if "error" in result:
            raise CallerGone(str(result["error"]))
        return _result_code(result)

    async def play(self, prompt: str, escape: str = "") -> str:
        """Play `prompt`; the key that cut it short, or ''. A missing sound is skipped."""
        result = await self._command(f'STREAM FILE {prompt} "{escape}"')
        if "error" in result:
            # STREAM FILE of a file Asterisk does not have answers -1 without a hang-up;
            # if the caller did hang up, the next command says so.
            log.warning("ivr_prompt_failed", prompt=prompt, agi_error=result["error"])
            return ""
        code = _result_code(result)
        return chr(code) if code > 0 else ""

    async def read_digits(self, action: ivr.ReadDigits) -> str:
        """Play the prompts (any key cuts them short and counts), then wait for more keys."""
        digits = ""
        for prompt in action.prompts:
            digits = await self.play(prompt, ALL_KEYS)
            if digits:
                break
        timeout_ms = max(1, round(action.timeout_s * 1000))
        while len(digits) < action.max_digits and not (action.terminator and digits.endswith(action.terminator)):
            code = await self._code(f"WAIT FOR DIGIT {timeout_ms}")
            if code <= 0:
                break
            digits += chr(code)
        if action.terminator and digits.endswith(action.terminator):
            digits = digits[: -len(action.terminator)]
        return digits

    async def say(self, fmt: ivr.SayFormat, value: str) -> None:
        command = {ivr.SayFormat.NUMBER: "SAY NUMBER", ivr.SayFormat.DIGITS: "SAY DIGITS", ivr.SayFormat.DATE: "SAY DATE"}
        await self._command(f'{command[fmt]} {value} ""')

    async def set_language(self, language: str) -> None:
        await self._command(f"SET VARIABLE CHANNEL(language) {language}")

    async def record(self, path: str, max_s: float) -> bool:
        """Record to ``path.wav`` after a beep; False when the caller hung up while recording."""
        max_ms = max(1, round(max_s * 1000))
        try:
            await self._command(f'RECORD FILE {path} wav "#" {max_ms} 0 BEEP s={RECORD_SILENCE_S}')
        except CallerGone:
            return False  # the message up to the hang-up is kept by Asterisk
        return True

    async def dial(self, target: str) -> str:
        """Dial `target` from the caller's channel; Asterisk's DIALSTATUS, or 'HANGUP'."""
        with contextlib.suppress(CallerGone):
            await self._command(f"EXEC Dial {target},{TRANSFER_RING_S}")
            result = await self._command("GET VARIABLE DIALSTATUS")
            return str(result.get("result", ("", ""))[1]) or "UNKNOWN"
        return "HANGUP"


def _result_code(result: Mapping[str, Any]) -> int:
    value = result.get("result", ("", ""))[0]
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
