"""Skills, routing steps, and the clock of a call's steps.

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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "MAX_LEVEL",
    "MIN_LEVEL",
    "RoutingStep",
    "SkillRequirement",
    "best_level",
    "check_levels",
    "check_steps",
    "meets",
    "step_at",
    "step_ends",
    "step_ends_at",
]

# Five levels, as in most contact-centre products (Genesys and Avaya use 1..10 or
# 1..16; five keeps YAML readable and is what our administrators asked for).
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
            raise ValueError(
                f"min_level of {self.skill!r} must be within {MIN_LEVEL}..{MAX_LEVEL}, got {self.min_level}"
            )


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
        """Every (skill, level) this step tests, for the router's index."""
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
    for req in step.any_of:
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


def step_ends_at(steps: Sequence[RoutingStep], arrived_at: float, index: int) -> float | None:
    """Rule 3: when step ``index`` ends, or ``None`` for the last step."""
    end = arrived_at
    for step in steps[: index + 1]:
        if step.duration_s is None:
            return None
        end = end + step.duration_s
    return end
