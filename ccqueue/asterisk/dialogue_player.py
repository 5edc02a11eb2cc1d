"""The caller dialogue over FastAGI: actions become AGI commands, answers become results.

Rules kept here:

- Every caller-facing AGI command of a caller's session is sent here: the waiting
  caller's prompts and hold segments, the IVR, the callback-number dialog and the survey
  (``ccqueue.core.dialogue`` is the vocabulary). The command texts are Asterisk's, and
  what the end-to-end tests look for in AMI's AGIExecStart events.
- Whether the caller has left the dialogue is decided in one place, `_gone`: Asterisk
  answers ``HANGUP`` or ``511`` once the caller hung up, and an agent's Bridge() taking
  the channel ends the command in progress the same way. A ``-1`` answer ends the
  dialogue too, except from commands that also fail for a missing sound or an
  unwritable file (STREAM FILE, SAY, RECORD FILE, EXEC): those go on, and the next
  command tells whether the caller is still there.
- The player keeps what it did to the line that later actions depend on: the language
  it set, and whether music on hold is playing (any prompt stops it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import structlog
from panoramisk.fast_agi import Request

from ccqueue.core import dialogue as dlg

log = structlog.get_logger("ccqueue.agi")

# STREAM FILE and SAY name the keys that stop them; Collect's prompts stop at any key.
_SAY_COMMANDS = {dlg.SayFormat.NUMBER: "SAY NUMBER", dlg.SayFormat.DIGITS: "SAY DIGITS", dlg.SayFormat.DATE: "SAY DATE"}
# RECORD FILE stops after this many seconds of silence (Asterisk's own example uses 5).
RECORD_SILENCE_S = 5
# Commands whose -1 may be a missing sound or file rather than a caller who left.
_MAY_FAIL = ("STREAM FILE", "SAY ", "RECORD FILE", "EXEC ")
_KEYS = "0123456789*#ABCD"

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Dialog(Protocol[T_co]):
    """A pure dialog machine of ``ccqueue.core.dialogue`` ending in a ``T_co``."""

    def start(self) -> dlg.Action | T_co: ...
    def feed(self, result: dlg.Result) -> dlg.Action | T_co: ...


class DialoguePlayer:
    """One caller's line, as the caller dialogue sees it."""

    def __init__(self, request: Request, *, language: str = "en") -> None:
        self.request = request
        # The channel's language as ccqueue last set it (the dialplan starts it as "en").
        self.language = language
        self.music_on = False

    async def perform(self, action: dlg.Action) -> dlg.Result:
        """Carry out one action; `Gone` once the caller has left the dialogue."""
        match action:
            case dlg.Play(prompts=prompts, interruptible_by=keys):
                return await self._play(prompts, keys)
            case dlg.Say(format=fmt, value=value, interruptible_by=keys):
                self.music_on = False
                result = await self._send(f'{_SAY_COMMANDS[fmt]} {value} "{keys}"')
                return _key_or_heard(result)
            case dlg.Collect():
                return await self._collect(action)
            case dlg.Listen(timeout_s=timeout_s):
                result = await self._send(f"WAIT FOR DIGIT {_ms(timeout_s)}")
                return _key_or(result, dlg.TimedOut())
            case dlg.Hold(moh_class=moh_class):
                result = await self._send(f"SET MUSIC ON {moh_class}")
                self.music_on = not isinstance(result, dlg.Gone)
                return result if isinstance(result, dlg.Gone) else dlg.Heard()
            case dlg.SetLanguage(language=language):
                result = await self._send(f"SET VARIABLE CHANNEL(language) {language}")
                self.language = language
                return result if isinstance(result, dlg.Gone) else dlg.Heard()
            case dlg.Record(path=path, max_s=max_s, beep=beep):
                self.music_on = False
                options = f"0 BEEP s={RECORD_SILENCE_S}" if beep else f"s={RECORD_SILENCE_S}"
                result = await self._send(f'RECORD FILE {path} wav "#" {_ms(max_s)} {options}')
                return result if isinstance(result, dlg.Gone) else dlg.Heard()
            case dlg.Transfer(to=to, context=context, ring_s=ring_s):
                return await self._transfer(to, context, ring_s)
            case dlg.Hangup():
                result = await self._send("HANGUP")
                return result if isinstance(result, dlg.Gone) else dlg.Heard()
        raise TypeError(f"not a caller action: {action!r}")  # pragma: no cover - the union is closed

    async def _send(self, command: str) -> dict[str, Any] | dlg.Gone:
        result: dict[str, Any] = await self.request.send_command(command)
        reason = _gone(command, result)
        if reason is not None:
            return dlg.Gone(reason)
        return result

    async def _play(self, prompts: tuple[str, ...], keys: str) -> dlg.Result:
        self.music_on = False  # a prompt stops the background music
        for prompt in prompts:
            result = await self._send(f'STREAM FILE {prompt} "{keys}"')
            if isinstance(result, dlg.Gone):
                return result
            if "error" in result:
                # Asterisk answers -1 both for a sound it does not have and for a prompt
                # cut short because an agent's Bridge() took the caller (which happens on
                # most answered calls); the next command tells which, so this is no warning.
                log.info("prompt_not_played", prompt=prompt, agi_error=result["error"])
                continue
            key = _digit(result)
            if key is not None:
                return dlg.Pressed(key)
        return dlg.Heard()

    async def _collect(self, action: dlg.Collect) -> dlg.Result:
        self.music_on = False
        if not action.per_key:
            answer = await self._send(f"GET DATA {action.prompts[0]} {_ms(action.timeout_s)} {action.max_digits}")
            if isinstance(answer, dlg.Gone):
                return answer
            keyed = _value(answer)[0]
            if keyed.strip(_KEYS):  # not keys: an answer garbled on the way is not input
                log.warning("agi_answer_not_keys", command="GET DATA", value=keyed[:40])
                keyed = ""
            return dlg.Pressed(keyed) if keyed else dlg.TimedOut()
        heard = await self._play(action.prompts, dlg.ANY_KEY)
        if isinstance(heard, dlg.Gone):
            return heard
        digits = heard.digits if isinstance(heard, dlg.Pressed) else ""
        terminator = action.terminator
        while len(digits) < action.max_digits and not (terminator and digits.endswith(terminator)):
            result = await self._send(f"WAIT FOR DIGIT {_ms(action.timeout_s)}")
            if isinstance(result, dlg.Gone):
                return result
            key = _digit(result)
            if key is None:
                break
            digits += key
        if terminator and digits.endswith(terminator):
            digits = digits[: -len(terminator)]
        return dlg.Pressed(digits) if digits else dlg.TimedOut()

    async def _transfer(self, to: str, context: str, ring_s: float) -> dlg.Result:
        dialled = await self._send(f"EXEC Dial Local/{to}@{context},{int(ring_s)}")
        if isinstance(dialled, dlg.Gone):
            return dialled
        answer = await self._send("GET VARIABLE DIALSTATUS")
        if isinstance(answer, dlg.Gone):
            return answer
        return dlg.Dialled(_value(answer)[1] or "UNKNOWN")


async def converse(player: DialoguePlayer, dialog: Dialog[T]) -> T:
    """Run ``dialog`` on the caller's line to its outcome (a `Gone` is fed to it like any result)."""
    step = dialog.start()
    while isinstance(step, dlg.ACTIONS):
        result = await player.perform(step)
        step = dialog.feed(result)
    return step  # type: ignore[return-value]  # not an action: the dialog's outcome


def _gone(command: str, result: Mapping[str, Any]) -> str | None:
    """Why the caller has left the dialogue (hung up, or bridged away), or None: still here."""
    error = result.get("error")
    if error == "AGIResultHangup" or result.get("status_code") == 511:
        return str(error or "dead channel")
    if error is None or command.startswith(_MAY_FAIL):
        return None
    return str(error)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _value(result: Mapping[str, Any]) -> tuple[str, str]:
    """``result=<value> (<data>)`` of an AGI answer, as panoramisk parses it."""
    answer = result.get("result")
    if isinstance(answer, tuple) and len(answer) == 2:
        return str(answer[0]), str(answer[1])
    return "", ""


def _digit(result: Mapping[str, Any]) -> str | None:
    """The key a WAIT FOR DIGIT / STREAM FILE / SAY answer reports (an ASCII code), if any."""
    value, _ = _value(result)
    code = int(value) if value.isdigit() else 0
    return chr(code) if 0 < code < 128 and chr(code) in _KEYS else None


def _key_or(result: dict[str, Any] | dlg.Gone, otherwise: dlg.Result) -> dlg.Result:
    if isinstance(result, dlg.Gone):
        return result
    key = _digit(result)
    return dlg.Pressed(key) if key is not None else otherwise


def _key_or_heard(result: dict[str, Any] | dlg.Gone) -> dlg.Result:
    return _key_or(result, dlg.Heard())
