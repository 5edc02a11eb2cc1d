"""The router, one behaviour per test; tables where the cases are many."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ccqueue.core.routing import (
    Assignment,
    QueuePolicy,
    Router,
    RoutingError,
    RoutingStep,
    SkillRequirement,
    Strategy,
)


def req(skill: str, level: int = 1) -> SkillRequirement:
    return SkillRequirement(skill=skill, min_level=level)


def step(
    *requirements: SkillRequirement, any_of: tuple[SkillRequirement, ...] = (), duration_s: float | None = None
) -> RoutingStep:
    return RoutingStep(requirements=requirements, any_of=any_of, duration_s=duration_s)


def pairs(assignments: list[Assignment]) -> list[tuple[str, tuple[str, ...]]]:
    return [(a.call_id, a.agent_ids) for a in assignments]


# ---------------------------------------------------------------- strategies


@dataclass(frozen=True)
class AgentSpec:
    agent_id: str
    skills: dict[str, int]
    idle_since: float = 0.0
    order: int = 0
    answered_at: tuple[float, ...] = ()


@dataclass(frozen=True)
class StrategyCase:
    name: str
    strategy: Strategy
    steps: tuple[RoutingStep, ...]
    agents: tuple[AgentSpec, ...]
    expected: tuple[str, ...]
    extra: dict[str, str] = field(default_factory=dict)


EN = {"en": 3}
STRATEGY_CASES = [
    StrategyCase(
        "longest idle: smallest idle_since",
        Strategy.LONGEST_IDLE,
        (step(),),
        (AgentSpec("a", EN, idle_since=10), AgentSpec("b", EN, idle_since=5)),
        ("b",),
    ),
    StrategyCase(
        "longest idle: agent_id breaks a tie",
        Strategy.LONGEST_IDLE,
        (step(),),
        (AgentSpec("b", EN, idle_since=5), AgentSpec("a", EN, idle_since=5)),
        ("a",),
    ),
    StrategyCase(
        "fewest calls",
        Strategy.FEWEST_CALLS,
        (step(),),
        (AgentSpec("a", EN, idle_since=1, answered_at=(1, 2)), AgentSpec("b", EN, idle_since=9, answered_at=(3,))),
        ("b",),
    ),
    StrategyCase(
        "fewest calls: then longest idle",
        Strategy.FEWEST_CALLS,
        (step(),),
        (AgentSpec("a", EN, idle_since=8, answered_at=(1,)), AgentSpec("b", EN, idle_since=2, answered_at=(3,))),
        ("b",),
    ),
    StrategyCase(
        "round robin: never answered goes first",
        Strategy.ROUND_ROBIN,
        (step(),),
        (AgentSpec("a", EN, answered_at=(40,)), AgentSpec("c", EN, order=5)),
        ("c",),
    ),
    StrategyCase(
        "round robin: oldest last answer",
        Strategy.ROUND_ROBIN,
        (step(),),
        (AgentSpec("a", EN, answered_at=(10, 50)), AgentSpec("b", EN, answered_at=(40,))),
        ("b",),
    ),
    StrategyCase(
        "linear: smallest order",
        Strategy.LINEAR,
        (step(),),
        (AgentSpec("a", EN, order=2), AgentSpec("b", EN, order=1, idle_since=99)),
        ("b",),
    ),
    StrategyCase(
        "best skill: highest level of the first required skill",
        Strategy.BEST_SKILL,
        (step(req("en")),),
        (AgentSpec("a", {"en": 3}), AgentSpec("b", {"en": 5}, idle_since=50)),
        ("b",),
    ),
    StrategyCase(
        "best skill: equal levels, longest idle",
        Strategy.BEST_SKILL,
        (step(req("en")),),
        (AgentSpec("a", {"en": 4}, idle_since=7), AgentSpec("b", {"en": 4}, idle_since=3)),
        ("b",),
    ),
    # Fewer agents hold "fr" than "en", so the router looks among the "fr" holders,
    # yet it must rank them by "en", the first required skill.
    StrategyCase(
        "best skill: ranked by the first skill, searched by the rarest",
        Strategy.BEST_SKILL,
        (step(req("en"), req("fr")),),
        (
            AgentSpec("a", {"en": 2, "fr": 5}),
            AgentSpec("b", {"en": 5, "fr": 1}, idle_since=9),
            AgentSpec("c", {"en": 3}),
            AgentSpec("d", {"en": 4}),
        ),
        ("b",),
    ),
    StrategyCase(
        "best skill: any_of ranks by the best met skill",
        Strategy.BEST_SKILL,
        (step(any_of=(req("en", 2), req("fr", 2))),),
        (
            AgentSpec("a", {"en": 4, "fr": 1}),
            AgentSpec("b", {"en": 1, "fr": 4}, idle_since=-9),
            AgentSpec("c", {"fr": 2, "en": 5}, idle_since=20),
        ),
        ("c",),
    ),
    StrategyCase(
        "best skill: an unmet any_of level does not count",
        Strategy.BEST_SKILL,
        (step(any_of=(req("en", 2), req("fr", 5))),),
        (AgentSpec("a", {"en": 3, "fr": 4}), AgentSpec("b", {"en": 2}, idle_since=-1)),
        ("a",),
    ),
    StrategyCase(
        "ring all: every eligible ready agent, longest idle first",
        Strategy.RING_ALL,
        (step(req("en", 2)),),
        (AgentSpec("a", EN, idle_since=9), AgentSpec("b", EN, idle_since=1), AgentSpec("c", {"en": 1})),
        ("b", "a"),
    ),
    StrategyCase(
        "ring all: any_of union",
        Strategy.RING_ALL,
        (step(any_of=(req("en"), req("fr"))),),
        (AgentSpec("a", {"en": 1}, idle_since=9), AgentSpec("b", {"fr": 1}, idle_since=1), AgentSpec("c", {"de": 1})),
        ("b", "a"),
    ),
    StrategyCase(
        "requirements: every one is needed",
        Strategy.LONGEST_IDLE,
        (step(req("en", 3), req("fr", 2)),),
        (AgentSpec("a", {"en": 5}), AgentSpec("b", {"en": 3, "fr": 2}, idle_since=9)),
        ("b",),
    ),
    StrategyCase(
        "any_of: one is enough",
        Strategy.LONGEST_IDLE,
        (step(any_of=(req("en", 4), req("fr", 2))),),
        (AgentSpec("a", {"en": 3}), AgentSpec("b", {"fr": 2}, idle_since=9)),
        ("b",),
    ),
]


@pytest.mark.parametrize("case", STRATEGY_CASES, ids=lambda c: c.name)
def test_strategy_picks_agent(case: StrategyCase) -> None:
    router = Router([QueuePolicy(name="q", strategy=case.strategy, steps=case.steps)])
    for spec in case.agents:
        router.upsert_agent(spec.agent_id, queues=["q"], skills=spec.skills, order=spec.order)
        for at in spec.answered_at:
            router.note_call_answered(spec.agent_id, now=at)
        router.agent_ready(spec.agent_id, idle_since=spec.idle_since)
    assert router.assign(100.0) == []
    router.enqueue("c1", queue="q", arrived_at=100.0)
    assert pairs(router.assign(100.0)) == [("c1", case.expected)]


def test_random_is_seeded_and_spreads_calls() -> None:
    def pick(seed: int) -> str:
        router = Router([QueuePolicy(name="q", strategy=Strategy.RANDOM)], seed=seed)
        for agent_id in "abcd":
            router.upsert_agent(agent_id, queues=["q"], skills={})
            router.agent_ready(agent_id, idle_since=0.0)
        router.enqueue("c1", queue="q", arrived_at=0.0)
        return router.assign(0.0)[0].agent_ids[0]

    assert [pick(7) for _ in range(3)] == [pick(7)] * 3
    counts = Counter(pick(seed) for seed in range(400))
    assert set(counts) == set("abcd")
    assert min(counts.values()) > 60  # 100 expected each


# ---------------------------------------------------------------- fairness across queues


@dataclass(frozen=True)
class FairCase:
    name: str
    calls: tuple[tuple[str, str, float, int], ...]  # call_id, queue, arrived_at, priority
    now: float
    expected: str


FAIR_CASES = [
    FairCase("higher priority first, however short its wait", (("c1", "low", 0, 0), ("c2", "high", 50, 1)), 60, "c2"),
    FairCase(
        "longer weighted wait: 30 s at weight 1 beats 10 s at weight 2", (("c1", "low", 0, 0), ("c2", "high", 20, 0)), 30, "c1"
    ),
    FairCase(
        "longer weighted wait: 60 s at weight 1 loses to 40 s at weight 2", (("c1", "low", 0, 0), ("c2", "high", 20, 0)), 60, "c2"
    ),
    FairCase("equal weighted wait: earlier arrival", (("c2", "high", 15, 0), ("c1", "low", 0, 0)), 30, "c1"),
    FairCase("same queue, same arrival: call_id", (("c2", "low", 5, 0), ("c1", "low", 5, 0)), 30, "c1"),
]


@pytest.mark.parametrize("case", FAIR_CASES, ids=lambda c: c.name)
def test_free_agent_takes_the_call_the_fairness_rule_names(case: FairCase) -> None:
    router = Router([QueuePolicy(name="low", weight=1.0), QueuePolicy(name="high", weight=2.0)])
    router.upsert_agent("a", queues=["low", "high"], skills={})
    for call_id, queue, arrived_at, priority in case.calls:
        router.enqueue(call_id, queue=queue, arrived_at=arrived_at, priority=priority)
    router.agent_ready("a", idle_since=0.0)
    assert pairs(router.assign(case.now)) == [(case.expected, ("a",))]


def test_batch_serves_calls_in_fairness_order_each_with_its_strategy() -> None:
    router = Router([QueuePolicy(name="q", strategy=Strategy.LINEAR)])
    router.upsert_agent("a", queues=["q"], skills={"en": 2}, order=1)
    router.upsert_agent("b", queues=["q"], skills={"en": 2, "fr": 2}, order=2)
    router.enqueue("old", queue="q", arrived_at=0.0, steps=(step(req("fr")),))
    router.enqueue("new", queue="q", arrived_at=5.0)
    router.agent_ready("a", idle_since=0.0)
    router.agent_ready("b", idle_since=0.0)
    # "old" ranks first but only b speaks fr; "new" then takes what is left.
    assert pairs(router.assign(10.0)) == [("old", ("b",)), ("new", ("a",))]


def test_batch_first_call_takes_the_strategy_choice() -> None:
    router = Router([QueuePolicy(name="q", strategy=Strategy.LINEAR)])
    router.upsert_agent("a", queues=["q"], skills={"en": 2, "fr": 2}, order=1)
    router.upsert_agent("b", queues=["q"], skills={"en": 2}, order=2)
    router.enqueue("old", queue="q", arrived_at=0.0)
    router.enqueue("new", queue="q", arrived_at=5.0, steps=(step(req("fr")),))
    router.agent_ready("a", idle_since=0.0)
    router.agent_ready("b", idle_since=0.0)
    # One greedy pass: "old" takes a (LINEAR), so "new", which needs fr, keeps waiting.
    assert pairs(router.assign(10.0)) == [("old", ("a",))]


def test_agent_only_gets_calls_of_its_queues() -> None:
    router = Router([QueuePolicy(name="sales"), QueuePolicy(name="support")])
    router.upsert_agent("a", queues=["sales"], skills={})
    router.enqueue("c1", queue="support", arrived_at=0.0)
    router.agent_ready("a", idle_since=0.0)
    assert router.assign(1.0) == []
    router.upsert_agent("a", queues=["sales", "support"], skills={})
    assert pairs(router.assign(2.0)) == [("c1", ("a",))]


# ---------------------------------------------------------------- widening


def test_call_reaches_lower_level_agent_only_when_its_step_expires() -> None:
    steps = (step(req("en", 4), duration_s=30.0), step(req("en", 2), duration_s=30.0), step())
    router = Router([QueuePolicy(name="q", steps=steps)])
    router.upsert_agent("junior", queues=["q"], skills={"en": 2})
    router.agent_ready("junior", idle_since=0.0)
    router.enqueue("c1", queue="q", arrived_at=100.0)
    assert router.assign(100.0) == []
    assert router.next_deadline() == 130.0
    assert router.eligible_agents("c1", 129.5) == 0
    assert router.assign(129.5) == []
    assert router.eligible_agents("c1", 130.0) == 1
    assert pairs(router.assign(130.0)) == [("c1", ("junior",))]
    assert router.next_deadline() is None


def test_several_expired_steps_are_skipped_at_once() -> None:
    steps = (step(req("en", 5), duration_s=10.0), step(req("en", 4), duration_s=10.0), step(req("en", 1)))
    router = Router([QueuePolicy(name="q", steps=steps)])
    router.upsert_agent("a", queues=["q"], skills={"en": 1})
    router.agent_ready("a", idle_since=0.0)
    router.enqueue("c1", queue="q", arrived_at=0.0)
    assert router.assign(1.0) == []
    assert pairs(router.assign(25.0)) == [("c1", ("a",))]


def test_moved_call_keeps_its_arrival_and_its_elapsed_steps() -> None:
    steps = (step(req("en", 4), duration_s=30.0), step())
    router = Router([QueuePolicy(name="q", steps=steps), QueuePolicy(name="other")])
    router.upsert_agent("a", queues=["q"], skills={"en": 1})
    router.assign(50.0)
    router.enqueue("moved", queue="q", arrived_at=0.0)  # waited 50 s elsewhere
    router.agent_ready("a", idle_since=0.0)
    assert pairs(router.assign(50.0)) == [("moved", ("a",))]


def test_call_steps_override_the_queue_steps() -> None:
    router = Router([QueuePolicy(name="q", steps=(step(req("en")),))])
    router.upsert_agent("a", queues=["q"], skills={"en": 5})
    router.upsert_agent("b", queues=["q"], skills={"billing": 3})
    router.agent_ready("a", idle_since=0.0)
    router.agent_ready("b", idle_since=5.0)
    router.enqueue("c1", queue="q", arrived_at=10.0, steps=(step(req("billing", 2)),))
    assert pairs(router.assign(10.0)) == [("c1", ("b",))]


# ---------------------------------------------------------------- returning customer


def make_returning(until: float | None, *, preferred_skills: dict[str, int] | None = None) -> Router:
    router = Router([QueuePolicy(name="q", steps=(step(req("en", 2)),))])
    router.upsert_agent("last", queues=["q"], skills=preferred_skills or {"en": 3})
    router.upsert_agent("other", queues=["q"], skills={"en": 3})
    router.agent_ready("other", idle_since=0.0)
    router.enqueue("c1", queue="q", arrived_at=100.0, preferred_agent="last", preferred_until=until)
    return router


def test_returning_customer_waits_for_the_last_agent_inside_the_window() -> None:
    router = make_returning(160.0)
    assert router.assign(100.0) == []
    assert router.next_deadline() == 160.0
    router.agent_ready("last", idle_since=120.0)
    assert pairs(router.assign(130.0)) == [("c1", ("last",))]


def test_returning_customer_goes_to_everyone_when_the_window_ends() -> None:
    router = make_returning(160.0)
    assert router.assign(159.5) == []
    assert pairs(router.assign(160.0)) == [("c1", ("other",))]


def test_returning_customer_never_breaks_a_requirement() -> None:
    router = make_returning(160.0, preferred_skills={"en": 1})
    router.agent_ready("last", idle_since=0.0)
    assert router.assign(120.0) == []
    assert router.eligible_agents("c1", 120.0) == 0
    assert pairs(router.assign(160.0)) == [("c1", ("other",))]


def test_preference_without_end_lasts_while_the_call_waits() -> None:
    router = make_returning(None)
    assert router.assign(10_000.0) == []
    assert router.next_deadline() is None
    router.agent_ready("last", idle_since=0.0)
    assert pairs(router.assign(10_001.0)) == [("c1", ("last",))]


# ---------------------------------------------------------------- queue reports


def test_waiting_calls_position_and_requeue() -> None:
    router = Router([QueuePolicy(name="q")])
    router.enqueue("c1", queue="q", arrived_at=10.0)
    router.enqueue("c2", queue="q", arrived_at=5.0)
    router.enqueue("vip", queue="q", arrived_at=20.0, priority=1)
    assert router.waiting_calls("q") == ["vip", "c2", "c1"]
    assert [router.position(c) for c in ("vip", "c2", "c1")] == [1, 2, 3]
    router.upsert_agent("a", queues=["q"], skills={})
    router.agent_ready("a", idle_since=0.0)
    assert pairs(router.assign(30.0)) == [("vip", ("a",))]
    assert router.waiting("q") == 2
    # The offer failed: the call returns to the head with its original arrival.
    router.enqueue("vip", queue="q", arrived_at=20.0, priority=1)
    assert router.waiting_calls("q") == ["vip", "c2", "c1"]
    router.dequeue("c2")
    router.dequeue("c2")  # idempotent
    assert router.waiting_calls("q") == ["vip", "c1"]
    assert router.position("c1") == 2


def test_eligible_agents_counts_ready_and_busy_members() -> None:
    router = Router([QueuePolicy(name="q", steps=(step(req("en", 3)),)), QueuePolicy(name="x")])
    router.upsert_agent("a", queues=["q"], skills={"en": 3})
    router.upsert_agent("b", queues=["q"], skills={"en": 4})
    router.upsert_agent("c", queues=["q"], skills={"en": 2})
    router.upsert_agent("d", queues=["x"], skills={"en": 5})
    router.agent_ready("a", idle_since=0.0)
    router.enqueue("c1", queue="q", arrived_at=0.0, steps=(step(req("en", 3)),))
    router.agent_not_ready("a")
    assert router.eligible_agents("c1", 0.0) == 2


def test_nothing_changed_nothing_assigned() -> None:
    router = Router([QueuePolicy(name="q", steps=(step(req("en", 5)),))])
    router.upsert_agent("a", queues=["q"], skills={"en": 1})
    router.agent_ready("a", idle_since=0.0)
    router.enqueue("c1", queue="q", arrived_at=0.0)
    assert router.assign(1.0) == []
    assert router.assign(2.0) == []
    assert router.next_deadline() is None


def test_upsert_of_a_ready_agent_is_reconsidered() -> None:
    router = Router([QueuePolicy(name="q", steps=(step(req("fr")),))])
    router.upsert_agent("a", queues=["q"], skills={"en": 1})
    router.agent_ready("a", idle_since=0.0)
    router.enqueue("c1", queue="q", arrived_at=0.0)
    assert router.assign(1.0) == []
    router.upsert_agent("a", queues=["q"], skills={"en": 1, "fr": 2})
    assert pairs(router.assign(2.0)) == [("c1", ("a",))]


def test_answered_call_reorders_a_ready_agent() -> None:
    router = Router([QueuePolicy(name="q", strategy=Strategy.FEWEST_CALLS)])
    for agent_id in ("a", "b"):
        router.upsert_agent(agent_id, queues=["q"], skills={})
        router.agent_ready(agent_id, idle_since=0.0)
    router.note_call_answered("a", now=1.0)
    router.enqueue("c1", queue="q", arrived_at=2.0)
    assert pairs(router.assign(2.0)) == [("c1", ("b",))]


def test_not_ready_and_removed_agents_get_nothing() -> None:
    router = Router([QueuePolicy(name="q")])
    for agent_id in ("a", "b"):
        router.upsert_agent(agent_id, queues=["q"], skills={})
        router.agent_ready(agent_id, idle_since=0.0)
    router.agent_not_ready("a")
    router.remove_agent("b")
    router.remove_agent("b")
    router.agent_not_ready("ghost")
    router.enqueue("c1", queue="q", arrived_at=0.0)
    assert router.assign(1.0) == []


# ---------------------------------------------------------------- live reload


def test_reload_keeps_waiting_calls_and_applies_new_rules() -> None:
    router = Router([QueuePolicy(name="q", steps=(step(req("en", 5)),))])
    router.upsert_agent("a", queues=["q"], skills={"en": 2})
    router.agent_ready("a", idle_since=0.0)
    router.enqueue("c1", queue="q", arrived_at=0.0)
    router.enqueue("c2", queue="q", arrived_at=1.0)
    assert router.assign(2.0) == []
    router.set_queues([QueuePolicy(name="q", steps=(step(req("en", 2)),)), QueuePolicy(name="new")])
    assert router.waiting_calls("q") == ["c1", "c2"]
    assert pairs(router.assign(3.0)) == [("c1", ("a",))]


def test_reload_may_not_drop_a_queue_with_waiting_calls() -> None:
    router = Router([QueuePolicy(name="q"), QueuePolicy(name="r")])
    router.enqueue("c1", queue="q", arrived_at=0.0)
    with pytest.raises(RoutingError) as caught:
        router.set_queues([QueuePolicy(name="r")])
    assert caught.value.error_id == "queue-has-calls"
    assert router.waiting_calls("q") == ["c1"]


# ---------------------------------------------------------------- refusals


def _bad_level() -> None:
    SkillRequirement(skill="en", min_level=6)


def _no_skill() -> None:
    SkillRequirement(skill="")


def _zero_duration() -> None:
    RoutingStep(duration_s=0.0)


def _last_step_with_duration() -> None:
    QueuePolicy(name="q", steps=(step(duration_s=10.0),))


def _middle_step_without_duration() -> None:
    QueuePolicy(name="q", steps=(step(), step()))


def _zero_weight() -> None:
    QueuePolicy(name="q", weight=0.0)


def _nan_weight() -> None:
    QueuePolicy(name="q", weight=float("nan"))


def _no_steps() -> None:
    QueuePolicy(name="q", steps=())


BAD_VALUES: list[tuple[str, Callable[[], None]]] = [
    ("level above 5", _bad_level),
    ("skill without a name", _no_skill),
    ("zero duration", _zero_duration),
    ("last step with a duration", _last_step_with_duration),
    ("middle step without a duration", _middle_step_without_duration),
    ("zero weight", _zero_weight),
    ("weight not a number", _nan_weight),
    ("no steps", _no_steps),
]


@pytest.mark.parametrize(("name", "build"), BAD_VALUES, ids=[n for n, _ in BAD_VALUES])
def test_bad_values_are_refused(name: str, build: Callable[[], None]) -> None:
    with pytest.raises(ValueError):
        build()


def _router() -> Router:
    router = Router([QueuePolicy(name="q")])
    router.upsert_agent("a", queues=["q"], skills={})
    router.enqueue("c1", queue="q", arrived_at=0.0)
    router.assign(10.0)
    return router


REFUSALS: list[tuple[str, Callable[[Router], object]]] = [
    ("duplicate-queue", lambda r: r.set_queues([QueuePolicy(name="q"), QueuePolicy(name="q")])),
    ("duplicate-call", lambda r: r.enqueue("c1", queue="q", arrived_at=0.0)),
    ("unknown-queue", lambda r: r.enqueue("c2", queue="nope", arrived_at=0.0)),
    ("unknown-queue", lambda r: r.waiting("nope")),
    ("unknown-agent", lambda r: r.agent_ready("ghost", idle_since=0.0)),
    ("unknown-agent", lambda r: r.note_call_answered("ghost", now=0.0)),
    ("unknown-call", lambda r: r.position("c9")),
    ("bad-agent", lambda r: r.upsert_agent("b", queues=["q"], skills={"en": 0})),
    ("bad-call", lambda r: r.enqueue("c2", queue="q", arrived_at=0.0, steps=())),
    ("bad-time", lambda r: r.enqueue("c2", queue="q", arrived_at=float("inf"))),
    ("clock-went-back", lambda r: r.assign(9.0)),
]


@pytest.mark.parametrize(("error_id", "act"), REFUSALS, ids=[e for e, _ in REFUSALS])
def test_refusals_name_their_error_and_change_nothing(error_id: str, act: Callable[[Router], object]) -> None:
    router = _router()
    with pytest.raises(RoutingError) as caught:
        act(router)
    assert caught.value.error_id == error_id
    assert router.waiting_calls("q") == ["c1"]
    router.agent_ready("a", idle_since=0.0)
    assert pairs(router.assign(10.0)) == [("c1", ("a",))]


def test_scan_assign_agrees_on_a_mixed_batch() -> None:
    def build() -> Router:
        router = Router(
            [
                QueuePolicy(
                    name="sales", strategy=Strategy.BEST_SKILL, steps=(step(req("en", 3), duration_s=20.0), step(req("en")))
                ),
                QueuePolicy(name="support", strategy=Strategy.RING_ALL, weight=2.0),
            ]
        )
        for i, (queues, level) in enumerate(
            [(["sales"], 1), (["sales", "support"], 4), (["support"], 2), (["sales"], 5), (["sales", "support"], 3)]
        ):
            router.upsert_agent(f"a{i}", queues=queues, skills={"en": level}, order=i)
            router.agent_ready(f"a{i}", idle_since=float(i))
        for i in range(4):
            router.enqueue(f"s{i}", queue="sales", arrived_at=float(i * 7))
        router.enqueue("t0", queue="support", arrived_at=15.0)
        return router

    fast, slow = build(), build()
    assert fast.assign(30.0) == slow.scan_assign(30.0)
    assert fast.assign(45.0) == slow.scan_assign(45.0)


_SCENARIO = """
from ccqueue.core.routing import QueuePolicy, Router, RoutingStep, SkillRequirement, Strategy
import random
rng = random.Random(3)
queues = [QueuePolicy(name=f"q{i}", strategy=s, weight=1.0 + i % 3,
                      steps=(RoutingStep(requirements=(SkillRequirement(skill="s", min_level=3),), duration_s=5.0),
                             RoutingStep()))
          for i, s in enumerate(Strategy)]
router = Router(queues, seed=9)
out = []
for t in range(300):
    agent = f"a{rng.randrange(30)}"
    router.upsert_agent(agent, queues=rng.sample([q.name for q in queues], 2), skills={"s": rng.randint(1, 5)})
    router.agent_ready(agent, idle_since=float(t))
    if rng.random() < 0.5:
        router.enqueue(f"c{t}", queue=rng.choice(queues).name, arrived_at=t - rng.random() * 10)
    if t % 3 == 0:
        out.extend((a.call_id, a.agent_ids) for a in router.assign(float(t)))
print(out)
"""


def test_same_decisions_whatever_the_hash_seed() -> None:
    root = Path(__file__).resolve().parents[3]

    def run(hash_seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", _SCENARIO], env=env, cwd=root, capture_output=True, text=True, check=True)
        return done.stdout

    first = run("1")
    assert first.count("(") > 20
    assert run("2") == first
    assert run("12345") == first


def test_worked_example_of_the_administrators_guide() -> None:
    """docs/routing.md, "A worked example": 10:00:00 is t = 60."""

    def build(c3_priority: int) -> Router:
        router = Router(
            [
                QueuePolicy(name="billing", steps=(step(req("billing", 4), duration_s=30.0), step(req("billing", 2)))),
                QueuePolicy(name="vip", strategy=Strategy.BEST_SKILL, weight=2.0, steps=(step(req("english", 3)),)),
            ]
        )
        router.upsert_agent("ana", queues=["billing", "vip"], skills={"billing": 5, "english": 3})
        router.upsert_agent("ben", queues=["billing", "vip"], skills={"billing": 2, "english": 5})
        router.enqueue("c1", queue="billing", arrived_at=0.0)
        router.enqueue("c2", queue="vip", arrived_at=40.0)
        router.enqueue("c3", queue="billing", arrived_at=50.0, priority=c3_priority)
        return router

    router = build(0)
    router.agent_ready("ben", idle_since=60.0)
    assert pairs(router.assign(60.0)) == [("c1", ("ben",))]
    router.agent_ready("ana", idle_since=65.0)
    assert pairs(router.assign(65.0)) == [("c2", ("ana",))]
    router.agent_ready("ben", idle_since=70.0)
    assert router.assign(70.0) == []
    assert router.next_deadline() == 80.0
    assert pairs(router.assign(80.0)) == [("c3", ("ben",))]

    router = build(1)
    assert router.waiting_calls("billing") == ["c3", "c1"]
    router.agent_ready("ben", idle_since=60.0)
    assert pairs(router.assign(60.0)) == [("c1", ("ben",))]
