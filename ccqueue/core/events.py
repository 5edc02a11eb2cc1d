"""Events: facts that happened, as the adapters translate them for the core.

Each event is a frozen, slotted, keyword-only value that checks itself. The core never
sees a panoramisk message or an AGI header: ``ccqueue.asterisk`` translates those at the
boundary and rejects what is incomplete.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ccqueue.core.calls import AcdSettings
from ccqueue.core.campaigns import Contact
from ccqueue.core.records import CallbackRecord


def _require(**fields: str) -> None:
    for name, value in fields.items():
        if not value:
            raise ValueError(f"{name} must not be empty")


# A caller's name is kept to this many characters (SIP display names are rarely past 50).
MAX_CALLER_NAME_CHARS = 80


@dataclass(frozen=True, slots=True, kw_only=True)
class CallArrived:
    """A caller reached ccqueue over FastAGI on a hotline number."""

    call_id: str
    hotline: str
    caller: str  # the caller's number as Asterisk gave it ('' when withheld)
    caller_name: str = ""  # the caller's name (CALLERID(name)) when the network gave one
    channel: str  # Asterisk channel name: data for the records, never dialplan text
    uniqueid: str  # Asterisk uniqueid, to match AMI events and to bridge the caller
    # Set when the session was refused before the caller reached ccqueue (values that do
    # not validate): the call is only recorded, and the dialplan apologises.
    refused: str | None = None
    # When the caller reached the hotline, as the dialplan stamped it on the channel
    # (CCQ_ENTERED); None: now. A caller held by the dialplan while ccqueue was away
    # keeps the time it really arrived.
    arrived_at: float | None = None

    def __post_init__(self) -> None:
        _require(call_id=self.call_id, hotline=self.hotline, channel=self.channel, uniqueid=self.uniqueid)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHungUp:
    """A channel we know of (a caller or an agent leg) is gone."""

    uniqueid: str
    cause: str = ""

    def __post_init__(self) -> None:
        _require(uniqueid=self.uniqueid)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerSessionEnded:
    """The caller's FastAGI session is over.

    Either an agent's Bridge() pulled the caller out (the call is connected: nothing to
    do) or the caller is gone while still waiting — which counts as a hang-up even when
    the AMI link is down and its Hangup event never comes.
    """

    call_id: str

    def __post_init__(self) -> None:
        _require(call_id=self.call_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelBridged:
    """A channel entered a bridge (AMI BridgeEnter)."""

    uniqueid: str
    bridge_id: str

    def __post_init__(self) -> None:
        _require(uniqueid=self.uniqueid, bridge_id=self.bridge_id)


class RingFailure(enum.Enum):
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    UNREACHABLE = "unreachable"  # not registered, congestion, or Asterisk refused the dial
    CANCELLED = "cancelled"  # we hung the leg up ourselves


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferFailed:
    """The agent leg of an offer ended without being answered (OriginateResponse)."""

    offer_id: str
    failure: RingFailure

    def __post_init__(self) -> None:
        _require(offer_id=self.offer_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferClaimed:
    """The agent answered: its leg entered the agent context and asks for the caller."""

    offer_id: str

    def __post_init__(self) -> None:
        _require(offer_id=self.offer_id)


class AgentAction(enum.Enum):
    LOGIN = "login"
    LOGOUT = "logout"
    PAUSE = "pause"
    UNPAUSE = "unpause"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRequested:
    """An agent (or a supervisor) asks to log in, log out, pause or unpause."""

    agent_id: str
    action: AgentAction
    reason: str | None = None

    def __post_init__(self) -> None:
        _require(agent_id=self.agent_id)
        if self.reason is not None and self.action is not AgentAction.PAUSE:
            raise ValueError("only a pause carries a reason")


class RecordingAction(enum.Enum):
    START = "start"  # a queue recording on demand: start it now
    PAUSE = "pause"  # e.g. while the customer reads out a card number
    RESUME = "resume"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingRequested:
    """An agent (or a supervisor) starts, pauses or resumes the recording of the agent's call."""

    agent_id: str
    action: RecordingAction

    def __post_init__(self) -> None:
        _require(agent_id=self.agent_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStateChanged:
    """An Asterisk device (an agent's endpoint, e.g. ``PJSIP/agent1``) changed state."""

    device: str
    state: str  # NOT_INUSE, INUSE, BUSY, UNAVAILABLE, RINGING, ONHOLD, UNKNOWN, ...

    def __post_init__(self) -> None:
        _require(device=self.device, state=self.state)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShutdownRequested:
    """ccqueue is stopping: hand waiting callers back to the dialplan, close the records."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AsteriskReconnected:
    """The AMI link came back; live channels are listed so the core can reconcile."""

    live_uniqueids: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallProgressed:
    """A step the caller took outside the queue (an IVR node, a key pressed): timeline only."""

    call_id: str
    kind: str  # snake_case: "ivr_node", "ivr_key", "crm_lookup", ...
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(call_id=self.call_id, kind=self.kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRouted:
    """The IVR hands its caller to a queue (admission rules apply as for a direct call)."""

    call_id: str
    queue: str
    priority: int | None = None  # None: the queue's own
    language: str | None = None  # None: keep the call's language
    preferred_agent: str | None = None  # e.g. the account manager a CRM named
    attributes: Mapping[str, str] = field(default_factory=dict)  # IVR variables, kept with the call
    skills: Mapping[str, int] | None = None  # required of the agent; None: the queue's routing steps

    def __post_init__(self) -> None:
        _require(call_id=self.call_id, queue=self.queue)


class Finish(enum.Enum):
    SELF_SERVICE = "self_service"  # the IVR served the caller and hung up
    VOICEMAIL = "voicemail"  # the caller left a message
    TRANSFERRED = "transferred"  # sent to an extension or an outside number


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFinished:
    """The IVR ended the call itself (not in a queue)."""

    call_id: str
    finish: Finish
    reason: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(call_id=self.call_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerPressed:
    """A waiting caller pressed a key (during music on hold or an announcement)."""

    call_id: str
    digit: str

    def __post_init__(self) -> None:
        _require(call_id=self.call_id, digit=self.digit)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRequested:
    """A callback is asked for: by a waiting caller (``call_id``: it keeps that call's
    place), by the IVR, or through the API (optionally for a window of time).

    ``number`` is already validated and normalised (E.164) by the adapter; the core
    checks it against the allowed patterns again before any dial.
    """

    callback_id: str
    number: str
    queue: str | None = None  # None: the queue of call_id
    call_id: str | None = None
    not_before: float | None = None
    not_after: float | None = None

    def __post_init__(self) -> None:
        _require(callback_id=self.callback_id, number=self.number)
        if self.queue is None and self.call_id is None:
            raise ValueError("a callback needs a queue or the call it comes from")
        if self.not_before is not None and self.not_after is not None and self.not_after <= self.not_before:
            raise ValueError("not_after must come after not_before")


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackDeclined:
    """The caller did not take the callback offered (no key, or another key)."""

    call_id: str

    def __post_init__(self) -> None:
        _require(call_id=self.call_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackCancelled:
    callback_id: str

    def __post_init__(self) -> None:
        _require(callback_id=self.callback_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbacksRestored:
    """At start-up: the callbacks still open in the database, to be queued again."""

    callbacks: tuple[CallbackRecord, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DialEnded:
    """A Dial() from a channel we know ended (AMI DialEnd): for a callback, the agent leg
    dialled the customer and got ``status`` (ANSWER, BUSY, NOANSWER, CONGESTION, ...)."""

    uniqueid: str
    status: str

    def __post_init__(self) -> None:
        _require(uniqueid=self.uniqueid, status=self.status)


@dataclass(frozen=True, slots=True, kw_only=True)
class SurveyAnswered:
    """The caller stayed on after the agent hung up and answered the survey."""

    call_id: str
    rating: int | None  # 1..5, None: not answered
    recommend: int | None  # 0..10, None: not answered

    def __post_init__(self) -> None:
        _require(call_id=self.call_id)
        if self.rating is not None and not 1 <= self.rating <= 5:
            raise ValueError(f"rating is 1..5, got {self.rating}")
        if self.recommend is not None and not 0 <= self.recommend <= 10:
            raise ValueError(f"recommend is 0..10, got {self.recommend}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsReplaced:
    """A reloaded configuration takes over (validated before it gets here)."""

    settings: AcdSettings


class CampaignAction(enum.Enum):
    START = "start"  # from stopped, or to resume from paused
    PAUSE = "pause"
    STOP = "stop"


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignRequested:
    """An operator asks a campaign to start, pause or stop (the reply: its status)."""

    campaign: str
    action: CampaignAction

    def __post_init__(self) -> None:
        _require(campaign=self.campaign)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactsSupplied:
    """The store's answer to ``FetchContacts``: contacts due now (``failed``: it could
    not be asked; the core asks again later)."""

    campaign: str
    contacts: tuple[Contact, ...]
    failed: bool = False

    def __post_init__(self) -> None:
        _require(campaign=self.campaign)


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignsRestored:
    """At start-up: each campaign's run state and the times of its live answers and
    abandons over the last 30 days (for the pacer's rolling windows)."""

    states: Mapping[str, str]
    answers: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    abandons: Mapping[str, tuple[float, ...]] = field(default_factory=dict)


class DialFailure(enum.Enum):
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"  # congestion, an invalid number, a refused Originate


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactDialEnded:
    """A campaign's dial ended unanswered (the Originate's OriginateResponse)."""

    attempt_id: str
    failure: DialFailure
    cause: str = ""

    def __post_init__(self) -> None:
        _require(attempt_id=self.attempt_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactAnswered:
    """A campaign's dial was answered and answering-machine detection said ``amd``
    (HUMAN, MACHINE, NOTSURE, HANGUP; '' when AMD was off): the callee's FastAGI
    session is open and does what the core asks of ``attempt_id``."""

    attempt_id: str
    amd: str
    uniqueid: str
    channel: str

    def __post_init__(self) -> None:
        _require(attempt_id=self.attempt_id, uniqueid=self.uniqueid, channel=self.channel)


@dataclass(frozen=True, slots=True, kw_only=True)
class CalleePressed:
    """A broadcast's callee pressed ``digit`` (None: the message ended with no key)."""

    attempt_id: str
    digit: str | None

    def __post_init__(self) -> None:
        _require(attempt_id=self.attempt_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewDecided:
    """The agent previewing a contact dials it, or skips it."""

    attempt_id: str
    dial: bool

    def __post_init__(self) -> None:
        _require(attempt_id=self.attempt_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class DoNotCallAdded:
    """A number went on the do-not-call list (already stored): never dial it again."""

    number: str

    def __post_init__(self) -> None:
        _require(number=self.number)


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoredCall:
    """A call an earlier ccqueue process was handling, as its channel and its row tell it.

    Waiting (``agent_id`` None): the caller is in the dialplan's hold loop and keeps its
    place by ``arrived_at``. In conversation: ``offer_id`` is the live agent leg bridged
    to the caller. ``version`` and ``next_seq`` continue the call's stored summary and
    timeline (0 when no row was found).
    """

    call_id: str
    hotline: str
    caller: str
    channel: str
    uniqueid: str
    arrived_at: float
    queue: str | None = None  # None: it was still in the hotline's IVR
    queued_at: float | None = None
    priority: int | None = None
    language: str | None = None
    agent_id: str | None = None
    offer_id: str | None = None
    answered_at: float | None = None
    version: int = 0
    next_seq: int = 0

    def __post_init__(self) -> None:
        _require(call_id=self.call_id, hotline=self.hotline, channel=self.channel, uniqueid=self.uniqueid)
        if (self.agent_id is None) != (self.offer_id is None):
            raise ValueError("a call in conversation names both its agent and its agent leg")
        if self.version < 0 or self.next_seq < 0:
            raise ValueError("version and next_seq are >= 0")


class Presence(enum.Enum):
    """An agent as it stands apart from any call: what a restart must keep."""

    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"  # logged in and not paused (idle or busy with a call)
    PAUSED = "paused"


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoredAgent:
    """An agent's login and pause as stored, and where its records stopped."""

    agent_id: str
    presence: Presence
    reason: str | None = None  # the pause reason
    since: float = 0.0  # when its present state began (its next interval starts here)
    interval_seq: int = 0  # the last interval written ({agent_id}:{seq})

    def __post_init__(self) -> None:
        _require(agent_id=self.agent_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class StateRestored:
    """At start-up: what an earlier process left, rebuilt from Asterisk's live channels
    and the database. Callbacks' agent legs still live (``live_legs``) are followed, not
    dialled again. ``callbacks`` are the open callbacks read with the calls: one being
    dialled whose leg lives is followed (its agent on that call) before any waiting
    caller is offered; the rest come back with ``CallbacksRestored``."""

    calls: tuple[RestoredCall, ...] = ()
    agents: tuple[RestoredAgent, ...] = ()
    live_legs: frozenset[str] = frozenset()
    callbacks: tuple[CallbackRecord, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerReturned:
    """A caller the dialplan held while ccqueue was away opened a new FastAGI session;
    the channel says which call it is (CCQ_CALL_ID) and what it knew of it."""

    call: RestoredCall


Event = (
    CallArrived
    | ChannelHungUp
    | CallerSessionEnded
    | ChannelBridged
    | OfferFailed
    | OfferClaimed
    | AgentRequested
    | AsteriskReconnected
    | ShutdownRequested
    | DeviceStateChanged
    | CallProgressed
    | CallRouted
    | CallFinished
    | CallerPressed
    | CallbackRequested
    | CallbackDeclined
    | CallbackCancelled
    | CallbacksRestored
    | DialEnded
    | SurveyAnswered
    | SettingsReplaced
    | CampaignRequested
    | ContactsSupplied
    | CampaignsRestored
    | ContactDialEnded
    | ContactAnswered
    | CalleePressed
    | PreviewDecided
    | DoNotCallAdded
    | StateRestored
    | CallerReturned
    | RecordingRequested
)
