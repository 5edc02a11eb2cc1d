"""The core's plain values: the settings a configuration becomes, calls and offers.

Rules kept here:

1. A call's every move is one row of ``CALL_TRANSITIONS`` and goes through
   ``Call.move``; anything else raises ``IllegalCallTransition`` naming the state and
   the trigger, and changes nothing (as ``agent_state.TRANSITIONS`` does for agents).
2. These are values: no part of the distributor is imported here, so every part (and
   ``events``) can import them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from ccqueue.core import callbacks as cb
from ccqueue.core.campaigns import CampaignSettings
from ccqueue.core.errors import IllegalCallTransition
from ccqueue.core.ewt import Estimate
from ccqueue.core.recording import RecordingPolicy
from ccqueue.core.records import CallOutcome
from ccqueue.core.routing import Strategy
from ccqueue.core.skills import RoutingStep
from ccqueue.core.waiting import Admission, Announcements

# Asterisk device states in which an agent's phone can take a call. UNKNOWN is taken as
# free: not knowing must not stop calls (Asterisk reports it before the first
# registration event on some endpoints).
DEVICE_FREE = frozenset({"NOT_INUSE", "UNKNOWN"})

# Extra time past the ring timeout before we stop trusting Asterisk to report the end of
# an unanswered agent leg and cancel it ourselves.
OFFER_GRACE_S = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSettings:
    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    ring_timeout_s: float = 15.0  # app_queue's default 'timeout' is 15 s as well
    wrapup_s: float = 5.0
    missed_cooldown_s: float = 10.0
    moh_class: str = "default"
    weight: float = 1.0
    priority: int = 0
    steps: tuple[RoutingStep, ...] = (RoutingStep(),)
    returning_window_s: float | None = None  # None: no returning-customer preference
    # How long a preferred agent is waited for before the call goes to everyone: a
    # returning customer's (with returning_window_s), or one the IVR chose (0: the
    # IVR's choice holds for as long as the call waits).
    returning_wait_s: float = 0.0
    auto_pause_after: int | None = None  # None: never auto-pause
    auto_pause_window_s: float = 600.0
    auto_pause_reason: str = "missed-calls"
    admission: Admission = Admission()
    announcements: Announcements | None = None  # None: no announcements
    callback_key: bool = True  # the callback key works while waiting (when callbacks are set up)
    recording: RecordingPolicy = RecordingPolicy()  # none by default


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSettings:
    agent_id: str
    name: str
    endpoint: str  # the dial string, e.g. PJSIP/agent1
    queues: tuple[str, ...]
    skills: Mapping[str, int] = field(default_factory=dict)
    wrapup_s: float | None = None
    order: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class HotlineSettings:
    number: str
    queue: str | None  # None: the caller goes through the IVR first
    greeting: str | None = "ccqueue/welcome"
    ivr: str | None = None  # the IVR tree callers of this number start in
    language: str = "en"


@dataclass(frozen=True, slots=True, kw_only=True)
class AcdSettings:
    queues: Mapping[str, QueueSettings]
    agents: Mapping[str, AgentSettings]
    hotlines: Mapping[str, HotlineSettings]
    refusal_sound: str = "ccqueue/unavailable"
    callbacks: cb.CallbackPolicy | None = None  # None: no callbacks
    messages_dir: str = "ccqueue-messages"  # voicemail recordings, under Asterisk's spool directory
    max_message_s: float = 120.0
    campaigns: Mapping[str, CampaignSettings] = field(default_factory=dict)
    # All campaigns' outbound channels together (the trunk's capacity).
    max_outbound_channels: int = 30
    # Blending: of the agents both waiting callbacks and running campaigns want, the
    # campaigns' share (ccqueue.core.blending); 0 puts callbacks always first.
    campaign_share: float = 0.5


class CallState(enum.Enum):
    IVR = "ivr"  # in the hotline's IVR tree, not yet in a queue
    WAITING = "waiting"
    OFFERING = "offering"
    CONNECTED = "connected"
    ENDED = "ended"


class CallTrigger(enum.Enum):
    ENTER_IVR = "enter_ivr"  # the hotline's IVR, or an overflow destination that is an IVR
    JOIN = "join"  # into a queue's line (from the door, the IVR, or another queue by overflow)
    OFFER = "offer"  # an agent's phone rings for it
    RING_ENDED = "ring_ended"  # every ring came to nothing: back in line, same place
    ANSWER = "answer"  # an agent's claim was granted
    FOUND_CONNECTED = "found_connected"  # after a restart, found in conversation with an agent
    END = "end"


_S, _T = CallState, CallTrigger

# A call starts WAITING at the door (before it is in line: ``Call.in_line``).
CALL_TRANSITIONS: dict[CallState, dict[CallTrigger, CallState]] = {
    _S.WAITING: {
        _T.ENTER_IVR: _S.IVR,
        _T.JOIN: _S.WAITING,
        _T.OFFER: _S.OFFERING,
        _T.FOUND_CONNECTED: _S.CONNECTED,
        _T.END: _S.ENDED,
    },
    _S.IVR: {_T.JOIN: _S.WAITING, _T.ENTER_IVR: _S.IVR, _T.END: _S.ENDED},  # refused after the IVR: another IVR
    _S.OFFERING: {
        _T.ANSWER: _S.CONNECTED,
        _T.RING_ENDED: _S.WAITING,
        _T.JOIN: _S.WAITING,  # overflow to another queue while a ring is withdrawn
        _T.ENTER_IVR: _S.IVR,
        _T.END: _S.ENDED,
    },
    _S.CONNECTED: {_T.END: _S.ENDED},
    _S.ENDED: {},
}


@dataclass(slots=True, kw_only=True)
class Call:
    call_id: str
    hotline: str
    caller: str
    channel: str
    uniqueid: str
    queue: str | None
    arrived_at: float
    queued_at: float | None = None  # when it first joined a queue (an overflow keeps it)
    state: CallState = CallState.WAITING
    offer_ids: set[str] = field(default_factory=set)  # live offers: one, or several when ringing all
    agent_id: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: CallOutcome = CallOutcome.WAITING
    offers_made: int = 0
    seq: int = 0
    version: int = 0
    language: str = "en"
    priority: int | None = None  # None: the queue's
    preferred_agent: str | None = None
    steps: tuple[RoutingStep, ...] | None = None  # the call's own skills (from the IVR); None: the queue's
    hops: int = 0  # queue moves by overflow (rule 2 of ccqueue.core.waiting)
    in_line: bool = False  # in the router (a caller offered a callback at the door is not)
    offered_at: float | None = None  # when the answered offer started ringing
    ewt_at_entry: Estimate | None = None
    announce_at: float | None = None
    periodic_at: float | None = None
    periodic_next: int = 0
    max_wait_at: float | None = None
    callback_offer_at: float | None = None
    forecast_at: float | None = None
    diverted: bool = False  # the forecast diversion is offered once
    callback_offered: bool = False  # the caller is in the callback dialog now
    recording: Recording | None = None  # the conversation's recording, once started
    recording_told: bool = False  # the caller heard that the call may be recorded

    def move(self, trigger: CallTrigger) -> None:
        """Apply ``trigger`` (rule 1); raises ``IllegalCallTransition`` and changes nothing if illegal."""
        new = CALL_TRANSITIONS[self.state].get(trigger)
        if new is None:
            raise IllegalCallTransition(state=self.state.value, trigger=trigger.value)
        self.state = new


@dataclass(slots=True, kw_only=True)
class Recording:
    """A call's recording in progress (``ccqueue.core.recorder``)."""

    recording_id: str
    uniqueid: str  # the agent's leg, where MixMonitor runs
    agent_id: str
    file: str  # relative to the recordings folder
    started_at: float
    version: int = 1
    paused: bool = False
    # On demand: MixMonitor runs from the bridge on, muted, until the agent starts it
    # (ccqueue.core.recorder rule 1); no row is written before.
    held: bool = False


@dataclass(slots=True, kw_only=True)
class Offer:
    offer_id: str
    call_id: str
    agent_id: str
    expires_at: float
    claimed: bool = False
    offered_at: float = 0.0
    callback_id: str | None = None  # an offer of a callback rather than of a waiting caller
    dial_status: str | None = None  # a callback: the customer's Dial() result, once known
    restored: bool = False  # found live after a restart: what it did before is not known


def finite(value: float) -> float | None:
    return value if value == value and value not in (float("inf"), float("-inf")) else None
