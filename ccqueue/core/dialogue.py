"""The caller dialogue: what a caller hears and presses, in one vocabulary.

Rules kept here:

1. Actions are what ccqueue asks of a caller's line (`Play`, `Say`, `Collect`, `Listen`,
   `Hold`, `SetLanguage`, `Record`, `Transfer`, `Hangup`); results are what came of one
   (`Heard`, `Pressed`, `TimedOut`, `Dialled`, `Gone`). The waiting caller's session, the
   IVR (`ccqueue.core.ivr`), the callback-number dialog and the survey all speak them;
   one adapter per medium turns them into commands (FastAGI: ``ccqueue.asterisk.
   dialogue_player``; the simulator: its virtual clock).
2. `Gone` answers any action: the caller hung up, or an agent's Bridge() took the
   channel. After it nothing more is asked of that line.
3. A dialog is a pure machine: ``start()`` returns its first action, ``feed(result)`` the
   next action or its outcome. No I/O, no clock; everything it needs from outside (a
   number normaliser) is handed in. Feeding a result the machine did not ask for raises
   `DialogueError` and changes nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ccqueue.core.errors import InternalError

__all__ = [
    "ACTIONS",
    "ANY_KEY",
    "Action",
    "CallbackNumberDialog",
    "Collect",
    "Dialled",
    "DialogueError",
    "Gone",
    "Hangup",
    "Heard",
    "Hold",
    "Listen",
    "NumberChosen",
    "Play",
    "Pressed",
    "Record",
    "Result",
    "Say",
    "SayFormat",
    "SetLanguage",
    "SurveyDialog",
    "SurveyDone",
    "TimedOut",
    "Transfer",
    "answers",
]

ANY_KEY = "0123456789*#"


class SayFormat(enum.Enum):
    NUMBER = "number"
    DIGITS = "digits"
    DATE = "date"


class DialogueError(InternalError):
    """A result fed that a dialog did not ask for; nothing changed."""

    error_id = "dialogue-result-unexpected"


# --- actions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Play:
    """Play sound files in order; a key in ``interruptible_by`` stops them and is `Pressed`."""

    prompts: tuple[str, ...]
    interruptible_by: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Say:
    """Say a number, digits or a date (``value``: digits; for a date, epoch seconds)."""

    format: SayFormat
    value: str
    interruptible_by: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Collect:
    """Read up to ``max_digits`` keys after ``prompts`` (any key cuts them short and counts).

    ``per_key``: ``timeout_s`` is the wait for each key, and ``terminator`` ends the entry
    early (it is not part of the digits). Otherwise ``timeout_s`` is the whole entry's and
    there is a single prompt (Asterisk's GET DATA, where '#' ends the entry).
    """

    prompts: tuple[str, ...]
    timeout_s: float
    max_digits: int
    terminator: str | None = None
    per_key: bool = True

    def __post_init__(self) -> None:
        if self.max_digits < 1 or self.timeout_s <= 0:
            raise ValueError(f"a collect needs max_digits >= 1 and timeout_s > 0, not {self!r}")
        if not self.per_key and len(self.prompts) != 1:
            raise ValueError("a collect with one timeout for the whole entry has exactly one prompt")


@dataclass(frozen=True, slots=True, kw_only=True)
class Listen:
    """Wait up to ``timeout_s`` for one key, saying nothing (music on hold goes on)."""

    timeout_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """Music on hold of ``moh_class`` in the background, until a prompt replaces it."""

    moh_class: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetLanguage:
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """Record the caller to ``path`` (no extension) for up to ``max_s``; ``beep`` first.

    `Heard` when recording stopped ('#', silence, the limit); `Gone` when the caller hung
    up, which still leaves a message.
    """

    path: str
    max_s: float
    beep: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    """Dial ``to`` in dialplan ``context`` from the caller's line; `Dialled` with the status."""

    to: str
    context: str
    ring_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Hangup:
    """End the call."""


Action = Play | Say | Collect | Listen | Hold | SetLanguage | Record | Transfer | Hangup
ACTIONS = (Play, Say, Collect, Listen, Hold, SetLanguage, Record, Transfer, Hangup)


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heard:
    """The action ran to its end (a prompt played, a language set, a recording stopped)."""


@dataclass(frozen=True, slots=True)
class Pressed:
    digits: str  # never empty: no key is `TimedOut`


@dataclass(frozen=True, slots=True)
class TimedOut:
    """No key in time."""


@dataclass(frozen=True, slots=True)
class Dialled:
    status: str  # Asterisk's DIALSTATUS: ANSWER, BUSY, NOANSWER, ...


@dataclass(frozen=True, slots=True)
class Gone:
    """The caller hung up, or was bridged away from this dialogue."""

    detail: str = ""


Result = Heard | Pressed | TimedOut | Dialled | Gone

# What each action may be answered with, besides `Gone` (rule 2).
_ANSWERS: dict[type[Any], tuple[type[Any], ...]] = {
    Play: (Heard, Pressed),
    Say: (Heard, Pressed),
    Collect: (Pressed, TimedOut),
    Listen: (Pressed, TimedOut),
    Hold: (Heard,),
    SetLanguage: (Heard,),
    Record: (Heard,),
    Transfer: (Dialled,),
    Hangup: (Heard,),
}


def answers(result: Result, action: Action) -> bool:
    """Whether ``result`` is a possible answer to ``action``."""
    return isinstance(result, (Gone, *_ANSWERS[type(action)]))


def _check(result: Result, asked: Action | None, dialog: str) -> Action:
    if asked is None or not answers(result, asked):
        state = "nothing (finished or not started)" if asked is None else type(asked).__name__
        raise DialogueError(f"{dialog}: {type(result).__name__} does not answer {state}")
    return asked


# --- the callback-number dialog -----------------------------------------------------------------

CALLBACK_OFFER = "ccqueue/callback-offer"
CALLBACK_CONFIRM_KEYS = "ccqueue/callback-confirm-keys"  # "1 to confirm, 2 to key another"
CALLBACK_ENTER = "ccqueue/callback-enter"
CALLBACK_INVALID = "ccqueue/callback-invalid"
# How long the caller has to press 1 or 2, and to key a whole number (E.164 has at most
# 15 digits; one more lets a national prefix through for the normaliser to judge).
CHOICE_TIMEOUT_S = 6.0
NUMBER_TIMEOUT_S = 15.0
NUMBER_MAX_DIGITS = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class NumberChosen:
    """How the callback-number dialog ended: the number to call back (normalised), or None."""

    number: str | None
    caller_left: bool = False


class _Stage(enum.Enum):
    OFFER = "offer"  # the own number announced
    READ_BACK = "read-back"  # its digits said
    CHOICE = "choice"  # 1 confirm, 2 key another
    ENTER = "enter"  # keying a number
    INVALID = "invalid"  # telling the caller the keyed number is not one
    DONE = "done"


_A = TypeVar("_A", Play, Say, Collect)


class CallbackNumberDialog:
    """Read the caller's own number back (1 confirms it, 2 keys another), or have one keyed.

    Nothing is chosen unless the caller pressed a key for it and the number passed
    ``normalise`` (None: not a number we call). A keyed number that fails is answered
    with a prompt saying so.
    """

    def __init__(self, *, own: str, normalise: Callable[[str], str | None]) -> None:
        self._normalise = normalise
        self._own = normalise(own) if own else None
        self._stage: _Stage | None = None
        self._asked: Action | None = None

    def start(self) -> Action | NumberChosen:
        if self._stage is not None:
            raise DialogueError("callback-number dialog: already started")
        if self._own is None:
            return self._enter()
        return self._ask(_Stage.OFFER, Play(prompts=(CALLBACK_OFFER,)))

    def feed(self, result: Result) -> Action | NumberChosen:
        _check(result, self._asked, "callback-number dialog")
        if isinstance(result, Gone):
            return self._done(NumberChosen(number=None, caller_left=True))
        match self._stage:
            case _Stage.OFFER:
                assert self._own is not None
                return self._ask(_Stage.READ_BACK, Say(format=SayFormat.DIGITS, value=self._own.lstrip("+")))
            case _Stage.READ_BACK:
                choice = Collect(prompts=(CALLBACK_CONFIRM_KEYS,), timeout_s=CHOICE_TIMEOUT_S, max_digits=1, per_key=False)
                return self._ask(_Stage.CHOICE, choice)
            case _Stage.CHOICE:
                key = result.digits[:1] if isinstance(result, Pressed) else ""
                if key == "1":
                    return self._done(NumberChosen(number=self._own))
                if key == "2":
                    return self._enter()
                return self._done(NumberChosen(number=None))
            case _Stage.ENTER:
                keyed = result.digits if isinstance(result, Pressed) else ""
                number = self._normalise(keyed) if keyed.isdigit() else None
                if keyed and number is None:
                    return self._ask(_Stage.INVALID, Play(prompts=(CALLBACK_INVALID,)))
                return self._done(NumberChosen(number=number))
            case _:  # INVALID
                return self._done(NumberChosen(number=None))

    def _enter(self) -> Collect:
        entry = Collect(prompts=(CALLBACK_ENTER,), timeout_s=NUMBER_TIMEOUT_S, max_digits=NUMBER_MAX_DIGITS, per_key=False)
        return self._ask(_Stage.ENTER, entry)

    def _ask(self, stage: _Stage, action: _A) -> _A:
        self._stage, self._asked = stage, action
        return action

    def _done(self, outcome: NumberChosen) -> NumberChosen:
        self._stage, self._asked = _Stage.DONE, None
        return outcome


# --- the survey ------------------------------------------------------------------------------------

SURVEY_RATE = "ccqueue/survey-rate"
SURVEY_RECOMMEND = "ccqueue/survey-recommend"
SURVEY_THANKS = "ccqueue/survey-thanks"
SURVEY_TIMEOUT_S = 5.0
SURVEY_TRIES = 2  # each question is asked at most this often


@dataclass(frozen=True, slots=True, kw_only=True)
class SurveyDone:
    """The answers (None: not answered, also when the caller hung up before)."""

    rating: int | None  # 1-5
    recommend: int | None  # 0-10, the net promoter question


@dataclass(frozen=True, slots=True)
class _Question:
    prompt: str
    low: int
    high: int
    max_digits: int


_QUESTIONS = (_Question(SURVEY_RATE, 1, 5, 1), _Question(SURVEY_RECOMMEND, 0, 10, 2))


class SurveyDialog:
    """Rate the call (1-5), then would you recommend us (0-10); '#' ends an answer early.

    A question not answered in range is asked once more, then left unanswered. What was
    answered before a hang-up is kept.
    """

    def __init__(self) -> None:
        self._answers: list[int | None] = []
        self._tries = 0  # times the current question was asked
        self._asked: Action | None = None
        self._started = False

    def start(self) -> Action | SurveyDone:
        if self._started:
            raise DialogueError("survey: already started")
        self._started = True
        return self._question()

    def feed(self, result: Result) -> Action | SurveyDone:
        asked = _check(result, self._asked, "survey")
        if isinstance(result, Gone):
            return self._done()
        if isinstance(asked, Play):  # the thanks
            return self._done()
        question = _QUESTIONS[len(self._answers)]
        digits = result.digits if isinstance(result, Pressed) else ""
        if digits.isdigit() and question.low <= int(digits) <= question.high:
            self._answers.append(int(digits))
            self._tries = 0
        elif self._tries >= SURVEY_TRIES:
            self._answers.append(None)
            self._tries = 0
        if len(self._answers) == len(_QUESTIONS):
            self._asked = Play(prompts=(SURVEY_THANKS,))
            return self._asked
        return self._question()

    def _question(self) -> Collect:
        question = _QUESTIONS[len(self._answers)]
        self._tries += 1
        read = Collect(prompts=(question.prompt,), timeout_s=SURVEY_TIMEOUT_S, max_digits=question.max_digits,
                       terminator="#")  # fmt: skip
        self._asked = read
        return read

    def _done(self) -> SurveyDone:
        answers = [*self._answers, None, None]
        self._asked = None
        return SurveyDone(rating=answers[0], recommend=answers[1])
