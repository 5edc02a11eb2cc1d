"""The IVR interpreter: a caller's walk through a tree, as a pure state machine.

Rules kept here:

1. No I/O, no clock: `IvrCall.start` returns the first `Step`; the adapter carries out
   its action and hands the result to `IvrCall.feed`, which returns the next `Step`.
   Time (for schedules) is an argument of both.
2. A step's action either asks something of the caller in the shared caller vocabulary
   (`ccqueue.core.dialogue`: `Play`, `Collect`, `Say`, `SetLanguage`) or of a CRM
   (`FetchJson`), and expects one kind of result back (`Heard`, `Pressed`/`TimedOut`,
   `LookupAnswered`/`LookupFailed`), or ends the walk (`RouteToQueue`,
   `RequestCallback`, `LeaveMessage`, `TransferCall`, `HangUp`). Feeding a result the
   machine did not ask for raises `IvrError` naming both, and changes nothing. A caller
   who is `Gone` is the adapter's to handle: the walk simply stops.
3. Every node entered and every input read is a timeline entry of the step it happened
   in, for the adapter to record with the call.
4. No caller loops for ever: a menu or collect gives up after its retries and goes to
   its ``on_exhausted`` node, and a call that enters more than the tree's
   ``max_visits`` nodes hears a goodbye and is hung up. (``ccqueue check`` also refuses
   loops that never wait for the caller, but the bound holds whatever the tree.)
5. The tree is a value: a call keeps the tree it started with, whatever is reloaded.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from ccqueue.core.dialogue import (
    Collect,
    Heard,
    Play,
    Pressed,
    Say,
    SayFormat,
    SetLanguage,
    TimedOut,
)
from ccqueue.core.errors import InternalError
from ccqueue.core.schedule import Schedule, is_open

__all__ = [
    "BranchNode",
    "CallbackNode",
    "CollectNode",
    "Condition",
    "FetchJson",
    "GotoNode",
    "HangUp",
    "HangupNode",
    "IvrCall",
    "IvrError",
    "IvrNode",
    "IvrTree",
    "LanguageNode",
    "LeaveMessage",
    "LookupAnswered",
    "LookupFailed",
    "LookupNode",
    "MenuNode",
    "PlayNode",
    "QueueNode",
    "RequestCallback",
    "RouteToQueue",
    "SayFormat",
    "SayNode",
    "SetNode",
    "Step",
    "TimelineEntry",
    "TransferCall",
    "TransferNode",
    "VoicemailNode",
    "render",
]

# Spoken when a call hits the visit bound: Asterisk's core "Goodbye".
GOODBYE = "vm-goodbye"
# A call entering more nodes than this is going round in circles; a real hotline's
# longest path is a dozen nodes or so.
DEFAULT_MAX_VISITS = 50
BUILTIN_VARIABLES = ("caller", "hotline", "language")


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


# --- the tree ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayNode:
    prompts: tuple[str, ...]
    next: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuNode:
    prompt: str
    keys: Mapping[str, str]  # key -> node
    timeout_s: float
    retries: int  # tries after the first
    invalid_prompt: str | None
    on_exhausted: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectNode:
    variable: str
    prompt: str
    min_length: int
    max_length: int
    terminator: str | None
    pattern: str | None  # the whole input must match
    timeout_s: float
    retries: int
    invalid_prompt: str | None
    next: str
    on_exhausted: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SayNode:
    variable: str
    format: SayFormat
    next: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """One test of a branch; exactly one of its tests is set."""

    goto: str
    caller_matches: str | None = None
    variable: str | None = None
    equals: str | None = None
    matches: str | None = None
    schedule: Schedule | None = None
    when_open: bool = True  # with schedule: go when open (True) or when closed (False)

    def holds(self, variables: Mapping[str, str], now: float) -> bool:
        if self.caller_matches is not None:
            return re.fullmatch(self.caller_matches, variables.get("caller", "")) is not None
        if self.schedule is not None:
            return is_open(self.schedule, now) is self.when_open
        value = variables.get(self.variable or "", "")
        if self.equals is not None:
            return value == self.equals
        return self.matches is not None and re.fullmatch(self.matches, value) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchNode:
    conditions: tuple[Condition, ...]
    otherwise: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupNode:
    url: str  # template: {caller}, {variable}; values are URL-quoted
    timeout_s: float
    fields: Mapping[str, str]  # JSON field (dotted path) -> variable
    next: str
    on_failure: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetNode:
    variables: Mapping[str, str] = field(default_factory=_empty)  # values are templates
    priority: int | None = None
    preferred_agent: str | None = None  # template; empty once rendered: none
    skills: Mapping[str, int] | None = None  # required of the agent; None: the queue's steps
    next: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageNode:
    """Choose the caller's language by key (``keys``) or from a variable."""

    next: str
    keys: Mapping[str, str] = field(default_factory=_empty)  # key -> language
    prompt: str | None = None
    variable: str | None = None
    timeout_s: float = 5.0
    retries: int = 1
    languages: tuple[str, ...] = ("en", "ru")


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueNode:
    queue: str
    priority: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackNode:
    queue: str
    number_variable: str | None = None  # None: the caller's own number
    on_no_number: str | None = None  # None: hang up


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailNode:
    max_s: float
    prompt: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferNode:
    to: str  # template
    context: str
    on_refused: str | None = None  # None: hang up


@dataclass(frozen=True, slots=True, kw_only=True)
class HangupNode:
    prompts: tuple[str, ...] = ()
    reason: str = "ivr"


@dataclass(frozen=True, slots=True, kw_only=True)
class GotoNode:
    target: str


IvrNode = (
    PlayNode
    | MenuNode
    | CollectNode
    | SayNode
    | BranchNode
    | LookupNode
    | SetNode
    | LanguageNode
    | QueueNode
    | CallbackNode
    | VoicemailNode
    | TransferNode
    | HangupNode
    | GotoNode
)


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrTree:
    name: str
    entry: str
    nodes: Mapping[str, IvrNode]
    transfer_allowed: tuple[str, ...] = ()  # patterns a transfer target must match whole
    max_visits: int = DEFAULT_MAX_VISITS

    def __post_init__(self) -> None:
        if self.entry not in self.nodes:
            raise ValueError(f"tree {self.name!r}: entry node {self.entry!r} does not exist")


# --- actions and results ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchJson:
    """Ask the CRM (an adapter's I/O, not the caller's): answered by a lookup result."""

    url: str
    timeout_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteToQueue:
    queue: str
    priority: int | None
    language: str
    preferred_agent: str | None
    variables: Mapping[str, str]
    skills: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestCallback:
    queue: str
    number: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaveMessage:
    prompt: str | None
    max_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferCall:
    to: str
    context: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HangUp:
    prompts: tuple[str, ...]
    reason: str


Request = Play | Collect | Say | FetchJson | SetLanguage
Outcome = RouteToQueue | RequestCallback | LeaveMessage | TransferCall | HangUp
Action = Request | Outcome
FINAL = (RouteToQueue, RequestCallback, LeaveMessage, TransferCall, HangUp)


@dataclass(frozen=True, slots=True)
class LookupAnswered:
    body: Any  # the decoded JSON


@dataclass(frozen=True, slots=True)
class LookupFailed:
    reason: str  # "timeout", "status 500", "bad json", ...


Result = Heard | Pressed | TimedOut | LookupAnswered | LookupFailed

# What each request is answered with (rule 2). Prompts are not interruptible here: a
# key during a `Play` is not asked for.
_EXPECTED: dict[type[Any], tuple[type[Any], ...]] = {
    Play: (Heard,),
    Say: (Heard,),
    SetLanguage: (Heard,),
    Collect: (Pressed, TimedOut),
    FetchJson: (LookupAnswered, LookupFailed),
}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    timeline: tuple[TimelineEntry, ...]

    @property
    def final(self) -> bool:
        return isinstance(self.action, FINAL)


class IvrError(InternalError):
    """A result fed that the machine did not ask for; nothing changed."""

    error_id = "ivr-result-unexpected"


# --- helpers ------------------------------------------------------------------------------

# What SAY NUMBER and SAY DIGITS accept (Asterisk says numbers up to the trillions).
_SAYABLE = {SayFormat.NUMBER: r"-?[0-9]{1,15}", SayFormat.DIGITS: r"[0-9*#]+"}
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def render(template: str, variables: Mapping[str, str], *, url: bool = False) -> str:
    """Fill ``{name}`` with the variable's value ('' when unset); quoted for a URL when asked."""

    def value(match: re.Match[str]) -> str:
        text = variables.get(match.group(1), "")
        return quote(text, safe="") if url else text

    return _PLACEHOLDER.sub(value, template)


def _json_field(body: Any, path: str) -> str | None:
    """The scalar at dotted `path` of `body` as text, or None when absent or not a scalar."""
    node = body
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, str | int | float):
        return str(node)
    return None


def _date_seconds(value: str) -> str | None:
    """An ISO date or epoch seconds, as epoch seconds for SAY DATE; None if neither.

    A date is said as of noon UTC, which is the same date in every time zone within
    twelve hours of UTC.
    """
    if value.isdigit():
        return value
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return str(calendar.timegm((day.year, day.month, day.day, 12, 0, 0)))


# --- the machine --------------------------------------------------------------------------


class IvrCall:
    """One caller's walk through one tree."""

    def __init__(self, tree: IvrTree, *, caller: str, language: str, hotline: str = "") -> None:
        self.tree = tree
        self.language = language
        self.variables: dict[str, str] = {"caller": caller, "hotline": hotline, "language": language}
        self.priority: int | None = None
        self.preferred_agent: str | None = None
        self.skills: Mapping[str, int] | None = None
        self.node_name = tree.entry
        self.visits = 0
        self.failures = 0  # no input or invalid input at the current node
        self._asked: Action | None = None
        self._timeline: list[TimelineEntry] = []

    # -- the interface -----------------------------------------------------------------

    def start(self, *, now: float) -> Step:
        if self._asked is not None:
            raise IvrError("the walk has already started")
        return self._step(self._enter(self.tree.entry, now))

    def feed(self, result: Result, *, now: float) -> Step:
        asked = self._asked
        if asked is None or isinstance(asked, FINAL) or not isinstance(result, _EXPECTED[type(asked)]):
            state = "not started" if asked is None else type(asked).__name__
            raise IvrError(f"{type(result).__name__} does not answer {state} at node {self.node_name!r}")
        return self._step(self._answer(asked, result, now))

    @property
    def user_variables(self) -> dict[str, str]:
        return {k: v for k, v in self.variables.items() if k not in BUILTIN_VARIABLES}

    # -- walking -------------------------------------------------------------------------

    def _step(self, action: Action) -> Step:
        self._asked = action
        timeline, self._timeline = tuple(self._timeline), []
        return Step(action, timeline)

    def _note(self, kind: str, **data: Any) -> None:
        self._timeline.append(TimelineEntry(kind, MappingProxyType(data)))

    def _enter(self, name: str, now: float) -> Action:
        """Go to node `name` and on through nodes that need nothing from outside."""
        while True:
            self.visits += 1
            if self.visits > self.tree.max_visits:
                self._note("ivr_visit_limit", node=name, visits=self.tree.max_visits)
                return HangUp(prompts=(GOODBYE,), reason="visit-limit")
            self.node_name, self.failures = name, 0
            node = self.tree.nodes[name]
            self._note("ivr_node", tree=self.tree.name, node=name, type=_TYPE_NAMES[type(node)])
            action_or_next = self._arrive(node, now)
            if not isinstance(action_or_next, str):
                return action_or_next
            name = action_or_next

    def _arrive(self, node: IvrNode, now: float) -> Action | str:
        """The action a node asks for, or the name of the node to go on to."""
        match node:
            case PlayNode(prompts=prompts):
                return Play(prompts=prompts)
            case MenuNode() | CollectNode():
                return self._read(node, retry=False)
            case SayNode():
                return self._say(node)
            case BranchNode():
                return self._branch(node, now)
            case LookupNode(url=url, timeout_s=timeout_s):
                return FetchJson(url=render(url, self.variables, url=True), timeout_s=timeout_s)
            case SetNode():
                return self._set(node)
            case LanguageNode():
                return self._language(node)
            case GotoNode(target=target):
                return target
            case _:
                return self._outcome(node)

    def _outcome(self, node: IvrNode) -> Action | str:
        match node:
            case QueueNode(queue=queue, priority=priority):
                return RouteToQueue(
                    queue=queue,
                    priority=priority if priority is not None else self.priority,
                    language=self.language,
                    preferred_agent=self.preferred_agent,
                    variables=MappingProxyType(self.user_variables),
                    skills=self.skills,
                )
            case CallbackNode():
                return self._callback(node)
            case VoicemailNode(prompt=prompt, max_s=max_s):
                return LeaveMessage(prompt=prompt, max_s=max_s)
            case TransferNode():
                return self._transfer(node)
            case HangupNode(prompts=prompts, reason=reason):
                return HangUp(prompts=prompts, reason=reason)
        raise TypeError(f"not an IVR node: {node!r}")  # pragma: no cover - the union is closed

    def _read(self, node: MenuNode | CollectNode, *, retry: bool) -> Collect:
        prompts: tuple[str, ...] = (node.prompt,)
        if retry and node.invalid_prompt:
            prompts = (node.invalid_prompt, node.prompt)
        if isinstance(node, MenuNode):
            return Collect(prompts=prompts, timeout_s=node.timeout_s, max_digits=1)
        return Collect(prompts=prompts, timeout_s=node.timeout_s, max_digits=node.max_length, terminator=node.terminator)

    def _say(self, node: SayNode) -> Action | str:
        value = self.variables.get(node.variable, "")
        said: str | None = value
        if node.format is SayFormat.DATE:
            said = _date_seconds(value)
        elif not re.fullmatch(_SAYABLE[node.format], value):
            said = None
        if said is None:
            self._note("ivr_say_skipped", node=self.node_name, variable=node.variable)
            return node.next
        return Say(format=node.format, value=said)

    def _branch(self, node: BranchNode, now: float) -> str:
        for index, condition in enumerate(node.conditions):
            if condition.holds(self.variables, now):
                self._note("ivr_branch", node=self.node_name, condition=index, to=condition.goto)
                return condition.goto
        self._note("ivr_branch", node=self.node_name, condition=None, to=node.otherwise)
        return node.otherwise

    def _set(self, node: SetNode) -> str:
        for name, template in node.variables.items():
            self.variables[name] = render(template, self.variables)
        if node.priority is not None:
            self.priority = node.priority
        if node.preferred_agent is not None:
            self.preferred_agent = render(node.preferred_agent, self.variables) or None
        if node.skills is not None:
            self.skills = node.skills
        return node.next

    def _language(self, node: LanguageNode) -> Action | str:
        if node.keys:
            return self._ask_language(node)
        chosen = self.variables.get(node.variable or "", "")
        if chosen not in node.languages:
            self._note("ivr_language_kept", node=self.node_name, language=self.language, value=chosen)
            return node.next
        return self._choose_language(chosen)

    @staticmethod
    def _ask_language(node: LanguageNode) -> Collect:
        prompts = (node.prompt,) if node.prompt else ()
        return Collect(prompts=prompts, timeout_s=node.timeout_s, max_digits=1)

    def _choose_language(self, language: str) -> SetLanguage:
        self.language = self.variables["language"] = language
        self._note("ivr_language", node=self.node_name, language=language)
        return SetLanguage(language=language)

    def _callback(self, node: CallbackNode) -> Action | str:
        number = self.variables.get(node.number_variable or "caller", "")
        if number:
            return RequestCallback(queue=node.queue, number=number)
        self._note("ivr_callback_no_number", node=self.node_name)
        if node.on_no_number is not None:
            return node.on_no_number
        return HangUp(prompts=(GOODBYE,), reason="callback-no-number")

    def _transfer(self, node: TransferNode) -> Action | str:
        target = render(node.to, self.variables)
        if target and any(re.fullmatch(p, target) for p in self.tree.transfer_allowed):
            return TransferCall(to=target, context=node.context)
        self._note("ivr_transfer_refused", node=self.node_name, to=target)
        if node.on_refused is not None:
            return node.on_refused
        return HangUp(prompts=(GOODBYE,), reason="transfer-refused")

    # -- results -------------------------------------------------------------------------

    def _answer(self, asked: Action, result: Result, now: float) -> Action:
        node = self.tree.nodes[self.node_name]
        match node, result:
            case ((MenuNode() | CollectNode() | LanguageNode()), Pressed(digits=digits)):
                return self._digits(node, digits, now)
            case ((MenuNode() | CollectNode() | LanguageNode()), TimedOut()):
                return self._digits(node, "", now)
            case LookupNode(), LookupAnswered(body=body):
                return self._looked_up(node, body, now)
            case LookupNode(), LookupFailed(reason=reason):
                self._note("ivr_lookup", node=self.node_name, ok=False, reason=reason)
                return self._enter(node.on_failure, now)
            case ((PlayNode() | SayNode() | LanguageNode()), Heard()):
                return self._enter(node.next, now)
        raise IvrError(f"{type(result).__name__} does not answer {type(asked).__name__} at {self.node_name!r}")

    def _looked_up(self, node: LookupNode, body: Any, now: float) -> Action:
        found = []
        for path, variable in node.fields.items():
            value = _json_field(body, path)
            if value is not None:
                self.variables[variable] = value
                found.append(variable)
        self._note("ivr_lookup", node=self.node_name, ok=True, variables=sorted(found))
        return self._enter(node.next, now)

    def _digits(self, node: MenuNode | CollectNode | LanguageNode, digits: str, now: float) -> Action:
        if digits:
            self._note("ivr_key", node=self.node_name, keys=digits)
        else:
            self._note("ivr_no_input", node=self.node_name)
        target = self._accept(node, digits)
        if isinstance(target, str):
            return self._enter(target, now)
        if target is not None:
            return target
        self.failures += 1
        if digits:
            self._note("ivr_invalid", node=self.node_name, keys=digits)
        retries = node.retries
        if self.failures > retries:
            self._note("ivr_exhausted", node=self.node_name, tries=self.failures)
            return self._enter(node.next if isinstance(node, LanguageNode) else node.on_exhausted, now)
        if isinstance(node, LanguageNode):
            return self._ask_language(node)
        return self._read(node, retry=bool(digits))

    def _accept(self, node: MenuNode | CollectNode | LanguageNode, digits: str) -> Action | str | None:
        """Where valid input leads (a node name or an action), or None when it is not valid."""
        if isinstance(node, MenuNode):
            return node.keys.get(digits)
        if isinstance(node, LanguageNode):
            language = node.keys.get(digits)
            return None if language is None else self._choose_language(language)
        if not node.min_length <= len(digits) <= node.max_length:
            return None
        if node.pattern is not None and re.fullmatch(node.pattern, digits) is None:
            return None
        self.variables[node.variable] = digits
        return node.next


_TYPE_NAMES: dict[type[Any], str] = {
    PlayNode: "play",
    MenuNode: "menu",
    CollectNode: "collect",
    SayNode: "say",
    BranchNode: "branch",
    LookupNode: "lookup",
    SetNode: "set",
    LanguageNode: "language",
    QueueNode: "queue",
    CallbackNode: "callback",
    VoicemailNode: "voicemail",
    TransferNode: "transfer",
    HangupNode: "hangup",
    GotoNode: "goto",
}
