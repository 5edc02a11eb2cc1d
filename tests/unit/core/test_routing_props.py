"""Random sequences of routing events, checked against a model and a brute-force oracle.

Two routers receive every event: one decides with ``assign`` (incremental), the other
with ``scan_assign`` (the plain scan). Their answers must be equal, and every answer is
also checked against this file's own model of agents and calls: no requirement violated
(under the step in force, so widening happens only once a step has expired), no agent or
call in two assignments, only waiting calls and ready agents, the preferred agent alone
inside its window, calls served in the fairness order, the strategy's pick, and nothing
left that could still be paired. Times are multiples of 0.5, so every sum is exact.

The same model is driven two ways: by hypothesis (``RouterMachine``, which shrinks a
failure to a short story) and by seeded random walks (longer, denser histories).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ccqueue.core.routing import QueuePolicy, Router, RoutingStep, SkillRequirement, Strategy

QUEUES = ("q0", "q1", "q2")
SKILLS = ("x", "y", "z", "w")
# Requirements lean low and agents' levels lean high, so that pairings are common.
REQUIRED_LEVELS = (1, 1, 2, 2, 3, 4, 5)
HELD_LEVELS = (1, 2, 3, 3, 4, 4, 5, 5)


@dataclass
class AgentModel:
    queues: frozenset[str]
    skills: dict[str, int]
    order: int
    idle_since: float = 0.0
    answered: int = 0
    last_answered_at: float = -math.inf


@dataclass(frozen=True)
class CallModel:
    call_id: str
    queue: str
    arrived_at: float
    priority: int
    preferred_agent: str | None
    preferred_until: float | None
    steps: tuple[RoutingStep, ...] | None


def model_step(steps: tuple[RoutingStep, ...], arrived_at: float, now: float) -> RoutingStep:
    limit = 0.0
    for step in steps[:-1]:
        assert step.duration_s is not None
        limit += step.duration_s
        if now - arrived_at < limit:
            return step
    return steps[-1]


def model_meets(skills: dict[str, int], step: RoutingStep) -> bool:
    held = all(skills.get(r.skill, 0) >= r.min_level for r in step.requirements)
    return held and (not step.any_of or any(skills.get(r.skill, 0) >= r.min_level for r in step.any_of))


class RoutingModel:
    """Both routers and the model, driven together; every decision is checked."""

    def __init__(self, policies: tuple[QueuePolicy, ...], seed: int) -> None:
        self.fast = Router(policies, seed=seed)
        self.ref = Router(policies, seed=seed)
        self.policies = {p.name: p for p in policies}
        self.agents: dict[str, AgentModel] = {}
        self.ready: set[str] = set()
        self.calls: dict[str, CallModel] = {}
        self.offered: dict[str, CallModel] = {}  # assigned calls the engine may put back
        self.now = 100.0
        self.last_assign = -math.inf
        self.counter = 0
        self.assigned = 0

    # ------------------------------------------------------------ events

    def upsert(self, agent_id: str, queues: frozenset[str], skills: dict[str, int], order: int) -> None:
        for router in (self.fast, self.ref):
            router.upsert_agent(agent_id, queues=sorted(queues), skills=skills, order=order)
        old = self.agents.get(agent_id)
        model = AgentModel(queues=queues, skills=dict(skills), order=order)
        if old is not None:
            model.idle_since, model.answered, model.last_answered_at = old.idle_since, old.answered, old.last_answered_at
        self.agents[agent_id] = model

    def remove(self, agent_id: str) -> None:
        for router in (self.fast, self.ref):
            router.remove_agent(agent_id)
        self.agents.pop(agent_id, None)
        self.ready.discard(agent_id)

    def make_ready(self, agent_id: str, idle_for: float) -> None:
        if agent_id not in self.agents:
            return
        for router in (self.fast, self.ref):
            router.agent_ready(agent_id, idle_since=self.now - idle_for)
        self.agents[agent_id].idle_since = self.now - idle_for
        self.ready.add(agent_id)

    def not_ready(self, agent_id: str) -> None:
        for router in (self.fast, self.ref):
            router.agent_not_ready(agent_id)
        self.ready.discard(agent_id)

    def answered(self, agent_id: str) -> None:
        if agent_id not in self.agents:
            return
        for router in (self.fast, self.ref):
            router.note_call_answered(agent_id, now=self.now)
        self.agents[agent_id].answered += 1
        self.agents[agent_id].last_answered_at = self.now

    def enqueue(
        self,
        queue: str,
        waited: float,
        priority: int,
        preferred: tuple[str, float | None] | None,
        steps: tuple[RoutingStep, ...] | None,
    ) -> None:
        self.counter += 1
        arrived_at = self.now - waited
        agent, window = preferred if preferred is not None else (None, None)
        until = None if window is None else arrived_at + window
        self.put(CallModel(f"c{self.counter}", queue, arrived_at, priority, agent, until, steps))

    def put(self, call: CallModel) -> None:
        for router in (self.fast, self.ref):
            router.enqueue(
                call.call_id,
                queue=call.queue,
                arrived_at=call.arrived_at,
                priority=call.priority,
                preferred_agent=call.preferred_agent,
                preferred_until=call.preferred_until,
                steps=call.steps,
            )
        self.calls[call.call_id] = call

    def requeue(self, pick: int) -> None:
        """An offer failed: the engine puts the call back with its original arrival."""
        if self.offered:
            self.put(self.offered.pop(sorted(self.offered)[pick % len(self.offered)]))

    def dequeue(self, pick: int) -> None:
        if not self.calls:
            return
        call_id = sorted(self.calls)[pick % len(self.calls)]
        for router in (self.fast, self.ref):
            router.dequeue(call_id)
        del self.calls[call_id]

    def reload(self, policies: tuple[QueuePolicy, ...]) -> None:
        for router in (self.fast, self.ref):
            router.set_queues(policies)
        self.policies = {p.name: p for p in policies}

    # ------------------------------------------------------------ the model's view

    def steps_of(self, call: CallModel) -> tuple[RoutingStep, ...]:
        return call.steps if call.steps is not None else self.policies[call.queue].steps

    def owner(self, call: CallModel, now: float) -> str | None:
        if call.preferred_agent is None or (call.preferred_until is not None and now >= call.preferred_until):
            return None
        return call.preferred_agent

    def eligible(self, call: CallModel, agent_id: str, now: float) -> bool:
        agent = self.agents[agent_id]
        owner = self.owner(call, now)
        if call.queue not in agent.queues or (owner is not None and owner != agent_id):
            return False
        return model_meets(agent.skills, model_step(self.steps_of(call), call.arrived_at, now))

    def fair_key(self, call: CallModel, now: float) -> tuple[int, float, float, str]:
        weight = self.policies[call.queue].weight
        return (-call.priority, -(now - call.arrived_at) * weight, call.arrived_at, call.call_id)

    def agent_key(self, strategy: Strategy, agent_id: str, step: RoutingStep) -> tuple[float, ...]:
        agent = self.agents[agent_id]
        if strategy is Strategy.FEWEST_CALLS:
            return (agent.answered, agent.idle_since, 0)
        if strategy is Strategy.ROUND_ROBIN:
            return (agent.last_answered_at, agent.order, 0)
        if strategy is Strategy.LINEAR:
            return (agent.order, 0, 0)
        if strategy is Strategy.BEST_SKILL:
            if step.requirements:
                level = agent.skills.get(step.requirements[0].skill, 0)
            else:
                held = [agent.skills.get(r.skill, 0) for r in step.any_of]
                met = [lvl for lvl, r in zip(held, step.any_of, strict=True) if lvl >= r.min_level]
                level = max(met, default=0)
            return (-level, agent.idle_since, 0)
        return (agent.idle_since, 0, 0)

    # ------------------------------------------------------------ the decision

    def assign(self) -> None:
        now = self.now
        got = self.fast.assign(now)
        assert got == self.ref.scan_assign(now)
        self.last_assign = now
        self.assigned += len(got)
        before = dict(self.calls)
        ranks = [self.fair_key(before[a.call_id], now) for a in got]  # each call was waiting
        assert ranks == sorted(ranks)  # served in the fairness order
        taken: set[str] = set()
        for assignment in got:
            call = self.calls.pop(assignment.call_id)
            owner = self.owner(call, now)
            if owner is not None:
                assert assignment.agent_ids == (owner,)
            for agent_id in assignment.agent_ids:
                assert agent_id in self.ready and agent_id not in taken
                assert self.eligible(call, agent_id, now)
                taken.add(agent_id)
            strategy = self.policies[call.queue].strategy
            free = [a for a in self.ready if a not in taken and self.eligible(call, a, now)]
            if strategy is Strategy.RING_ALL and owner is None:
                assert not free  # it took every eligible ready agent
            elif strategy is not Strategy.RANDOM:
                step = model_step(self.steps_of(call), call.arrived_at, now)
                mine = (*self.agent_key(strategy, assignment.agent_ids[0], step), assignment.agent_ids[0])
                assert all(mine < (*self.agent_key(strategy, other, step), other) for other in free)
            self.offered[call.call_id] = call
        # A call still waiting that ranks before an assigned call could not have taken
        # any agent of that assignment.
        for assignment in got:
            ahead = self.fair_key(before[assignment.call_id], now)
            for call in self.calls.values():
                if self.fair_key(call, now) < ahead:
                    assert not any(self.eligible(call, a, now) for a in assignment.agent_ids)
        self.ready -= taken
        # Every pairing possible now was made.
        for call in self.calls.values():
            for agent_id in self.ready:
                assert not self.eligible(call, agent_id, now), (call, agent_id)

    # ------------------------------------------------------------ what is reported

    def check_reports(self) -> None:
        for queue in QUEUES:
            mine = sorted(
                (c for c in self.calls.values() if c.queue == queue), key=lambda c: (-c.priority, c.arrived_at, c.call_id)
            )
            assert self.fast.waiting(queue) == len(mine)
            assert self.fast.waiting_calls(queue) == [c.call_id for c in mine]
            for place, call in enumerate(mine, start=1):
                assert self.fast.position(call.call_id) == place
        moments = []
        for call in self.calls.values():
            limit = call.arrived_at
            for step in self.steps_of(call)[:-1]:
                assert step.duration_s is not None
                limit += step.duration_s
                if limit > self.last_assign:
                    moments.append(limit)
                    break
            if call.preferred_agent is not None and call.preferred_until is not None:
                if call.preferred_until > self.last_assign:
                    moments.append(call.preferred_until)
        assert self.fast.next_deadline() == min(moments, default=None)
        for call in self.calls.values():
            want = sum(1 for agent_id in self.agents if self.eligible(call, agent_id, self.now))
            assert self.fast.eligible_agents(call.call_id, self.now) == want


# ---------------------------------------------------------------- hypothesis

AGENTS = ("a0", "a1", "a2", "a3", "a4", "a5", "a6")
halves = st.integers(0, 80).map(lambda n: n / 2)
requirement = st.builds(SkillRequirement, skill=st.sampled_from(SKILLS), min_level=st.sampled_from(REQUIRED_LEVELS))
requirement_groups = st.lists(requirement, max_size=2).map(tuple)
skill_sets = st.dictionaries(st.sampled_from(SKILLS), st.sampled_from(HELD_LEVELS), min_size=1, max_size=4)
memberships = st.frozensets(st.sampled_from(QUEUES), min_size=1)
preferences = st.sampled_from([None, None, None]) | st.tuples(st.sampled_from(AGENTS), st.none() | halves)


@st.composite
def step_lists(draw: st.DrawFn) -> tuple[RoutingStep, ...]:
    count = draw(st.integers(1, 3))
    return tuple(
        RoutingStep(
            requirements=draw(requirement_groups),
            any_of=draw(requirement_groups),
            duration_s=None if index == count - 1 else float(draw(st.integers(1, 30))),
        )
        for index in range(count)
    )


@st.composite
def policy_sets(draw: st.DrawFn) -> tuple[QueuePolicy, ...]:
    return tuple(
        QueuePolicy(
            name=name,
            strategy=draw(st.sampled_from(list(Strategy))),
            weight=draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])),
            steps=draw(step_lists()),
        )
        for name in QUEUES
    )


class RouterMachine(RuleBasedStateMachine):
    @initialize(
        policies=policy_sets(),
        seed=st.integers(0, 3),
        profiles=st.lists(st.tuples(memberships, skill_sets, st.integers(0, 3)), min_size=len(AGENTS), max_size=len(AGENTS)),
    )
    def setup(
        self, policies: tuple[QueuePolicy, ...], seed: int, profiles: list[tuple[frozenset[str], dict[str, int], int]]
    ) -> None:
        self.model = RoutingModel(policies, seed)
        for agent_id, (queues, skills, order) in zip(AGENTS, profiles, strict=True):
            self.model.upsert(agent_id, queues, skills, order)

    @rule(
        agent_id=st.sampled_from(AGENTS),
        queues=memberships,
        skills=skill_sets,
        order=st.integers(0, 3),
        remove=st.sampled_from([False, False, False, True]),
    )
    def change_agent(self, agent_id: str, queues: frozenset[str], skills: dict[str, int], order: int, remove: bool) -> None:
        if remove:
            self.model.remove(agent_id)
        else:
            self.model.upsert(agent_id, queues, skills, order)

    @rule(agents=st.lists(st.tuples(st.sampled_from(AGENTS), halves), min_size=1, max_size=3))
    def agents_ready(self, agents: list[tuple[str, float]]) -> None:
        for agent_id, idle_for in agents:
            self.model.make_ready(agent_id, idle_for)

    @rule(agent_id=st.sampled_from(AGENTS), answered=st.booleans())
    def agent_busy(self, agent_id: str, answered: bool) -> None:
        self.model.not_ready(agent_id)
        if answered:
            self.model.answered(agent_id)

    @rule(
        calls=st.lists(
            st.tuples(st.sampled_from(QUEUES), halves, st.integers(0, 2), preferences, st.none() | step_lists()),
            min_size=1,
            max_size=3,
        )
    )
    def calls_arrive(
        self, calls: list[tuple[str, float, int, tuple[str, float | None] | None, tuple[RoutingStep, ...] | None]]
    ) -> None:
        for queue, waited, priority, preferred, steps in calls:
            self.model.enqueue(queue, waited, priority, preferred, steps)

    @rule(pick=st.integers(0, 50), put_back=st.booleans())
    def call_leaves_or_returns(self, pick: int, put_back: bool) -> None:
        if put_back:
            self.model.requeue(pick)
        else:
            self.model.dequeue(pick)

    @rule(policies=policy_sets())
    def reload(self, policies: tuple[QueuePolicy, ...]) -> None:
        self.model.reload(policies)

    @rule(dt=halves)
    def tick(self, dt: float) -> None:
        self.model.now += dt

    @rule(dt=halves)
    def tick_and_assign(self, dt: float) -> None:
        """The engine wakes up (a deadline, an event) and asks for decisions."""
        self.model.now += dt
        self.model.assign()

    @rule()
    def assign(self) -> None:
        self.model.assign()

    @invariant()
    def reports_match_model(self) -> None:
        if hasattr(self, "model"):
            self.model.check_reports()


RouterMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestRouterMachine = RouterMachine.TestCase


# ---------------------------------------------------------------- seeded random walks


def _random_steps(rng: random.Random) -> tuple[RoutingStep, ...]:
    def group() -> tuple[SkillRequirement, ...]:
        return tuple(
            SkillRequirement(skill=rng.choice(SKILLS), min_level=rng.choice(REQUIRED_LEVELS))
            for _ in range(rng.choice((0, 0, 1, 1, 2, 3)))
        )

    count = rng.randint(1, 3)
    return tuple(
        RoutingStep(requirements=group(), any_of=group(), duration_s=None if i == count - 1 else float(rng.randint(1, 30)))
        for i in range(count)
    )


def _random_policies(rng: random.Random) -> tuple[QueuePolicy, ...]:
    return tuple(
        QueuePolicy(
            name=name, strategy=rng.choice(list(Strategy)), weight=rng.choice((0.5, 1.0, 2.0, 3.0)), steps=_random_steps(rng)
        )
        for name in QUEUES
    )


@pytest.mark.parametrize("seed", range(40))
def test_random_walk_matches_oracle_and_model(seed: int) -> None:
    rng = random.Random(seed)
    model = RoutingModel(_random_policies(rng), seed)
    agents = [f"a{i}" for i in range(12)]

    def profile() -> tuple[frozenset[str], dict[str, int], int]:
        queues = frozenset(rng.sample(QUEUES, rng.randint(1, 3)))
        skills = {s: rng.choice(HELD_LEVELS) for s in rng.sample(SKILLS, rng.randint(1, 4))}
        return queues, skills, rng.randint(0, 5)

    for agent_id in agents:
        model.upsert(agent_id, *profile())
    for _ in range(400):
        roll = rng.random()
        if roll < 0.25:
            model.make_ready(rng.choice(agents), rng.randint(0, 80) / 2)
        elif roll < 0.45:
            preferred = (rng.choice(agents), rng.choice((None, rng.randint(0, 60) / 2))) if rng.random() < 0.3 else None
            steps = _random_steps(rng) if rng.random() < 0.2 else None
            model.enqueue(rng.choice(QUEUES), rng.randint(0, 80) / 2, rng.randint(0, 2), preferred, steps)
        elif roll < 0.55:
            model.not_ready(rng.choice(agents))
        elif roll < 0.60:
            model.answered(rng.choice(agents))
        elif roll < 0.67:
            model.requeue(rng.randrange(100))
        elif roll < 0.72:
            model.dequeue(rng.randrange(100))
        elif roll < 0.74:
            model.upsert(rng.choice(agents), *profile())
        elif roll < 0.75:
            model.remove(rng.choice(agents))
        elif roll < 0.76:
            model.reload(_random_policies(rng))
        elif roll < 0.85:
            model.now += rng.randint(0, 30) / 2
        else:
            if rng.random() < 0.5:
                model.now += rng.randint(0, 20) / 2
            model.assign()
        if rng.random() < 0.1:
            model.check_reports()
    model.check_reports()
    assert model.assigned > 0
