"""What the core asks to be written down.

Rules kept here:

1. A record is a frozen value with a stable identity. Writing the same record twice
   (a retry, a replay of the outage spool) must leave the database as if it had been
   written once: call events are keyed by ``event_id``; a call summary is keyed by
   ``call_id`` and carries a ``version`` that only grows, so an older summary arriving
   late never overwrites a newer one.
2. Times are seconds since the epoch (floats), as the engine passes ``now`` in.
3. Nothing here knows about PostgreSQL; ``ccqueue.store`` translates.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class CallOutcome(enum.Enum):
    """How a call ended, as an analyst reads it in the ``calls`` table."""

    WAITING = "waiting"  # not ended yet: the summary of a call still in progress
    ANSWERED = "answered"  # bridged to an agent
    ABANDONED = "abandoned"  # the caller hung up before an agent was bridged
    REFUSED = "refused"  # not admitted (queue closed, unknown queue, full)
    FAILED = "failed"  # ended by an error of ours or of Asterisk's


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEventRecord:
    """One entry of a call's append-only timeline."""

    event_id: str  # stable: f"{call_id}:{seq}"
    call_id: str
    seq: int
    at: float
    kind: str  # snake_case fact: "call_arrived", "agent_offered", ...
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.event_id or not self.call_id:
            raise ValueError("a call event needs an event_id and a call_id")
        if self.seq < 0:
            raise ValueError(f"seq must be >= 0, got {self.seq}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """The one-row summary of a call; rewritten as the call progresses."""

    call_id: str
    version: int  # grows with every rewrite of the same call
    caller: str
    hotline: str
    queue: str | None
    agent: str | None
    arrived_at: float
    answered_at: float | None
    ended_at: float | None
    outcome: CallOutcome
    channel: str = ""

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError(f"version starts at 1, got {self.version}")


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStateRecord:
    """A closed interval an agent spent in one state (for time-in-state reports)."""

    interval_id: str  # stable: f"{agent_id}:{seq}"
    agent_id: str
    state: str
    reason: str | None
    started_at: float
    ended_at: float


Record = CallEventRecord | CallRecord | AgentStateRecord
