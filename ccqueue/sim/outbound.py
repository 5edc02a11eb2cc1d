"""A discrete-event outbound campaign on a virtual clock: agents, a contact list, dials.

Rules kept here:

1. One heap of timed events ``(time, seq, kind, arg)``; ``seq`` breaks ties in the
   order they were scheduled, so a run is a function of the scenario and the pacing.
2. The contacts are drawn once per scenario (``Contacts``), in list order, from one
   generator seeded by the scenario: every pacing strategy dials the same people, who
   answer, ring and talk the same way. Contact i is the same whoever asks first.
3. The people: a contact is a person (answers after a ring-to-answer draw), an
   answering machine (answers after the same kind of draw; detection takes ``amd_s``,
   then the dial is hung up), busy (ends after ``busy_s``) or no answer (rings until
   the dialer's ring timeout). A person answered with no agent free waits
   ``connect_deadline_s``; an agent freed by then takes the call, else the safe-harbour
   message plays, the call ends and it counts as abandoned. A connected person talks
   for their talk draw; the agent then wraps up ``wrap_s``.
4. The pacing strategy is asked how many dials to start after every event and every
   ``tick_s`` of the working day; it is told every dial's result. A strategy that holds
   agents (progressive) gets one agent held per dial, released if nobody answers.
5. Working days start every 24 h and last ``day_s``: no dial starts outside them; calls
   going on at the end finish.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from ccqueue.core import pacing as pc

__all__ = [
    "Contacts",
    "DayFigures",
    "Dialler",
    "Floor",
    "OutboundRun",
    "OutboundScenario",
    "PacerDialler",
    "VicidialDialler",
    "run",
]

DAY_S = 86_400.0
HUMAN, MACHINE, BUSY, NO_ANSWER = range(4)
# Event kinds.
_RESOLVE, _AMD_DONE, _DEADLINE, _TALK_END, _WRAP_END, _TICK, _DAY_START, _DAY_END = range(8)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundScenario:
    agents: int = 20
    days: int = 1
    day_s: float = 8 * 3600.0
    human: float = 0.30  # share of dials a person answers
    machine: float = 0.20  # share an answering machine answers
    busy: float = 0.10  # share busy; the rest ring out
    ring_min_s: float = 5.0  # ring-to-answer, uniform
    ring_max_s: float = 20.0
    busy_s: float = 4.0
    ring_timeout_s: float = 25.0
    amd_s: float = 3.0  # answering-machine detection after the answer
    amd_false_positive: float = 0.0  # share of persons AMD takes for machines
    talk_mean_s: float = 180.0  # lognormal
    talk_sigma: float = 0.6
    wrap_s: float = 15.0
    connect_deadline_s: float = 2.0
    tick_s: float = 5.0
    seed: int = 1


class Contacts:
    """The contact list, drawn as needed and shared by every run of one scenario."""

    def __init__(self, scenario: OutboundScenario) -> None:
        self._s = scenario
        self._rng = random.Random(scenario.seed)
        self._rows: list[tuple[int, float, float, bool]] = []

    def __getitem__(self, i: int) -> tuple[int, float, float, bool]:
        """(kind, seconds to resolve, talk seconds, AMD would take this person for a machine)."""
        while len(self._rows) <= i:
            self._rows.append(self._draw())
        return self._rows[i]

    def _draw(self) -> tuple[int, float, float, bool]:
        s, rng = self._s, self._rng
        u = rng.random()
        ring = rng.uniform(s.ring_min_s, s.ring_max_s)
        talk = rng.lognormvariate(_mu(s.talk_mean_s, s.talk_sigma), s.talk_sigma)
        misjudged = rng.random() < s.amd_false_positive
        if u < s.human:
            return (HUMAN, ring, talk, misjudged)
        if u < s.human + s.machine:
            return (MACHINE, ring, 0.0, False)
        if u < s.human + s.machine + s.busy:
            return (BUSY, s.busy_s, 0.0, False)
        return (NO_ANSWER, s.ring_timeout_s, 0.0, False)


def _mu(mean: float, sigma: float) -> float:
    return math.log(mean) - sigma * sigma / 2.0


@dataclass(slots=True, kw_only=True)
class Floor:
    """What a strategy may look at when it decides (the simulation keeps it current)."""

    free: int = 0  # agents ready, not held
    held: int = 0  # agents held by a progressive dial
    in_flight: int = 0  # dials ringing, in detection, or answered and waiting
    waiting: int = 0  # persons answered and waiting for an agent
    connected: int = 0  # agents talking or wrapping up
    logged_in: int = 0
    talk_starts: dict[int, float] = field(default_factory=dict)  # agent -> call start
    wrap_ends: dict[int, float] = field(default_factory=dict)  # agent -> wrap-up end
    ringing_since: dict[int, float] = field(default_factory=dict)  # dial not yet answered -> start


class Dialler(Protocol):
    name: str
    holds_agents: bool

    def decide(self, now: float, floor: Floor) -> int: ...

    def observe(self, event: pc.Observation) -> None: ...


class PacerDialler:
    """ccqueue's pacing (``ccqueue.core.pacing``), progressive or predictive."""

    def __init__(self, name: str, settings: pc.PacingSettings) -> None:
        self.name = name
        self.pacer = pc.Pacer(settings)
        self.holds_agents = settings.mode is pc.Mode.PROGRESSIVE

    def decide(self, now: float, floor: Floor) -> int:
        if self.holds_agents:
            return self.pacer.decide(now, free_agents=floor.free)
        soon = pc.count_soon_free(
            self.pacer,
            talking_for=[now - t for a, t in floor.talk_starts.items() if a not in floor.wrap_ends],
            wrap_left=[end - now for end in floor.wrap_ends.values()],
        )
        return self.pacer.decide(
            now,
            free_agents=floor.free,
            soon_free=soon,
            in_flight=floor.in_flight,
            ringing_for=[now - t for t in floor.ringing_since.values()],
        )

    def observe(self, event: pc.Observation) -> None:
        self.pacer.observe(event)


class VicidialDialler:
    """The baseline: ``ccqueue.sim.vicidial.AdaptiveDialLevel``."""

    holds_agents = False

    def __init__(self, name: str = "vicidial") -> None:
        from ccqueue.sim.vicidial import AdaptiveDialLevel

        self.name = name
        self.level = AdaptiveDialLevel()

    def decide(self, now: float, floor: Floor) -> int:
        return self.level.decide(
            now,
            agents_waiting=floor.free,
            calls_waiting=floor.waiting,
            active_agents=floor.logged_in,
            calls_up=floor.in_flight + floor.connected,
        )

    def observe(self, event: pc.Observation) -> None:
        self.level.observe(event)


@dataclass(slots=True, kw_only=True)
class DayFigures:
    dials: int = 0
    live_answers: int = 0
    abandons: int = 0
    machines: int = 0
    talk_s: float = 0.0


@dataclass(slots=True, kw_only=True)
class OutboundRun:
    """What a run did: per day, and every live answer (time, abandoned) in order."""

    name: str
    scenario: OutboundScenario
    days: list[DayFigures]
    answers: list[tuple[float, bool]]

    def talk_min_per_agent_hour(self, days: slice = slice(None)) -> float:
        chosen = self.days[days]
        hours = len(chosen) * self.scenario.agents * self.scenario.day_s / 3600.0
        return sum(d.talk_s for d in chosen) / 60.0 / hours

    def abandon_ratio(self, days: slice = slice(None)) -> float:
        chosen = self.days[days]
        live = sum(d.live_answers for d in chosen)
        return sum(d.abandons for d in chosen) / live if live else 0.0

    def worst_window_ratio(self, window_s: float = DAY_S, until: float | None = None) -> float:
        """The highest abandon ratio over every rolling window of live answers (by
        answer time), ending at any moment: the ratio only rises when an abandon comes
        in or an answer leaves, so windows ending at each answer and just before each
        answer leaves are enough."""
        times = [t for t, _ in self.answers]
        flags = [a for _, a in self.answers]
        ends = sorted(e for e in set(times) | {t + window_s - 1e-6 for t in times} if until is None or e <= until)
        worst, lo, hi, live, dropped = 0.0, 0, 0, 0, 0
        for end in ends:
            while hi < len(times) and times[hi] <= end:
                live += 1
                dropped += flags[hi]
                hi += 1
            while lo < hi and times[lo] <= end - window_s:
                live -= 1
                dropped -= flags[lo]
                lo += 1
            if live:
                worst = max(worst, dropped / live)
        return worst


def run(scenario: OutboundScenario, dialler: Dialler, contacts: Contacts | None = None) -> OutboundRun:
    """Play the scenario's days with one pacing strategy."""
    s = scenario
    contacts = contacts or Contacts(s)
    heap: list[tuple[float, int, int, int]] = []
    seq = 0

    def at(when: float, kind: int, arg: int) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (when, seq, kind, arg))

    floor = Floor()
    free: list[int] = []  # agents ready
    dials: dict[int, tuple[int, float, int]] = {}  # dial -> (contact, started, held agent or -1)
    waiting: deque[tuple[int, float]] = deque()  # (dial, answered at) persons waiting for an agent
    answered_at: dict[int, float] = {}
    days = [DayFigures() for _ in range(s.days)]
    answers: list[tuple[float, bool]] = []
    answer_index: dict[int, int] = {}
    next_contact = 0
    dialling = False
    day = 0
    for d in range(s.days):
        at(d * DAY_S, _DAY_START, d)
        at(d * DAY_S + s.day_s, _DAY_END, d)

    def connect(dial: int, agent: int, now: float) -> None:
        contact = contacts[dials[dial][0]]
        del dials[dial]
        floor.in_flight -= 1
        floor.connected += 1
        floor.talk_starts[agent] = now
        wait = now - answered_at.pop(dial)
        dialler.observe(pc.AgentConnected(at=now, wait_s=wait))
        days[day].talk_s += contact[2]
        at(now + contact[2], _TALK_END, agent)

    def start_dials(now: float) -> None:
        nonlocal next_contact, seq
        if not dialling:
            return
        n = dialler.decide(now, floor)
        for _ in range(n):
            if dialler.holds_agents:
                if not free:
                    break
                held = free.pop()
                floor.free -= 1
                floor.held += 1
            else:
                held = -1
            dial = next_contact
            next_contact += 1
            resolve_s = contacts[dial][1]
            dials[dial] = (dial, now, held)
            floor.ringing_since[dial] = now
            floor.in_flight += 1
            days[day].dials += 1
            at(now + resolve_s, _RESOLVE, dial)

    def release(held: int) -> None:
        if held >= 0:
            floor.held -= 1
            floor.free += 1
            free.append(held)

    def agent_freed(agent: int, now: float) -> None:
        while waiting:
            dial, _ = waiting.popleft()
            if dial in dials:
                floor.waiting -= 1
                connect(dial, agent, now)
                return
        floor.free += 1
        free.append(agent)

    while heap:
        now, _, kind, arg = heapq.heappop(heap)
        if kind == _RESOLVE:
            contact_kind, ring, _, misjudged = contacts[dials[arg][0]]
            _, started, held = dials[arg]
            if contact_kind == HUMAN and not misjudged:
                del floor.ringing_since[arg]  # answered: the engine knows; detection still to come otherwise
            if contact_kind == HUMAN and misjudged:
                at(now + s.amd_s, _AMD_DONE, arg)  # a person, but AMD will hang up on them
            elif contact_kind == HUMAN:
                answered_at[arg] = now
                answer_index[arg] = len(answers)
                answers.append((now, False))
                days[day].live_answers += 1
                dialler.observe(pc.HumanAnswered(at=now, ring_s=ring))
                if held >= 0:
                    floor.held -= 1
                    connect(arg, held, now)
                elif free:
                    floor.free -= 1
                    connect(arg, free.pop(), now)
                else:
                    waiting.append((arg, now))
                    floor.waiting += 1
                    at(now + s.connect_deadline_s, _DEADLINE, arg)
            elif contact_kind == MACHINE:
                at(now + s.amd_s, _AMD_DONE, arg)
            else:
                del dials[arg]
                del floor.ringing_since[arg]
                floor.in_flight -= 1
                release(held)
                result = pc.DialResult.BUSY if contact_kind == BUSY else pc.DialResult.NO_ANSWER
                dialler.observe(pc.DialEnded(at=now, result=result, ring_s=now - started))
        elif kind == _AMD_DONE:
            contact_kind = contacts[dials[arg][0]][0]
            _, started, held = dials.pop(arg)
            del floor.ringing_since[arg]
            floor.in_flight -= 1
            release(held)
            days[day].machines += 1
            result = pc.DialResult.MACHINE_WAS_HUMAN if contact_kind == HUMAN else pc.DialResult.MACHINE
            dialler.observe(pc.DialEnded(at=now, result=result, ring_s=now - started))
        elif kind == _DEADLINE:
            if arg in dials:  # nobody took it: the safe-harbour message, then hang up
                del dials[arg]
                answered_at.pop(arg)
                floor.in_flight -= 1
                floor.waiting -= 1
                answers[answer_index[arg]] = (answers[answer_index[arg]][0], True)
                days[day].abandons += 1
                dialler.observe(pc.CallAbandoned(at=now))
        elif kind == _TALK_END:
            floor.wrap_ends[arg] = now + s.wrap_s
            at(now + s.wrap_s, _WRAP_END, arg)
        elif kind == _WRAP_END:
            started_talk = floor.talk_starts.pop(arg)
            del floor.wrap_ends[arg]
            floor.connected -= 1
            dialler.observe(pc.CallFinished(at=now, talk_s=now - s.wrap_s - started_talk, wrap_s=s.wrap_s))
            agent_freed(arg, now)
        elif kind == _TICK:
            if dialling:
                at(now + s.tick_s, _TICK, 0)
        elif kind == _DAY_START:
            day = arg
            dialling = True
            if not floor.logged_in:
                floor.logged_in = s.agents
                free.extend(range(s.agents))
                floor.free = s.agents
            at(now + s.tick_s, _TICK, 0)
        elif kind == _DAY_END:
            dialling = False
        start_dials(now)
    return OutboundRun(name=dialler.name, scenario=s, days=days, answers=answers)
