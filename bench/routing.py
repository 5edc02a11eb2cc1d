"""How long one routing decision takes at contact-centre scale.

Run from the repository root: ``python bench/routing.py``. The lines printed say what
is measured; the last line is one JSON object with the figures.

The scene: 10,000 agents, 200 skills (3..8 per agent, levels 1..5), 50 queues whose
routing steps require 1..3 of those skills and widen after 30 s and 90 s, and 5,000
calls waiting in 45 busy queues while every agent of those queues is busy. Five quiet
queues start with no waiting call and 100 ready agents between them. The decisions
timed, each the way the engine makes it (an event, then ``assign``):

- an agent becoming ready: ``agent_ready`` then ``assign`` (it takes the call it may);
- a call arriving in a busy queue: ``enqueue`` then ``assign`` (it waits);
- a call arriving in a quiet queue: ``enqueue`` then ``assign`` (a ready agent takes it);
- beside those, a routing step ending: ``assign`` at the moment ``next_deadline`` gave.

Before measuring, every busy agent becomes ready once, as it would in the first minutes
of a shift (the router remembers per agent which ready lists it belongs in). Between
decisions the clock moves 10 ms. After each decision the bench undoes it outside the
timed part, to keep the scene steady: in a busy queue the offer fails and the call goes
back with its original arrival, in a quiet queue the call is answered and the agent is
ready again; like any event, that undoing is followed by an (untimed) ``assign``.

A twin router replays the same sequence after each round; in the first ticks of every
round it decides with ``scan_assign``, the plain scan, and the two must agree on every
assignment. Every decision is timed by the wall clock (the figures) and by the thread's
CPU clock: on a machine shared with other work the two part when the bench waits for a
CPU, and the rounds' p99s, printed one by one, show which stretch was disturbed.

Last, a storm of 10,000 agent state changes (ready and not ready in turn, ``assign``
after each) is timed end to end.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ccqueue.core.routing import (
    Assignment,
    QueuePolicy,
    Router,
    RoutingStep,
    SkillRequirement,
    Strategy,
)

AGENTS = 10_000
SKILLS = 200
BUSY_QUEUES = 45
QUIET_QUEUES = 5
QUIET_AGENTS = 400  # members of the quiet queues only
QUIET_READY = 100
CALLS = 5_000
ROUNDS = 5
TICKS = 1_500  # per round; each has one event and the step expiries due
SCAN_TICKS = 40  # per round, the first ones
STORM = 10_000
TICK_S = 0.01
START = 10_000.0


Decision = tuple[str, int, int, list[Assignment]]  # kind, wall ns, CPU ns, what it assigned


def timed(work: Callable[[], list[Assignment]]) -> tuple[int, int, list[Assignment]]:
    """Run ``work``; return its wall-clock and its thread CPU time in ns, and its result.

    Wall time is the figure; CPU time tells it apart from waiting for a CPU while other
    processes run (the CPU clock is read outside the wall clock, so it costs nothing).
    """
    cpu = time.thread_time_ns()
    wall = time.perf_counter_ns()
    got = work()
    wall = time.perf_counter_ns() - wall
    return wall, time.thread_time_ns() - cpu, got


@dataclass(frozen=True)
class CallSpec:
    call_id: str
    queue: str
    arrived_at: float
    priority: int = 0
    preferred_agent: str | None = None
    preferred_until: float | None = None
    steps: tuple[RoutingStep, ...] | None = None


@dataclass
class Scene:
    policies: list[QueuePolicy]
    agents: list[tuple[str, list[str], dict[str, int], int]]
    calls: list[CallSpec]
    members: dict[str, list[str]]


def req(skill: str, level: int) -> SkillRequirement:
    return SkillRequirement(skill=skill, min_level=level)


def build_scene(rng: random.Random) -> Scene:
    skills = [f"s{i:03d}" for i in range(SKILLS)]
    strategies = [
        Strategy.LONGEST_IDLE,
        Strategy.FEWEST_CALLS,
        Strategy.BEST_SKILL,
        Strategy.LINEAR,
        Strategy.ROUND_ROBIN,
        Strategy.RANDOM,
    ]
    policies: list[QueuePolicy] = []
    queue_skills: dict[str, tuple[str, str, str]] = {}
    for i in range(BUSY_QUEUES + QUIET_QUEUES):
        name = f"q{i:02d}"
        primary, second, third = skills[i], rng.choice(skills[50:]), rng.choice(skills[50:])
        queue_skills[name] = (primary, second, third)
        steps = (
            RoutingStep(requirements=(req(primary, 3), req(second, 2)), duration_s=30.0),
            RoutingStep(requirements=(req(primary, 2),), any_of=(req(second, 1), req(third, 1)), duration_s=60.0),
            RoutingStep(requirements=(req(primary, 1),)),
        )
        strategy = Strategy.RING_ALL if i == 7 else strategies[i % len(strategies)]
        policies.append(QueuePolicy(name=name, strategy=strategy, weight=rng.choice((1.0, 1.0, 1.5, 2.0)), steps=steps))
    busy = [p.name for p in policies[:BUSY_QUEUES]]
    quiet = [p.name for p in policies[BUSY_QUEUES:]]
    agents: list[tuple[str, list[str], dict[str, int], int]] = []
    members: dict[str, list[str]] = {p.name: [] for p in policies}
    for i in range(AGENTS):
        agent_id = f"agent{i:05d}"
        pool = quiet if i >= AGENTS - QUIET_AGENTS else busy
        queues = rng.sample(pool, rng.choice((1, 1, 2, 2, 3)))
        held: dict[str, int] = {}
        for name in queues:
            primary, second, third = queue_skills[name]
            held[primary] = rng.randint(1, 5)
            if rng.random() < 0.7:
                held[second] = rng.randint(1, 5)
            if rng.random() < 0.5:
                held[third] = rng.randint(1, 5)
        target = rng.randint(3, 8)
        while len(held) < target:
            held[rng.choice(skills)] = rng.randint(1, 5)
        while len(held) > 8:  # keep the team's primary skills, drop extras
            extra = [s for s in held if s not in {queue_skills[q][0] for q in queues}]
            del held[extra[-1] if extra else next(iter(held))]
        agents.append((agent_id, queues, held, i))
        for name in queues:
            members[name].append(agent_id)
    calls = [random_call(rng, f"w{i}", busy, members, START - rng.uniform(0.0, 180.0), skills) for i in range(CALLS)]
    return Scene(policies=policies, agents=agents, calls=calls, members=members)


def random_call(
    rng: random.Random, call_id: str, queues: list[str], members: dict[str, list[str]], arrived_at: float, skills: list[str]
) -> CallSpec:
    queue = rng.choice(queues)
    roll = rng.random()
    if roll < 0.05:  # a returning customer
        return CallSpec(call_id, queue, arrived_at, preferred_agent=rng.choice(members[queue]), preferred_until=arrived_at + 30.0)
    if roll < 0.08:  # the IVR chose the skills
        steps = (
            RoutingStep(requirements=(req(rng.choice(skills), 2),), duration_s=20.0),
            RoutingStep(requirements=(req(skills[int(queue[1:])], 1),)),
        )
        return CallSpec(call_id, queue, arrived_at, steps=steps)
    return CallSpec(call_id, queue, arrived_at, priority=1 if roll > 0.95 else 0)


class Runner:
    """One router plus the bench's mirror of it, so every step is replayable."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.router = Router(scene.policies, seed=7)
        self.rng = random.Random(11)
        self.now = START
        self.specs: dict[str, CallSpec] = {}
        self.waiting: list[str] = []
        self.slot: dict[str, int] = {}
        self.counter = 0
        self.busy_agents = [a for a, *_ in scene.agents[: AGENTS - QUIET_AGENTS]]
        self.quiet_queues = [p.name for p in scene.policies[BUSY_QUEUES:]]
        self.busy_queues = [p.name for p in scene.policies[:BUSY_QUEUES]]
        self.skills = [f"s{i:03d}" for i in range(SKILLS)]
        for agent_id, queues, held, order in scene.agents:
            self.router.upsert_agent(agent_id, queues=queues, skills=held, order=order)
        for spec in scene.calls:
            self.put(spec)
        quiet_agents = [a for a, *_ in scene.agents[AGENTS - QUIET_AGENTS :]]
        for agent_id in random.Random(3).sample(quiet_agents, QUIET_READY):
            self.router.agent_ready(agent_id, idle_since=START - 60.0)
        self.router.assign(self.now)

    def warm_up(self) -> None:
        """Every busy agent becomes ready once, takes a call, and is busy again."""
        for agent_id in self.busy_agents:
            self.now += 0.0001
            self.router.agent_ready(agent_id, idle_since=self.now)
            got = self.router.assign(self.now)
            self.router.agent_not_ready(agent_id)
            self.settle(got, at=self.now)

    def put(self, spec: CallSpec) -> None:
        self.router.enqueue(
            spec.call_id,
            queue=spec.queue,
            arrived_at=spec.arrived_at,
            priority=spec.priority,
            preferred_agent=spec.preferred_agent,
            preferred_until=spec.preferred_until,
            steps=spec.steps,
        )
        self.specs[spec.call_id] = spec
        self.slot[spec.call_id] = len(self.waiting)
        self.waiting.append(spec.call_id)

    def forget(self, call_id: str) -> None:
        index = self.slot.pop(call_id)
        last = self.waiting.pop()
        if last != call_id:
            self.waiting[index] = last
            self.slot[last] = index

    def settle(self, got: list[Assignment], *, at: float) -> None:
        """Undo a decision outside the timed part.

        In a busy queue the offer fails and the call goes back with its arrival; in a
        quiet queue the call is answered and the agent is soon ready again.
        """
        for assignment in got:
            self.forget(assignment.call_id)
            spec = self.specs.pop(assignment.call_id)
            if spec.queue in self.quiet_queues:
                for agent_id in assignment.agent_ids:
                    self.router.note_call_answered(agent_id, now=at)
                    self.router.agent_ready(agent_id, idle_since=at)
            else:
                self.put(spec)
        extra = self.router.assign(at)
        if extra:
            raise SystemExit(f"undoing {got} made a new pairing {extra}; the scene is not steady")

    def step(self, decide: Callable[[float], list[Assignment]] | None = None) -> list[Decision]:
        """The clock moves 10 ms: the step expiries due, then one event; all timed.

        As the engine does, the router is woken at each ``next_deadline`` (a decision
        of its own), and every event is followed by ``assign``. The bench's undoing of
        a decision is an event too, absorbed by an untimed ``assign``.
        """
        decide = decide or self.router.assign
        decisions: list[Decision] = []
        self.now += TICK_S
        while (deadline := self.router.next_deadline()) is not None and deadline <= self.now:
            wall, cpu, got = timed(lambda: decide(deadline))
            decisions.append(("step_expiry", wall, cpu, got))
            self.settle(got, at=deadline)
        now, roll = self.now, self.rng.random()
        if roll < 0.5:
            agent_id = self.rng.choice(self.busy_agents)

            def agent_ready() -> list[Assignment]:
                self.router.agent_ready(agent_id, idle_since=now)
                return decide(now)

            wall, cpu, got = timed(agent_ready)
            decisions.append(("agent_ready", wall, cpu, got))
            self.router.agent_not_ready(agent_id)  # it took nothing, or it is ringing now
            self.settle(got, at=now)
            return decisions
        self.counter += 1
        queues = self.busy_queues if roll < 0.85 else self.quiet_queues
        spec = random_call(self.rng, f"n{self.counter}", queues, self.scene.members, now, self.skills)

        def call_arrives() -> list[Assignment]:
            self.put(spec)
            return decide(now)

        wall, cpu, got = timed(call_arrives)
        kind = "call_arrival" if queues is self.busy_queues else "call_to_ready_agent"
        decisions.append((kind, wall, cpu, got))
        if queues is self.busy_queues:
            gone = self.waiting[self.rng.randrange(len(self.waiting))]  # someone abandons
            self.router.dequeue(gone)
            self.forget(gone)
            del self.specs[gone]
        self.settle(got, at=now)
        return decisions


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    began = time.perf_counter()
    scene = build_scene(random.Random(2024))
    t0 = time.perf_counter()
    fast = Runner(scene)
    build_s = time.perf_counter() - t0
    slow = Runner(scene)
    print(
        f"scene: {AGENTS} agents, {SKILLS} skills, {BUSY_QUEUES + QUIET_QUEUES} queues, "
        f"{len(fast.waiting)} waiting calls, {QUIET_READY} ready agents; router built in {build_s:.2f} s"
    )
    t0 = time.perf_counter()
    fast.warm_up()
    slow.warm_up()
    print(f"warm-up: {len(fast.busy_agents)} agents ready once each, {time.perf_counter() - t0:.2f} s for both routers")

    # The headline counts the decisions the brief names: an agent becoming ready and a
    # call arriving. Step expiries are reported beside them.
    headline = {"agent_ready", "call_arrival", "call_to_ready_agent"}
    by_kind: dict[str, list[float]] = {}
    rounds: list[list[float]] = []
    cpu: list[float] = []
    scans: list[float] = []
    agreed = assigned = 0
    for _ in range(ROUNDS):
        decisions: list[float] = []
        outcomes: list[list[Decision]] = []
        for _ in range(TICKS):
            made = fast.step()
            for kind, wall_ns, cpu_ns, got in made:
                assigned += len(got)
                by_kind.setdefault(kind, []).append(wall_ns / 1000)
                if kind in headline:
                    decisions.append(wall_ns / 1000)
                    cpu.append(cpu_ns / 1000)
            outcomes.append(made)
        rounds.append(decisions)
        # The twin replays the round afterwards, so neither disturbs the other's caches.
        for index, made in enumerate(outcomes):
            scan = index < SCAN_TICKS
            replayed = slow.step(slow.router.scan_assign if scan else None)
            for (kind, _, _, got), (slow_kind, slow_ns, _, slow_got) in zip(made, replayed, strict=True):
                if slow_kind != kind or slow_got != got:
                    raise SystemExit(f"tick {index}: assign {got} but the twin {slow_got}")
                agreed += 1
                if scan and kind in headline:
                    scans.append(slow_ns / 1000)
    pooled = [value for decisions in rounds for value in decisions]
    for kind, values in sorted(by_kind.items()):
        print(
            f"{kind:>20}: {len(values):5d} decisions, median {statistics.median(values):7.1f} µs, "
            f"p99 {percentile(values, 0.99):7.1f} µs"
        )
    p50, p99 = statistics.median(pooled), percentile(pooled, 0.99)
    cpu_p50, cpu_p99 = statistics.median(cpu), percentile(cpu, 0.99)
    print(
        f"{'ready + arrivals':>20}: {len(pooled):5d} decisions, median {p50:7.1f} µs, p99 {p99:7.1f} µs; "
        f"{assigned} assignments in all"
    )
    print(
        f"{'the same, CPU time':>20}: {len(cpu):5d} decisions, median {cpu_p50:7.1f} µs, p99 {cpu_p99:7.1f} µs "
        f"(load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)"
    )
    print(
        "  per round (p99 / median µs): " + ", ".join(f"{percentile(d, 0.99):.0f} / {statistics.median(d):.0f}" for d in rounds)
    )
    s50, s99 = statistics.median(scans), percentile(scans, 0.99)
    print(
        f"{'scan_assign':>20}: {len(scans):5d} decisions, median {s50:7.1f} µs, p99 {s99:7.1f} µs; "
        f"the twin agreed on all {agreed} decisions"
    )
    print(f"speed-up of assign over scan_assign: {s99 / p99:.0f}x at p99, {s50 / p50:.0f}x at the median")

    rng = random.Random(5)
    storm_assigned = 0
    started = time.perf_counter()
    for _ in range(STORM // 2):
        agent_id = fast.busy_agents[rng.randrange(len(fast.busy_agents))]
        for ready in (True, False):
            fast.now += 0.001
            if ready:
                fast.router.agent_ready(agent_id, idle_since=fast.now)
            else:
                fast.router.agent_not_ready(agent_id)
            got = fast.router.assign(fast.now)
            storm_assigned += len(got)
            fast.settle(got, at=fast.now)
    storm_s = time.perf_counter() - started
    print(
        f"storm: {STORM} agent state changes with assign after each in {storm_s:.3f} s "
        f"({storm_s / STORM * 1e6:.1f} µs each, {storm_assigned} assignments)"
    )
    total_s = time.perf_counter() - began
    print(f"bench ran {total_s:.1f} s")
    print(
        json.dumps(
            {
                "agents": AGENTS,
                "skills": SKILLS,
                "queues": BUSY_QUEUES + QUIET_QUEUES,
                "waiting_calls": CALLS,
                "decision_p50_us": round(p50, 1),
                "decision_p99_us": round(p99, 1),
                "decision_cpu_p50_us": round(cpu_p50, 1),
                "decision_cpu_p99_us": round(cpu_p99, 1),
                **{f"{kind}_p50_us": round(statistics.median(v), 1) for kind, v in sorted(by_kind.items())},
                **{f"{kind}_p99_us": round(percentile(v, 0.99), 1) for kind, v in sorted(by_kind.items())},
                "scan_p50_us": round(s50, 1),
                "scan_p99_us": round(s99, 1),
                "speedup_p99": round(s99 / p99, 1),
                "speedup_p50": round(s50 / p50, 1),
                "state_storm_s": round(storm_s, 3),
                "decisions": len(pooled),
                "rounds": ROUNDS,
                "scan_decisions": len(scans),
                "bench_s": round(total_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
