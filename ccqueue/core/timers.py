"""The distributor's timers: ring backstops, announcements, wait limits, callback
windows, wrap-up ends and missed-call cooldowns, all in one heap.

Rules kept here:

1. A timer is a kind, a key (a call, offer, callback or agent id) and a time. Nothing
   cancels a timer: a later event makes it stale, and it is checked against the live
   state when it comes up, through its kind's predicate. With 10,000 agents no event
   scans them all, and a stale timer costs one pop.
2. Each kind has one predicate (is it still live?) and one handler (what it does),
   registered once by the part that owns what the timer is about. A kind fires only
   through its handler, and only when its predicate says it is live.
3. Time is an argument: ``due(now)`` and ``next_at()``; the clock is never read.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Callable

from ccqueue.core import commands as cmd


class TimerKind(enum.Enum):
    OFFER = "offer"  # an agent leg's ring timeout plus grace: Asterisk did not report on it
    ANNOUNCE = "announce"  # position and wait announcement
    PERIODIC = "periodic"  # the queue's periodic messages
    MAX_WAIT = "max_wait"
    FORECAST = "forecast"  # look at the forecast diversion again
    CALLBACK_OFFER = "cb_offer"  # offer a waiting caller a callback
    CALLBACK_READY = "cb_ready"  # a callback's window opens, or its next attempt is due
    CALLBACK_EXPIRE = "cb_expire"
    WRAP_UP = "wrap_up"
    MISSED = "missed"  # an agent's missed-call cooldown is over
    DIAL = "dial"  # a campaign's dial: Asterisk did not report its end in time
    CONNECT = "connect"  # a person answered a campaign's dial: an agent by now, or safe harbour
    CONTACTS = "contacts"  # ask the store for a campaign's contacts again


# Is the timer (its key, its time) still about the live state?
Live = Callable[[str, float], bool]
# Carry it out: key, now, the commands so far.
Fire = Callable[[str, float, list[cmd.Command]], None]


class Timers:
    """One heap of timers, checked and carried out through a table per kind (rule 2)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerKind, str]] = []
        self._seq = 0  # keeps the order of timers due at the same time
        self._live: dict[TimerKind, Live] = {}
        self._fire: dict[TimerKind, Fire] = {}

    def register(self, kind: TimerKind, *, live: Live, fire: Fire) -> None:
        self._live[kind] = live
        self._fire[kind] = fire

    def start(self, at: float, kind: TimerKind, key: str) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, key))

    def next_at(self) -> float | None:
        """When the next live timer is due; stale ones at the top are dropped on the way."""
        heap = self._heap
        while heap and not self._live[heap[0][2]](heap[0][3], heap[0][0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run_due(self, now: float, out: list[cmd.Command]) -> None:
        """Carry out every live timer due by ``now``, in time order."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, kind, key = heapq.heappop(heap)
            if self._live[kind](key, at):
                self._fire[kind](key, now, out)
