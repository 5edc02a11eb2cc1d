"""Events: facts that happened, as the adapters translate them for the core.

Each event is a frozen, slotted, keyword-only value that checks itself. The core never
sees a panoramisk message or an AGI header: ``ccqueue.asterisk`` translates those at the
boundary and rejects what is incomplete.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


def _require(**fields: str) -> None:
    for name, value in fields.items():
        if not value:
            raise ValueError(f"{name} must not be empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class CallArrived:
    """A caller reached ccqueue over FastAGI on a hotline number."""

    call_id: str
    hotline: str
    caller: str  # the caller's number as Asterisk gave it ('' when withheld)
    channel: str  # Asterisk channel name, for Bridge()
    uniqueid: str  # Asterisk uniqueid, to match AMI events

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
)
