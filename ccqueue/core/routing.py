"""Routing: which waiting call goes to which ready agent.

Rules kept here (``docs/routing.md`` tells administrators the same):

1. A requirement is never violated. An agent is offered a call only if it is a member
   of the call's queue and meets the call's *current* routing step, the step in force
   at ``now`` counted from the call's ``arrived_at`` (``skills.py``, rules 2 and 3).
2. One fairness order over all waiting calls: higher ``priority`` first; then the
   longer *weighted* wait, ``(now - arrived_at) * queue.weight``; then the earlier
   ``arrived_at``; then ``call_id``. Inside one queue this is simply
   ``(-priority, arrived_at, call_id)``, the order ``waiting_calls`` and ``position``
   report. A call moved from another queue keeps its ``arrived_at`` and so its place.
3. The queue's strategy picks the agent among the eligible ready ones (smallest key
   first, ``agent_id`` breaks every tie):
   LONGEST_IDLE ``idle_since``; FEWEST_CALLS answered calls, then ``idle_since``;
   ROUND_ROBIN the oldest last answered call (never answered first), then ``order``;
   LINEAR ``order``; RANDOM a key drawn from the seeded generator each time the agent
   becomes ready (the smallest of independent draws is a uniform pick); BEST_SKILL the
   highest ``skills.best_level``, then ``idle_since``; RING_ALL takes every eligible
   ready agent at once, listed longest idle first.
4. A returning customer: while ``now < preferred_until`` a call with a
   ``preferred_agent`` is offered to that agent only (rule 1 still applies); from
   ``preferred_until`` on, to everyone. Without ``preferred_until`` the preference
   lasts as long as the call waits.
5. ``assign(now)`` returns every pairing possible now, defined by one greedy pass: take
   the waiting calls in the order of rule 2; each takes the agent its strategy prefers
   among the eligible ready agents not taken yet (all of them for RING_ALL), or keeps
   waiting. Assigned calls leave the waiting set, assigned agents the ready set; the
   engine re-enqueues a call whose offer failed (with its original ``arrived_at``) and
   calls ``agent_ready`` when an agent is free again. ``scan_assign`` is this pass
   written as a plain scan; ``assign`` computes the same result incrementally (rule 7).
6. Deterministic: the same operations with the same ``seed`` give the same assignments
   in the same order, whatever the hash seed of the process.
7. Incremental. After an assign no waiting call has an eligible ready agent, so a new
   pairing needs a change: an agent became ready or changed (a *dirty* agent), a call
   arrived, or its step or preferred window ended (a *dirty* call; a timer heap holds
   those moments and ``next_deadline`` reports the earliest). ``assign`` examines the
   dirty calls and, for each dirty agent, the first call it could take; a call that
   takes an agent hands the agents that were aiming at it their next call. Ready agents
   are indexed per queue and per (skill, level) in lists sorted by the strategy key;
   waiting calls per queue in buckets of one step each, so an agent tests a step once
   per bucket, never once per call. With nothing changed, ``assign`` is O(1).
"""

from __future__ import annotations

import enum
import heapq
import math
import random
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ccqueue.core.skills import (
    RoutingStep,
    SkillRequirement,
    best_level,
    check_levels,
    check_steps,
    meets,
    step_at,
    step_ends,
)

__all__ = [
    "Assignment",
    "QueuePolicy",
    "Router",
    "RoutingError",
    "RoutingStep",
    "SkillRequirement",
    "Strategy",
]

# (primary, secondary, tertiary, agent_id): smaller is offered first (rule 3).
AgentKey = tuple[float, float, float, str]
# (-priority, arrived_at, call_id): the order inside one queue (rule 2).
CallKey = tuple[int, float, str]
# (-priority, -weighted wait, arrived_at, call_id): the order across queues (rule 2).
FairKey = tuple[int, float, float, str]
# A ready list of a queue: every ready member (None), or those holding skill >= level.
ListRef = tuple[str, int] | None


class Strategy(enum.Enum):
    """How a queue picks among eligible ready agents (rule 3)."""

    LONGEST_IDLE = "longest_idle"
    FEWEST_CALLS = "fewest_calls"
    ROUND_ROBIN = "round_robin"
    LINEAR = "linear"
    RANDOM = "random"
    BEST_SKILL = "best_skill"
    RING_ALL = "ring_all"


class RoutingError(ValueError):
    """A request the router refuses; nothing was changed. ``error_id`` is stable."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePolicy:
    """How one queue routes: strategy, weight across queues, and its routing steps."""

    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    # Weighted wait = wait * weight (rule 2): 2.0 makes a minute here count as two elsewhere.
    weight: float = 1.0
    steps: tuple[RoutingStep, ...] = (RoutingStep(),)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a queue policy needs a name")
        if not isinstance(self.strategy, Strategy):
            raise ValueError(f"queue {self.name!r}: strategy must be a Strategy")
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise ValueError(f"queue {self.name!r}: weight must be positive and finite, got {self.weight}")
        check_steps(self.steps, f"queue {self.name!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """Offer ``call_id`` to these agents: one, or several for RING_ALL."""

    call_id: str
    agent_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.call_id or not self.agent_ids:
            raise ValueError("an assignment needs a call and at least one agent")


@dataclass(slots=True, eq=False)
class _Agent:
    agent_id: str
    queues: frozenset[str]
    skills: dict[str, int]
    order: int
    ready: bool = False
    idle_since: float = 0.0
    random_key: float = 0.0
    answered: int = 0
    last_answered_at: float = -math.inf
    # Where the agent sits in the ready lists while ready: (list, key) pairs.
    entries: list[tuple[list[AgentKey], AgentKey]] = field(default_factory=list)
    # The ready lists it belongs in, with the level its key is made of, worked out
    # for the router's layout version `layout`; and a memo of `meets` per step.
    layout: int = -1
    places: list[tuple[_Queue, KeyMaker, list[tuple[list[AgentKey], int]]]] = field(default_factory=list)
    fits: dict[int, bool] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class _Call:
    call_id: str
    queue: str
    arrived_at: float
    priority: int
    preferred_agent: str | None
    preferred_until: float | None
    steps: tuple[RoutingStep, ...] | None  # None: the queue's steps
    key: CallKey
    ends: tuple[float, ...] = ()  # when each step but the last ends (skills.step_ends)
    # Where the call waits: bucket (owner, step); owner is the preferred agent while
    # the window is open, else None. `placed` is False until the first placement.
    placed: bool = False
    owner: str | None = None
    step: RoutingStep = RoutingStep()
    step_id: int = -1  # the router's number for `step` (Router._step_id)
    timer_at: float = math.inf
    timer_seq: int = -1


@dataclass(slots=True, eq=False)
class _Queue:
    policy: QueuePolicy
    waiting: int = 0
    # Buckets of waiting calls, each sorted by CallKey: per step for everyone, and per
    # (preferred agent, step) for calls inside their preferred window.
    # Buckets are keyed by step number (Router._step_id): an int hashes in C.
    general: dict[int, list[CallKey]] = field(default_factory=dict)
    preferred: dict[str, dict[int, list[CallKey]]] = field(default_factory=dict)
    # skill -> levels some step of this queue tests; each has a ready list below.
    refs: dict[str, set[int]] = field(default_factory=dict)
    ready: dict[ListRef, list[AgentKey]] = field(default_factory=dict)

    def buckets(self) -> list[list[CallKey]]:
        found = list(self.general.values())
        for own in self.preferred.values():
            found.extend(own.values())
        return found


# Rule 3 as sort keys, one function per strategy; ``level`` matters to BEST_SKILL only.
# (A table of functions rather than a chain of `is` tests: this runs for every ready
# list an agent enters, the hottest path of the router.)
KeyMaker = Callable[["_Agent", int], AgentKey]


def _by_idle(agent: _Agent, level: int) -> AgentKey:
    return (agent.idle_since, 0.0, 0.0, agent.agent_id)


def _by_calls(agent: _Agent, level: int) -> AgentKey:
    return (float(agent.answered), agent.idle_since, 0.0, agent.agent_id)


def _by_turn(agent: _Agent, level: int) -> AgentKey:
    return (agent.last_answered_at, float(agent.order), 0.0, agent.agent_id)


def _by_order(agent: _Agent, level: int) -> AgentKey:
    return (float(agent.order), 0.0, 0.0, agent.agent_id)


def _by_draw(agent: _Agent, level: int) -> AgentKey:
    return (agent.random_key, 0.0, 0.0, agent.agent_id)


def _by_level(agent: _Agent, level: int) -> AgentKey:
    return (-float(level), agent.idle_since, 0.0, agent.agent_id)


_KEYS: dict[Strategy, KeyMaker] = {
    Strategy.LONGEST_IDLE: _by_idle,
    Strategy.FEWEST_CALLS: _by_calls,
    Strategy.ROUND_ROBIN: _by_turn,
    Strategy.LINEAR: _by_order,
    Strategy.RANDOM: _by_draw,
    Strategy.BEST_SKILL: _by_level,
    Strategy.RING_ALL: _by_idle,
}


def _agent_key(strategy: Strategy, agent: _Agent, level: int) -> AgentKey:
    return _KEYS[strategy](agent, level)


def _fair_key(key: CallKey, weight: float, now: float) -> FairKey:
    neg_priority, arrived_at, call_id = key
    return (neg_priority, -((now - arrived_at) * weight), arrived_at, call_id)


def _fits(agent: _Agent, step_id: int, step: RoutingStep) -> bool:
    """``meets`` for this agent, remembered by step number until its skills change."""
    fits = agent.fits
    known = fits.get(step_id)
    if known is None:
        if len(fits) > 256:  # many one-off IVR steps: start afresh rather than grow
            fits.clear()
        known = fits[step_id] = meets(agent.skills, step)
    return known


def _check_time(value: float, what: str) -> None:
    if not math.isfinite(value):
        raise RoutingError("bad-time", f"{what} must be a finite time, got {value}")


class Router:
    """Matches waiting calls with ready agents; see the rules at the top of this module."""

    def __init__(self, queues: Iterable[QueuePolicy], *, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._queues: dict[str, _Queue] = {}
        self._agents: dict[str, _Agent] = {}
        self._members: dict[str, set[str]] = {}
        self._calls: dict[str, _Call] = {}
        self._timers: list[tuple[float, int, str]] = []
        self._seq = 0
        self._now = -math.inf
        self._dirty_calls: set[str] = set()
        self._dirty_agents: set[str] = set()
        self._layout = 0  # grows whenever a ready list appears or disappears
        self._step_ids: dict[RoutingStep, int] = {}  # every distinct step seen, numbered
        self._step_list: list[RoutingStep] = []
        self.set_queues(queues)

    # ------------------------------------------------------------------ configuration

    def set_queues(self, queues: Iterable[QueuePolicy]) -> None:
        """Replace the queue policies; waiting calls keep their places (rule 2)."""
        policies: dict[str, QueuePolicy] = {}
        for policy in queues:
            if policy.name in policies:
                raise RoutingError("duplicate-queue", f"queue {policy.name!r} is given twice")
            policies[policy.name] = policy
        stranded = sorted({call.queue for call in self._calls.values()} - policies.keys())
        if stranded:
            raise RoutingError("queue-has-calls", f"queues {stranded} still have waiting calls")
        self._queues = {name: _Queue(policy=policy) for name, policy in policies.items()}
        self._layout += 1
        for queue in self._queues.values():
            queue.ready[None] = []
            for step in queue.policy.steps:
                self._reference(queue, step)
        for agent in self._agents.values():
            agent.entries.clear()
            if agent.ready:
                self._index(agent)
                self._dirty_agents.add(agent.agent_id)
        self._timers = []
        for call in self._calls.values():
            queue = self._queues[call.queue]
            queue.waiting += 1
            if call.steps is not None:
                for step in call.steps:
                    self._reference(queue, step)
            call.placed = False
            call.ends = step_ends(call.steps if call.steps is not None else queue.policy.steps, call.arrived_at)
            self._place(call, self._now)
            self._dirty_calls.add(call.call_id)

    def upsert_agent(
        self, agent_id: str, *, queues: Iterable[str], skills: Mapping[str, int], order: int = 0
    ) -> None:
        """Add an agent or change its queues, skills or LINEAR ``order``; keeps its state."""
        if not isinstance(agent_id, str) or not agent_id:
            raise RoutingError("bad-agent", "an agent needs an id")
        try:
            levels = check_levels(skills, f"agent {agent_id!r}")
        except ValueError as exc:
            raise RoutingError("bad-agent", str(exc)) from exc
        names = frozenset(queues)
        agent = self._agents.get(agent_id)
        if agent is None:
            agent = _Agent(agent_id=agent_id, queues=names, skills=levels, order=order)
            self._agents[agent_id] = agent
        else:
            self._unindex(agent)
            for name in agent.queues - names:
                self._members[name].discard(agent_id)
            agent.queues, agent.skills, agent.order = names, levels, order
            agent.layout = -1
            agent.fits.clear()
        for name in names:
            self._members.setdefault(name, set()).add(agent_id)
        if agent.ready:
            self._index(agent)
            self._dirty_agents.add(agent_id)

    def remove_agent(self, agent_id: str) -> None:
        """Forget an agent (logged out for good). Unknown agents are ignored."""
        agent = self._agents.pop(agent_id, None)
        if agent is None:
            return
        self._unindex(agent)
        for name in agent.queues:
            self._members[name].discard(agent_id)
        self._dirty_agents.discard(agent_id)

    # ------------------------------------------------------------------ agent events

    def agent_ready(self, agent_id: str, *, idle_since: float) -> None:
        """The agent may be offered a call; it has been idle since ``idle_since``."""
        agent = self._agent(agent_id)
        _check_time(idle_since, "idle_since")
        self._unindex(agent)
        agent.ready = True
        agent.idle_since = idle_since
        agent.random_key = self._rng.random()
        self._index(agent)
        self._dirty_agents.add(agent_id)

    def agent_not_ready(self, agent_id: str) -> None:
        """The agent may not be offered a call (ringing, talking, paused, gone...)."""
        agent = self._agents.get(agent_id)
        if agent is None or not agent.ready:
            return
        self._unindex(agent)
        agent.ready = False
        self._dirty_agents.discard(agent_id)

    def note_call_answered(self, agent_id: str, *, now: float) -> None:
        """Count an answered call for FEWEST_CALLS and ROUND_ROBIN."""
        agent = self._agent(agent_id)
        _check_time(now, "now")
        agent.answered += 1
        agent.last_answered_at = now
        if agent.ready:
            self._unindex(agent)
            self._index(agent)

    # ------------------------------------------------------------------ call events

    def enqueue(
        self,
        call_id: str,
        *,
        queue: str,
        arrived_at: float,
        priority: int = 0,
        preferred_agent: str | None = None,
        preferred_until: float | None = None,
        steps: tuple[RoutingStep, ...] | None = None,
    ) -> None:
        """Add a waiting call. ``steps`` replaces the queue's steps for this call."""
        if not isinstance(call_id, str) or not call_id:
            raise RoutingError("bad-call", "a call needs an id")
        if call_id in self._calls:
            raise RoutingError("duplicate-call", f"call {call_id!r} is already waiting")
        target = self._queues.get(queue)
        if target is None:
            raise RoutingError("unknown-queue", f"no queue {queue!r}")
        _check_time(arrived_at, "arrived_at")
        if preferred_until is not None:
            _check_time(preferred_until, "preferred_until")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise RoutingError("bad-call", f"call {call_id!r}: priority must be an integer")
        if steps is not None:
            try:
                steps = check_steps(steps, f"call {call_id!r}")
            except ValueError as exc:
                raise RoutingError("bad-call", str(exc)) from exc
            for step in steps:
                self._reference(target, step)
        call = _Call(
            call_id=call_id,
            queue=queue,
            arrived_at=arrived_at,
            priority=priority,
            preferred_agent=preferred_agent,
            preferred_until=preferred_until,
            steps=steps,
            key=(-priority, arrived_at, call_id),
            ends=step_ends(steps if steps is not None else target.policy.steps, arrived_at),
        )
        self._calls[call_id] = call
        target.waiting += 1
        self._place(call, self._now)
        self._dirty_calls.add(call_id)

    def dequeue(self, call_id: str) -> None:
        """The call stops waiting (answered, abandoned, moved). Unknown calls are ignored."""
        call = self._calls.get(call_id)
        if call is not None:
            self._remove_call(call)

    # ------------------------------------------------------------------ decisions

    def assign(self, now: float) -> list[Assignment]:
        """Every pairing possible at ``now`` (rule 5), found incrementally (rule 7)."""
        self._advance(now)
        if not self._dirty_calls and not self._dirty_agents:
            return []
        heap: list[FairKey] = []
        aiming: dict[str, list[str]] = {}
        for call_id in self._dirty_calls:
            call = self._calls[call_id]
            heap.append(_fair_key(call.key, self._queues[call.queue].policy.weight, now))
        heapq.heapify(heap)
        for agent_id in self._dirty_agents:
            self._aim(self._agents[agent_id], now, heap, aiming)
        self._dirty_calls.clear()
        self._dirty_agents.clear()
        result: list[Assignment] = []
        seen: set[str] = set()
        while heap:
            call_id = heapq.heappop(heap)[3]
            if call_id in seen:
                continue
            seen.add(call_id)
            call = self._calls[call_id]
            chosen = self._choose(call, self._queues[call.queue])
            if not chosen:
                continue
            self._take(call, chosen)
            result.append(Assignment(call_id=call_id, agent_ids=chosen))
            for agent_id in aiming.pop(call_id, ()):
                agent = self._agents[agent_id]
                if agent.ready:
                    self._aim(agent, now, heap, aiming)
        return result

    def scan_assign(self, now: float) -> list[Assignment]:
        """Rule 5 by brute force: every waiting call against every ready agent.

        The reference ``assign`` is tested against, and the baseline it is measured
        against. It keeps the router's state as ``assign`` would.
        """
        self._advance(now)
        self._dirty_calls.clear()
        self._dirty_agents.clear()
        calls = sorted(
            self._calls.values(),
            key=lambda c: _fair_key(c.key, self._queues[c.queue].policy.weight, now),
        )
        ready = {agent.agent_id: agent for agent in self._agents.values() if agent.ready}
        result: list[Assignment] = []
        for call in calls:
            if not ready:
                break
            policy = self._queues[call.queue].policy
            steps = call.steps if call.steps is not None else policy.steps
            step = steps[step_at(steps, call.arrived_at, now)]
            owner = self._owner_at(call, now)
            found: list[AgentKey] = []
            for agent in ready.values():
                if call.queue not in agent.queues or (owner is not None and agent.agent_id != owner):
                    continue
                if meets(agent.skills, step):
                    found.append(_agent_key(policy.strategy, agent, best_level(agent.skills, step)))
            if not found:
                continue
            if policy.strategy is Strategy.RING_ALL:
                chosen = tuple(key[3] for key in sorted(found))
            else:
                chosen = (min(found)[3],)
            for agent_id in chosen:
                del ready[agent_id]
            self._take(call, chosen)
            result.append(Assignment(call_id=call.call_id, agent_ids=chosen))
        return result

    def next_deadline(self) -> float | None:
        """The earliest moment a waiting call's step or preferred window ends."""
        timers = self._timers
        while timers:
            at, seq, call_id = timers[0]
            call = self._calls.get(call_id)
            if call is not None and call.timer_seq == seq:
                return at
            heapq.heappop(timers)
        return None

    # ------------------------------------------------------------------ queries

    def waiting(self, queue: str) -> int:
        """How many calls wait in ``queue``."""
        return self._queue(queue).waiting

    def waiting_calls(self, queue: str) -> list[str]:
        """The calls waiting in ``queue``, first in line first (rule 2)."""
        return [key[2] for key in heapq.merge(*self._queue(queue).buckets())]

    def position(self, call_id: str) -> int:
        """The call's place in its queue, 1 for the first in line."""
        call = self._call(call_id)
        buckets = self._queues[call.queue].buckets()
        return 1 + sum(bisect_left(bucket, call.key) for bucket in buckets)

    def eligible_agents(self, call_id: str, now: float) -> int:
        """How many agents, ready or not, could take the call under its step at ``now``."""
        call = self._call(call_id)
        policy = self._queues[call.queue].policy
        steps = call.steps if call.steps is not None else policy.steps
        step = steps[step_at(steps, call.arrived_at, now)]
        members = self._members.get(call.queue, set())
        owner = self._owner_at(call, now)
        if owner is not None:
            return int(owner in members and meets(self._agents[owner].skills, step))
        return sum(1 for agent_id in members if meets(self._agents[agent_id].skills, step))

    # ------------------------------------------------------------------ internals

    def _agent(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise RoutingError("unknown-agent", f"no agent {agent_id!r}")
        return agent

    def _call(self, call_id: str) -> _Call:
        call = self._calls.get(call_id)
        if call is None:
            raise RoutingError("unknown-call", f"call {call_id!r} is not waiting")
        return call

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            raise RoutingError("unknown-queue", f"no queue {name!r}")
        return queue

    @staticmethod
    def _owner_at(call: _Call, now: float) -> str | None:
        """Rule 4: the only agent the call may go to at ``now``, if any."""
        if call.preferred_agent is None:
            return None
        if call.preferred_until is not None and now >= call.preferred_until:
            return None
        return call.preferred_agent

    def _advance(self, now: float) -> None:
        """Move the clock to ``now``; calls whose step or window ended get re-placed."""
        _check_time(now, "now")
        if now < self._now:
            raise RoutingError("clock-went-back", f"now {now} is before the last assign at {self._now}")
        self._now = now
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, seq, call_id = heapq.heappop(timers)
            call = self._calls.get(call_id)
            if call is not None and call.timer_seq == seq:
                self._place(call, now)
                self._dirty_calls.add(call_id)
        # Timers of calls that left stay until popped; rebuild when they dominate.
        if len(timers) > 2 * len(self._calls) + 64:
            self._timers = [(c.timer_at, c.timer_seq, c.call_id) for c in self._calls.values() if c.timer_seq >= 0]
            heapq.heapify(self._timers)

    def _place(self, call: _Call, now: float) -> None:
        """Put the call in the bucket of its step and owner at ``now``; arm its timer."""
        queue = self._queues[call.queue]
        steps = call.steps if call.steps is not None else queue.policy.steps
        index = bisect_right(call.ends, now)  # as skills.step_at, from the stored ends
        step = steps[index]
        owner = self._owner_at(call, now)
        if not call.placed or step is not call.step or owner != call.owner:
            if call.placed:
                self._unbucket(queue, call)
            step_id = self._step_ids.get(step)
            if step_id is None:
                step_id = self._step_ids[step] = len(self._step_list)
                self._step_list.append(step)
            call.placed, call.step, call.step_id, call.owner = True, step, step_id, owner
            if owner is None:
                insort(queue.general.setdefault(step_id, []), call.key)
            else:
                insort(queue.preferred.setdefault(owner, {}).setdefault(step_id, []), call.key)
        ends = call.ends[index] if index < len(call.ends) else None
        if owner is not None and call.preferred_until is not None:
            ends = call.preferred_until if ends is None else min(ends, call.preferred_until)
        if ends is None:
            call.timer_at, call.timer_seq = math.inf, -1
        else:
            self._seq += 1
            call.timer_at, call.timer_seq = ends, self._seq
            heapq.heappush(self._timers, (ends, self._seq, call.call_id))

    def _unbucket(self, queue: _Queue, call: _Call) -> None:
        holder = queue.general if call.owner is None else queue.preferred[call.owner]
        bucket = holder[call.step_id]
        del bucket[bisect_left(bucket, call.key)]
        if not bucket:
            del holder[call.step_id]
            if call.owner is not None and not holder:
                del queue.preferred[call.owner]

    def _remove_call(self, call: _Call) -> None:
        queue = self._queues[call.queue]
        self._unbucket(queue, call)
        queue.waiting -= 1
        del self._calls[call.call_id]
        self._dirty_calls.discard(call.call_id)

    def _take(self, call: _Call, agent_ids: tuple[str, ...]) -> None:
        self._remove_call(call)
        for agent_id in agent_ids:
            agent = self._agents[agent_id]
            self._unindex(agent)
            agent.ready = False
            self._dirty_agents.discard(agent_id)

    def _reference(self, queue: _Queue, step: RoutingStep) -> None:
        """Make sure the queue keeps a ready list for every (skill, level) ``step`` tests."""
        for req in step.references():
            levels = queue.refs.setdefault(req.skill, set())
            if req.min_level in levels:
                continue
            levels.add(req.min_level)
            self._layout += 1
            ready: list[AgentKey] = []
            queue.ready[(req.skill, req.min_level)] = ready
            for member in queue.ready[None]:
                agent = self._agents[member[3]]
                level = agent.skills.get(req.skill, 0)
                if level >= req.min_level:
                    self._insert(agent, ready, _agent_key(queue.policy.strategy, agent, level))

    def _lay_out(self, agent: _Agent) -> None:
        """Work out which ready lists the agent belongs in (the same until a change).

        Per queue: its key maker and (list, level) pairs; the level is 0 except for
        BEST_SKILL, whose key is made of the level of the list's skill.
        """
        places: list[tuple[_Queue, KeyMaker, list[tuple[list[AgentKey], int]]]] = []
        for name in agent.queues:
            queue = self._queues.get(name)
            if queue is None:
                continue
            best = queue.policy.strategy is Strategy.BEST_SKILL
            slots: list[tuple[list[AgentKey], int]] = [(queue.ready[None], 0)]
            for skill, level in agent.skills.items():
                for min_level in queue.refs.get(skill, ()):
                    if level >= min_level:
                        slots.append((queue.ready[(skill, min_level)], level if best else 0))
            places.append((queue, _KEYS[queue.policy.strategy], slots))
        agent.places, agent.layout = places, self._layout

    def _index(self, agent: _Agent) -> None:
        if agent.layout != self._layout:
            self._lay_out(agent)
        entries = agent.entries
        for _, make, slots in agent.places:
            flat = make(agent, 0)
            for ready, level in slots:
                key = make(agent, level) if level else flat
                insort(ready, key)
                entries.append((ready, key))

    @staticmethod
    def _insert(agent: _Agent, ready: list[AgentKey], key: AgentKey) -> None:
        insort(ready, key)
        agent.entries.append((ready, key))

    @staticmethod
    def _unindex(agent: _Agent) -> None:
        for ready, key in agent.entries:
            del ready[bisect_left(ready, key)]
        agent.entries.clear()

    def _aim(self, agent: _Agent, now: float, heap: list[FairKey], aiming: dict[str, list[str]]) -> None:
        """Push the first call (rule 2) the agent could take; note that it aims at it."""
        best: FairKey | None = None
        fits, steps = agent.fits, self._step_list
        for queue, _, _ in agent.places:  # the agent's configured queues (it is ready)
            # Inside one queue the CallKey order is the fairness order (rule 2), so
            # only the queue's best head needs a weighted key.
            head: CallKey | None = None
            for step_id, bucket in queue.general.items():
                ok = fits.get(step_id)
                if ok if ok is not None else _fits(agent, step_id, steps[step_id]):
                    if head is None or bucket[0] < head:
                        head = bucket[0]
            own = queue.preferred.get(agent.agent_id)
            if own is not None:
                for step_id, bucket in own.items():
                    if _fits(agent, step_id, steps[step_id]) and (head is None or bucket[0] < head):
                        head = bucket[0]
            if head is not None:
                fair = _fair_key(head, queue.policy.weight, now)
                if best is None or fair < best:
                    best = fair
        if best is not None:
            heapq.heappush(heap, best)
            aiming.setdefault(best[3], []).append(agent.agent_id)

    def _choose(self, call: _Call, queue: _Queue) -> tuple[str, ...]:
        """The agents the call takes now (rule 3), from the queue's ready lists."""
        step, step_id = call.step, call.step_id
        if call.owner is not None:
            agent = self._agents.get(call.owner)
            if agent is not None and agent.ready and call.queue in agent.queues and _fits(agent, step_id, step):
                return (agent.agent_id,)
            return ()
        strategy = queue.policy.strategy
        if step.requirements:
            # Search the requirement with the fewest ready holders.
            shortest: list[AgentKey] | None = None
            searched = ""
            for req in step.requirements:
                ready = queue.ready[(req.skill, req.min_level)]
                if shortest is None or len(ready) < len(shortest):
                    shortest, searched = ready, req.skill
                    if not ready:
                        return ()
            assert shortest is not None
            if strategy is Strategy.RING_ALL:
                return tuple(key[3] for key in shortest if _fits(self._agents[key[3]], step_id, step))
            primary = step.requirements[0].skill
            if strategy is not Strategy.BEST_SKILL or searched == primary:
                # The list is sorted by the very key the strategy ranks by.
                for key in shortest:
                    if _fits(self._agents[key[3]], step_id, step):
                        return (key[3],)
                return ()
            best: AgentKey | None = None
            for key in shortest:
                agent = self._agents[key[3]]
                if _fits(agent, step_id, step):
                    mine = _agent_key(strategy, agent, agent.skills[primary])
                    if best is None or mine < best:
                        best = mine
            return () if best is None else (best[3],)
        if step.any_of:
            lists = [queue.ready[(req.skill, req.min_level)] for req in step.any_of]
            if strategy is Strategy.RING_ALL:
                union = {key[3]: key for ready in lists for key in ready}
                return tuple(key[3] for key in sorted(union.values()))
            heads = [ready[0] for ready in lists if ready]
            return (min(heads)[3],) if heads else ()
        everyone = queue.ready[None]
        if strategy is Strategy.RING_ALL:
            return tuple(key[3] for key in everyone)
        return (everyone[0][3],) if everyone else ()
