"""Agent states as a declared transition table.

Rules kept here:

1. Every legal move of an agent is one row of ``TRANSITIONS``. Anything else raises
   ``IllegalTransition`` naming the state and the trigger, and changes nothing.
2. A supervisor's or agent's request that cannot take effect now (pause or log out while
   ringing, on a call or in wrap-up) is not refused: it is *deferred* and applied the
   moment the agent would otherwise become available. ``DEFERRABLE`` lists those.
3. Time is never read here; the caller of ``AgentStatus.move`` passes ``now``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ccqueue.core.errors import IllegalTransition


class AgentState(enum.Enum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"  # held for a call that will be placed to the agent first
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class AgentTrigger(enum.Enum):
    LOGIN = "login"
    LOGOUT = "logout"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    RESERVE = "reserve"
    OFFER = "offer"  # the agent's phone starts ringing with a call
    ANSWER = "answer"  # the agent answered and the call was claimed
    RING_ENDED = "ring_ended"  # no answer, busy, unreachable, or the caller went away
    HANGUP = "hangup"  # the call the agent was on ended
    WRAP_UP_DONE = "wrap_up_done"


S, T = AgentState, AgentTrigger

TRANSITIONS: dict[AgentState, dict[AgentTrigger, AgentState]] = {
    S.LOGGED_OUT: {T.LOGIN: S.AVAILABLE},
    S.AVAILABLE: {
        T.LOGOUT: S.LOGGED_OUT,
        T.PAUSE: S.PAUSED,
        T.OFFER: S.RINGING,
        T.RESERVE: S.RESERVED,
        T.LOGIN: S.AVAILABLE,  # logging in twice is harmless
        T.UNPAUSE: S.AVAILABLE,
    },
    S.RESERVED: {T.OFFER: S.RINGING, T.RING_ENDED: S.AVAILABLE},
    S.RINGING: {T.ANSWER: S.ON_CALL, T.RING_ENDED: S.AVAILABLE},
    S.ON_CALL: {T.HANGUP: S.WRAP_UP},
    S.WRAP_UP: {T.WRAP_UP_DONE: S.AVAILABLE},
    S.PAUSED: {
        T.UNPAUSE: S.AVAILABLE,
        T.PAUSE: S.PAUSED,  # a new reason replaces the old one
        T.LOGOUT: S.LOGGED_OUT,
        T.LOGIN: S.PAUSED,
    },
}

# Requests taken while the agent is busy with a call, applied when it would be available.
DEFERRABLE: dict[AgentState, frozenset[AgentTrigger]] = {
    state: frozenset({T.PAUSE, T.LOGOUT, T.UNPAUSE}) for state in (S.RESERVED, S.RINGING, S.ON_CALL, S.WRAP_UP)
}


def next_state(state: AgentState, trigger: AgentTrigger) -> AgentState:
    """The state ``trigger`` leads to from ``state``; raises ``IllegalTransition``."""
    try:
        return TRANSITIONS[state][trigger]
    except KeyError:
        raise IllegalTransition(state=state.value, trigger=trigger.value) from None


@dataclass(slots=True, kw_only=True)
class AgentStatus:
    """The live state of one agent: where it is, since when, and what is pending."""

    agent_id: str
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0
    reason: str | None = None  # pause reason while PAUSED
    deferred: AgentTrigger | None = None  # PAUSE or LOGOUT waiting for the call to end
    deferred_reason: str | None = None
    idle_since: float = 0.0  # for longest-idle routing: when it last became available
    missed_until: float = 0.0  # not offered calls before this (ring-no-answer cooldown)
    wrap_up_until: float = 0.0
    interval_seq: int = 0
    misses: list[float] = field(default_factory=list)  # times of recent unanswered offers
    device_ok: bool = True  # the phone is registered and not busy with another call
    call_id: str | None = None  # the inbound call it rings for, is on or wraps up after

    def move(self, trigger: AgentTrigger, *, now: float, reason: str | None = None) -> AgentState:
        """Apply ``trigger``; return the state left. Raises and changes nothing if illegal."""
        if trigger in DEFERRABLE.get(self.state, frozenset()):
            if trigger is T.UNPAUSE:
                self.deferred, self.deferred_reason = None, None
            else:
                self.deferred, self.deferred_reason = trigger, reason
            return self.state
        new = next_state(self.state, trigger)
        old = self.state
        self.state = new
        self.reason = reason if new is S.PAUSED else None
        if new is not old or trigger is T.PAUSE:
            self.since = now
        return old
