"""Overload: past what the box can serve, new callers are turned away at the door.

A call centre's box has a rate of calls it can carry; offered more, every call slows
down together until sessions time out in the middle and callers who were let in hear
silence or an apology. Refusing the surplus at the door, with a message, keeps the
calls already in hand whole (the goodput stays near the peak instead of collapsing).

Rules kept here:

1. Three signals, measured by the adapters and handed in: the event loop's lag (how late
   a timer of the process fires: everything the process does is that late), Asterisk's
   lag (how old Asterisk's own events are when they arrive, and how long an Originate
   takes to start dialling: a saturated Asterisk falls behind on both while this process
   may still be idle) and the backlog
   (work in flight: events waiting in the engine's inbox, FastAGI sessions still
   opening, commands waiting on Asterisk). Any past its limit refuses. The two lags are
   sampled and follow rules 2 and 3 together.
2. One late sample is a stall, not overload: a start-up's restore, a reload, a pause of
   the process. Shedding for lag starts once ``lag_samples`` samples within
   ``lag_window_s`` were past the limit: a loop that cannot keep up is late on every
   sample, while refusing every caller for a second after each stall would turn away
   the callers who come back after a restart.
3. The lag is sampled, so it has hysteresis: shedding for lag stops only once the lag
   has stayed below ``resume_ratio`` of its limit for ``hold_s``; a stalled loop does
   not flap between refusing and admitting on every sample.
4. The backlog is measured at the door, for each new caller, and decides at once with
   no hysteresis: it is a count of work in flight, so refusing while it is over the
   limit admits exactly as fast as the box finishes work (a concurrency limit). A box
   offered a third more than it carries keeps carrying what it can, instead of
   refusing everyone for a while and then letting a flood in.
5. Only the door: a caller already admitted is never dropped for load, and a caller
   coming back to its place (held by the dialplan while ccqueue was away) is not a new
   arrival; the adapter asks only for new callers.
"""

from __future__ import annotations

import collections
import enum
from dataclasses import dataclass


class Shed(enum.Enum):
    """Why a new caller is turned away."""

    LOOP_LAG = "loop_lag"
    ASTERISK_LAG = "asterisk_lag"
    BACKLOG = "backlog"


@dataclass(frozen=True, slots=True, kw_only=True)
class OverloadSettings:
    # Off: every caller is let in whatever the load (the behaviour before shedding).
    enabled: bool = True
    # The loop's lag beyond which new callers are refused. Python's asyncio debug mode
    # calls a callback slow at 0.1 s; on two cores shared with other work the lag was
    # seen at 0.1-0.25 s with the box carrying its load (bench/capacity.py), and past
    # 0.8 s once it could not. Half a second is a stall, not a busy neighbour.
    max_loop_lag_s: float = 0.5
    # How far behind Asterisk may be: how old its events are on arrival, and how long an
    # agent leg's Originate takes to start dialling (its own work, before any phone
    # rings). Carrying its load, both take milliseconds on two cores (bench/capacity.py);
    # past it, the dial start was seen to slip by 0.1 s more every second, reaching
    # 1.5 s before callers gave up. Clocks of two hosts kept by NTP differ by
    # milliseconds, far below this.
    max_asterisk_lag_s: float = 0.5
    # Work in flight (rule 3). A box carrying 96 calls a second held at most 30-70
    # (bench/capacity.py, two shared cores); one past its capacity, ~200 within seconds.
    max_backlog: int = 100
    # Shedding for lag stops below this share of its limit, held for hold_s (rule 3).
    resume_ratio: float = 0.5
    hold_s: float = 1.0
    # Samples past the lag limit, within lag_window_s, that start shedding (rule 2).
    lag_samples: int = 2
    lag_window_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.max_loop_lag_s > 0 or not self.max_asterisk_lag_s > 0 or self.max_backlog < 1:
            raise ValueError("max_loop_lag_s, max_asterisk_lag_s and max_backlog must be positive")
        if not 0 < self.resume_ratio <= 1 or self.hold_s < 0:
            raise ValueError("resume_ratio must be in (0, 1] and hold_s at least 0")
        if self.lag_samples < 1 or not self.lag_window_s > 0:
            raise ValueError("lag_samples must be at least 1 and lag_window_s positive")


class LoadGate:
    """Whether a new caller is let in, from the load samples handed in (rules 1-5)."""

    def __init__(self, settings: OverloadSettings) -> None:
        self._settings = settings
        self.lag_s = 0.0
        self.asterisk_lag_s = 0.0
        self.backlog = 0
        self.lagging: Shed | None = None  # shedding for a lag, and which (rule 3)
        self._calm_since: float | None = None  # lag below resume since then
        self._late: collections.deque[float] = collections.deque()  # samples past the limit (rule 2)

    @property
    def settings(self) -> OverloadSettings:
        return self._settings

    @property
    def shedding(self) -> Shed | None:
        """Why a new caller would be refused now (the backlog as last measured)."""
        s = self._settings
        if not s.enabled:
            return None
        if self.lagging is not None:
            return self.lagging
        return Shed.BACKLOG if self.backlog > s.max_backlog else None

    def reconfigure(self, settings: OverloadSettings) -> None:
        self._settings = settings
        if not settings.enabled:
            self.lagging, self._calm_since = None, None
            self._late.clear()

    def observe(self, now: float, *, lag_s: float, backlog: int, asterisk_lag_s: float = 0.0) -> Shed | None:
        """A sample of the signals; returns why new callers are refused now (None: admitted)."""
        self.lag_s, self.backlog = max(0.0, lag_s), max(0, backlog)
        self.asterisk_lag_s = max(0.0, asterisk_lag_s)
        s = self._settings
        if not s.enabled:
            return None
        # Each lag as a share of its limit: past 1 is late, below resume_ratio is calm.
        loop, asterisk = self.lag_s / s.max_loop_lag_s, self.asterisk_lag_s / s.max_asterisk_lag_s
        late = Shed.LOOP_LAG if loop >= asterisk else Shed.ASTERISK_LAG
        if max(loop, asterisk) > 1:
            self._late.append(now)
            while self._late and now - self._late[0] > s.lag_window_s:
                self._late.popleft()
            if self.lagging is not None or len(self._late) >= s.lag_samples:
                self.lagging, self._calm_since = late, None
        elif self.lagging is not None:
            if max(loop, asterisk) > s.resume_ratio:
                self._calm_since = None
            else:
                if self._calm_since is None:
                    self._calm_since = now
                if now - self._calm_since >= s.hold_s:
                    self.lagging, self._calm_since = None, None
        return self.shedding

    def admit(self, now: float, *, backlog: int) -> Shed | None:
        """Whether a new caller may come in now (None), given the backlog at this moment."""
        del now  # the lag's state moves with its samples; the backlog is taken as it is
        self.backlog = max(0, backlog)
        return self.shedding
