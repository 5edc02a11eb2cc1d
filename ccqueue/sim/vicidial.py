"""The baseline for the dialer benchmark: a VICIdial-style adaptive dial level.

This is not ccqueue's pacing; it is what ccqueue's predictive pacing is compared
with. It follows VICIdial's documented adaptive modes, in its ``ADAPT_HARD_LIMIT``
flavour (the strictest about drops), written from the description, not from its code:

- The campaign dials ``dial level × active agents`` lines, less the calls already up
  (ringing, waiting for an agent or with an agent): VICIdial's default
  "available only ratio tally" = N counts every active agent, in call or not.
- Every 15 s the level is recomputed from the difference between agents waiting for a
  call and calls waiting for an agent, averaged over the interval, against a target
  difference (``adaptive_dl_diff_target``, 0): agents waiting raise it, calls waiting
  lower it, by the difference per active agent, scaled by the adaptive intensity.
  It stays between 1.0 and the adaptive maximum level (3.0 by default).
- Drops (VICIdial's word for abandons: no agent within the drop seconds) are counted
  per calendar day over the day's answered calls. Once the day's drop percentage is
  over ``adaptive_dropped_percentage`` (3 %), the hard limit sets the level to 1.0 and
  stops raising it until the day's percentage is back under the target. The count
  starts again at midnight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ccqueue.core.pacing import (
    AgentConnected,
    CallAbandoned,
    HumanAnswered,
    Observation,
)

__all__ = ["AdaptiveDialLevel", "AdaptiveSettings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AdaptiveSettings:
    dropped_percentage: float = 3.0  # adaptive_dropped_percentage
    maximum_level: float = 3.0  # adaptive_maximum_level
    start_level: float = 1.0  # auto_dial_level at the start of the day
    intensity: int = 0  # adaptive_intensity, -40 (gentler) .. +40 (harsher)
    diff_target: float = 0.0  # adaptive_dl_diff_target: agents waiting minus calls waiting
    interval_s: float = 15.0
    day_s: float = 86_400.0  # calendar day for the drop count


class AdaptiveDialLevel:
    """VICIdial-style adaptive dial level (the benchmark's baseline)."""

    def __init__(self, settings: AdaptiveSettings | None = None) -> None:
        self.settings = settings or AdaptiveSettings()
        self.level = self.settings.start_level
        self._day = -1
        self._drops = 0
        self._answered = 0
        self._next_adjust: float | None = None
        self._last_sample: float | None = None
        self._diff_area = 0.0  # integral of (agents waiting - calls waiting) over time
        self._sampled_s = 0.0

    def _roll_day(self, now: float) -> None:
        day = math.floor(now / self.settings.day_s)
        if day != self._day:
            self._day, self._drops, self._answered = day, 0, 0
            self.level = self.settings.start_level

    def drop_percentage(self) -> float:
        return 100.0 * self._drops / self._answered if self._answered else 0.0

    def observe(self, event: Observation) -> None:
        self._roll_day(event.at)
        if isinstance(event, HumanAnswered):
            self._answered += 1
        elif isinstance(event, CallAbandoned) or (isinstance(event, AgentConnected) and event.wait_s > 2.0):
            self._drops += 1

    def decide(self, now: float, *, agents_waiting: int, calls_waiting: int, active_agents: int, calls_up: int) -> int:
        """New dials now: ``agents_waiting`` ready for a call, ``calls_waiting`` answered
        and waiting for an agent, ``active_agents`` logged in, ``calls_up`` every call
        ringing, waiting or with an agent."""
        s = self.settings
        self._roll_day(now)
        if self._last_sample is not None:
            dt = now - self._last_sample
            self._diff_area += dt * (agents_waiting - calls_waiting)
            self._sampled_s += dt
        self._last_sample = now
        if self._next_adjust is None:
            self._next_adjust = now + s.interval_s
        elif now >= self._next_adjust:
            self._adjust(active_agents)
            self._next_adjust = now + s.interval_s
        goal = math.floor(self.level * active_agents + 1e-9)
        return max(0, goal - calls_up)

    def _adjust(self, active_agents: int) -> None:
        s = self.settings
        diff = self._diff_area / self._sampled_s if self._sampled_s > 0 else 0.0
        self._diff_area = self._sampled_s = 0.0
        if self.drop_percentage() > s.dropped_percentage:
            self.level = 1.0  # the hard limit: no over-dialling while the day is over target
            return
        step = (diff - s.diff_target) / max(1, active_agents) * (1.0 + s.intensity / 40.0)
        self.level = min(s.maximum_level, max(1.0, self.level + step))
