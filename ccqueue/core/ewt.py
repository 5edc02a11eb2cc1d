"""Estimated wait time (EWT): how long this caller, at this place in line, will wait.

Asterisk's app_queue announces one number per queue, ``holdtime``, moved on every
answered call as ``holdtime = (3 * holdtime + wait) / 4``. It tells the tenth caller in
line what the last few callers happened to wait, whatever the line, the staffing or the
abandonment look like now. Here the estimate is built from the present instead.

The model. A caller at ``position`` k (1 = first in line among the queue's callers not
yet offered to an agent) of a queue served by N agents, I of them idle:

1. Agents needed. If k <= I an agent is free for it and the wait is the time the
   agent's phone rings: ``ring``, the recent mean of offer-to-answer times. Otherwise
   busy agents must finish ``k - I`` calls for this queue first.
2. Completions. While callers wait every agent is busy, so agents finish at a rate of
   ``rate = N / cycle`` per second, ``cycle`` being the recent mean time an agent is held
   by one call: ringing, talking and wrap-up. Exponential gaps: the first agent is free
   after ``1 / rate`` on average, as is each next one.
3. Callers ahead leave. With a hazard of ``theta`` abandons per second of waiting
   (recent abandons over recent seconds waited, counting only the waits from the time
   this caller has already waited on: the impatient have left by then), the line ahead shrinks by answers and
   by abandons: the fluid ``dp/dt = -(rate + theta * p)`` takes the m - 1 callers ahead
   to none in ``ln(1 + theta * (m - 1) / rate) / theta`` seconds (``(m - 1) / rate``
   when nobody leaves); the caller's own turn adds ``1 / rate``. Call the sum ``T``.
   Here m is the number of completions the caller needs: ``k - I`` for a queue whose
   agents serve nobody else, more with rivals (rule 5).
4. The caller may leave too. The estimate is the mean wait of the callers in this place
   who are answered, the figure the queue's records will confirm: the wait, a gamma of
   ``s = rate * T`` exponential gaps, weighed by the chance ``exp(-theta * w)`` to still
   be there at ``w``, has the mean ``T * rate / (rate + theta)``. A caller determined
   to wait as long as it takes waits ``T`` on average, well inside the interval.
5. Rivals: other queues whose callers wait for some of the same agents and go first
   (``Rival``). A rival's waiting callers are answered by all of its agents, so the
   ``shared / its agents`` part of them falls to this queue's agents, who can give them
   at most ``shared / N`` of their completions; the completions left over serve this
   queue (a fluid, solved rival by rival as each runs out). A rival that ``overtakes``
   (a higher priority: its callers go first even when they come later) also takes its
   recent answer rate, times the same part, off ``rate`` for the whole wait. Should
   that leave less than ``MIN_SHARE`` of it, the caller may wait without end: the
   estimate uses ``MIN_SHARE * rate`` and is not confident.
6. So ``seconds = ring + T * rate / (rate + theta)``, and the interval [``low``,
   ``high``] is the 10th and 90th percentile of that gamma, from Wilson and Hilferty's
   cube-root formula (no special functions needed). With a free agent, [0, 2 * ring].

Rules kept here:

- Pure: observations and questions carry ``now``; nothing reads a clock.
- "Recent" means exponentially weighted by count of calls, with a half-life of
  ``half_life_calls`` calls (answer rates: by time, over ``rate_window_s``). The cycle
  starts from ``prior_handle_s`` worth ``prior_weight`` calls, which fades as calls end;
  ``theta`` always counts ``PRIOR_EXPOSURE_S`` of waiting without an abandon besides
  what was seen, so one early abandon cannot make it huge. ``ring`` has no prior: it is
  0 until a phone has rung.
- Every number comes from an observation (``staffing``, ``call_answered``,
  ``call_abandoned``, ``call_ended``); the engine tells the staffing of a rival queue as
  well as of the caller's own before asking (rule 5 splits a rival's callers by its
  agent count).
- ``confident`` is False while fewer than ``min_history`` calls have ended in the queue,
  when overtaking callers leave the queue almost nothing (rule 5), and when nobody
  serves it; with nobody serving, ``seconds`` is infinite: no wait can be promised. An
  engine announces only confident estimates.
- What the model leaves out, on purpose: how long each busy agent has been on its call.
  Conditioning the first completion on those ages (a lognormal fitted to recent handle
  times) was measured in ``ccqueue.sim`` and gained under 2 % of error with lognormal
  talk times while losing with exponential ones; the count of busy agents is enough.
- Unknown queues are not an error: they get the priors.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Estimate", "Rival", "WaitEstimator", "gamma_quantile"]

# A typical inbound support call lasts 3 to 6 minutes with wrap-up (industry surveys of
# average handle time); 180 s is the fallback until the queue's own calls say otherwise.
PRIOR_HANDLE_S = 180.0
# 200 calls: minutes of a large team, a morning of a small one. The mean of a spread-out
# handle time (coefficient of variation near 1) is then known within about 5 %.
HALF_LIFE_CALLS = 200.0
PRIOR_WEIGHT = 5.0  # calls' worth of belief in the priors
MIN_HISTORY = 20  # ended calls before an estimate is called confident
# Seconds of waiting without an abandon, the prior of theta. A busy queue sees tens of
# thousands of seconds of waiting per half-life, so this fades to a few per cent.
PRIOR_EXPOSURE_S = 300.0
# Answer rates of overtaking queues are taken over about a quarter of an hour, the
# interval workforce planners forecast arrivals in (15 or 30 minutes).
RATE_WINDOW_S = 900.0
# Where the abandon hazard is measured apart: the spans [0, 10), [10, 30), ... seconds of
# waiting. Callers are not alike in patience: the impatient leave early, so the hazard
# of those still waiting falls with the time they have waited (rule 3's theta is taken
# from the waits at or past the caller's own).
PATIENCE_EDGES_S = (0.0, 10.0, 30.0, 60.0, 120.0, 240.0, 480.0)
MIN_SHARE = 0.1  # the least part of the agents' completions left to an overtaken queue
# The interval covers 80 % of outcomes: z of the 10th and 90th percentiles.
Z_80 = 1.2815515655446004


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """An expected wait in seconds, an 80 % interval around it, and whether to trust it."""

    seconds: float
    low: float
    high: float
    confident: bool


def gamma_quantile(shape: float, z: float) -> float:
    """Quantile (as a standard normal ``z``) of a gamma with ``shape`` and mean ``shape``.

    Wilson and Hilferty (1931): a chi-square's cube root is nearly normal. Within a few
    per cent of the exact value down to shape 1 (an exponential), which is enough for an
    interval announced to a caller.
    """
    if shape <= 0:
        return 0.0
    c = 1.0 / (9.0 * shape)
    return shape * max(0.0, 1.0 - c + z * math.sqrt(c)) ** 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Rival:
    """Another queue whose callers wait for some of this queue's agents (rule 5)."""

    queue: str
    waiting: int  # its callers who go before this caller
    shared: int  # agents serving both queues now
    overtakes: bool = False  # its callers go first even when they come later (a higher priority)

    def __post_init__(self) -> None:
        if self.waiting < 0 or self.shared < 0:
            raise ValueError(f"rival {self.queue!r}: waiting and shared must not be negative")


@dataclass(slots=True)
class _Ewm:
    """An exponentially weighted mean by count, seeded with a prior."""

    total: float
    weight: float

    def add(self, value: float, decay: float) -> None:
        self.total = self.total * decay + value
        self.weight = self.weight * decay + 1.0

    @property
    def mean(self) -> float:
        return self.total / self.weight if self.weight > 0 else 0.0


@dataclass(slots=True)
class _Rate:
    """Events per second over the last ``window_s`` or so (exponentially weighted by time)."""

    window_s: float
    count: float = 0.0
    last: float = -math.inf
    first: float = math.inf

    def add(self, now: float) -> None:
        if self.count > 0 and now > self.last:
            self.count *= math.exp((self.last - now) / self.window_s)
        self.count += 1.0
        self.last = max(self.last, now)
        self.first = min(self.first, now)

    def per_s(self, now: float) -> float:
        if self.count == 0:
            return 0.0
        count = self.count * math.exp(min(0.0, self.last - now) / self.window_s)
        # Early on the window is not full yet: divide by the part of it seen so far.
        seen = -math.expm1(-max(now - self.first, 1.0) / self.window_s)
        return count / (self.window_s * seen)


@dataclass(slots=True)
class _Queue:
    cycle: _Ewm  # seconds an agent is held by one call
    ring: _Ewm  # seconds from offer to answer
    answers: _Rate
    exposure_s: float  # decayed seconds waited by callers who left the line, plus a prior
    abandons: float  # decayed count of those who abandoned
    # The same, split by how long the caller had waited (``PATIENCE_EDGES_S``): seconds
    # waited within each span, and abandons that fell in it.
    exposure_by_span: list[float] = field(default_factory=lambda: [0.0] * len(PATIENCE_EDGES_S))
    abandons_by_span: list[float] = field(default_factory=lambda: [0.0] * len(PATIENCE_EDGES_S))
    ended: int = 0
    agents: int = 0
    busy: int = 0


class WaitEstimator:
    """Per-queue wait estimates from what the queue has seen; see the module's rules."""

    def __init__(
        self,
        *,
        prior_handle_s: float = PRIOR_HANDLE_S,
        half_life_calls: float = HALF_LIFE_CALLS,
        prior_weight: float = PRIOR_WEIGHT,
        min_history: int = MIN_HISTORY,
        rate_window_s: float = RATE_WINDOW_S,
    ) -> None:
        for name, value in (
            ("prior_handle_s", prior_handle_s),
            ("half_life_calls", half_life_calls),
            ("prior_weight", prior_weight),
            ("rate_window_s", rate_window_s),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive and finite, got {value}")
        self.prior_handle_s = prior_handle_s
        self.prior_weight = prior_weight
        self.min_history = min_history
        self.rate_window_s = rate_window_s
        self._decay = 0.5 ** (1.0 / half_life_calls)
        self._queues: dict[str, _Queue] = {}

    # ------------------------------------------------------------------ observations

    def staffing(self, queue: str, *, agents: int, busy: int, now: float) -> None:
        """Who serves ``queue`` now: ``agents`` logged in, not paused and not about to
        leave, ``busy`` of them with a call (ringing, talking or in wrap-up)."""
        if not 0 <= busy <= agents:
            raise ValueError(f"queue {queue!r}: {busy} busy agents out of {agents}")
        q = self._queue(queue)
        q.agents = agents
        q.busy = busy

    def call_answered(self, queue: str, *, waited_s: float, rang_s: float = 0.0, now: float) -> None:
        """A caller of ``queue`` was answered after ``waited_s``; the agent's phone rang ``rang_s``."""
        q = self._queue(queue)
        q.ring.add(max(0.0, rang_s), self._decay)
        q.answers.add(now)
        self._left_line(q, waited_s, abandoned=False)

    def call_abandoned(self, queue: str, *, waited_s: float, now: float) -> None:
        """A caller of ``queue`` hung up after waiting ``waited_s`` without an answer."""
        self._left_line(self._queue(queue), waited_s, abandoned=True)

    def call_ended(self, queue: str, *, handle_s: float, now: float) -> None:
        """An answered call of ``queue`` ended; its agent was held ``handle_s`` in all
        (ringing, talking and the wrap-up that follows)."""
        if not (math.isfinite(handle_s) and handle_s > 0):
            return  # a zero-length call says nothing about how long calls last
        q = self._queue(queue)
        q.cycle.add(handle_s, self._decay)
        q.ended += 1

    # ------------------------------------------------------------------ questions

    def estimate(
        self,
        queue: str,
        position: int,
        now: float,
        *,
        rivals: Iterable[Rival] = (),
        min_history: int | None = None,
        waited_s: float = 0.0,
    ) -> Estimate:
        """The wait ahead of the caller at ``position`` (1-based) of ``queue``.

        ``rivals``: the other queues whose callers wait for some of the same agents and
        go before this caller (rule 5). ``min_history`` replaces the estimator's own
        count of ended calls needed for confidence. ``waited_s``: how long the caller has
        waited already; the abandon hazard is that of callers who waited as long (rule 3).
        """
        if position < 1:
            raise ValueError(f"position is 1-based, got {position}")
        q = self._queue(queue)
        ring = q.ring.mean
        if q.agents == 0:
            return Estimate(seconds=math.inf, low=math.inf, high=math.inf, confident=False)
        confident = q.ended >= (self.min_history if min_history is None else min_history)
        mine = position - (q.agents - q.busy)  # of this queue's callers, to be served by busy agents
        if mine <= 0:
            return Estimate(seconds=ring, low=0.0, high=2.0 * ring, confident=confident)
        rate = q.agents / q.cycle.mean
        ahead: list[tuple[float, float]] = []  # (callers, share of this queue's agents they may use)
        taken = 0.0
        for rival in rivals:
            if rival.queue == queue or rival.shared <= 0:
                continue
            other = self._queue(rival.queue)
            # Its callers are answered by all its agents; the shared ones take this part.
            part = min(1.0, rival.shared / other.agents) if other.agents else 1.0
            if rival.waiting > 0:
                ahead.append((rival.waiting * part, min(1.0, rival.shared / q.agents)))
            if rival.overtakes:
                taken += other.answers.per_s(now) * part
        if taken > rate * (1.0 - MIN_SHARE):
            rate, confident = rate * MIN_SHARE, False
        else:
            rate -= taken
        # Rules 1 and 5: completions needed, at the full rate, before this caller's turn.
        needed = rate * _time_to_serve(mine, rate, ahead)
        theta = self._hazard(q, waited_s)
        # Rule 3: the line ahead shrinks by answers and by abandons.
        rest = needed - 1.0
        queued = (1.0 + (math.log1p(theta * rest / rate) * rate / theta if theta > 0 else rest)) / rate
        # Rule 4: as many exponential gaps as completions the wait stands for, the whole
        # shortened by the chance that the caller gives up first.
        shape = max(queued * rate, 1.0)
        scale = queued / shape * rate / (rate + theta)
        return Estimate(
            seconds=shape * scale + ring,
            low=gamma_quantile(shape, -Z_80) * scale + ring,
            high=gamma_quantile(shape, Z_80) * scale + ring,
            confident=confident,
        )

    def abandon_hazard(self, queue: str) -> float:
        """Recent abandons per second of waiting in ``queue``."""
        q = self._queue(queue)
        return q.abandons / q.exposure_s

    def mean_handle_s(self, queue: str) -> float:
        """Recent mean time an agent is held by one call of ``queue``."""
        return self._queue(queue).cycle.mean

    def answer_rate(self, queue: str, now: float) -> float:
        """Recent answers per second in ``queue``."""
        return self._queue(queue).answers.per_s(now)

    # ------------------------------------------------------------------ internals

    def _queue(self, name: str) -> _Queue:
        q = self._queues.get(name)
        if q is None:
            w = self.prior_weight
            q = self._queues[name] = _Queue(
                cycle=_Ewm(self.prior_handle_s * w, w),
                ring=_Ewm(0.0, 0.0),  # no prior: agents' phones ring as long as they ring
                answers=_Rate(self.rate_window_s),
                exposure_s=PRIOR_EXPOSURE_S,
                abandons=0.0,
            )
        return q

    def _left_line(self, q: _Queue, waited_s: float, *, abandoned: bool) -> None:
        # The prior exposure keeps its full weight: theta never divides by nothing.
        decay = self._decay
        waited_s = max(0.0, waited_s)
        q.exposure_s = (q.exposure_s - PRIOR_EXPOSURE_S) * decay + PRIOR_EXPOSURE_S + waited_s
        q.abandons = q.abandons * decay + (1.0 if abandoned else 0.0)
        exposure, abandons = q.exposure_by_span, q.abandons_by_span
        last = len(PATIENCE_EDGES_S) - 1
        for i, start in enumerate(PATIENCE_EDGES_S):
            end = PATIENCE_EDGES_S[i + 1] if i < last else math.inf
            exposure[i] = exposure[i] * decay + max(0.0, min(waited_s, end) - start)
            abandons[i] = abandons[i] * decay + (1.0 if abandoned and start <= waited_s < end else 0.0)

    @staticmethod
    def _hazard(q: _Queue, waited_s: float) -> float:
        """Abandons per second of waiting among callers who had waited ``waited_s`` or more."""
        if waited_s <= 0.0:
            return q.abandons / q.exposure_s
        first = bisect.bisect_right(PATIENCE_EDGES_S, waited_s) - 1
        later = sum(q.exposure_by_span[first:])
        seen = q.exposure_s - PRIOR_EXPOSURE_S
        # The prior's part of it, in proportion: a pool of fewer seconds is not held
        # nearer to "nobody leaves" than the whole is.
        prior = PRIOR_EXPOSURE_S * (later / seen if seen > 0 else 1.0)
        return sum(q.abandons_by_span[first:]) / (later + prior) if later + prior > 0 else 0.0


def _time_to_serve(mine: int, rate: float, ahead: list[tuple[float, float]]) -> float:
    """Seconds until ``mine`` completions have gone to this queue (rule 5).

    Agents finish at ``rate`` per second. Each rival's callers ahead, while some wait,
    take completions at their ``share`` of that rate (all rivals together at most all
    of it); this queue takes the rest. A fluid, solved rival by rival as each runs out.
    """
    t = 0.0
    left = float(mine)
    active = [[callers, share] for callers, share in ahead if callers > 0 and share > 0]
    while active:
        total = sum(share for _, share in active)
        squeeze = 1.0 / max(1.0, total)  # rivals sharing all agents take them in turn
        own = rate * max(0.0, 1.0 - total)
        ends = min(callers / (share * squeeze * rate) for callers, share in active)
        if own > 0 and left / own <= ends:
            return t + left / own
        t += ends
        left -= own * ends
        for item in active:
            item[0] -= item[1] * squeeze * rate * ends
        active = [item for item in active if item[0] > 1e-9]
    return t + left / rate
