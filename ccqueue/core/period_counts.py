"""The wallboard's counters for a labelled period ("Today" from local midnight, by default).

Rules kept here:

1. A call belongs to the period in which it **arrived**, and counts as the reports
   define it (docs/reports.md, "Definitions"): offered once it joined a queue; answered
   when bridged to an agent; abandoned when its caller hung up unanswered, a short
   abandon (waited under the queue's ``short_abandon_s``) apart; service level = answered
   within the queue's ``answer_within_s`` over answered plus abandoned (short abandons
   excluded). An agent's handled calls are the answered calls it took.
2. Two sources that never overlap: the calls that arrived before ``cutoff`` (the moment
   this process started) come from PostgreSQL once (``seed``); later ones from the live
   records (``on_call``). So a restart keeps the counts, nothing is counted twice, and
   the order in which the seed and the live records arrive does not matter.
3. A call's summary is rewritten as it goes; each fact (offered, answered, abandoned)
   counts once per call, however many rewrites carry it.
4. When the period turns over, every count starts again from zero. The new period
   began after ``cutoff``, so it needs no seed.

Pure: the clock is an argument, and the zone and start time come from the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ccqueue.core.records import CallOutcome, CallRecord

__all__ = ["CallFacts", "PeriodCounts", "QueueCounts", "period_start"]


def period_start(now: float, *, starts_at: dt.time, zone: dt.tzinfo | None) -> float:
    """The latest moment at or before ``now`` whose local time of day is ``starts_at``.

    ``zone`` None is the machine's local time. A start time that a daylight-saving jump
    skips on some day is read as the clock would have it (PEP 495, ``fold=0``)."""
    if zone is None:
        local = dt.datetime.fromtimestamp(now)
        start = dt.datetime.combine(local.date(), starts_at)
        if start.timestamp() > now:
            start = dt.datetime.combine(local.date() - dt.timedelta(days=1), starts_at)
        return start.timestamp()
    local = dt.datetime.fromtimestamp(now, zone)
    start = dt.datetime.combine(local.date(), starts_at, tzinfo=zone)
    if start.timestamp() > now:
        start = dt.datetime.combine(local.date() - dt.timedelta(days=1), starts_at, tzinfo=zone)
    return start.timestamp()


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFacts:
    """What the counters need of one call, as PostgreSQL's ``report_calls_between`` gives it."""

    call_id: str
    queue: str | None
    agent: str | None
    offered: bool
    answered: bool
    abandoned: bool
    wait_s: float | None  # from joining a queue until answered or gone (None: never queued)


@dataclass(slots=True)
class QueueCounts:
    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0  # short abandons excluded
    short_abandoned: int = 0

    @property
    def service_level(self) -> float | None:
        counted = self.answered + self.abandoned
        return self.answered_in_time / counted if counted else None  # no call counted: no SL

    def add(self, other: QueueCounts) -> QueueCounts:
        return QueueCounts(
            offered=self.offered + other.offered,
            answered=self.answered + other.answered,
            answered_in_time=self.answered_in_time + other.answered_in_time,
            abandoned=self.abandoned + other.abandoned,
            short_abandoned=self.short_abandoned + other.short_abandoned,
        )


@dataclass(slots=True)
class _Counts:
    queues: dict[str, QueueCounts] = field(default_factory=dict)
    handled: dict[str, int] = field(default_factory=dict)

    def queue(self, name: str) -> QueueCounts:
        return self.queues.setdefault(name, QueueCounts())


# (answer_within_s, short_abandon_s) of a queue, from the running configuration.
Objectives = Callable[[str], tuple[float, float]]


class PeriodCounts:
    """Offered, answered, abandoned and SL per queue, and calls handled per agent, over the
    current period (rules 1-4)."""

    def __init__(self, *, label: str, starts_at: dt.time, zone: dt.tzinfo | None, cutoff: float, objectives: Objectives) -> None:
        self.label = label
        self._starts_at = starts_at
        self._zone = zone
        self.cutoff = cutoff
        self._objectives = objectives
        self.start = period_start(cutoff, starts_at=starts_at, zone=zone)
        self._next = self._following(self.start)
        self._seeded = _Counts()
        self._live = _Counts()
        # The period began before this process: PostgreSQL holds its first part.
        self.seed_needed = self.start < cutoff
        self._seen: dict[str, set[str]] = {"offered": set(), "answered": set(), "abandoned": set()}

    # ------------------------------------------------------------------ the period

    def _following(self, start: float) -> float:
        # A local day later, at the same time of day (23 or 25 hours when the clocks change).
        return period_start(start + 26 * 3600.0, starts_at=self._starts_at, zone=self._zone)

    def roll(self, now: float) -> None:
        """Start a new period (everything at zero) if ``now`` is past this one (rule 4)."""
        if now < self._next:
            return
        self.start = period_start(now, starts_at=self._starts_at, zone=self._zone)
        self._next = self._following(self.start)
        self._seeded, self._live = _Counts(), _Counts()
        self.seed_needed = False
        for seen in self._seen.values():
            seen.clear()

    # ------------------------------------------------------------------ the two sources

    def seed(self, start: float, calls: Iterable[CallFacts]) -> bool:
        """Count the calls PostgreSQL holds for the period that began at ``start`` and before
        ``cutoff``; ignored (False) when the period has turned over meanwhile."""
        if start != self.start or not self.seed_needed:
            return False
        counts = _Counts()
        for call in calls:
            if call.queue is None or not call.offered:
                continue
            queue = counts.queue(call.queue)
            queue.offered += 1
            if call.answered:
                self._count_answered(counts, call.queue, call.agent, call.wait_s or 0.0)
            elif call.abandoned:
                self._count_abandoned(queue, call.queue, call.wait_s or 0.0)
        self._seeded = counts
        self.seed_needed = False
        return True

    def on_call(self, record: CallRecord, now: float) -> None:
        """A live call summary (rule 2: only calls that arrived in the period, after ``cutoff``)."""
        self.roll(now)
        queue_name = record.queue
        if record.arrived_at < self.cutoff or record.arrived_at < self.start or record.arrived_at >= self._next:
            return
        if queue_name is None or record.queued_at is None:
            return
        counts = self._live
        if self._first("offered", record.call_id):
            counts.queue(queue_name).offered += 1
        if record.answered_at is not None and self._first("answered", record.call_id):
            self._count_answered(counts, queue_name, record.agent, max(0.0, record.answered_at - record.queued_at))
        elif (
            record.outcome is CallOutcome.ABANDONED
            and record.ended_at is not None
            and record.call_id not in self._seen["answered"]
            and self._first("abandoned", record.call_id)
        ):
            self._count_abandoned(counts.queue(queue_name), queue_name, max(0.0, record.ended_at - record.queued_at))

    def _first(self, fact: str, call_id: str) -> bool:
        seen = self._seen[fact]
        if call_id in seen:
            return False
        seen.add(call_id)
        return True

    def _count_answered(self, counts: _Counts, queue_name: str, agent: str | None, waited: float) -> None:
        queue = counts.queue(queue_name)
        queue.answered += 1
        queue.answered_in_time += waited <= self._objectives(queue_name)[0]
        if agent is not None:
            counts.handled[agent] = counts.handled.get(agent, 0) + 1

    def _count_abandoned(self, queue: QueueCounts, queue_name: str, waited: float) -> None:
        if waited < self._objectives(queue_name)[1]:
            queue.short_abandoned += 1
        else:
            queue.abandoned += 1

    # ------------------------------------------------------------------ reading

    def queue(self, name: str, now: float) -> QueueCounts:
        self.roll(now)
        return self._seeded.queues.get(name, QueueCounts()).add(self._live.queues.get(name, QueueCounts()))

    def handled(self, agent: str, now: float) -> int:
        self.roll(now)
        return self._seeded.handled.get(agent, 0) + self._live.handled.get(agent, 0)
