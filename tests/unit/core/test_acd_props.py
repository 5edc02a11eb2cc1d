"""Invariants of the call distributor under random sequences of events (hypothesis).

Whatever happens, in any order: no caller is connected twice, no agent holds two calls,
no offer breaks its queue's skill requirement, an agent that is ringing has exactly one
live offer, and every call that ended was summarised exactly once with a final outcome.
"""

from __future__ import annotations

import contextlib
from types import MappingProxyType

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, CallState, HotlineSettings, QueueSettings
from ccqueue.core.agent_state import AgentState
from ccqueue.core.errors import RequestError
from ccqueue.core.records import CallRecord
from ccqueue.core.replies import ClaimAnswer
from ccqueue.core.routing import Strategy
from ccqueue.core.skills import RoutingStep, SkillRequirement

SKILLS = {"a1": {"billing": 5}, "a2": {"billing": 2}, "a3": {"tech": 4}, "a4": {"billing": 3, "tech": 1}}


def _settings() -> AcdSettings:
    billing = QueueSettings(
        name="billing",
        strategy=Strategy.BEST_SKILL,
        ring_timeout_s=10,
        wrapup_s=2,
        missed_cooldown_s=3,
        steps=(
            RoutingStep(requirements=(SkillRequirement(skill="billing", min_level=4),), duration_s=20.0),
            RoutingStep(requirements=(SkillRequirement(skill="billing", min_level=1),)),
        ),
        auto_pause_after=3,
        returning_window_s=300,
        returning_wait_s=10,
    )
    tech = QueueSettings(
        name="tech",
        strategy=Strategy.RING_ALL,
        ring_timeout_s=10,
        wrapup_s=0,
        steps=(RoutingStep(requirements=(SkillRequirement(skill="tech", min_level=1),)),),
    )
    agents = {
        a: AgentSettings(agent_id=a, name=a, endpoint=f"PJSIP/{a}", queues=("billing", "tech"), skills=s)
        for a, s in SKILLS.items()
    }
    return AcdSettings(
        queues=MappingProxyType({"billing": billing, "tech": tech}),
        agents=MappingProxyType(agents),
        hotlines=MappingProxyType(
            {"1": HotlineSettings(number="1", queue="billing"), "2": HotlineSettings(number="2", queue="tech")}
        ),
    )


class Distributor(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.acd = Acd(_settings())
        self.now = 0.0
        self.n = 0
        self.live_offers: dict[str, cmd.OriginateAgent] = {}  # offers Asterisk is ringing
        self.granted: dict[str, str] = {}  # call_id -> offer granted
        self.finals: dict[str, int] = {}  # call_id -> final summaries seen
        self.arrived: dict[str, float] = {}
        self.every_offer: list[str] = []  # including cancelled ones: a leg may answer late

    def claim(self, offer_id: str) -> None:
        handled = self.acd.handle_with_reply(ev.OfferClaimed(offer_id=offer_id), self.now)
        answer = handled.reply
        assert isinstance(answer, ClaimAnswer) and answer.offer_id == offer_id
        if answer.caller_uniqueid is not None:
            call_id = answer.offer_id.rsplit(".", 1)[0]
            assert call_id not in self.granted, "a caller was connected twice"
            self.granted[call_id] = answer.offer_id
        self.apply(handled.commands)

    def apply(self, out: list[cmd.Command]) -> None:
        for c in out:
            if isinstance(c, cmd.OriginateAgent):
                queue = self.acd.settings.queues[self.acd.calls[c.call_id].queue or ""]
                step = _step_at(queue.steps, self.now - self.arrived[c.call_id])
                held = SKILLS[c.agent_id]
                assert all(held.get(r.skill, 0) >= r.min_level for r in step.requirements), (c, step)
                assert c.offer_id not in self.live_offers
                self.live_offers[c.offer_id] = c
                self.every_offer.append(c.offer_id)
            elif isinstance(c, cmd.HangupChannel):
                self.live_offers.pop(c.uniqueid, None)
            elif isinstance(c, cmd.Write) and isinstance(c.record, CallRecord):
                if c.record.ended_at is not None:  # a summary says answered from the answer on
                    self.finals[c.record.call_id] = self.finals.get(c.record.call_id, 0) + 1

    @rule(dt=st.floats(min_value=0.0, max_value=15.0))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        self.apply(self.acd.tick(self.now))

    @rule(hotline=st.sampled_from(["1", "2"]), caller=st.sampled_from(["+1", "+2", "+3", ""]))
    def call_arrives(self, hotline: str, caller: str) -> None:
        self.n += 1
        call_id = f"c{self.n}"
        self.arrived[call_id] = self.now
        self.apply(
            self.acd.handle(
                ev.CallArrived(call_id=call_id, hotline=hotline, caller=caller, channel=f"ch{self.n}", uniqueid=f"u{self.n}"),
                self.now,
            )
        )

    @rule(agent=st.sampled_from(sorted(SKILLS)), action=st.sampled_from(list(ev.AgentAction)))
    def agent_request(self, agent: str, action: ev.AgentAction) -> None:
        reason = "break" if action is ev.AgentAction.PAUSE else None
        with contextlib.suppress(RequestError):  # refused, and (checked by the invariants) nothing changed
            self.apply(self.acd.handle(ev.AgentRequested(agent_id=agent, action=action, reason=reason), self.now))

    @precondition(lambda self: self.live_offers)
    @rule(data=st.data())
    def agent_answers(self, data: st.DataObject) -> None:
        offer_id = data.draw(st.sampled_from(sorted(self.live_offers)))
        self.live_offers.pop(offer_id)
        self.claim(offer_id)

    @precondition(lambda self: self.every_offer)
    @rule(data=st.data())
    def a_cancelled_leg_answers_late(self, data: st.DataObject) -> None:
        # Asterisk may deliver an answer from a leg we already hung up (or that was
        # refused once): the claim must be refused, never connect a caller twice.
        offer_id = data.draw(st.sampled_from(self.every_offer))
        if offer_id not in self.live_offers:
            self.claim(offer_id)

    @precondition(lambda self: self.live_offers)
    @rule(data=st.data(), failure=st.sampled_from(list(ev.RingFailure)))
    def agent_does_not_answer(self, data: st.DataObject, failure: ev.RingFailure) -> None:
        offer_id = data.draw(st.sampled_from(sorted(self.live_offers)))
        self.live_offers.pop(offer_id)
        self.apply(self.acd.handle(ev.OfferFailed(offer_id=offer_id, failure=failure), self.now))

    @precondition(lambda self: self.n > 0)
    @rule(data=st.data(), agent_side=st.booleans())
    def someone_hangs_up(self, data: st.DataObject, agent_side: bool) -> None:
        n = data.draw(st.integers(min_value=1, max_value=self.n))
        call_id = f"c{n}"
        uniqueid = self.granted.get(call_id, f"u{n}") if agent_side else f"u{n}"
        self.apply(self.acd.handle(ev.ChannelHungUp(uniqueid=uniqueid), self.now))

    @invariant()
    def no_agent_holds_two_calls(self) -> None:
        holders = [c.agent_id for c in self.acd.calls.values() if c.state is CallState.CONNECTED]
        assert len(holders) == len(set(holders))
        for call in self.acd.calls.values():
            if call.state is CallState.CONNECTED:
                assert self.acd.agents[call.agent_id or ""].state is AgentState.ON_CALL

    @invariant()
    def ringing_agents_have_one_live_offer(self) -> None:
        for agent in self.acd.agents.values():
            offers = [o for o in self.acd.live_offers() if o.agent_id == agent.agent_id and not o.claimed]
            assert len(offers) == (1 if agent.state is AgentState.RINGING else 0), (agent, offers)

    @invariant()
    def offering_calls_have_offers_and_waiting_calls_none(self) -> None:
        for call in self.acd.calls.values():
            if call.state is CallState.OFFERING:
                assert call.offer_ids and all(o in {x.offer_id for x in self.acd.live_offers()} for o in call.offer_ids)
            if call.state is CallState.WAITING:
                assert not call.offer_ids

    @invariant()
    def every_ended_call_summarised_once(self) -> None:
        assert all(count == 1 for count in self.finals.values()), self.finals
        for call_id in self.finals:
            assert call_id not in self.acd.calls


def _step_at(steps: tuple[RoutingStep, ...], waited: float) -> RoutingStep:
    for step in steps:
        if step.duration_s is None or waited < step.duration_s:
            return step
        waited -= step.duration_s
    return steps[-1]


Distributor.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestDistributor = Distributor.TestCase
