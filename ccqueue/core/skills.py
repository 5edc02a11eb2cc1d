"""The agents' side of routing: skills, steps, strategies, and the ready lists.

Rules kept here (the router in ``routing.py`` relies on every one of them):

1. A skill level is an integer from 1 (novice) to 5 (expert). An agent that does not
   hold a skill holds it at level 0, which meets no requirement.
2. An agent *meets* a step when it holds every skill of ``requirements`` at its
   ``min_level`` or above and, if ``any_of`` is not empty, at least one skill of
   ``any_of`` at its ``min_level`` or above. A step with neither is met by everyone.
3. A call's steps run back to back from its arrival. Step ``i`` is in force while
   ``now < arrived_at + d0 + ... + di``; the last step has no duration and lasts for
   as long as the call waits. The moment a step ends and the step in force are computed
   by the same float additions, so a wake-up at exactly that moment sees the next step.
4. Steps are checked when they are built: every step but the last has a positive,
   finite duration and the last one has none. A typo that would leave a call in an
   unreachable or never-ending step is an error, not a silent default.
5. A strategy ranks eligible ready agents by a key, smallest first, ``agent_id``
   breaking every tie: LONGEST_IDLE ``idle_since``; FEWEST_CALLS answered calls, then
   ``idle_since``; ROUND_ROBIN the oldest last answered call (never answered first),
   then ``order``; LINEAR ``order``; RANDOM a key drawn from the router's seeded
   generator each time the agent becomes ready (the smallest of independent draws is a
   uniform pick); BEST_SKILL the highest ``best_level``, then ``idle_since``; RING_ALL
   takes every eligible ready agent, listed by ``idle_since``.
6. A queue keeps its ready agents in sorted lists (``ReadyLists``): one of every ready
   member, and one per (skill, level) that some step of the queue tests, of the ready
   members holding that skill at that level or above. A list is sorted by the queue's
   key, so the first agent in it that meets the step is the strategy's pick; BEST_SKILL
   ranks by the level of the list's own skill, which is its key when that skill is the
   step's first requirement.
"""

from __future__ import annotations

import enum
import math
from bisect import bisect_left, insort
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "MAX_LEVEL",
    "MIN_LEVEL",
    "AgentKey",
    "AgentRecord",
    "QueuePolicy",
    "ReadyLists",
    "RoutingStep",
    "SkillRequirement",
    "Strategy",
    "best_level",
    "check_levels",
    "check_steps",
    "enter_lists",
    "fits",
    "leave_lists",
    "meets",
    "rank_key",
    "step_at",
    "step_ends",
]

# Five levels, novice to expert: enough to express "prefer experts, accept juniors
# later", few enough that administrators use them consistently.
MIN_LEVEL = 1
MAX_LEVEL = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class SkillRequirement:
    """A skill an agent must hold at ``min_level`` or above."""

    skill: str
    min_level: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.skill, str) or not self.skill:
            raise ValueError("a skill requirement needs a skill name")
        if isinstance(self.min_level, bool) or not isinstance(self.min_level, int):
            raise ValueError(f"min_level of {self.skill!r} must be an integer")
        if not MIN_LEVEL <= self.min_level <= MAX_LEVEL:
            raise ValueError(f"min_level of {self.skill!r} must be within {MIN_LEVEL}..{MAX_LEVEL}, got {self.min_level}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingStep:
    """What an agent must hold while this step is in force, and for how long it is.

    ``duration_s`` is ``None`` for the last step, which lasts forever.
    """

    requirements: tuple[SkillRequirement, ...] = ()
    any_of: tuple[SkillRequirement, ...] = ()
    duration_s: float | None = None
    # The router looks steps up in dicts on every decision; hashing the nested tuples
    # each time would cost more than the look-up, so the hash is computed once.
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for group in (self.requirements, self.any_of):
            if not isinstance(group, tuple) or not all(isinstance(r, SkillRequirement) for r in group):
                raise ValueError("requirements and any_of must be tuples of SkillRequirement")
        if self.duration_s is not None and not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"a step's duration_s must be positive and finite, got {self.duration_s}")
        object.__setattr__(self, "_hash", hash((self.requirements, self.any_of, self.duration_s)))

    def __hash__(self) -> int:
        return self._hash

    def references(self) -> tuple[SkillRequirement, ...]:
        """Every requirement this step tests, of either kind."""
        return self.requirements + self.any_of


def check_steps(steps: Sequence[RoutingStep], what: str) -> tuple[RoutingStep, ...]:
    """Return ``steps`` as a tuple, or raise ``ValueError`` naming ``what`` (rule 4)."""
    result = tuple(steps)
    if not result:
        raise ValueError(f"{what}: at least one routing step is needed")
    for index, step in enumerate(result):
        if not isinstance(step, RoutingStep):
            raise ValueError(f"{what}: step {index + 1} is not a RoutingStep")
        last = index == len(result) - 1
        if last and step.duration_s is not None:
            raise ValueError(f"{what}: the last step lasts forever and takes no duration_s")
        if not last and step.duration_s is None:
            raise ValueError(f"{what}: step {index + 1} needs a duration_s (only the last step has none)")
    return result


def check_levels(skills: Mapping[str, int], what: str) -> dict[str, int]:
    """Return the skills as a plain dict, or raise ``ValueError`` for a bad name or level."""
    result: dict[str, int] = {}
    for skill, level in skills.items():
        if not isinstance(skill, str) or not skill:
            raise ValueError(f"{what}: a skill needs a name")
        if isinstance(level, bool) or not isinstance(level, int) or not MIN_LEVEL <= level <= MAX_LEVEL:
            raise ValueError(f"{what}: level of {skill!r} must be an integer within {MIN_LEVEL}..{MAX_LEVEL}")
        result[skill] = level
    return result


def meets(skills: Mapping[str, int], step: RoutingStep) -> bool:
    """Rule 2: does an agent holding ``skills`` meet ``step``?"""
    for req in step.requirements:
        if skills.get(req.skill, 0) < req.min_level:
            return False
    if not step.any_of:
        return True
    for req in step.any_of:  # noqa: SIM110 -- a plain loop: this runs per agent per routing decision
        if skills.get(req.skill, 0) >= req.min_level:
            return True
    return False


def best_level(skills: Mapping[str, int], step: RoutingStep) -> int:
    """The level BEST_SKILL ranks an agent by under ``step``.

    The level of the step's first required skill; with no required skill, the highest
    level among the ``any_of`` skills the agent meets; with neither, 0 (a tie).
    """
    if step.requirements:
        return skills.get(step.requirements[0].skill, 0)
    best = 0
    for req in step.any_of:
        level = skills.get(req.skill, 0)
        if level >= req.min_level and level > best:
            best = level
    return best


def step_at(steps: Sequence[RoutingStep], arrived_at: float, now: float) -> int:
    """Rule 3: the index of the step in force at ``now`` (0 before the arrival)."""
    end = arrived_at
    for index, step in enumerate(steps):
        if step.duration_s is None:
            return index
        end = end + step.duration_s
        if now < end:
            return index
    return len(steps) - 1


def step_ends(steps: Sequence[RoutingStep], arrived_at: float) -> tuple[float, ...]:
    """Rule 3: when each step but the last ends; ``bisect_right(ends, now)`` is ``step_at``."""
    ends: list[float] = []
    end = arrived_at
    for step in steps:
        if step.duration_s is None:
            break
        end = end + step.duration_s
        ends.append(end)
    return tuple(ends)


# ---------------------------------------------------------------- strategies


class Strategy(enum.StrEnum):
    """How a queue picks among eligible ready agents (rule 5). The values are the
    configuration's words (``strategy: ring_all``); a new strategy is a new member."""

    LONGEST_IDLE = "longest_idle"
    FEWEST_CALLS = "fewest_calls"
    ROUND_ROBIN = "round_robin"
    LINEAR = "linear"
    RANDOM = "random"
    BEST_SKILL = "best_skill"
    RING_ALL = "ring_all"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePolicy:
    """How one queue routes: strategy, weight across queues, and its routing steps."""

    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    # The router orders calls of all queues by wait * weight: at 2.0 a minute waited
    # here counts as two minutes waited in a queue of weight 1.0.
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


# ---------------------------------------------------------------- agents and their ranks

# (primary, secondary, tertiary, agent_id): smaller is offered first (rule 5).
AgentKey = tuple[float, float, float, str]
# A ready list of a queue: every ready member (None), or those holding skill >= level.
ListRef = tuple[str, int] | None


@dataclass(slots=True, eq=False)
class AgentRecord:
    """What the router knows of one agent."""

    agent_id: str
    queues: frozenset[str]
    skills: dict[str, int]
    order: int
    ready: bool = False
    idle_since: float = 0.0
    random_key: float = 0.0
    answered: int = 0
    last_answered_at: float = -math.inf
    # Where it sits while indexed: (list, key) pairs, to take it out again.
    entries: list[tuple[list[AgentKey], AgentKey]] = field(default_factory=list)
    # Per queue, its rank and the (list, level) pairs it belongs in; worked out for the
    # router's layout number `layout` and reused until the lists or the agent change.
    layout: int = -1
    places: list[tuple[Rank, list[tuple[list[AgentKey], int]]]] = field(default_factory=list)
    # `meets` per step number, until its skills change.
    fits: dict[int, bool] = field(default_factory=dict)


# Rule 5 as one function per strategy (a table, not a chain of `is` tests: this runs
# for every list an agent enters, the hottest path of the router). ``level`` is the
# skill level BEST_SKILL ranks by; the other strategies ignore it.
Rank = Callable[[AgentRecord, int], AgentKey]


def _by_idle(agent: AgentRecord, level: int) -> AgentKey:
    return (agent.idle_since, 0.0, 0.0, agent.agent_id)


def _by_calls(agent: AgentRecord, level: int) -> AgentKey:
    return (float(agent.answered), agent.idle_since, 0.0, agent.agent_id)


def _by_turn(agent: AgentRecord, level: int) -> AgentKey:
    return (agent.last_answered_at, float(agent.order), 0.0, agent.agent_id)


def _by_order(agent: AgentRecord, level: int) -> AgentKey:
    return (float(agent.order), 0.0, 0.0, agent.agent_id)


def _by_draw(agent: AgentRecord, level: int) -> AgentKey:
    return (agent.random_key, 0.0, 0.0, agent.agent_id)


def _by_level(agent: AgentRecord, level: int) -> AgentKey:
    return (-float(level), agent.idle_since, 0.0, agent.agent_id)


RANKS: dict[Strategy, Rank] = {
    Strategy.LONGEST_IDLE: _by_idle,
    Strategy.FEWEST_CALLS: _by_calls,
    Strategy.ROUND_ROBIN: _by_turn,
    Strategy.LINEAR: _by_order,
    Strategy.RANDOM: _by_draw,
    Strategy.BEST_SKILL: _by_level,
    Strategy.RING_ALL: _by_idle,
}


def rank_key(strategy: Strategy, agent: AgentRecord, step: RoutingStep) -> AgentKey:
    """Rule 5: the agent's key under ``strategy`` for a call in ``step``."""
    return RANKS[strategy](agent, best_level(agent.skills, step))


def fits(agent: AgentRecord, step_id: int, step: RoutingStep) -> bool:
    """``meets`` for this agent, remembered by step number until its skills change."""
    memo = agent.fits
    known = memo.get(step_id)
    if known is None:
        if len(memo) > 256:  # many one-off IVR steps: start afresh rather than grow
            memo.clear()
        known = memo[step_id] = meets(agent.skills, step)
    return known


def enter_lists(agent: AgentRecord) -> None:
    """Put the agent in every ready list of ``agent.places`` (rule 6)."""
    entries = agent.entries
    for rank, slots in agent.places:
        flat = rank(agent, 0)
        for ready, level in slots:
            key = rank(agent, level) if level else flat
            insort(ready, key)
            entries.append((ready, key))


def leave_lists(agent: AgentRecord) -> None:
    """Take the agent out of every ready list it sits in."""
    for ready, key in agent.entries:
        del ready[bisect_left(ready, key)]
    agent.entries.clear()


class ReadyLists:
    """One queue's ready agents, in lists sorted by the queue's rank (rule 6)."""

    __slots__ = ("lists", "rank", "refs", "strategy")

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self.rank = RANKS[strategy]
        self.refs: dict[str, set[int]] = {}  # skill -> levels some step tests
        self.lists: dict[ListRef, list[AgentKey]] = {None: []}

    def reference(self, step: RoutingStep, agents: Mapping[str, AgentRecord]) -> bool:
        """Keep a list for every (skill, level) ``step`` tests; True if one was added.

        A new list is filled from the indexed members at once; ``agents`` maps ids
        to records.
        """
        added = False
        for req in step.references():
            levels = self.refs.setdefault(req.skill, set())
            if req.min_level in levels:
                continue
            levels.add(req.min_level)
            added = True
            ready: list[AgentKey] = []
            self.lists[(req.skill, req.min_level)] = ready
            for member in self.lists[None]:
                agent = agents[member[3]]
                level = agent.skills.get(req.skill, 0)
                if level >= req.min_level:
                    key = self.rank(agent, level)
                    insort(ready, key)
                    agent.entries.append((ready, key))
        return added

    def places_of(self, agent: AgentRecord) -> tuple[Rank, list[tuple[list[AgentKey], int]]]:
        """The lists the agent belongs in, each with the level its key is made of."""
        best = self.strategy is Strategy.BEST_SKILL
        slots: list[tuple[list[AgentKey], int]] = [(self.lists[None], 0)]
        for skill, level in agent.skills.items():
            for min_level in self.refs.get(skill, ()):
                if level >= min_level:
                    slots.append((self.lists[(skill, min_level)], level if best else 0))
        return self.rank, slots

    def pick(self, step: RoutingStep, step_id: int, agents: Mapping[str, AgentRecord]) -> tuple[str, ...]:
        """The ready agents a call in ``step`` takes (rule 5): one, all for RING_ALL, or none."""
        strategy, lists = self.strategy, self.lists
        if step.requirements:
            # Search the requirement with the fewest ready holders.
            shortest: list[AgentKey] = lists[None]
            searched = ""
            for req in step.requirements:
                ready = lists[(req.skill, req.min_level)]
                if not searched or len(ready) < len(shortest):
                    shortest, searched = ready, req.skill
            if strategy is Strategy.RING_ALL:
                return tuple(key[3] for key in shortest if fits(agents[key[3]], step_id, step))
            primary = step.requirements[0].skill
            if strategy is not Strategy.BEST_SKILL or searched == primary:
                for key in shortest:  # sorted by the very key the strategy ranks by
                    if fits(agents[key[3]], step_id, step):
                        return (key[3],)
                return ()
            best: AgentKey | None = None
            for key in shortest:
                agent = agents[key[3]]
                if fits(agent, step_id, step):
                    mine = self.rank(agent, agent.skills[primary])
                    if best is None or mine < best:
                        best = mine
            return () if best is None else (best[3],)
        if step.any_of:
            chosen = [lists[(req.skill, req.min_level)] for req in step.any_of]
            if strategy is Strategy.RING_ALL:
                union = {key[3]: key for ready in chosen for key in ready}
                return tuple(key[3] for key in sorted(union.values()))
            heads = [ready[0] for ready in chosen if ready]
            return (min(heads)[3],) if heads else ()
        everyone = lists[None]
        if strategy is Strategy.RING_ALL:
            return tuple(key[3] for key in everyone)
        return (everyone[0][3],) if everyone else ()
