"""A staffing checked in the simulator: the real core serving an interval's load.

Rules kept here:

1. One queue, ``agents`` alike agents, Poisson arrivals at the interval's rate, handle
   times of the interval's mean (exponential, or lognormal with ``sigma``), patience
   exponential with the interval's mean (or nobody gives up). The queue's wrap-up is 0:
   the handle time already holds it (the report's AHT is talk plus wrap-up).
2. An interval of 15 to 60 minutes holds too few calls for its service level to be a
   figure rather than noise, and it would start with every agent idle. So the rate is
   played as steady for ``warmup_s + measure_s`` and only callers who arrive in the
   measured window count: answered within ``answer_within_s`` over answered plus
   abandoned (the report's and the simulator's service level).
3. Fixed seed: the same load gives the same figure, and N and N-1 agents see the same
   callers calling at the same moments (the simulator's streams are per purpose).
4. One run is one sample: a queue near full load has a long memory, and a few hours of
   one seed can sit points away from the long-run figure. ``across_seeds`` runs the
   same staffing on K seeds and gives the mean with a 95 % confidence interval
   (Student's t over the K runs' levels). A staffing *meets* the target when the whole
   interval is at or above it, *misses* it when the whole interval is below, and is
   *unsure* otherwise: more seeds or hours are needed to tell. With one seed there is no
   interval and the single run decides.
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ccqueue.sim.run import Simulation
from ccqueue.sim.scenario import parse_scenario

__all__ = ["SeedsLevel", "SimulatedLevel", "Verdict", "across_seeds", "simulated_service_level"]

WARMUP_S = 1800.0
MEASURE_S = 4 * 3600.0
_QUEUE = "q"


@dataclass(frozen=True, slots=True)
class SimulatedLevel:
    agents: int
    counted: int  # callers in the SL's denominator
    service_level: float | None  # None: nobody counted


def _scenario(
    *,
    agents: int,
    rate_per_s: float,
    aht_s: float,
    patience_s: float | None,
    seed: int,
    sigma: float | None,
    duration_s: float,
) -> dict[str, Any]:
    handle: dict[str, Any] = {"distribution": "exponential", "mean_s": aht_s}
    if sigma is not None:
        handle = {"distribution": "lognormal", "mean_s": aht_s, "sigma": sigma}
    return {
        "seed": seed,
        "duration_s": duration_s,
        "drain": True,
        "queues": {_QUEUE: {"wrapup_s": 0}},
        "agents": {"count": agents},
        "arrivals": [{"until_s": duration_s, "per_minute": rate_per_s * 60.0}],
        "handle_time": handle,
        "patience": "none" if patience_s is None else {"distribution": "exponential", "mean_s": patience_s},
    }


def simulated_service_level(
    *,
    agents: int,
    rate_per_s: float,
    aht_s: float,
    answer_within_s: float,
    patience_s: float | None = None,
    seed: int = 1,
    sigma: float | None = None,
    warmup_s: float = WARMUP_S,
    measure_s: float = MEASURE_S,
) -> SimulatedLevel:
    """The service level the core reaches with ``agents`` on this load (rules 1-3)."""
    if rate_per_s <= 0:
        return SimulatedLevel(agents=agents, counted=0, service_level=None)
    if agents <= 0:
        return SimulatedLevel(agents=agents, counted=0, service_level=0.0)
    scenario = parse_scenario(
        _scenario(
            agents=agents,
            rate_per_s=rate_per_s,
            aht_s=aht_s,
            patience_s=patience_s,
            seed=seed,
            sigma=sigma,
            duration_s=warmup_s + measure_s,
        )
    )
    rows = Simulation(scenario).run()
    within = counted = 0
    for row in rows:
        if row.arrived_at < warmup_s:
            continue
        if row.answered_at is not None:
            counted += 1
            within += row.answered_at - row.arrived_at <= answer_within_s
        elif row.abandoned_at is not None:
            counted += 1
    return SimulatedLevel(agents=agents, counted=counted, service_level=within / counted if counted else None)


# Student's t, two-sided 95 %, by degrees of freedom (1-30); past 30 the normal's 1.96
# is within 4 % of it.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


class Verdict(enum.Enum):
    MEETS = "meets"
    MISSES = "misses"
    UNSURE = "unsure"


@dataclass(frozen=True, slots=True)
class SeedsLevel:
    """A staffing's service level over several seeds (rule 4)."""

    agents: int
    levels: tuple[float, ...]  # one per seed that counted anybody
    mean: float | None
    half_width: float | None  # of the 95 % confidence interval; None with fewer than two levels

    def verdict(self, target: float) -> Verdict:
        if self.mean is None:
            return Verdict.UNSURE
        spread = self.half_width or 0.0  # one seed: the point alone decides, its noise included
        if self.mean - spread >= target:
            return Verdict.MEETS
        if self.mean + spread < target:
            return Verdict.MISSES
        return Verdict.UNSURE


def across_seeds(*, agents: int, seeds: Sequence[int], **load: Any) -> SeedsLevel:
    """``simulated_service_level`` on each seed, summarised (rule 4). N and N-1 given the
    same seeds see the same callers, so their difference is sharper than either."""
    levels = tuple(
        level for seed in seeds if (level := simulated_service_level(agents=agents, seed=seed, **load).service_level) is not None
    )
    if not levels:
        return SeedsLevel(agents=agents, levels=(), mean=None, half_width=None)
    mean = statistics.fmean(levels)
    if len(levels) < 2:
        return SeedsLevel(agents=agents, levels=levels, mean=mean, half_width=None)
    t = _T95[len(levels) - 2] if len(levels) - 1 <= len(_T95) else 1.96
    return SeedsLevel(agents=agents, levels=levels, mean=mean, half_width=t * statistics.stdev(levels) / math.sqrt(len(levels)))
