"""The read model: what the distributor looks like now, for HTTP, /metrics, the
wallboard and the simulator.

Rules kept here:

1. Views are frozen values taken at the moment they are asked for; holding one never
   holds the core's live state, and nothing read through them can change it.
2. Everything outside the core reads the distributor through these views only; the
   parts' own state stays theirs.
3. A view reads; it decides nothing (no estimate is worked out here, no timer moved).
"""

from __future__ import annotations

from dataclasses import dataclass

from ccqueue.core.agent_state import AgentState
from ccqueue.core.call_book import CallBook
from ccqueue.core.callback_desk import CallbackDesk
from ccqueue.core.calls import AcdSettings, CallState
from ccqueue.core.ewt import Estimate
from ccqueue.core.records import CallbackRecord
from ccqueue.core.roster import Roster

_IN_QUEUE = (CallState.WAITING, CallState.OFFERING)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueView:
    name: str
    waiting: int  # callers waiting or with an agent ringing for them
    oldest_arrival: float | None  # the longest-waiting unanswered caller's arrival; None: nobody
    callbacks_open: int  # waiting for their turn or being made
    # When that caller joined a queue: waits run from here, IVR time excluded (docs/reports.md).
    oldest_queued_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerView:
    call_id: str
    queue: str | None  # None: still in the IVR
    state: CallState
    caller: str
    arrived_at: float
    answered_at: float | None
    agent_id: str | None
    queued_at: float | None  # first joined a queue (None: still in the IVR); its wait runs from here
    ewt_at_entry: Estimate | None  # the wait estimated when it joined; None: not admitted


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentView:
    agent_id: str
    name: str
    state: AgentState
    since: float
    reason: str | None  # the pause reason while paused
    pending_action: str | None  # a pause or log-out waiting for the call to end
    queues: tuple[str, ...]


class ReadModel:
    """Views over the call book, the roster and the callback desk (rule 2)."""

    def __init__(self, settings: AcdSettings, *, book: CallBook, roster: Roster, desk: CallbackDesk) -> None:
        self._settings = settings
        self._book = book
        self._roster = roster
        self._desk = desk

    def reconfigure(self, new: AcdSettings) -> None:
        self._settings = new

    # ------------------------------------------------------------------ queues and callers

    def queue_names(self) -> list[str]:
        return sorted(self._settings.queues)

    def waiting(self, queue: str) -> int:
        return sum(1 for c in self._book.calls.values() if c.queue == queue and c.state in _IN_QUEUE)

    def queues(self) -> list[QueueView]:
        """Every configured queue, by name."""
        waiting: dict[str, int] = {}
        oldest: dict[str, float] = {}
        oldest_queued: dict[str, float] = {}
        for call in self._book.calls.values():
            if call.queue is None:
                continue
            if call.state in _IN_QUEUE:
                waiting[call.queue] = waiting.get(call.queue, 0) + 1
            if call.answered_at is None:
                oldest[call.queue] = min(oldest.get(call.queue, call.arrived_at), call.arrived_at)
                if call.queued_at is not None:
                    oldest_queued[call.queue] = min(oldest_queued.get(call.queue, call.queued_at), call.queued_at)
        callbacks: dict[str, int] = {}
        for record in self._desk.callbacks.values():
            callbacks[record.queue] = callbacks.get(record.queue, 0) + 1
        return [
            QueueView(
                name=name,
                waiting=waiting.get(name, 0),
                oldest_arrival=oldest.get(name),
                callbacks_open=callbacks.get(name, 0),
                oldest_queued_at=oldest_queued.get(name),
            )
            for name in sorted(self._settings.queues)
        ]

    def caller(self, call_id: str) -> CallerView | None:
        call = self._book.get(call_id)
        if call is None:
            return None
        return CallerView(
            call_id=call.call_id,
            queue=call.queue,
            state=call.state,
            caller=call.caller,
            arrived_at=call.arrived_at,
            answered_at=call.answered_at,
            agent_id=call.agent_id,
            queued_at=call.queued_at,
            ewt_at_entry=call.ewt_at_entry,
        )

    def call_ids(self) -> list[str]:
        """Every call in progress (in the IVR, waiting, ringing or connected)."""
        return list(self._book.calls)

    def waiting_callers(self, queue: str | None = None) -> list[CallerView]:
        """Callers waiting (or with an agent ringing for them), longest-waiting first."""
        calls = sorted(
            (c for c in self._book.calls.values() if c.state in _IN_QUEUE and (queue is None or c.queue == queue)),
            key=lambda c: (c.arrived_at, c.call_id),
        )
        return [view for c in calls if (view := self.caller(c.call_id)) is not None]

    def agents_calls(self) -> dict[str, CallerView]:
        """The call each agent is ringing for or talking to, by agent id."""
        return {
            c.agent_id: view
            for c in self._book.calls.values()
            if c.agent_id is not None
            and c.state in (CallState.OFFERING, CallState.CONNECTED)
            and (view := self.caller(c.call_id)) is not None
        }

    # ------------------------------------------------------------------ agents

    def agent_ids(self) -> list[str]:
        return sorted(self._roster.agents)

    def agent(self, agent_id: str) -> AgentView | None:
        status = self._roster.agents.get(agent_id)
        settings = self._settings.agents.get(agent_id)
        if status is None or settings is None:
            return None
        return AgentView(
            agent_id=agent_id,
            name=settings.name,
            state=status.state,
            since=status.since,
            reason=status.reason,
            pending_action=status.deferred.value if status.deferred else None,
            queues=tuple(settings.queues),
        )

    def agents(self) -> list[AgentView]:
        """Every configured agent, by id."""
        return [view for a in sorted(self._roster.agents) if (view := self.agent(a)) is not None]

    def agent_counts(self) -> dict[AgentState, int]:
        counts = dict.fromkeys(AgentState, 0)
        for a in self._roster.agents.values():
            counts[a.state] += 1
        return counts

    # ------------------------------------------------------------------ callbacks

    def callbacks(self, queue: str | None = None) -> list[CallbackRecord]:
        """Open callbacks (their latest records; records are frozen values already)."""
        return [r for r in self._desk.callbacks.values() if queue is None or r.queue == queue]

    def callback(self, callback_id: str) -> CallbackRecord | None:
        return self._desk.callbacks.get(callback_id)
