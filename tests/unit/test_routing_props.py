"""Random sequences of routing events, checked against a model and a brute-force oracle.

Two routers receive every event: one answers with ``assign`` (incremental), the other
with ``scan_assign`` (the plain scan). Their answers must be equal, and each answer is
also checked against the test's own model of agents and calls: no requirement violated,
no agent or call twice, only waiting calls and ready agents, the preferred agent honoured
inside its window, the fairness order kept, the strategy's pick, and nothing left that
could still be paired. Times are multiples of 0.5 so every sum is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ccqueue.core.routing import QueuePolicy, Router, RoutingStep, SkillRequirement, Strategy

AGENTS = ("a0", "a1", "a2", "a3", "a4", "a5", "a6")
QUEUES = ("q0", "q1", "q2")
SKILLS = ("x", "y", "z", "w")

halves = st.integers(0, 80).map(lambda n: n / 2)
requirement = st.builds(SkillRequirement, skill=st.sampled_from(SKILLS), min_level=st.integers(1, 5))
requirement_groups = st.lists(requirement, max_size=2).map(tuple)


@st.composite
def step_lists(draw: st.DrawFn) -> tuple[RoutingStep, ...]:
    count = draw(st.integers(1, 3))
    steps = []
    for index in range(count):
        duration = None if index == count - 1 else float(draw(st.integers(1, 30)))
        steps.append(
            RoutingStep(requirements=draw(requirement_groups), any_of=draw(requirement_groups), duration_s=duration)
        )
    return tuple(steps)


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


skill_sets = st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=4)


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
    elapsed_limit = 0.0
    for step in steps[:-1]:
        assert step.duration_s is not None
        elapsed_limit += step.duration_s
        if now - arrived_at < elapsed_limit:
            return step
    return steps[-1]


def model_meets(skills: dict[str, int], step: RoutingStep) -> bool:
    held = all(skills.get(r.skill, 0) >= r.min_level for r in step.requirements)
    return held and (not step.any_of or any(skills.get(r.skill, 0) >= r.min_level for r in step.any_of))


class RouterMachine(RuleBasedStateMachine):
    @initialize(policies=policy_sets(), seed=st.integers(0, 3))
    def setup(self, policies: tuple[QueuePolicy, ...], seed: int) -> None:
        self.fast = Router(policies, seed=seed)
        self.ref = Router(policies, seed=seed)
        self.policies = {p.name: p for p in policies}
        self.agents: dict[str, AgentModel] = {}
        self.ready: set[str] = set()
        self.calls: dict[str, CallModel] = {}
        self.gone: dict[str, CallModel] = {}
        self.now = 100.0
        self.last_assign = -math.inf
        self.counter = 0

    # ------------------------------------------------------------ model helpers

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
            return (agent.answered, agent.idle_since)
        if strategy is Strategy.ROUND_ROBIN:
            return (agent.last_answered_at, agent.order)
        if strategy is Strategy.LINEAR:
            return (agent.order,)
        if strategy is Strategy.BEST_SKILL:
            if step.requirements:
                level = agent.skills.get(step.requirements[0].skill, 0)
            else:
                met = [agent.skills.get(r.skill, 0) for r in step.any_of if agent.skills.get(r.skill, 0) >= r.min_level]
                level = max(met, default=0)
            return (-level, agent.idle_since)
        return (agent.idle_since,)

    # ------------------------------------------------------------ agent rules

    @rule(agent_id=st.sampled_from(AGENTS), queues=st.frozensets(st.sampled_from(QUEUES)), skills=skill_sets,
          order=st.integers(0, 3))
    def upsert(self, agent_id: str, queues: frozenset[str], skills: dict[str, int], order: int) -> None:
        for router in (self.fast, self.ref):
            router.upsert_agent(agent_id, queues=sorted(queues), skills=skills, order=order)
        old = self.agents.get(agent_id)
        model = AgentModel(queues=queues, skills=dict(skills), order=order)
        if old is not None:
            model.idle_since, model.answered, model.last_answered_at = old.idle_since, old.answered, old.last_answered_at
        self.agents[agent_id] = model

    @rule(agent_id=st.sampled_from(AGENTS))
    def remove(self, agent_id: str) -> None:
        for router in (self.fast, self.ref):
            router.remove_agent(agent_id)
        self.agents.pop(agent_id, None)
        self.ready.discard(agent_id)

    @precondition(lambda self: bool(self.agents))
    @rule(data=st.data(), idle_for=halves)
    def ready_agent(self, data: st.DataObject, idle_for: float) -> None:
        agent_id = data.draw(st.sampled_from(sorted(self.agents)))
        for router in (self.fast, self.ref):
            router.agent_ready(agent_id, idle_since=self.now - idle_for)
        self.agents[agent_id].idle_since = self.now - idle_for
        self.ready.add(agent_id)

    @rule(agent_id=st.sampled_from(AGENTS))
    def not_ready(self, agent_id: str) -> None:
        for router in (self.fast, self.ref):
            router.agent_not_ready(agent_id)
        self.ready.discard(agent_id)

    @precondition(lambda self: bool(self.agents))
    @rule(data=st.data())
    def answered(self, data: st.DataObject) -> None:
        agent_id = data.draw(st.sampled_from(sorted(self.agents)))
        for router in (self.fast, self.ref):
            router.note_call_answered(agent_id, now=self.now)
        self.agents[agent_id].answered += 1
        self.agents[agent_id].last_answered_at = self.now

    # ------------------------------------------------------------ call rules

    @rule(queue=st.sampled_from(QUEUES), waited=halves, priority=st.integers(0, 2),
          preferred=st.none() | st.tuples(st.sampled_from(AGENTS), st.none() | halves),
          steps=st.none() | step_lists())
    def enqueue(self, queue: str, waited: float, priority: int,
                preferred: tuple[str, float | None] | None, steps: tuple[RoutingStep, ...] | None) -> None:
        self.counter += 1
        arrived_at = self.now - waited
        agent, until = preferred if preferred is not None else (None, None)
        call = CallModel(f"c{self.counter}", queue, arrived_at, priority, agent,
                         None if until is None else arrived_at + until, steps)
        self.put(call)

    def put(self, call: CallModel) -> None:
        for router in (self.fast, self.ref):
            router.enqueue(call.call_id, queue=call.queue, arrived_at=call.arrived_at, priority=call.priority,
                           preferred_agent=call.preferred_agent, preferred_until=call.preferred_until,
                           steps=call.steps)
        self.calls[call.call_id] = call

    @precondition(lambda self: bool(self.gone))
    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        """The offer failed: the engine puts the call back with its original arrival."""
        call_id = data.draw(st.sampled_from(sorted(self.gone)))
        self.put(self.gone.pop(call_id))

    @precondition(lambda self: bool(self.calls))
    @rule(data=st.data())
    def dequeue(self, data: st.DataObject) -> None:
        call_id = data.draw(st.sampled_from(sorted(self.calls)))
        for router in (self.fast, self.ref):
            router.dequeue(call_id)
        del self.calls[call_id]

    @rule(policies=policy_sets())
    def reload(self, policies: tuple[QueuePolicy, ...]) -> None:
        for router in (self.fast, self.ref):
            router.set_queues(policies)
        self.policies = {p.name: p for p in policies}

    @rule(dt=halves)
    def tick(self, dt: float) -> None:
        self.now += dt

    # ------------------------------------------------------------ the decision

    @rule()
    def assign(self) -> None:
        now = self.now
        got = self.fast.assign(now)
        assert got == self.ref.scan_assign(now)
        self.last_assign = now
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
                mine = self.agent_key(strategy, assignment.agent_ids[0], step)
                assert all(mine <= self.agent_key(strategy, other, step) for other in free)
            self.gone[call.call_id] = call
        # Fairness: a call still waiting that ranks before an assigned call could not
        # have taken any agent of that assignment.
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

    @invariant()
    def queues_report_model(self) -> None:
        if not hasattr(self, "fast"):
            return
        for queue in QUEUES:
            mine = sorted((c for c in self.calls.values() if c.queue == queue),
                          key=lambda c: (-c.priority, c.arrived_at, c.call_id))
            assert self.fast.waiting(queue) == len(mine)
            assert self.fast.waiting_calls(queue) == [c.call_id for c in mine]
            for place, call in enumerate(mine, start=1):
                assert self.fast.position(call.call_id) == place

    @invariant()
    def deadline_is_next_change(self) -> None:
        if not hasattr(self, "fast"):
            return
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

    @invariant()
    def eligible_counts_match(self) -> None:
        if not hasattr(self, "fast"):
            return
        for call in self.calls.values():
            want = sum(1 for agent_id in self.agents if self.eligible(call, agent_id, self.now))
            assert self.fast.eligible_agents(call.call_id, self.now) == want


RouterMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRouter = RouterMachine.TestCase
