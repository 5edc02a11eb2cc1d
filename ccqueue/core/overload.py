"""Overload: past what the box can serve, new callers are turned away at the door.

A call centre's box has a rate of calls it can carry; offered more, every call slows
down together until sessions time out in the middle and callers who were let in hear
silence or an apology. Refusing the surplus at the door keeps the calls already in hand
whole (the goodput stays near the peak instead of collapsing).

Rules kept here:

1. Three signals, measured by the adapters and handed in: the event loop's lag (how late
   a timer of the process fires: everything the process does is that late), Asterisk's
   lag (how old Asterisk's own events are when they arrive, and how long an Originate
   takes to start dialling: a saturated Asterisk falls behind on both while this process
   may still be idle) and the backlog
   (work in flight: events waiting in the engine's inbox, FastAGI sessions still
   opening, commands waiting on Asterisk). The two lags are sampled and follow rules 2,
   3 and 6 together; the backlog follows rule 4.
2. One late sample is a stall, not overload: a start-up's restore, a reload, a pause of
   the process. A lag counts once ``lag_samples`` samples within ``lag_window_s`` were
   past the limit: a loop that cannot keep up is late on every sample, while refusing
   callers after each stall would turn away the callers who come back after a restart.
3. The lag is sampled, so it has hysteresis: the share let in grows again only once the
   lag has stayed below ``resume_ratio`` of its limit for ``hold_s``; a stalled loop does
   not flap between refusing and admitting on every sample.
4. The backlog is measured at the door, for each new caller, and decides at once with
   no hysteresis: it is a count of work in flight, so refusing while it is over the
   limit admits exactly as fast as the box finishes work (a concurrency limit).
5. Only the door: a caller already admitted is never dropped for load, and a caller
   coming back to its place (held by the dialplan while ccqueue was away) is not a new
   arrival; the adapter asks only for new callers.
6. A lag does not close the door, it narrows it: the share of new callers let in
   (``admitted_share``) is cut to ``cut_ratio`` of itself when a lag counts (rule 2), at
   most once per ``cut_every_s`` (the time a cut takes to show in the lags), and grows by
   ``regain_per_s`` for every calm second (rule 3) until everyone is let in again. A box
   offered a third more than it carries settles near what it carries: closing the door
   outright until the lag clears, then opening it to everyone, lets a flood in after
   each pause, and each flood is late again (seen: goodput fell to a third of the peak,
   ``bench/capacity.py``). The share is applied where refusing costs least (the
   dialplan, before the call is answered: ``ccqueue.asterisk.telephony``).
7. A box's rate, when its administrator gives it (``max_new_calls_per_s``, from
   ``bench/capacity.py`` on that box), is a ceiling the lags need not find first: new
   callers (let in or refused) are counted over the last ``ARRIVALS_WINDOW_S``, and past
   the rate the door lets in that rate's share of them. The lags react only once the box
   is already behind, and a box past its rate can fall far behind within seconds (every
   caller waits longer, and each waiting caller's hold music costs more); the ceiling
   keeps it from getting there. Whichever of the two shares is smaller applies.
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
    RATE = "rate"  # past the box's rate, as its administrator gave it (rule 7)


# New callers are counted over this many seconds for rule 7.
ARRIVALS_WINDOW_S = 2.0


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
    # Rule 6: the admitted share's cut when a lag counts, how often it may be cut again,
    # and how fast it grows back once calm (a share of all new callers per second). A cut
    # to three quarters takes a box offered 1.33x its rate back to its rate in one step;
    # regaining 5 % a second probes upward slowly enough that the lag seen after a step
    # (a second or two) stops it before it overshoots by much.
    cut_ratio: float = 0.75
    cut_every_s: float = 1.5
    regain_per_s: float = 0.05
    # Rule 7: new callers a second the box carries (None: no ceiling but the lags').
    max_new_calls_per_s: float | None = None

    def __post_init__(self) -> None:
        if not self.max_loop_lag_s > 0 or not self.max_asterisk_lag_s > 0 or self.max_backlog < 1:
            raise ValueError("max_loop_lag_s, max_asterisk_lag_s and max_backlog must be positive")
        if not 0 < self.resume_ratio <= 1 or self.hold_s < 0:
            raise ValueError("resume_ratio must be in (0, 1] and hold_s at least 0")
        if self.lag_samples < 1 or not self.lag_window_s > 0:
            raise ValueError("lag_samples must be at least 1 and lag_window_s positive")
        if not 0 <= self.cut_ratio < 1 or self.cut_every_s < 0 or not self.regain_per_s > 0:
            raise ValueError("cut_ratio must be in [0, 1), cut_every_s at least 0 and regain_per_s positive")
        if self.max_new_calls_per_s is not None and not self.max_new_calls_per_s > 0:
            raise ValueError("max_new_calls_per_s must be positive")


class LoadGate:
    """Whether a new caller is let in, from the load samples handed in (rules 1-6)."""

    def __init__(self, settings: OverloadSettings) -> None:
        self._settings = settings
        self.lag_s = 0.0
        self.asterisk_lag_s = 0.0
        self.backlog = 0
        # The share of new callers let in (rule 6), and why it is below 1 (the lag that
        # last cut it); None while everyone is let in.
        self.admitted_share = 1.0
        self.lagging: Shed | None = None
        self._cut_at: float | None = None
        self._calm_since: float | None = None  # lag below resume since then (rule 3)
        self._seen_at: float | None = None  # the last sample
        self._late: collections.deque[float] = collections.deque()  # samples past the limit (rule 2)
        self._arrivals: collections.deque[float] = collections.deque()  # new callers' times (rule 7)
        self.door_share = 1.0  # the share the door lets in: the lags' and the rate's (rules 6, 7)

    @property
    def settings(self) -> OverloadSettings:
        return self._settings

    @property
    def shedding(self) -> Shed | None:
        """Why some new callers would be refused now (the backlog as last measured)."""
        s = self._settings
        if not s.enabled:
            return None
        if self.lagging is not None:
            return self.lagging
        if self.door_share < 1.0:
            return Shed.RATE
        return Shed.BACKLOG if self.backlog > s.max_backlog else None

    def arrived(self, now: float) -> None:
        """A new caller came to the door (let in or refused): rule 7 counts it."""
        self._arrivals.append(now)
        self._forget_arrivals(now)

    def arrival_rate(self, now: float) -> float:
        """New callers a second over the last ARRIVALS_WINDOW_S (rule 7)."""
        self._forget_arrivals(now)
        return len(self._arrivals) / ARRIVALS_WINDOW_S

    def _forget_arrivals(self, now: float) -> None:
        while self._arrivals and now - self._arrivals[0] > ARRIVALS_WINDOW_S:
            self._arrivals.popleft()

    def reconfigure(self, settings: OverloadSettings) -> None:
        self._settings = settings
        if not settings.enabled:
            self._open()
            self._late.clear()

    def _open(self) -> None:
        self.admitted_share, self.lagging, self.door_share = 1.0, None, 1.0
        self._cut_at = self._calm_since = None

    def observe(self, now: float, *, lag_s: float, backlog: int, asterisk_lag_s: float = 0.0) -> Shed | None:
        """A sample of the signals; returns why new callers are (partly) refused now."""
        self.lag_s, self.backlog = max(0.0, lag_s), max(0, backlog)
        self.asterisk_lag_s = max(0.0, asterisk_lag_s)
        s = self._settings
        since, self._seen_at = self._seen_at, now
        if not s.enabled:
            return None
        # Each lag as a share of its limit: past 1 is late, below resume_ratio is calm.
        loop, asterisk = self.lag_s / s.max_loop_lag_s, self.asterisk_lag_s / s.max_asterisk_lag_s
        late = Shed.LOOP_LAG if loop >= asterisk else Shed.ASTERISK_LAG
        if max(loop, asterisk) > 1:
            self._late.append(now)
            while self._late and now - self._late[0] > s.lag_window_s:
                self._late.popleft()
            if len(self._late) >= s.lag_samples:
                self.lagging, self._calm_since = late, None
                if self._cut_at is None or now - self._cut_at >= s.cut_every_s:
                    self.admitted_share *= s.cut_ratio
                    self._cut_at = now
        elif self.lagging is not None:
            if max(loop, asterisk) > s.resume_ratio:
                self._calm_since = None
            elif self._calm_since is None:
                self._calm_since = now
            elif now - self._calm_since >= s.hold_s and since is not None:
                # Grown for the calm time past hold_s since the last sample.
                self.admitted_share += s.regain_per_s * max(0.0, now - max(since, self._calm_since + s.hold_s))
                if self.admitted_share >= 1.0:
                    self._open()
        rate, ceiling = self.arrival_rate(now), s.max_new_calls_per_s
        self.door_share = min(self.admitted_share, 1.0 if ceiling is None or rate <= ceiling else ceiling / rate)
        return self.shedding

    def admit(self, now: float, *, backlog: int) -> Shed | None:
        """Whether a new caller may come in now (None), given the backlog at this moment:
        the concurrency limit of rule 4. The lags' share (rule 6) is applied by the door
        that draws it (``admitted_share``), not here."""
        del now  # the lag's state moves with its samples; the backlog is taken as it is
        self.backlog = max(0, backlog)
        s = self._settings
        return Shed.BACKLOG if s.enabled and self.backlog > s.max_backlog else None
