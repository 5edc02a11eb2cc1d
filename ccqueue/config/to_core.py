"""The validated configuration, turned into the core's own plain settings.

Rules kept here:

- The core knows nothing of pydantic or YAML (it imports nothing outside itself); this
  is the one place that maps the one onto the other, for the daemon, a reload and the
  simulator alike.
- A default is stated once, in the core's settings: the models take theirs from there
  (``ccqueue.config.models``), and a section left out (``returning_customer``,
  ``auto_pause``, ``announce``, ``callbacks``) leaves the core's own values.
  ``tests/unit/test_config_core.py`` checks that a configuration left to its defaults
  becomes exactly the core's default settings.
"""

from __future__ import annotations

import dataclasses
import zoneinfo
from collections.abc import Mapping
from types import MappingProxyType

from ccqueue.config import ivr as ivr_models
from ccqueue.config import models
from ccqueue.config.callbacks import GUARD_DIAL, Callbacks
from ccqueue.config.models import Config
from ccqueue.core import ivr
from ccqueue.core.callbacks import CallbackPolicy
from ccqueue.core.calls import (
    AcdSettings,
    AgentSettings,
    HotlineSettings,
    QueueSettings,
)
from ccqueue.core.campaigns import CampaignSettings
from ccqueue.core.ivr import IvrTree
from ccqueue.core.recording import RecordingPolicy
from ccqueue.core.schedule import Schedule, TimeRange, parse_range
from ccqueue.core.skills import RoutingStep, SkillRequirement
from ccqueue.core.waiting import (
    Admission,
    Announcements,
    Destination,
    DestinationKind,
    Overflow,
)

__all__ = ["acd_settings", "campaign_settings", "ivr_trees", "schedules"]


def _requirements(levels: Mapping[str, int]) -> tuple[SkillRequirement, ...]:
    return tuple(SkillRequirement(skill=skill, min_level=level) for skill, level in sorted(levels.items()))


def _destination(dest: models.Destination | None) -> Destination | None:
    if dest is None:
        return None
    if dest.queue is not None:
        return Destination(kind=DestinationKind.QUEUE, target=dest.queue)
    if dest.ivr is not None:
        return Destination(kind=DestinationKind.IVR, target=dest.ivr)
    if dest.voicemail:
        return Destination(kind=DestinationKind.VOICEMAIL)
    if dest.callback:
        return Destination(kind=DestinationKind.CALLBACK)
    return Destination(kind=DestinationKind.MESSAGE, target=dest.message)


def _admission(q: models.Queue) -> Admission:
    limits, overflow = q.limits, q.overflow
    destinations = {
        reason: dest
        for reason, dest in (
            (Overflow.FULL, _destination(overflow.full)),
            (Overflow.NO_AGENTS, _destination(overflow.no_agents)),
            (Overflow.MAX_WAIT, _destination(overflow.max_wait)),
            (Overflow.FORECAST, _destination(overflow.forecast)),
        )
        if dest is not None
    }
    return Admission(
        max_waiting=limits.max_waiting,
        max_per_agent=limits.max_per_agent,
        join_without_agents=limits.join_without_agents,
        leave_without_agents=limits.leave_without_agents,
        max_wait_s=limits.max_wait_s,
        divert_ewt_s=limits.divert_wait_s,
        destinations=MappingProxyType(destinations),
    )


def _announcements(a: models.Announce | None) -> Announcements | None:
    if a is None:
        return None
    return Announcements(
        first_after_s=a.first_after_s,
        every_s=a.every_s,
        position=a.position,
        wait=a.wait,
        max_spread=a.max_spread,
        min_history=a.min_history,
        periodic=tuple(a.periodic),
        periodic_every_s=a.periodic_every_s,
    )


def _callbacks(c: Callbacks | None) -> CallbackPolicy | None:
    if c is None:
        return None
    # Through the dialplan guard, which checks the number again and dials c.dial.
    return CallbackPolicy(
        dial=GUARD_DIAL,
        allowed=tuple(c.allowed),
        caller_id=c.caller_id,
        max_attempts=c.max_attempts,
        retry_delay_s=c.retry_delay_s,
        expire_s=c.expire_s,
        ring_timeout_s=c.ring_timeout_s,
        key=c.key,
        offer_after_s=c.offer_after_s,
    )


def _queue(name: str, q: models.Queue) -> QueueSettings:
    queue = QueueSettings(
        name=name,
        strategy=q.strategy,
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
        admission=_admission(q),
        announcements=_announcements(q.announce),
        callback_key=q.callback_key,
        recording=RecordingPolicy(
            mode=q.recording.mode,
            share=q.recording.share or 0.0,
            notice=q.recording.notice,
            retention_days=q.recording.retention_days,
        ),
    )
    # A section left out keeps the core's values: no preference, no auto-pause.
    if (returning := q.returning_customer) is not None:
        queue = dataclasses.replace(queue, returning_window_s=returning.window_s, returning_wait_s=returning.wait_s)
    if (pause := q.auto_pause) is not None:
        queue = dataclasses.replace(
            queue, auto_pause_after=pause.after_misses, auto_pause_window_s=pause.window_s, auto_pause_reason=pause.reason
        )
    return queue


def _agent(agent_id: str, a: models.Agent) -> AgentSettings:
    return AgentSettings(
        agent_id=agent_id,
        name=a.name,
        endpoint=a.endpoint or f"PJSIP/{agent_id}",
        queues=tuple(a.queues),
        wrapup_s=a.wrapup_s,
        skills=MappingProxyType(dict(a.skills)),
        order=a.order,
    )


def acd_settings(config: Config) -> AcdSettings:
    """The distributor's settings: queues, agents, hotlines and the callback policy."""
    return AcdSettings(
        queues=MappingProxyType({name: _queue(name, q) for name, q in config.queues.items()}),
        agents=MappingProxyType({agent_id: _agent(agent_id, a) for agent_id, a in config.agents.items()}),
        hotlines=MappingProxyType(
            {
                number: HotlineSettings(number=number, queue=h.queue, greeting=h.greeting, ivr=h.ivr, language=h.language)
                for number, h in config.hotlines.items()
            }
        ),
        callbacks=_callbacks(config.callbacks),
        campaigns=campaign_settings(config),
        max_outbound_channels=config.outbound.max_channels if config.outbound is not None else 30,
        campaign_share=config.outbound.campaign_share if config.outbound is not None else 0.5,
    )


def campaign_settings(config: Config) -> Mapping[str, CampaignSettings]:
    """The outbound campaigns as the core's settings; a campaign's holidays are the
    holiday dates of the schedule its window names (the loader checked it exists)."""
    return MappingProxyType(
        {
            name: c.to_core(
                name,
                holidays=frozenset(h.date for h in config.schedules[c.window.holidays].holidays)
                if c.window.holidays is not None
                else frozenset(),
            )
            for name, c in config.campaigns.items()
        }
    )


# --- IVR trees and schedules ---------------------------------------------------------------


def schedules(config: Config) -> Mapping[str, Schedule]:
    """The configured schedules as the core's own values (time zones built here, once)."""
    return MappingProxyType({name: _schedule(name, s) for name, s in config.schedules.items()})


def ivr_trees(config: Config) -> Mapping[str, IvrTree]:
    """The configured IVR trees as the core's own values, schedules resolved into them."""
    known = schedules(config)
    return MappingProxyType({name: _tree(name, t, known) for name, t in config.ivr.items()})


def _schedule(name: str, s: ivr_models.Schedule) -> Schedule:
    def ranges(texts: tuple[str, ...]) -> tuple[TimeRange, ...]:
        return tuple(parse_range(text) for text in texts)

    return Schedule(
        name=name,
        zone=zoneinfo.ZoneInfo(s.time_zone),
        weekly=tuple(ranges(day) for day in s.hours.days()),
        holidays=MappingProxyType({h.date: ranges(h.hours) for h in s.holidays}),
    )


def _tree(name: str, t: ivr_models.IvrTree, known: Mapping[str, Schedule]) -> IvrTree:
    return IvrTree(
        name=name,
        entry=t.entry,
        nodes=MappingProxyType({node_name: _node(node, known) for node_name, node in t.nodes.items()}),
        transfer_allowed=tuple(t.transfer_allowed),
        max_visits=t.max_visits,
    )


def _condition(c: ivr_models.Condition, known: Mapping[str, Schedule]) -> ivr.Condition:
    schedule_name = c.schedule_open or c.schedule_closed
    return ivr.Condition(
        goto=c.goto,
        caller_matches=c.caller_matches,
        variable=c.variable,
        equals=c.equals,
        matches=c.matches,
        schedule=known[schedule_name] if schedule_name else None,
        when_open=c.schedule_open is not None,
    )


def _node(node: ivr_models.Node, known: Mapping[str, Schedule]) -> ivr.IvrNode:
    b = node.body
    match node.type:
        case "play":
            return ivr.PlayNode(prompts=tuple(b.prompts), next=b.next)
        case "menu":
            return ivr.MenuNode(
                prompt=b.prompt, keys=MappingProxyType(dict(b.keys)), timeout_s=b.timeout_s, retries=b.retries,
                invalid_prompt=b.invalid_prompt, on_exhausted=b.on_exhausted,
            )  # fmt: skip
        case "collect":
            return ivr.CollectNode(
                variable=b.variable, prompt=b.prompt, min_length=b.min_length, max_length=b.max_length,
                terminator=b.terminator, pattern=b.pattern, timeout_s=b.timeout_s, retries=b.retries,
                invalid_prompt=b.invalid_prompt, next=b.next, on_exhausted=b.on_exhausted,
            )  # fmt: skip
        case "say":
            return ivr.SayNode(variable=b.variable, format=ivr.SayFormat(b.format), next=b.next)
        case "branch":
            conditions = tuple(_condition(c, known) for c in b.conditions)
            return ivr.BranchNode(conditions=conditions, otherwise=b.otherwise)
        case "lookup":
            return ivr.LookupNode(
                url=b.url, timeout_s=b.timeout_s, fields=MappingProxyType(dict(b.fields)), next=b.next,
                on_failure=b.on_failure,
            )  # fmt: skip
        case "set":
            return ivr.SetNode(
                variables=MappingProxyType(dict(b.variables)), priority=b.priority,
                preferred_agent=b.preferred_agent, next=b.next,
                skills=MappingProxyType(dict(b.skills)) if b.skills is not None else None,
            )  # fmt: skip
        case "language":
            return ivr.LanguageNode(
                next=b.next, keys=MappingProxyType(dict(b.keys)), prompt=b.prompt, variable=b.variable,
                timeout_s=b.timeout_s, retries=b.retries,
            )  # fmt: skip
    return _final_node(node)


def _final_node(node: ivr_models.Node) -> ivr.IvrNode:
    b = node.body
    match node.type:
        case "queue":
            return ivr.QueueNode(queue=b.name, priority=b.priority)
        case "callback":
            return ivr.CallbackNode(queue=b.queue, number_variable=b.number_variable, on_no_number=b.on_no_number)
        case "voicemail":
            return ivr.VoicemailNode(max_s=b.max_s, prompt=b.prompt)
        case "transfer":
            return ivr.TransferNode(to=b.to, context=b.context, on_refused=b.on_refused)
        case "hangup":
            return ivr.HangupNode(prompts=tuple(b.prompts), reason=b.reason)
        case "goto":
            return ivr.GotoNode(target=b)
    raise ValueError(f"unknown node type {node.type!r}")
