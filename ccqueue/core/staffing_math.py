"""How many agents a queue needs: Erlang C and Erlang A, as pure functions.

Rules kept here:

1. Units: ``calls`` per interval of ``interval_s`` seconds, handle times, answer
   thresholds and patience in seconds. The offered load is ``A = λ·AHT`` Erlangs.
2. The service level is the share of *all* arriving callers answered within ``T``
   seconds (a caller who abandons counts against it), the way the simulator and the
   report count it (abandons in the denominator).
3. Erlang C (M/M/N, nobody gives up): the probability of waiting comes from the
   Erlang B recurrence ``B(n) = A·B(n-1) / (n + A·B(n-1))`` (no factorials, no
   powers: stable for A in the thousands), then ``C = N·B / (N - A·(1 - B))`` and
   ``SL(N) = 1 - C·exp(-(N - A)·T/AHT)``; with ``N <= A`` the queue grows without end
   and SL is 0.
4. Erlang A (M/M/N+M, Palm's model): each waiting caller leaves at rate
   ``θ = 1/mean patience``. The stationary distribution of the birth–death chain over
   the number of callers in the system is computed in log space and cut where the
   tail's probability is negligible (below ``e^-40`` of the largest state). A caller
   who finds ``k`` callers waiting ahead is answered when ``k + 1`` "moves" have
   happened (a moving head of line: an agent frees at rate ``N·μ`` or one of the
   ``j`` callers ahead gives up at rate ``j·θ``), provided its own patience (rate θ)
   lasts. The probability that happens within ``T`` is found for every ``k`` at once
   by uniformisation of that pure-death chain (non-negative terms only, hence
   stable), in sub-steps short enough that the Poisson weights never underflow.
5. Pure: no I/O, standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "Load",
    "agents_erlang_a",
    "agents_erlang_c",
    "erlang_b",
    "erlang_c",
    "service_level_erlang_a",
    "service_level_erlang_c",
]

# States of the Erlang A chain whose probability is below e^-_TAIL_LOG of the largest
# one are dropped: e^-40 is about 4e-18, far under any figure shown.
_TAIL_LOG = 40.0
# At most this many states beyond N: a bound on memory and time when abandonment is so
# slow that the queue's tail is long (the result then approaches Erlang C's).
_MAX_QUEUE_STATES = 200_000
# Uniformisation sub-step: Λ·dt at most this, so that e^{-Λ·dt} stays far from underflow.
_STEP_RATE_TIME = 30.0
_POISSON_EPS = 1e-13
# Agents beyond which the search gives up (a target of 1.0 is never met exactly).
_MAX_AGENTS = 100_000


@dataclass(frozen=True, slots=True)
class Load:
    """What a queue faces in one interval."""

    calls: float  # arrivals in the interval
    interval_s: float
    aht_s: float  # mean handle time (talk and wrap-up)
    patience_s: float | None = None  # mean patience; None: nobody gives up

    @property
    def rate_per_s(self) -> float:
        return self.calls / self.interval_s

    @property
    def erlangs(self) -> float:
        return self.rate_per_s * self.aht_s


def erlang_b(agents: int, erlangs: float) -> float:
    """Blocking probability of an M/M/N/N system (rule 3's recurrence)."""
    if agents < 0 or erlangs < 0:
        raise ValueError("agents and erlangs must not be negative")
    b = 1.0
    for n in range(1, agents + 1):
        b = erlangs * b / (n + erlangs * b)
    return b


def erlang_c(agents: int, erlangs: float) -> float:
    """Probability that a caller waits at all (M/M/N); 1 when ``agents <= erlangs``."""
    if erlangs <= 0:
        return 0.0
    if agents <= erlangs:
        return 1.0
    b = erlang_b(agents, erlangs)
    return agents * b / (agents - erlangs * (1.0 - b))


def service_level_erlang_c(agents: int, erlangs: float, aht_s: float, answer_within_s: float) -> float:
    """Share of callers answered within ``answer_within_s`` with ``agents`` (rule 3)."""
    if erlangs <= 0:
        return 1.0
    if agents <= erlangs:
        return 0.0
    c = erlang_c(agents, erlangs)
    return max(0.0, 1.0 - c * math.exp(-(agents - erlangs) * answer_within_s / aht_s))


def agents_erlang_c(erlangs: float, aht_s: float, answer_within_s: float, target: float) -> int:
    """The fewest agents whose Erlang C service level reaches ``target``."""
    if erlangs <= 0:
        return 0
    n = math.floor(erlangs) + 1
    while service_level_erlang_c(n, erlangs, aht_s, answer_within_s) < target:
        n += 1
        if n > _MAX_AGENTS:
            raise ValueError(f"no staffing up to {_MAX_AGENTS} agents meets {target}")
    return n


def _log_stationary(agents: int, lam: float, mu: float, theta: float) -> list[float]:
    """Unnormalised log-probabilities of 0, 1, … callers in the M/M/N+M system (rule 4)."""
    logs = [0.0]
    log_lam = math.log(lam)
    for n in range(1, agents + 1):
        logs.append(logs[-1] + log_lam - math.log(n * mu))
    peak = max(logs)
    j = 0
    while j < _MAX_QUEUE_STATES:
        j += 1
        death = agents * mu + j * theta
        if death <= 0:
            break
        nxt = logs[-1] + log_lam - math.log(death)
        logs.append(nxt)
        peak = max(peak, nxt)
        # Past the mode the chain only falls: stop once the tail is negligible.
        if lam < death and nxt < peak - _TAIL_LOG:
            break
    return logs


def _answered_within(ahead: int, agents: int, mu: float, theta: float, within_s: float) -> list[float]:
    """For k = 0..ahead callers waiting ahead on arrival: the probability of being
    answered within ``within_s`` (rule 4's pure-death chain, by uniformisation)."""
    move = [agents * mu + j * theta for j in range(ahead + 1)]  # rate the line moves with j ahead
    top = move[-1] + theta  # the largest exit rate of any state
    if within_s <= 0 or top <= 0:
        return [0.0] * (ahead + 1)
    steps = max(1, math.ceil(top * within_s / _STEP_RATE_TIME))
    rate_time = top * within_s / steps
    stay = [1.0 - (m + theta) / top for m in move]
    down = [m / top for m in move]
    # One row per starting k; but the chain is linear, so evolve the "answered by now"
    # probability backwards: u[j] = P(answered within the remaining time | j ahead now).
    u = [0.0] * (ahead + 1)
    for _ in range(steps):
        # u_new = sum_n Poisson(n; Λdt) · (P^n u + served mass), with P the jump chain.
        term = u[:]  # P^n applied to u, plus what is answered in the n jumps
        acc = [0.0] * (ahead + 1)
        weight = math.exp(-rate_time)
        total = weight
        for j in range(ahead + 1):
            acc[j] = weight * term[j]
        n = 0
        while 1.0 - total > _POISSON_EPS and n < 10_000:
            n += 1
            new = [stay[0] * term[0] + down[0] * 1.0]
            for j in range(1, ahead + 1):
                new.append(stay[j] * term[j] + down[j] * term[j - 1])
            term = new
            weight *= rate_time / n
            total += weight
            for j in range(ahead + 1):
                acc[j] += weight * term[j]
        # The Poisson mass beyond the cut: bounded by the terms' values (<= 1); left out.
        u = acc
    return u


def service_level_erlang_a(agents: int, erlangs: float, aht_s: float, answer_within_s: float, patience_s: float | None) -> float:
    """Share of callers answered within ``answer_within_s`` (rules 2 and 4); with no
    patience given (nobody gives up) it is Erlang C's."""
    if erlangs <= 0:
        return 1.0
    if patience_s is None or math.isinf(patience_s):
        return service_level_erlang_c(agents, erlangs, aht_s, answer_within_s)
    if patience_s <= 0:
        raise ValueError("patience must be positive")
    if agents <= 0:
        return 0.0
    mu = 1.0 / aht_s
    lam = erlangs * mu
    theta = 1.0 / patience_s
    logs = _log_stationary(agents, lam, mu, theta)
    peak = max(logs)
    weights = [math.exp(x - peak) for x in logs]
    norm = sum(weights)
    # An arrival sees the stationary state (PASTA); with n < N it is answered at once.
    served_at_once = sum(weights[:agents]) / norm
    waiting = weights[agents:]
    within = _answered_within(len(waiting) - 1, agents, mu, theta, answer_within_s)
    return min(1.0, served_at_once + sum(w * p for w, p in zip(waiting, within, strict=True)) / norm)


def agents_erlang_a(erlangs: float, aht_s: float, answer_within_s: float, target: float, patience_s: float | None) -> int:
    """The fewest agents whose Erlang A service level reaches ``target``.

    Abandonment only shortens the line, so Erlang C's answer bounds it from above: the
    search walks down from there (a few steps in practice)."""
    if erlangs <= 0:
        return 0
    n = agents_erlang_c(erlangs, aht_s, answer_within_s, target)
    if patience_s is None or math.isinf(patience_s):
        return n
    while n > 1 and service_level_erlang_a(n - 1, erlangs, aht_s, answer_within_s, patience_s) >= target:
        n -= 1
    return n
