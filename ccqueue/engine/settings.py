"""The validated configuration, turned into the core's own plain settings.

The core knows nothing of pydantic or YAML; this is the one place that maps one onto the
other.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ccqueue.config import Config
from ccqueue.core.acd import AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.routing import Strategy
from ccqueue.core.skills import RoutingStep, SkillRequirement


def _requirements(levels: Mapping[str, int]) -> tuple[SkillRequirement, ...]:
    return tuple(SkillRequirement(skill=skill, min_level=level) for skill, level in sorted(levels.items()))


def acd_settings(config: Config) -> AcdSettings:
    queues = {
        name: QueueSettings(
            name=name,
            strategy=Strategy[q.strategy.name],
            ring_timeout_s=q.ring_timeout_s,
            wrapup_s=q.wrapup_s,
            missed_cooldown_s=q.missed_cooldown_s,
            moh_class=q.moh_class,
            weight=q.weight,
            priority=q.priority,
            steps=tuple(
                RoutingStep(requirements=_requirements(st.require), any_of=_requirements(st.any_of), duration_s=st.duration_s)
                for st in q.steps
            ),
            returning_window_s=q.returning_customer.window_s if q.returning_customer else None,
            returning_wait_s=q.returning_customer.wait_s if q.returning_customer else 0.0,
            auto_pause_after=q.auto_pause.after_misses if q.auto_pause else None,
            auto_pause_window_s=q.auto_pause.window_s if q.auto_pause else 0.0,
            auto_pause_reason=q.auto_pause.reason if q.auto_pause else "missed-calls",
        )
        for name, q in config.queues.items()
    }
    agents = {
        agent_id: AgentSettings(
            agent_id=agent_id,
            name=a.name,
            endpoint=a.endpoint or f"PJSIP/{agent_id}",
            queues=tuple(a.queues),
            wrapup_s=a.wrapup_s,
            skills=MappingProxyType(dict(a.skills)),
            order=a.order,
        )
        for agent_id, a in config.agents.items()
    }
    hotlines = {
        number: HotlineSettings(number=number, queue=h.queue, greeting=h.greeting)
        for number, h in config.hotlines.items()
    }
    return AcdSettings(
        queues=MappingProxyType(queues), agents=MappingProxyType(agents), hotlines=MappingProxyType(hotlines)
    )
