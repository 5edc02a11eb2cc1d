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

from ccqueue.core.campaigns import AttemptOutcome


class CallOutcome(enum.Enum):
    """How a call ended, as an analyst reads it in the ``calls`` table."""

    WAITING = "waiting"  # not ended yet: the summary of a call still in progress
    ANSWERED = "answered"  # bridged to an agent
    ABANDONED = "abandoned"  # the caller hung up before an agent was bridged
    REFUSED = "refused"  # not admitted (queue closed, unknown queue, full)
    FAILED = "failed"  # ended by an error of ours or of Asterisk's
    OVERFLOWED = "overflowed"  # left the queue for a destination outside ccqueue's queues
    CALLBACK = "callback"  # the caller hung up with a callback booked in its place
    VOICEMAIL = "voicemail"  # the caller left a message
    SELF_SERVICE = "self_service"  # the IVR served the caller
    TRANSFERRED = "transferred"  # the IVR sent the caller to an extension or number


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
    # When the call first joined a queue (None: never did). Its wait runs from here,
    # so time in the IVR is not counted (docs/reports.md, "Definitions").
    queued_at: float | None = None

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
    # The call the agent was ringing for, on or wrapping up after (ringing, on_call and
    # wrap_up intervals of an inbound call); None otherwise, and for a callback.
    call_id: str | None = None


class CallbackStatus(enum.Enum):
    PENDING = "pending"  # waiting for its turn (or its window, or its next attempt)
    DIALING = "dialing"  # an agent has been reserved or is calling the customer
    COMPLETED = "completed"  # the customer answered the agent's call
    FAILED = "failed"  # every attempt went unanswered
    EXPIRED = "expired"  # its time ran out before it could be made
    CANCELLED = "cancelled"  # cancelled through the API

    @property
    def open(self) -> bool:
        return self in (CallbackStatus.PENDING, CallbackStatus.DIALING)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackRecord:
    """A callback, rewritten as it progresses (``version`` grows, as for ``CallRecord``)."""

    callback_id: str
    version: int
    queue: str
    number: str  # E.164
    status: CallbackStatus
    requested_at: float
    place_at: float  # its place in line: the arrival time of the call it came from
    not_before: float | None
    expires_at: float
    attempts: int
    next_attempt_at: float | None
    call_id: str | None  # the call it came from
    agent: str | None  # the agent of the last attempt
    result: str | None  # the last attempt's dial status (ANSWER, BUSY, NOANSWER, ...)

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError(f"version starts at 1, got {self.version}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SurveyRecord:
    """A caller's answers to the post-call survey (None: not answered)."""

    call_id: str
    rating: int | None  # 1..5
    recommend: int | None  # 0..10
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """A state-changing request to the HTTP API, accepted or refused: who asked for what,
    when, from where, and how it ended. Keyed by ``audit_id`` (written once)."""

    audit_id: str
    at: float
    actor: str | None  # the user name; None: not signed in (or unknown)
    role: str | None
    via: str  # session, token or none
    method: str
    path: str  # as requested, without the query
    route: str | None  # the route it matched, e.g. POST /api/agents/{agent_id}/{action}
    remote: str | None  # the peer's address
    status: int
    outcome: str  # accepted (2xx/3xx), refused (4xx) or failed (5xx)
    error: str | None  # the error id of a refusal or failure

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status, got {self.status}")


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRecord:
    """One dial of a campaign, rewritten as it progresses (``version`` grows, as for
    ``CallRecord``); ``attempt_id`` is also the Originate's ChannelId."""

    attempt_id: str
    version: int
    campaign: str
    contact_id: int | None
    number: str  # E.164
    started_at: float
    answered_at: float | None = None
    connected_at: float | None = None  # an agent joined
    ended_at: float | None = None
    amd: str | None = None  # HUMAN, MACHINE, NOTSURE, HANGUP (AMDSTATUS)
    agent_id: str | None = None
    outcome: AttemptOutcome | None = None  # None: not decided yet
    abandoned: bool = False
    safe_harbour: bool = False
    message_left: bool = False
    hangup_cause: str | None = None

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError(f"version starts at 1, got {self.version}")
        if not self.attempt_id or not self.campaign:
            raise ValueError("an attempt needs an attempt_id and a campaign")


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptEvent:
    """One entry of an attempt's append-only timeline (keyed ``{attempt_id}:{seq}``)."""

    event_id: str
    attempt_id: str
    seq: int
    at: float
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.event_id or not self.attempt_id:
            raise ValueError("an attempt event needs an event_id and an attempt_id")
        if self.seq < 0:
            raise ValueError(f"seq must be >= 0, got {self.seq}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactProgress:
    """Where a contact of a campaign's list stands after an attempt, or after the dialer
    moved it out of a closed calling window (``next_at``: its next opening)."""

    contact_id: int
    campaign: str
    attempts: int
    next_at: float
    locked_until: float | None
    done: bool
    outcome: AttemptOutcome | None
    # Attempts ended by each outcome (by its value), the whole count; None: unchanged
    # (a record spooled before the counts were kept).
    outcome_counts: dict[str, int] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignRunRecord:
    """A campaign's run state (stopped, running, paused) as it changed."""

    campaign: str
    state: str
    changed_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DoNotCallRecord:
    """A number added to the do-not-call list (``source``: import, api or opt_out)."""

    number: str
    source: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentPresenceRecord:
    """An agent's login and pause as they stand (one row per agent, the latest ``at``
    wins): what a restarted ccqueue gives the agent back."""

    agent_id: str
    presence: str  # logged_out, available, paused
    reason: str | None  # the pause reason
    since: float  # when this presence began
    at: float  # when it was written: a later write replaces an earlier one, never the reverse


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingRecord:
    """A call's recording (one per answered agent leg), rewritten when it ends: the
    newest ``version`` wins. ``file`` is relative to the recordings folder."""

    recording_id: str
    version: int
    call_id: str
    queue: str | None
    agent_id: str
    file: str
    started_at: float
    ended_at: float | None = None

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError(f"version starts at 1, got {self.version}")
        if not self.recording_id or not self.call_id or not self.file:
            raise ValueError("a recording needs an id, a call and a file")


Record = (
    CallEventRecord
    | CallRecord
    | AgentStateRecord
    | CallbackRecord
    | SurveyRecord
    | AttemptRecord
    | AttemptEvent
    | ContactProgress
    | CampaignRunRecord
    | DoNotCallRecord
    | AuditRecord
    | AgentPresenceRecord
    | RecordingRecord
)
