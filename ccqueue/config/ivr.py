"""The typed, frozen configuration of IVR trees and schedules.

Rules kept here (the same as `ccqueue.config.models`):

- Every model forbids unknown keys, is frozen and strict; mappings are read-only and
  lists are tuples. An integer is accepted where seconds are expected.
- A node is a mapping with exactly one key, its type, holding that type's settings::

      main:
        menu: {prompt: ccqueue/ivr-menu, keys: {"1": sales}, on_exhausted: bye}

  so a validation error's key path is the path written in the file, and a misspelt
  type gets the loader's "did you mean" hint like any other key.
- Patterns must compile, time zones must exist (zoneinfo), hours are ``HH:MM-HH:MM``
  (a range whose end is not after its start runs past midnight; ``24:00`` may end a
  range), holiday dates are written ``2025-12-25``.
- What needs the whole configuration (node, queue and schedule references,
  reachability, loops, sound files) is checked by `ccqueue.config.ivr_checks`, where
  file and line are known.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    model_validator,
)

from ccqueue.config.base import Frozen, name_rule, read_only
from ccqueue.core.ivr import DEFAULT_MAX_VISITS
from ccqueue.core.schedule import parse_range

__all__ = [
    "NODE_TYPES",
    "SECTION_DESCRIPTIONS",
    "IvrTree",
    "Node",
    "Schedule",
]

SECTION_DESCRIPTIONS: dict[str, str] = {
    "schedules": "Business hours by name: a time zone, weekly hours and holidays. IVR branches test "
    "whether a schedule is open. Keys: a-z, 0-9, '_' and '-'.",
    "ivr": "IVR trees by name: an entry node and the nodes, each of exactly one type (play, menu, collect, "
    "say, branch, lookup, set, language, queue, callback, voicemail, transfer, hangup, goto). A hotline's "
    "ivr names one. Keys: a-z, 0-9, '_' and '-'.",
}


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"the pattern does not compile: {exc}") from None
    return value


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {value!r}; write an IANA name such as 'Europe/Berlin' or 'UTC'") from None
    return value


def _hours(value: str) -> str:
    parse_range(value)  # its ValueError says what is wrong
    return value


def _date(value: object) -> object:
    """A date as YAML reads it (unquoted), or quoted text in the same form."""
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected a date such as 2025-12-25, got {value!r}") from None
    if isinstance(value, dt.datetime):
        raise ValueError("expected a date such as 2025-12-25, not a date and time")
    return value


Name = Annotated[str, name_rule(r"[a-z0-9_-]+", "a name uses only a-z, 0-9, '_' and '-'")]
NodeRef = Annotated[str, Field(min_length=1)]
SkillName = Annotated[str, name_rule(r"[a-z0-9_-]+", "a skill name uses only a-z, 0-9, '_' and '-'")]
Variable = Annotated[str, name_rule(r"[a-z_][a-z0-9_]*", "a variable name uses a-z, 0-9 and '_', not starting with a digit")]
Key = Annotated[str, name_rule(r"[0-9*#]", "a key is one of 0-9, '*' and '#'")]
# A sound as Playback() takes it: a name under Asterisk's sounds, without extension.
Sound = Annotated[
    str,
    name_rule(r"[A-Za-z0-9_][A-Za-z0-9_/-]*", "a sound is a name such as 'ccqueue/welcome' or 'digits/1', no extension"),
]
Sounds = Annotated[tuple[Sound, ...], Field(strict=False)]
Pattern = Annotated[str, AfterValidator(_compiles)]
Language = Literal["en", "ru"]
TimeZone = Annotated[str, AfterValidator(_time_zone)]
Hours = Annotated[tuple[Annotated[str, AfterValidator(_hours)], ...], Field(strict=False)]
Timeout = Annotated[float, Field(gt=0, le=60)]
Retries = Annotated[int, Field(ge=0, le=10)]


def _not_empty(value: Mapping[str, Any]) -> Mapping[str, Any]:
    # A validator rather than min_length: the JSON Schema keyword it would add is one
    # the schema's tests do not use.
    if not value:
        raise ValueError("must not be empty")
    return MappingProxyType(dict(value))


KeyTargets = Annotated[Mapping[Key, NodeRef], AfterValidator(_not_empty)]
KeyLanguages = Annotated[Mapping[Key, Language], AfterValidator(read_only)]
FieldVariables = Annotated[Mapping[str, Variable], AfterValidator(read_only)]
VariableValues = Annotated[Mapping[Variable, str], AfterValidator(read_only)]
NodeMap = Annotated[Mapping[Name, "Node"], AfterValidator(_not_empty)]


def _no_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


# --- schedules ----------------------------------------------------------------------------


class WeeklyHours(Frozen):
    """Open hours per weekday; a day left out is closed."""

    mon: Hours = ()
    tue: Hours = ()
    wed: Hours = ()
    thu: Hours = ()
    fri: Hours = ()
    sat: Hours = ()
    sun: Hours = ()

    def days(self) -> tuple[tuple[str, ...], ...]:
        return (self.mon, self.tue, self.wed, self.thu, self.fri, self.sat, self.sun)


class Holiday(Frozen):
    date: Annotated[dt.date, BeforeValidator(_date)]
    hours: Hours = ()  # none: closed all day
    name: str | None = None


class Schedule(Frozen):
    time_zone: TimeZone
    hours: WeeklyHours = WeeklyHours()
    holidays: Annotated[tuple[Holiday, ...], Field(strict=False)] = ()

    @model_validator(mode="after")
    def _one_entry_per_date(self) -> Schedule:
        seen: set[dt.date] = set()
        for holiday in self.holidays:
            if holiday.date in seen:
                raise ValueError(f"holiday {holiday.date.isoformat()} is listed twice")
            seen.add(holiday.date)
        return self


# --- nodes ---------------------------------------------------------------------------------


class Play(Frozen):
    prompts: Annotated[Sounds, Field(min_length=1)]
    next: NodeRef


class Menu(Frozen):
    prompt: Sound
    keys: KeyTargets
    timeout_s: Timeout = 5.0
    retries: Retries = 2
    invalid_prompt: Sound | None = "pm-invalid-option"
    on_exhausted: NodeRef


class Collect(Frozen):
    variable: Variable
    prompt: Sound
    min_length: Annotated[int, Field(ge=1, le=64)] = 1
    max_length: Annotated[int, Field(ge=1, le=64)] = 16
    terminator: Literal["#", "*"] | None = "#"
    pattern: Pattern | None = None
    timeout_s: Timeout = 5.0
    retries: Retries = 2
    invalid_prompt: Sound | None = "pm-invalid-option"
    next: NodeRef
    on_exhausted: NodeRef

    @model_validator(mode="after")
    def _lengths_in_order(self) -> Collect:
        if self.min_length > self.max_length:
            raise ValueError(f"min_length {self.min_length} is more than max_length {self.max_length}")
        return self


class Say(Frozen):
    variable: Variable
    format: Literal["number", "digits", "date"]
    next: NodeRef


class Condition(Frozen):
    """One test and where it leads: exactly one of caller_matches, variable (with
    equals or matches), schedule_open and schedule_closed."""

    caller_matches: Pattern | None = None
    variable: Variable | None = None
    equals: str | None = None
    matches: Pattern | None = None
    schedule_open: str | None = None
    schedule_closed: str | None = None
    goto: NodeRef

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = [k for k in ("caller_matches", "variable", "schedule_open", "schedule_closed") if getattr(self, k)]
        if len(tests) != 1:
            found = " and ".join(tests) or "none"
            raise ValueError(
                f"a condition has exactly one of caller_matches, variable, schedule_open, schedule_closed; got {found}"
            )
        if (self.variable is None) != (self.equals is None and self.matches is None):
            raise ValueError("equals and matches go with variable, and variable needs one of them")
        if self.equals is not None and self.matches is not None:
            raise ValueError("give equals or matches, not both")
        return self


class Branch(Frozen):
    conditions: Annotated[tuple[Condition, ...], Field(strict=False, min_length=1)]
    otherwise: NodeRef


class Lookup(Frozen):
    url: Annotated[str, name_rule(r"https?://\S+", "expected an http:// or https:// URL (with {caller} or {variable})")]
    timeout_s: Annotated[float, Field(gt=0, le=10)] = 2.0
    fields: FieldVariables
    next: NodeRef
    on_failure: NodeRef


class SetValues(Frozen):
    variables: VariableValues = Field(default_factory=_no_mapping)
    priority: int | None = None
    preferred_agent: str | None = None
    # Skills (name -> least level 1..5) an agent must hold to take this call, for its
    # whole wait, in place of the queue's routing steps.
    skills: Annotated[Mapping[SkillName, Annotated[int, Field(ge=1, le=5)]], AfterValidator(read_only)] | None = None
    next: NodeRef


class ChooseLanguage(Frozen):
    keys: KeyLanguages = Field(default_factory=_no_mapping)
    prompt: Sound | None = None
    variable: Variable | None = None
    timeout_s: Timeout = 5.0
    retries: Retries = 1
    next: NodeRef

    @model_validator(mode="after")
    def _keys_or_variable(self) -> ChooseLanguage:
        if bool(self.keys) == (self.variable is not None):
            raise ValueError("a language node has keys (the caller chooses) or a variable, exactly one")
        if self.prompt is not None and not self.keys:
            raise ValueError("a prompt goes with keys")
        return self


class ToQueue(Frozen):
    name: str
    priority: int | None = None


class Callback(Frozen):
    queue: str
    number_variable: Variable | None = None
    on_no_number: NodeRef | None = None


class Voicemail(Frozen):
    max_s: Annotated[float, Field(gt=0, le=600)] = 120.0
    prompt: Sound | None = "ccqueue/leave-message"


class Transfer(Frozen):
    to: Annotated[str, name_rule(r"[0-9A-Za-z*#+{}_]+", "a transfer goes to a number, an extension or a {variable}")]
    context: Annotated[str, name_rule(r"[A-Za-z0-9_-]+", "a dialplan context name")] = "ccqueue-transfer"
    on_refused: NodeRef | None = None


class Hangup(Frozen):
    prompts: Sounds = ()
    reason: Annotated[str, Field(min_length=1)] = "ivr"


NODE_TYPES: tuple[str, ...] = (
    "play", "menu", "collect", "say", "branch", "lookup", "set", "language",
    "queue", "callback", "voicemail", "transfer", "hangup", "goto",
)  # fmt: skip


class Node(Frozen):
    """One node: exactly one of its keys, naming its type."""

    play: Play | None = None
    menu: Menu | None = None
    collect: Collect | None = None
    say: Say | None = None
    branch: Branch | None = None
    lookup: Lookup | None = None
    set: SetValues | None = None
    language: ChooseLanguage | None = None
    queue: ToQueue | None = None
    callback: Callback | None = None
    voicemail: Voicemail | None = None
    transfer: Transfer | None = None
    hangup: Hangup | None = None
    goto: NodeRef | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_types(cls, data: Any) -> Any:
        # ``hangup:`` and ``voicemail:`` with nothing under them take every default.
        if isinstance(data, dict):
            return {k: ({} if v is None and k in ("hangup", "voicemail") else v) for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _exactly_one_type(self) -> Node:
        given = [name for name in NODE_TYPES if getattr(self, name) is not None]
        if len(given) != 1:
            found = " and ".join(given) or "none"
            raise ValueError(f"a node has exactly one type ({', '.join(NODE_TYPES)}); got {found}")
        return self

    @property
    def type(self) -> str:
        return next(name for name in NODE_TYPES if getattr(self, name) is not None)

    @property
    def body(self) -> Any:
        return getattr(self, self.type)


class IvrTree(Frozen):
    entry: NodeRef
    nodes: NodeMap
    transfer_allowed: Annotated[tuple[Pattern, ...], Field(strict=False)] = ()
    max_visits: Annotated[int, Field(ge=5, le=500)] = DEFAULT_MAX_VISITS


Schedules = Annotated[Mapping[Name, Schedule], AfterValidator(read_only)]
Trees = Annotated[Mapping[Name, IvrTree], AfterValidator(read_only)]


# Hover text for the JSON Schema (`ccqueue.config.schema`), by model and field.
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Schedule": {
        "time_zone": "IANA time zone the hours are in, e.g. Europe/Berlin; daylight saving follows it.",
        "hours": "Open hours per weekday (mon ... sun); a day left out is closed.",
        "holidays": "Dates whose hours replace their weekday's: closed all day unless hours are given.",
    },
    "WeeklyHours": {
        day: f"Open ranges on {name}, each HH:MM-HH:MM; an end not after its start runs past midnight."
        for day, name in (
            ("mon", "Mondays"),
            ("tue", "Tuesdays"),
            ("wed", "Wednesdays"),
            ("thu", "Thursdays"),
            ("fri", "Fridays"),
            ("sat", "Saturdays"),
            ("sun", "Sundays"),
        )
    },
    "Holiday": {
        "date": "The date, written 2025-12-25.",
        "hours": "Open ranges on that date (HH:MM-HH:MM); none: closed all day.",
        "name": "What the day is, for people reading the file.",
    },
    "IvrTree": {
        "entry": "The node every call starts at.",
        "nodes": "The nodes by name (a-z, 0-9, '_', '-'); each has exactly one key, its type.",
        "transfer_allowed": "Regular expressions over the whole number; a transfer goes only to a number matching one.",
        "max_visits": "Nodes a call may enter before it is politely hung up: no caller loops for ever.",
    },
    "Node": {
        "play": "Play prompts, then go on.",
        "menu": "Play a prompt and go where the key pressed leads; retries, then on_exhausted.",
        "collect": "Read digits into a variable (length, terminator, pattern).",
        "say": "Say a variable as a number, digits or a date.",
        "branch": "Go to the first condition that holds (caller number, variable, schedule), else otherwise.",
        "lookup": "Ask a CRM over HTTP about the caller; the JSON answer sets variables.",
        "set": "Set variables, the call's priority and its preferred agent.",
        "language": "Choose the prompts' language (en, ru): by a key, or from a variable.",
        "queue": "Send the caller to a queue. Ends the IVR.",
        "callback": "Book a callback in a queue and hang up. Ends the IVR.",
        "voicemail": "Record a message after a beep. Ends the IVR.",
        "transfer": "Dial an extension or number (only ones transfer_allowed matches). Ends the IVR.",
        "hangup": "Play prompts and hang up. Ends the IVR.",
        "goto": "Go to another node.",
    },
    "Play": {"prompts": "Sounds, played in turn.", "next": "The node after."},
    "Menu": {
        "prompt": "Sound played (any key cuts it short).",
        "keys": "Key (0-9, '*', '#'; quote it) -> node.",
        "timeout_s": "Seconds to wait for a key after the prompt.",
        "retries": "Times the menu is played again after no key or a wrong one.",
        "invalid_prompt": "Sound played after a wrong key, before the menu again; null for none.",
        "on_exhausted": "Node after the last try.",
    },
    "Collect": {
        "variable": "Variable the digits go into.",
        "prompt": "Sound played (a key cuts it short and counts).",
        "min_length": "Fewest digits accepted.",
        "max_length": "Most digits read; reading stops there.",
        "terminator": "Key that ends the input early (not part of it); null for none.",
        "pattern": "Regular expression the whole input must match.",
        "timeout_s": "Seconds to wait for each key.",
        "retries": "Times the prompt is played again after no input or invalid input.",
        "invalid_prompt": "Sound played after invalid input; null for none.",
        "next": "Node after valid input.",
        "on_exhausted": "Node after the last try.",
    },
    "Say": {
        "variable": "Variable to say.",
        "format": "number, digits, or date (2025-12-25 or epoch seconds).",
        "next": "The node after (also when the value cannot be said).",
    },
    "Condition": {
        "caller_matches": "Regular expression over the caller's whole number.",
        "variable": "Variable to test, with equals or matches.",
        "equals": "The variable's value is exactly this.",
        "matches": "Regular expression over the variable's whole value.",
        "schedule_open": "Holds while this schedule is open.",
        "schedule_closed": "Holds while this schedule is closed.",
        "goto": "Node to go to when the condition holds.",
    },
    "Branch": {"conditions": "Tested in order; the first that holds wins.", "otherwise": "Node when none holds."},
    "Lookup": {
        "url": "URL to GET, with {caller} and {variable} filled in (URL-quoted).",
        "timeout_s": "Seconds the caller waits at most; then on_failure.",
        "fields": "JSON field (dotted path for nested ones) -> variable.",
        "next": "Node after an answer.",
        "on_failure": "Node when the CRM is slow, down, or does not answer 200 with JSON.",
    },
    "SetValues": {
        "variables": "Variable -> value; {variable} in a value is filled in.",
        "priority": "The call's priority in the queue it joins.",
        "preferred_agent": "Agent id to offer the call to first; {variable} is filled in.",
        "skills": "Skill -> least level (1-5) an agent must hold to take this call, for its whole wait, in place "
        "of the queue's routing steps.",
        "next": "The node after.",
    },
    "ChooseLanguage": {
        "keys": "Key -> language (en, ru): the caller chooses.",
        "prompt": "Sound played before reading the key.",
        "variable": "Variable holding the language (from a lookup); other values keep the language.",
        "timeout_s": "Seconds to wait for a key.",
        "retries": "Times the prompt is played again; then the language stays as it is.",
        "next": "The node after.",
    },
    "ToQueue": {
        "name": "Queue (a key under queues).",
        "priority": "The call's priority there; left out: set's, else the queue's.",
    },
    "Callback": {
        "queue": "Queue the callback waits in (a key under queues).",
        "number_variable": "Variable holding the number to call (from collect); left out: the caller's number.",
        "on_no_number": "Node when there is no number; left out: hang up.",
    },
    "Voicemail": {"max_s": "Longest message, in seconds.", "prompt": "Sound played before the beep; null for none."},
    "Transfer": {
        "to": "Extension or number, or {variable}; it must match one of the tree's transfer_allowed.",
        "context": "Dialplan context the number is dialled in (Dial(Local/<to>@<context>)).",
        "on_refused": "Node when the number is not allowed; left out: hang up.",
    },
    "Hangup": {"prompts": "Sounds played before hanging up.", "reason": "Why, as recorded with the call."},
}
