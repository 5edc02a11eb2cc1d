"""The validated configuration, turned into the core's own plain settings.

The core knows nothing of pydantic or YAML; this is the one place that maps one onto the
other.
"""

from __future__ import annotations

from types import MappingProxyType

from ccqueue.config import Config
from ccqueue.core.acd import AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.routing import Strategy


def acd_settings(config: Config) -> AcdSettings:
    queues = {
        name: QueueSettings(
            name=name,
            strategy=Strategy[q.strategy.name],
            ring_timeout_s=q.ring_timeout_s,
            wrapup_s=q.wrapup_s,
            missed_cooldown_s=q.missed_cooldown_s,
            moh_class=q.moh_class,
        )
        for name, q in config.queues.items()
    }
    agents = {
        agent_id: AgentSettings(
            agent_id=agent_id,
            name=a.name,
            endpoint=f"PJSIP/{agent_id}",
            queues=tuple(a.queues),
            wrapup_s=a.wrapup_s,
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
