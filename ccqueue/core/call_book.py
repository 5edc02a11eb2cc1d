"""The call book: every call ccqueue is handling, by call id and by the caller's channel.

Rules kept here:

1. A call is in the book from its arrival to its end; ``end`` is the one way out, and
   writes the call's last event and summary (ledger rule 1).
2. Who took each caller's last call is remembered (per queue and number, oldest first)
   for as long as some queue's returning-customer window reaches back, and no longer.
"""

from __future__ import annotations

from ccqueue.core import commands as cmd
from ccqueue.core.calls import AcdSettings, Call, CallTrigger
from ccqueue.core.ledger import CallLedger
from ccqueue.core.records import CallOutcome
from ccqueue.core.routing import Router


class CallBook:
    """The calls in progress, and the agents recent callers spoke to."""

    def __init__(self, settings: AcdSettings, *, router: Router, ledger: CallLedger) -> None:
        self._router = router
        self._ledger = ledger
        self.calls: dict[str, Call] = {}
        self._by_uniqueid: dict[str, str] = {}  # caller uniqueid -> call_id
        # (queue, caller number) -> (agent, when their last call ended), oldest first
        self._recent: dict[tuple[str, str], tuple[str, float]] = {}
        self.reconfigure(settings)

    def reconfigure(self, settings: AcdSettings) -> None:
        # How far back any queue looks for a returning customer; older entries are dropped.
        self._recent_horizon = max((q.returning_window_s or 0.0 for q in settings.queues.values()), default=0.0)

    def add(self, call: Call) -> None:
        self.calls[call.call_id] = call
        self._by_uniqueid[call.uniqueid] = call.call_id

    def get(self, call_id: str) -> Call | None:
        return self.calls.get(call_id)

    def by_uniqueid(self, uniqueid: str) -> Call | None:
        call_id = self._by_uniqueid.get(uniqueid)
        return self.calls.get(call_id) if call_id else None

    def end(self, call: Call, outcome: CallOutcome, now: float, out: list[cmd.Command], *, reason: str) -> None:
        """The call is over (rule 1): out of line, out of the book, written down."""
        if call.in_line:
            self._router.dequeue(call.call_id)
            call.in_line = False
        call.move(CallTrigger.END)
        call.outcome = outcome
        call.ended_at = now
        self._ledger.event(call, "call_ended", now, out, outcome=outcome.value, reason=reason)
        if (rec := call.recording) is not None and not rec.held:  # its row gets its end (recorder rule 3)
            rec.version += 1
            self._ledger.recording(call, rec, out, ended_at=now)
            self._ledger.event(call, "recording_ended", now, out, recording_id=rec.recording_id)
        call.recording = None  # one held and never started leaves no row (its silent file: the purge)
        if outcome is CallOutcome.ABANDONED:
            out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=None, reason=reason))
        self._ledger.summary(call, out)
        self._by_uniqueid.pop(call.uniqueid, None)
        del self.calls[call.call_id]

    def remember_agent(self, queue: str, caller: str, agent_id: str, now: float) -> None:
        key = (queue, caller)
        self._recent.pop(key, None)  # re-insert: the dict stays ordered by end time
        self._recent[key] = (agent_id, now)

    def last_agent(self, queue: str, caller: str, now: float) -> tuple[str, float] | None:
        """The agent ``caller`` last spoke to in ``queue`` and when that call ended (rule 2)."""
        recent = self._recent
        while recent:  # forget what no queue's window reaches any more (oldest first)
            key, (_, ended) = next(iter(recent.items()))
            if ended >= now - self._recent_horizon:
                break
            del recent[key]
        return recent.get((queue, caller)) if caller else None
