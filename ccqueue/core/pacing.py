"""Outbound dialer pacing for one campaign: how many new dials to start now.

Two modes:

- ``PROGRESSIVE``: one dial per free agent, the agent held for that dial before it
  starts. A person who answers always finds an agent: never an abandon.
- ``PREDICTIVE``: more dials than free agents, paced from what the campaign measures
  live: the share of dials a person answers, how long they ring before that answer,
  talk and wrap-up times, and the agents about to free up.

An *abandon* is a call answered by a person that no agent joined within
``connect_deadline_s`` (2 s, the safe-harbour rule of the US TSR and of Ofcom's
persistent-misuse policy) of the answer. The ratio that matters is abandons over calls
answered by a person ("live answers"); machine answers are neither (they never reach an
agent), unless ``count_amd_false_positives`` asks that persons taken for machines be
counted as answered and abandoned, as Ofcom does.

Rules kept here:

1. The ceiling holds in every rolling window, by construction, not on average. Before
   any dial starts, the worst case is assumed: every dial still in flight, and every new
   one, answered by a person at once, with only the agents free now to take them. The
   calls that worst case leaves without an agent may not exceed the *budget*: the
   abandons the window can still take and stay at or under ``ceiling - safety_margin``.
   The budget counts only the live answers that will still be in the window
   ``horizon_s`` from now (older answers leave it while the dials resolve), and every
   abandon still in it (abandons only leave). Windows: 24 h (Ofcom) and 30 days (the US
   TSR's campaign period); a 30-day span is made of 24 h windows each at or under the
   ceiling, so it is too, and its window is kept for the record.
2. The model steers, the budget bounds. Predictive pacing picks the most dials for
   which the expected calls left without an agent stay under the *aim*, a share of
   expected live answers, counting the agents free, those about to be, and a learnt
   extra (nudged on every live answer so that the share abandoned settles at the aim);
   the aim, and the extra with it, shrink to nothing as the measured 24 h ratio nears
   the ceiling, which is progressive pacing without the held agent.
3. Time is an argument and nothing reads a clock; the part holds only counts, recent
   samples and timestamps, and answers the same for the same events.
4. ``decide`` never returns a negative count nor more than the line cap.
"""

from __future__ import annotations

import bisect
import enum
import functools
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ccqueue.core.errors import InputError

__all__ = [
    "AgentConnected",
    "CallAbandoned",
    "CallFinished",
    "DialEnded",
    "DialResult",
    "HumanAnswered",
    "Mode",
    "Observation",
    "Pacer",
    "PacingSettings",
    "PacingView",
    "count_soon_free",
]

DAY_S = 86_400.0


class Mode(enum.Enum):
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


@dataclass(frozen=True, slots=True, kw_only=True)
class PacingSettings:
    """One campaign's pacing. Times in seconds, ratios as fractions of live answers."""

    mode: Mode = Mode.PREDICTIVE
    # 3 % of live answers: Ofcom (per 24 h, per campaign) and the US TSR (per 30 days).
    ceiling: float = 0.03
    # Kept below the ceiling: the worst case is computed on what is known now, and
    # the pacer learns of an abandon a connect deadline after the answer.
    safety_margin: float = 0.005
    # What predictive pacing steers to (a share of expected live answers), before the
    # back-off of rule 2.
    aim: float = 0.02
    window_s: float = DAY_S
    long_window_s: float = 30 * DAY_S
    # How far ahead the budget looks: longer than a dial takes to resolve.
    horizon_s: float = 120.0
    connect_deadline_s: float = 2.0
    # Ofcom asks for at least 15 s of ringing before a dial gives up.
    min_ring_s: float = 15.0
    ring_timeout_s: float = 25.0
    # Cisco's outbound dialer allows 1–3 lines per agent, VICIdial's adaptive maximum
    # dial level is 3.0 by default.
    max_lines_per_agent: float = 3.0
    max_lines: int = 1_000  # trunks
    count_amd_false_positives: bool = False
    # Until the campaign has measured its own: weights in dials (answer rate) or calls.
    prior_answer_rate: float = 0.25
    prior_dials: int = 40
    prior_ring_s: float = 10.0
    prior_talk_s: float = 180.0
    prior_wrap_s: float = 15.0
    recent_dials: int = 500  # answer rate over the last this many dials
    recent_calls: int = 200  # ring, talk and wrap-up samples kept
    # An agent is about to free up when its expected remaining talk and wrap-up is
    # shorter than this quantile of the ring-to-answer times: early answers count.
    soon_free_quantile: float = 0.25
    # How fast the learnt extra capacity moves (agents per live answer; see rule 2).
    learning_rate: float = 0.05
    max_extra_agents: float = 5.0

    def __post_init__(self) -> None:
        problems = [
            name
            for name, bad in (
                ("ceiling", not 0.0 < self.ceiling < 1.0),
                ("safety_margin", not 0.0 <= self.safety_margin < self.ceiling),
                ("aim", not 0.0 <= self.aim <= self.ceiling - self.safety_margin + 1e-12),
                ("window_s", self.window_s <= 0),
                ("long_window_s", self.long_window_s < self.window_s),
                ("horizon_s", not 0.0 <= self.horizon_s < self.window_s),
                ("connect_deadline_s", self.connect_deadline_s <= 0),
                ("min_ring_s", self.min_ring_s < 0),
                ("ring_timeout_s", self.ring_timeout_s < self.min_ring_s),
                ("max_lines_per_agent", self.max_lines_per_agent < 1.0),
                ("max_lines", self.max_lines < 1),
                ("prior_answer_rate", not 0.0 < self.prior_answer_rate <= 1.0),
                ("prior_dials", self.prior_dials < 1),
                ("prior_ring_s", self.prior_ring_s < 0),
                ("prior_talk_s", self.prior_talk_s < 0),
                ("prior_wrap_s", self.prior_wrap_s < 0),
                ("recent_dials", self.recent_dials < 1),
                ("recent_calls", self.recent_calls < 1),
                ("soon_free_quantile", not 0.0 <= self.soon_free_quantile <= 1.0),
                ("learning_rate", not 0.0 <= self.learning_rate <= 1.0),
                ("max_extra_agents", self.max_extra_agents < 0),
            )
            if bad
        ]
        if problems:
            raise InputError(f"pacing settings out of range: {', '.join(problems)}", fields=problems)


class DialResult(enum.Enum):
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    MACHINE = "machine"  # answering machine, as AMD judged it
    FAILED = "failed"  # congestion, invalid number
    MACHINE_WAS_HUMAN = "machine_was_human"  # AMD took a person for a machine


@dataclass(frozen=True, slots=True, kw_only=True)
class DialEnded:
    """A dial ended without a person to connect; ``ring_s`` from dial to the end."""

    at: float
    result: DialResult
    ring_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class HumanAnswered:
    """A person answered a dial ``ring_s`` after it started: a live answer."""

    at: float
    ring_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConnected:
    """An agent joined a live answer ``wait_s`` after the answer."""

    at: float
    wait_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAbandoned:
    """A live answer that no agent joined within the connect deadline."""

    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFinished:
    """An agent's call ended: it talked ``talk_s`` and wrapped up ``wrap_s``."""

    at: float
    talk_s: float
    wrap_s: float


Observation = DialEnded | HumanAnswered | AgentConnected | CallAbandoned | CallFinished


@dataclass(frozen=True, slots=True, kw_only=True)
class PacingView:
    """The pacer's figures at one moment."""

    live_answers_24h: int
    abandons_24h: int
    ratio_24h: float
    live_answers_30d: int
    abandons_30d: int
    ratio_30d: float
    budget: int  # calls that may still be left without an agent, worst case
    answer_rate: float
    ring_s: float
    talk_s: float
    wrap_s: float
    aim: float  # what predictive pacing steers to now (after the back-off)


class _Times:
    """Timestamps in order, forgotten past a window; counted after any moment by bisection."""

    __slots__ = ("_start", "_times", "_window_s")

    def __init__(self, window_s: float) -> None:
        self._times: list[float] = []
        self._start = 0
        self._window_s = window_s

    def add(self, at: float) -> None:
        # Observations come in time order; one late by a rounding stays in order anyway.
        if self._times and at < self._times[-1]:
            at = self._times[-1]
        self._times.append(at)

    def prune(self, now: float) -> None:
        self._start = bisect.bisect_right(self._times, now - self._window_s, self._start)
        if self._start > 4_096 and self._start * 2 > len(self._times):
            del self._times[: self._start]
            self._start = 0

    def count(self) -> int:
        return len(self._times) - self._start

    def count_after(self, moment: float) -> int:
        return len(self._times) - bisect.bisect_right(self._times, moment, self._start)


class _Recent:
    """The last ``size`` samples, their mean, and (sorted) their quantiles."""

    __slots__ = ("_order", "_prior", "_sorted", "_sum", "size")

    def __init__(self, size: int, prior: float) -> None:
        self.size = size
        self._order: deque[float] = deque()
        self._sorted: list[float] = []
        self._sum = 0.0
        self._prior = prior

    def add(self, value: float) -> None:
        self._order.append(value)
        self._sum += value
        bisect.insort(self._sorted, value)
        if len(self._order) > self.size:
            old = self._order.popleft()
            self._sum -= old
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def mean(self) -> float:
        return self._sum / len(self._order) if self._order else self._prior

    def quantile(self, q: float) -> float:
        if not self._sorted:
            return self._prior
        return self._sorted[min(len(self._sorted) - 1, int(q * len(self._sorted)))]

    def survival(self, elapsed: float) -> float:
        """The share of samples longer than ``elapsed`` (the prior's step when empty)."""
        if not self._sorted:
            return 1.0 if elapsed < self._prior else 0.0
        return 1.0 - bisect.bisect_right(self._sorted, elapsed) / len(self._sorted)

    def mean_residual(self, elapsed: float) -> float:
        """Mean of ``value - elapsed`` over the samples longer than ``elapsed``."""
        if not self._sorted:
            return max(0.0, self._prior - elapsed)
        i = bisect.bisect_right(self._sorted, elapsed)
        longer = self._sorted[i:]
        if not longer:  # longer than anything seen: about to end, as far as we know
            return 0.0
        return sum(longer) / len(longer) - elapsed


@functools.lru_cache(maxsize=65_536)
def _most_dials(capacity: int, rate_pct: int, aim_permille: int, cap: int) -> int:
    """The most dials (at most ``cap``) whose expected live answers beyond ``capacity``
    agents stay within ``aim`` of the expected live answers.

    Each dial is a person with probability p (``rate_pct`` %); X, the persons among N
    dials, is binomial; the calls left without an agent are E[(X - capacity)+]
    = N p - E[min(X, capacity)], and E[min(X, c)] = sum over j < c of P(X > j).
    Rounded arguments keep the cache small; they change only as the measures move.
    """
    p = rate_pct / 100.0
    aim = aim_permille / 1000.0
    best = min(capacity, cap)
    for n in range(capacity + 1, cap + 1):
        pmf = (1.0 - p) ** n  # P(X = 0)
        below = pmf  # P(X <= j)
        expected_min = 0.0
        for j in range(capacity):
            expected_min += 1.0 - below
            pmf *= (n - j) / (j + 1) * p / (1.0 - p)
            below += pmf
        expected = n * p
        if expected - expected_min > aim * expected:
            break
        best = n
    return best


class Pacer:
    """Pacing of one campaign: ``observe`` what the dials did, ``decide`` how many to start."""

    def __init__(self, settings: PacingSettings | None = None) -> None:
        s = settings or PacingSettings()
        self.settings = s
        self._answers = _Times(s.window_s)
        self._abandons = _Times(s.window_s)
        self._answers_long = _Times(s.long_window_s)
        self._abandons_long = _Times(s.long_window_s)
        self._outcomes: deque[int] = deque()  # 1 for a live answer, 0 for any other end
        self._humans = 0
        self._ring = _Recent(s.recent_calls, s.prior_ring_s)
        self._other_ends = _Recent(s.recent_dials, s.ring_timeout_s)  # ring times of dials no person answered
        self._talk = _Recent(s.recent_calls, s.prior_talk_s)
        self._wrap = _Recent(s.recent_calls, s.prior_wrap_s)
        self._extra = 0.0  # learnt capacity beyond the agents free and about to be (rule 2)
        self._handlers: dict[type, Callable[[Observation], None]] = {
            DialEnded: self._dial_ended,
            HumanAnswered: self._human_answered,
            AgentConnected: self._agent_connected,
            CallAbandoned: self._call_abandoned,
            CallFinished: self._call_finished,
        }

    # -- what happened ---------------------------------------------------------------

    def observe(self, event: Observation) -> None:
        self._handlers[type(event)](event)

    def _outcome(self, human: int) -> None:
        self._outcomes.append(human)
        self._humans += human
        if len(self._outcomes) > self.settings.recent_dials:
            self._humans -= self._outcomes.popleft()

    def _dial_ended(self, event: Observation) -> None:
        assert isinstance(event, DialEnded)
        misjudged = event.result is DialResult.MACHINE_WAS_HUMAN
        if misjudged and self.settings.count_amd_false_positives:
            self._live_answer(event.at)
            self._abandon(event.at)
        self._outcome(0)
        self._other_ends.add(event.ring_s)

    def _human_answered(self, event: Observation) -> None:
        assert isinstance(event, HumanAnswered)
        self._live_answer(event.at)
        self._outcome(1)
        self._ring.add(event.ring_s)

    def _agent_connected(self, event: Observation) -> None:
        assert isinstance(event, AgentConnected)
        if event.wait_s > self.settings.connect_deadline_s:  # joined too late: abandoned all the same
            self._abandon(event.at)
        else:
            self._learn(abandoned=False)

    def _call_abandoned(self, event: Observation) -> None:
        assert isinstance(event, CallAbandoned)
        self._abandon(event.at)

    def _call_finished(self, event: Observation) -> None:
        assert isinstance(event, CallFinished)
        self._talk.add(event.talk_s)
        self._wrap.add(event.wrap_s)

    def _live_answer(self, at: float) -> None:
        self._answers.add(at)
        self._answers_long.add(at)

    def _abandon(self, at: float) -> None:
        self._abandons.add(at)
        self._abandons_long.add(at)
        self._learn(abandoned=True)

    def _learn(self, *, abandoned: bool) -> None:
        """Move the extra capacity so that the share of live answers abandoned settles
        at the aim (a stochastic approximation: each answer nudges it)."""
        s = self.settings
        step = s.learning_rate * (s.aim - (1.0 if abandoned else 0.0))
        self._extra = min(s.max_extra_agents, max(0.0, self._extra + step))

    def restore(self, *, answers: Iterable[float], abandons: Iterable[float]) -> None:
        """At start-up: the live answers and abandons an earlier process saw (epoch
        seconds, any order), so that the rolling windows hold across restarts."""
        for at in sorted(answers):
            self._live_answer(at)
        for at in sorted(abandons):
            self._abandons.add(at)
            self._abandons_long.add(at)

    # -- measures --------------------------------------------------------------------

    def answer_rate(self) -> float:
        s = self.settings
        return (self._humans + s.prior_answer_rate * s.prior_dials) / (len(self._outcomes) + s.prior_dials)

    def _prune(self, now: float) -> None:
        for times in (self._answers, self._abandons, self._answers_long, self._abandons_long):
            times.prune(now)

    def budget(self, now: float) -> int:
        """Calls that may yet be left without an agent, all at once, with every rolling
        window up to ``horizon_s`` from now at or under ``ceiling - safety_margin``."""
        s = self.settings
        self._prune(now)
        limit = s.ceiling - s.safety_margin
        staying = self._answers.count_after(now - s.window_s + s.horizon_s)
        # (D + x) / (A + x) <= limit  <=>  x <= (limit * A - D) / (1 - limit)
        room = (limit * staying - self._abandons.count()) / (1.0 - limit)
        return max(0, math.floor(room + 1e-9))

    def aim(self, now: float) -> float:
        """Predictive pacing's aim now: the setting, shrinking to nothing as the measured
        24 h ratio goes from the aim to ``ceiling - safety_margin``."""
        s = self.settings
        self._prune(now)
        answers = self._answers.count()
        # A few early abandons weigh as if ``prior_dials`` answers had gone without one.
        ratio = self._abandons.count() / (answers + s.prior_dials)
        limit = s.ceiling - s.safety_margin
        if ratio <= s.aim:
            return s.aim
        if ratio >= limit:
            return 0.0
        return s.aim * (limit - ratio) / (limit - s.aim)

    def is_soon_free(self, *, talking_for: float | None, wrap_left: float = 0.0) -> bool:
        """Will this agent free up before an early answer? ``talking_for``: seconds into
        its call (None if wrapping up, ``wrap_left`` seconds to go)."""
        ring = self._ring.quantile(self.settings.soon_free_quantile)
        if talking_for is None:
            return wrap_left < ring
        wrap = self._wrap.mean()
        if wrap >= ring:  # its wrap-up alone outlasts the ring: no need to look at the talk
            return False
        return self._talk.mean_residual(talking_for) + wrap < ring

    def view(self, now: float) -> PacingView:
        self._prune(now)
        a24, d24 = self._answers.count(), self._abandons.count()
        a30, d30 = self._answers_long.count(), self._abandons_long.count()
        return PacingView(
            live_answers_24h=a24,
            abandons_24h=d24,
            ratio_24h=d24 / a24 if a24 else 0.0,
            live_answers_30d=a30,
            abandons_30d=d30,
            ratio_30d=d30 / a30 if a30 else 0.0,
            budget=self.budget(now),
            answer_rate=self.answer_rate(),
            ring_s=self._ring.mean(),
            talk_s=self._talk.mean(),
            wrap_s=self._wrap.mean(),
            aim=self.aim(now),
        )

    # -- the decision ----------------------------------------------------------------

    def line_cap(self, *, free_agents: int, soon_free: int, in_flight: int) -> int:
        """New dials the lines allow: per agent who could take a call, and trunks."""
        s = self.settings
        per_agent = math.floor(s.max_lines_per_agent * (free_agents + soon_free) + 1e-9)
        return max(0, min(per_agent, s.max_lines) - in_flight)

    def person_chance(self, ringing_for: float) -> float:
        """The chance that a dial still unanswered after ``ringing_for`` seconds is a
        person: the answer rate, weighed by who is still ringing by then (a dial that
        rang longer than people take to answer is most likely nobody)."""
        p = self.answer_rate()
        person = p * self._ring.survival(ringing_for)
        other = (1.0 - p) * self._other_ends.survival(ringing_for)
        return person / (person + other) if person + other > 0 else 0.0

    def decide(
        self,
        now: float,
        *,
        free_agents: int,
        soon_free: int = 0,
        in_flight: int = 0,
        ringing_for: Iterable[float] | None = None,
    ) -> int:
        """How many new dials to start now.

        ``free_agents``: agents ready for a call and not held by a dial; ``soon_free``:
        agents about to free up (see ``is_soon_free``); ``in_flight``: dials not yet
        resolved (ringing, in answering-machine detection, or answered by a person who
        waits for an agent). Progressive dials hold their agent, so they are not free
        agents and the count of them in flight plays no part. ``ringing_for``: how long
        each of the dials in flight not yet answered has rung, if known; the model then
        weighs each by ``person_chance`` (the worst case of rule 1 does not).
        """
        if min(free_agents, soon_free, in_flight) < 0:
            raise InputError(
                "pacing counts must not be negative", free_agents=free_agents, soon_free=soon_free, in_flight=in_flight
            )
        s = self.settings
        if s.mode is Mode.PROGRESSIVE:
            return min(free_agents, s.max_lines)
        cap = self.line_cap(free_agents=free_agents, soon_free=soon_free, in_flight=in_flight)
        if cap == 0:
            return 0
        # Rule 1: the worst case, every dial a person at once, free agents only.
        worst = self.budget(now) + free_agents - in_flight
        if worst <= 0:
            return 0
        p = self.answer_rate()
        rate_pct = max(1, min(99, round(p * 100)))
        # The dials in flight as so many fresh dials: answered ones are persons for sure.
        likely = in_flight
        if ringing_for is not None:
            ringing = list(ringing_for)
            persons = in_flight - len(ringing) + sum(self.person_chance(t) for t in ringing)
            likely = min(in_flight, round(persons / p))
        total_cap = likely + min(cap, worst)
        aim = self.aim(now)
        extra = math.floor(self._extra * aim / s.aim) if s.aim > 0 else 0
        total = _most_dials(free_agents + soon_free + extra, rate_pct, round(aim * 1000), total_cap)
        return max(0, min(total - likely, cap, worst))


def count_soon_free(pacer: Pacer, *, talking_for: Iterable[float], wrap_left: Iterable[float]) -> int:
    """Agents about to free up, among those talking (seconds into their call) and those
    wrapping up (seconds to go)."""
    return sum(pacer.is_soon_free(talking_for=t) for t in talking_for) + sum(
        pacer.is_soon_free(talking_for=None, wrap_left=w) for w in wrap_left
    )
