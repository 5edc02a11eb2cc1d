"""Routing: which waiting call goes to which ready agent, and when.

Rules kept here (``docs/routing.md`` tells administrators the same):

1. A requirement is never violated. An agent is offered a call only if it is a member
   of the call's queue and meets the call's *current* routing step, the step in force
   at ``now`` counted from the call's ``arrived_at`` (``skills.py``, rules 2 and 3).
2. One fairness order over all waiting calls: higher ``priority`` first; then the
   longer *weighted* wait, ``(now - arrived_at) * queue.weight``; then the earlier
   ``arrived_at``; then ``call_id``. Inside one queue this is simply
   ``(-priority, arrived_at, call_id)``, the order ``waiting_calls`` and ``position``
   report. A call moved from another queue keeps its ``arrived_at`` and so its place.
3. Among the eligible ready agents, the call's queue strategy picks (``skills.py``,
   rule 5); RING_ALL takes them all at once.
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
   pairing needs a change: an agent became ready or changed (a *fresh* agent), a call
   arrived, or its step or preferred window ended (a *dirty* call; a timer heap holds
   those moments and ``next_deadline`` reports the earliest). ``assign`` examines the
   dirty calls and, for each fresh agent, the first call it could take; a call that
   takes an agent hands the agents that were aiming at it their next call. Waiting
   calls sit in buckets of one step each, so an agent tests a step once per bucket,
   never once per call; ready agents sit in sorted lists per queue and skill
   (``skills.ReadyLists``). Fresh agents enter those lists only if they stay ready:
   when no call is dirty, a call's only candidates are the fresh agents aiming at it.
   With nothing changed, ``assign`` is O(1).
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ccqueue.core.errors import RequestError
from ccqueue.core.skills import (
    AgentRecord,
    QueuePolicy,
    ReadyLists,
    RoutingStep,
    SkillRequirement,
    Strategy,
    check_levels,
    check_steps,
    enter_lists,
    fits,
    leave_lists,
    meets,
    rank_key,
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

# (-priority, arrived_at, call_id): the order inside one queue (rule 2).
CallKey = tuple[int, float, str]
# (-priority, -weighted wait, arrived_at, call_id): the order across queues (rule 2).
FairKey = tuple[int, float, float, str]


class RoutingError(RequestError, ValueError):
    """A request the router refuses; nothing was changed. Each reason is a subclass with
    its own stable ``error_id``."""

    error_id = "routing-refused"


class BadTime(RoutingError):
    error_id = "bad-time"


class DuplicateQueue(RoutingError):
    error_id = "duplicate-queue"


class QueueHasCalls(RoutingError):
    error_id = "queue-has-calls"


class BadAgent(RoutingError):
    error_id = "bad-agent"


class BadCall(RoutingError):
    error_id = "bad-call"


class DuplicateCall(RoutingError):
    error_id = "duplicate-call"


class UnknownRoutingAgent(RoutingError):
    error_id = "unknown-agent"


class UnknownCall(RoutingError):
    error_id = "unknown-call"


class UnknownQueue(RoutingError):
    error_id = "unknown-queue"


class ClockWentBack(RoutingError):
    error_id = "clock-went-back"


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """Offer ``call_id`` to these agents: one, or several for RING_ALL."""

    call_id: str
    agent_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.call_id or not self.agent_ids:
            raise ValueError("an assignment needs a call and at least one agent")


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
    # Its bucket: (owner, step). The owner is the preferred agent while the window is
    # open, else None. `placed` is False until the first placement.
    placed: bool = False
    owner: str | None = None
    step: RoutingStep = RoutingStep()
    step_id: int = -1  # the router's number for `step`
    timer_at: float = math.inf
    timer_seq: int = -1


@dataclass(slots=True, eq=False)
class _Queue:
    policy: QueuePolicy
    ready: ReadyLists
    waiting: int = 0
    # Buckets of waiting calls, each sorted by CallKey, keyed by step number (an int
    # hashes in C): per step for everyone, per (preferred agent, step) in a window.
    general: dict[int, list[CallKey]] = field(default_factory=dict)
    preferred: dict[str, dict[int, list[CallKey]]] = field(default_factory=dict)

    def buckets(self) -> list[list[CallKey]]:
        found = list(self.general.values())
        for own in self.preferred.values():
            found.extend(own.values())
        return found


def _fair_key(key: CallKey, weight: float, now: float) -> FairKey:
    neg_priority, arrived_at, call_id = key
    return (neg_priority, -((now - arrived_at) * weight), arrived_at, call_id)


def _owner_at(call: _Call, now: float) -> str | None:
    """Rule 4: the only agent the call may go to at ``now``, if any."""
    if call.preferred_agent is None:
        return None
    if call.preferred_until is not None and now >= call.preferred_until:
        return None
    return call.preferred_agent


def _check_time(value: float, what: str) -> None:
    if not math.isfinite(value):
        raise BadTime(f"{what} must be a finite time, got {value}")


class Router:
    """Matches waiting calls with ready agents; see the rules at the top of this module."""

    def __init__(self, queues: Iterable[QueuePolicy], *, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._queues: dict[str, _Queue] = {}
        self._agents: dict[str, AgentRecord] = {}
        self._members: dict[str, set[str]] = {}
        self._calls: dict[str, _Call] = {}
        self._timers: list[tuple[float, int, str]] = []
        self._seq = 0
        self._now = -math.inf
        self._dirty_calls: set[str] = set()
        self._fresh: set[str] = set()  # ready agents not in the ready lists (rule 7)
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
                raise DuplicateQueue(f"queue {policy.name!r} is given twice")
            policies[policy.name] = policy
        stranded = sorted({call.queue for call in self._calls.values()} - policies.keys())
        if stranded:
            raise QueueHasCalls(f"queues {stranded} still have waiting calls")
        self._queues = {name: _Queue(policy=policy, ready=ReadyLists(policy.strategy)) for name, policy in policies.items()}
        self._layout += 1
        for agent in self._agents.values():
            agent.entries.clear()  # the lists it sat in are gone
            if agent.ready:
                self._fresh.add(agent.agent_id)
        for queue in self._queues.values():
            for step in queue.policy.steps:
                queue.ready.reference(step, self._agents)
        self._timers = []
        for call in self._calls.values():
            queue = self._queues[call.queue]
            queue.waiting += 1
            for step in call.steps or ():
                queue.ready.reference(step, self._agents)
            call.placed = False
            call.ends = step_ends(call.steps or queue.policy.steps, call.arrived_at)
            self._place(call, self._now)
            self._dirty_calls.add(call.call_id)

    def upsert_agent(self, agent_id: str, *, queues: Iterable[str], skills: Mapping[str, int], order: int = 0) -> None:
        """Add an agent or change its queues, skills or LINEAR ``order``; keeps its state."""
        if not isinstance(agent_id, str) or not agent_id:
            raise BadAgent("an agent needs an id")
        try:
            levels = check_levels(skills, f"agent {agent_id!r}")
        except ValueError as exc:
            raise BadAgent(str(exc)) from exc
        names = frozenset(queues)
        agent = self._agents.get(agent_id)
        if agent is None:
            agent = self._agents[agent_id] = AgentRecord(agent_id=agent_id, queues=names, skills=levels, order=order)
        else:
            leave_lists(agent)
            for name in agent.queues - names:
                self._members[name].discard(agent_id)
            agent.queues, agent.skills, agent.order = names, levels, order
            agent.layout = -1
            agent.fits.clear()
        for name in names:
            self._members.setdefault(name, set()).add(agent_id)
        if agent.ready:
            self._fresh.add(agent_id)

    def remove_agent(self, agent_id: str) -> None:
        """Forget an agent (logged out for good). Unknown agents are ignored."""
        agent = self._agents.pop(agent_id, None)
        if agent is None:
            return
        leave_lists(agent)
        for name in agent.queues:
            self._members[name].discard(agent_id)
        self._fresh.discard(agent_id)

    # ------------------------------------------------------------------ agent events

    def agent_ready(self, agent_id: str, *, idle_since: float) -> None:
        """The agent may be offered a call; it has been idle since ``idle_since``."""
        agent = self._agent(agent_id)
        _check_time(idle_since, "idle_since")
        leave_lists(agent)
        agent.ready = True
        agent.idle_since = idle_since
        agent.random_key = self._rng.random()
        self._fresh.add(agent_id)

    def agent_not_ready(self, agent_id: str) -> None:
        """The agent may not be offered a call (ringing, talking, paused, gone...)."""
        agent = self._agents.get(agent_id)
        if agent is None or not agent.ready:
            return
        leave_lists(agent)
        agent.ready = False
        self._fresh.discard(agent_id)

    def note_call_answered(self, agent_id: str, *, now: float) -> None:
        """Count an answered call for FEWEST_CALLS and ROUND_ROBIN."""
        agent = self._agent(agent_id)
        _check_time(now, "now")
        agent.answered += 1
        agent.last_answered_at = now
        if agent.ready and agent_id not in self._fresh:
            leave_lists(agent)
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
            raise BadCall("a call needs an id")
        if call_id in self._calls:
            raise DuplicateCall(f"call {call_id!r} is already waiting")
        target = self._queue(queue)
        _check_time(arrived_at, "arrived_at")
        if preferred_until is not None:
            _check_time(preferred_until, "preferred_until")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise BadCall(f"call {call_id!r}: priority must be an integer")
        if steps is not None:
            try:
                steps = check_steps(steps, f"call {call_id!r}")
            except ValueError as exc:
                raise BadCall(str(exc)) from exc
            for step in steps:
                if target.ready.reference(step, self._agents):
                    self._layout += 1
        call = _Call(
            call_id=call_id,
            queue=queue,
            arrived_at=arrived_at,
            priority=priority,
            preferred_agent=preferred_agent,
            preferred_until=preferred_until,
            steps=steps,
            key=(-priority, arrived_at, call_id),
            ends=step_ends(steps or target.policy.steps, arrived_at),
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
        if not self._dirty_calls:
            if not self._fresh:
                return []
            if len(self._fresh) == 1:
                return self._one_agent_ready(self._agents[self._fresh.pop()], now)
        elif not self._fresh and len(self._dirty_calls) == 1:
            return self._one_call_waiting(self._calls[self._dirty_calls.pop()])
        fresh = [self._agents[agent_id] for agent_id in self._fresh]
        among_aiming = not self._dirty_calls
        if not among_aiming:  # a dirty call may take any ready agent: list them all
            for agent in fresh:
                self._index(agent)
        heap: list[FairKey] = []
        for call_id in self._dirty_calls:
            call = self._calls[call_id]
            heap.append(_fair_key(call.key, self._queues[call.queue].policy.weight, now))
        heapq.heapify(heap)
        aiming: dict[str, list[AgentRecord]] = {}
        for agent in fresh:
            self._aim(agent, now, heap, aiming)
        self._dirty_calls.clear()
        self._fresh.clear()
        result: list[Assignment] = []
        seen: set[str] = set()
        while heap:
            call_id = heapq.heappop(heap)[3]
            if call_id in seen:
                continue
            seen.add(call_id)
            call = self._calls[call_id]
            queue = self._queues[call.queue]
            aimers = aiming.pop(call_id, [])
            chosen = self._choose_among(call, queue, aimers) if among_aiming else self._choose(call, queue)
            if not chosen:
                continue
            self._take(call, chosen)
            result.append(Assignment(call_id=call_id, agent_ids=chosen))
            for agent in aimers:
                if agent.ready:
                    self._aim(agent, now, heap, aiming)
        if among_aiming:
            for agent in fresh:
                if agent.ready:
                    self._index(agent)
        return result

    def scan_assign(self, now: float) -> list[Assignment]:
        """Rule 5 by brute force: every waiting call against every ready agent.

        The reference ``assign`` is tested against, and the baseline it is measured
        against. It leaves the router's state as ``assign`` would.
        """
        self._advance(now)
        fresh = [self._agents[agent_id] for agent_id in self._fresh]
        self._dirty_calls.clear()
        self._fresh.clear()
        calls = sorted(self._calls.values(), key=lambda c: _fair_key(c.key, self._queues[c.queue].policy.weight, now))
        ready = {agent.agent_id: agent for agent in self._agents.values() if agent.ready}
        result: list[Assignment] = []
        for call in calls:
            if not ready:
                break
            policy = self._queues[call.queue].policy
            steps = call.steps or policy.steps
            step = steps[step_at(steps, call.arrived_at, now)]
            owner = _owner_at(call, now)
            found = [
                rank_key(policy.strategy, agent, step)
                for agent in ready.values()
                if call.queue in agent.queues and owner in (None, agent.agent_id) and meets(agent.skills, step)
            ]
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
        for agent in fresh:
            if agent.ready:
                self._index(agent)
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

    def has(self, call_id: str) -> bool:
        """Whether the call waits in a queue (not yet assigned, not dequeued)."""
        return call_id in self._calls

    def position(self, call_id: str) -> int:
        """The call's place in its queue, 1 for the first in line."""
        call = self._call(call_id)
        return 1 + sum(bisect_left(bucket, call.key) for bucket in self._queues[call.queue].buckets())

    def eligible_agents(self, call_id: str, now: float) -> int:
        """How many agents, ready or not, could take the call under its step at ``now``."""
        call = self._call(call_id)
        steps = call.steps or self._queues[call.queue].policy.steps
        step = steps[step_at(steps, call.arrived_at, now)]
        members = self._members.get(call.queue, set())
        owner = _owner_at(call, now)
        if owner is not None:
            return int(owner in members and meets(self._agents[owner].skills, step))
        return sum(1 for agent_id in members if meets(self._agents[agent_id].skills, step))

    # ------------------------------------------------------------------ internals

    def _agent(self, agent_id: str) -> AgentRecord:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownRoutingAgent(f"no agent {agent_id!r}")
        return agent

    def _call(self, call_id: str) -> _Call:
        call = self._calls.get(call_id)
        if call is None:
            raise UnknownCall(f"call {call_id!r} is not waiting")
        return call

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            raise UnknownQueue(f"no queue {name!r}")
        return queue

    def _advance(self, now: float) -> None:
        """Move the clock to ``now``; calls whose step or window ended get re-placed."""
        _check_time(now, "now")
        if now < self._now:
            raise ClockWentBack(f"now {now} is before the last assign at {self._now}")
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
        steps = call.steps or queue.policy.steps
        current = bisect_right(call.ends, now)  # skills.step_at, from the stored ends
        step = steps[current]
        owner = _owner_at(call, now)
        if not call.placed or step is not call.step or owner != call.owner:
            if call.placed:
                self._unbucket(queue, call)
            step_id = self._step_ids.get(step)
            if step_id is None:
                step_id = self._step_ids[step] = len(self._step_list)
                self._step_list.append(step)
            call.placed, call.step, call.step_id, call.owner = True, step, step_id, owner
            holder = queue.general if owner is None else queue.preferred.setdefault(owner, {})
            insort(holder.setdefault(step_id, []), call.key)
        ends = call.ends[current] if current < len(call.ends) else None
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
            leave_lists(agent)
            agent.ready = False
            self._fresh.discard(agent_id)

    def _lay_out(self, agent: AgentRecord) -> None:
        """Work out the ready lists the agent belongs in (kept until a change)."""
        queues = [self._queues[name] for name in agent.queues if name in self._queues]
        agent.places = [queue.ready.places_of(agent) for queue in queues]
        agent.layout = self._layout

    def _index(self, agent: AgentRecord) -> None:
        if agent.layout != self._layout:
            self._lay_out(agent)
        enter_lists(agent)

    def _one_agent_ready(self, agent: AgentRecord, now: float) -> list[Assignment]:
        """``assign`` when one agent is fresh and no call is dirty, the common case.

        Every call it could take is clean, so it is the only candidate of each: it
        takes the first of them in the fairness order, whatever the strategy.
        """
        first = self._first_call(agent, now)
        if first is None:
            self._index(agent)
            return []
        self._take(self._calls[first[3]], (agent.agent_id,))
        return [Assignment(call_id=first[3], agent_ids=(agent.agent_id,))]

    def _one_call_waiting(self, call: _Call) -> list[Assignment]:
        """``assign`` when one call is dirty and no agent is fresh: only it can be served."""
        chosen = self._choose(call, self._queues[call.queue])
        if not chosen:
            return []
        self._take(call, chosen)
        return [Assignment(call_id=call.call_id, agent_ids=chosen)]

    def _aim(self, agent: AgentRecord, now: float, heap: list[FairKey], aiming: dict[str, list[AgentRecord]]) -> None:
        """Push the first call (rule 2) the agent could take; note that it aims at it."""
        best = self._first_call(agent, now)
        if best is not None:
            heapq.heappush(heap, best)
            aiming.setdefault(best[3], []).append(agent)

    def _first_call(self, agent: AgentRecord, now: float) -> FairKey | None:
        """The first waiting call (rule 2) the agent could take now, if any."""
        best: FairKey | None = None
        memo, steps, queues = agent.fits, self._step_list, self._queues
        for name in agent.queues:
            queue = queues.get(name)
            if queue is None:
                continue
            # Inside one queue the CallKey order is the fairness order (rule 2), so
            # only the queue's best head needs a weighted key.
            head: CallKey | None = None
            for step_id, bucket in queue.general.items():
                ok = memo.get(step_id)
                if ok if ok is not None else fits(agent, step_id, steps[step_id]):
                    if head is None or bucket[0] < head:
                        head = bucket[0]
            own = queue.preferred.get(agent.agent_id)
            if own is not None:
                for step_id, bucket in own.items():
                    if fits(agent, step_id, steps[step_id]) and (head is None or bucket[0] < head):
                        head = bucket[0]
            if head is not None:
                fair = _fair_key(head, queue.policy.weight, now)
                if best is None or fair < best:
                    best = fair
        return best

    def _choose_among(self, call: _Call, queue: _Queue, aimers: list[AgentRecord]) -> tuple[str, ...]:
        """The agents the call takes (rule 3) when its only candidates aim at it."""
        strategy = queue.policy.strategy
        keys = [rank_key(strategy, agent, call.step) for agent in aimers]
        if strategy is Strategy.RING_ALL and call.owner is None:
            return tuple(key[3] for key in sorted(keys))
        return (min(keys)[3],) if keys else ()

    def _choose(self, call: _Call, queue: _Queue) -> tuple[str, ...]:
        """The agents the call takes (rule 3), from the queue's ready lists."""
        if call.owner is not None:
            agent = self._agents.get(call.owner)
            if agent and agent.ready and call.queue in agent.queues and fits(agent, call.step_id, call.step):
                return (agent.agent_id,)
            return ()
        return queue.ready.pick(call.step, call.step_id, self._agents)
