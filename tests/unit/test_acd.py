"""The call distributor as a pure state machine: events in, commands out."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, CallState, HotlineSettings, QueueSettings
from ccqueue.core.agent_state import AgentState
from ccqueue.core.errors import IllegalTransition, UnknownAgent
from ccqueue.core.records import AgentStateRecord, CallEventRecord, CallOutcome, CallRecord


def make_acd(agents: int = 2, *, ring: float = 15, wrapup: float = 5, cooldown: float = 10) -> Acd:
    queue = QueueSettings(name="support", ring_timeout_s=ring, wrapup_s=wrapup, missed_cooldown_s=cooldown)
    return Acd(
        AcdSettings(
            queues=MappingProxyType({"support": queue}),
            agents=MappingProxyType(
                {
                    f"a{i}": AgentSettings(agent_id=f"a{i}", name=f"A{i}", endpoint=f"PJSIP/a{i}", queues=("support",))
                    for i in range(1, agents + 1)
                }
            ),
            hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support")}),
        )
    )


def arrive(acd: Acd, n: int, now: float) -> list[cmd.Command]:
    return acd.handle(
        ev.CallArrived(call_id=f"c{n}", hotline="100", caller=f"+7900{n}", channel=f"Local/100-{n};2", uniqueid=f"u{n}"),
        now,
    )


def login(acd: Acd, agent: str, now: float) -> list[cmd.Command]:
    return acd.handle(ev.AgentRequested(agent_id=agent, action=ev.AgentAction.LOGIN), now)


def of(kind: type, out: list[cmd.Command]) -> list:
    return [c for c in out if isinstance(c, kind)]


def records(kind: type, out: list[cmd.Command]) -> list:
    return [c.record for c in of(cmd.Write, out) if isinstance(c.record, kind)]


def test_call_waits_with_greeting_then_hold_when_nobody_is_logged_in() -> None:
    acd = make_acd()
    out = arrive(acd, 1, 100.0)
    assert [type(c) for c in out if not isinstance(c, cmd.Write)] == [cmd.PlayToCaller, cmd.HoldCaller]
    assert of(cmd.PlayToCaller, out)[0].sound == "ccqueue/welcome"
    assert acd.calls["c1"].state is CallState.WAITING
    assert acd.waiting("support") == 1
    (summary,) = records(CallRecord, out)
    assert summary.outcome is CallOutcome.WAITING and summary.version == 1


def test_longest_idle_agent_is_offered_the_call() -> None:
    acd = make_acd()
    login(acd, "a2", 10.0)
    login(acd, "a1", 20.0)
    out = arrive(acd, 1, 100.0)
    (offer,) = of(cmd.OriginateAgent, out)
    assert offer.agent_id == "a2" and offer.endpoint == "PJSIP/a2" and offer.ring_timeout_s == 15
    assert acd.agents["a2"].state is AgentState.RINGING
    assert acd.calls["c1"].state is CallState.OFFERING


def test_answer_bridges_once_and_second_claim_is_refused() -> None:
    acd = make_acd()
    login(acd, "a1", 0.0)
    (offer,) = of(cmd.OriginateAgent, arrive(acd, 1, 1.0))
    out = acd.handle(ev.OfferClaimed(offer_id=offer.offer_id), 3.0)
    (claim,) = of(cmd.AnswerClaim, out)
    assert claim.caller_channel == "Local/100-1;2"
    assert acd.agents["a1"].state is AgentState.ON_CALL
    again = of(cmd.AnswerClaim, acd.handle(ev.OfferClaimed(offer_id=offer.offer_id), 3.1))
    assert again[0].caller_channel is None


def test_hangup_ends_call_answered_then_wrap_up_then_available() -> None:
    acd = make_acd(wrapup=5)
    login(acd, "a1", 0.0)
    (offer,) = of(cmd.OriginateAgent, arrive(acd, 1, 1.0))
    acd.handle(ev.OfferClaimed(offer_id=offer.offer_id), 3.0)
    out = acd.handle(ev.ChannelHungUp(uniqueid="u1"), 60.0)
    final = records(CallRecord, out)[-1]
    assert (final.outcome, final.agent, final.answered_at, final.ended_at) == (CallOutcome.ANSWERED, "a1", 3.0, 60.0)
    assert acd.agents["a1"].state is AgentState.WRAP_UP
    assert acd.next_deadline() == 65.0
    # The agent leg's own hang-up comes too; it changes nothing.
    assert records(CallRecord, acd.handle(ev.ChannelHungUp(uniqueid=offer.offer_id), 60.1)) == []
    acd.tick(65.0)
    assert acd.agents["a1"].state is AgentState.AVAILABLE


def test_ring_no_answer_moves_to_next_agent_and_sits_out_the_cooldown() -> None:
    acd = make_acd(cooldown=10)
    login(acd, "a1", 0.0)
    login(acd, "a2", 1.0)
    (first,) = of(cmd.OriginateAgent, arrive(acd, 1, 5.0))
    assert first.agent_id == "a1"
    out = acd.handle(ev.OfferFailed(offer_id=first.offer_id, failure=ev.RingFailure.NO_ANSWER), 20.0)
    (second,) = of(cmd.OriginateAgent, out)
    assert second.agent_id == "a2" and second.call_id == "c1"
    assert acd.agents["a1"].state is AgentState.AVAILABLE
    # a1 is free but sits out: a new caller is not offered to it before 30.0.
    assert of(cmd.OriginateAgent, arrive(acd, 2, 21.0)) == []
    out = acd.tick(30.0)
    assert [o.agent_id for o in of(cmd.OriginateAgent, out)] == ["a1"]


def test_failed_offer_keeps_callers_place() -> None:
    acd = make_acd(agents=1, cooldown=0)
    login(acd, "a1", 0.0)
    (first,) = of(cmd.OriginateAgent, arrive(acd, 1, 5.0))
    arrive(acd, 2, 6.0)
    out = acd.handle(ev.OfferFailed(offer_id=first.offer_id, failure=ev.RingFailure.NO_ANSWER), 20.0)
    (again,) = of(cmd.OriginateAgent, out)
    assert again.call_id == "c1"  # the earlier caller, not the one who came later


def test_caller_hangs_up_while_agent_rings_cancels_leg_and_frees_agent() -> None:
    acd = make_acd()
    login(acd, "a1", 0.0)
    (offer,) = of(cmd.OriginateAgent, arrive(acd, 1, 5.0))
    out = acd.handle(ev.ChannelHungUp(uniqueid="u1"), 8.0)
    assert of(cmd.HangupChannel, out)[0].uniqueid == offer.offer_id
    assert records(CallRecord, out)[-1].outcome is CallOutcome.ABANDONED
    assert acd.agents["a1"].state is AgentState.AVAILABLE
    # A late claim (the agent answered just as the caller left) is refused.
    assert of(cmd.AnswerClaim, acd.handle(ev.OfferClaimed(offer_id=offer.offer_id), 8.1))[0].caller_channel is None
    # And the agent takes the next caller at once: no cooldown, not its fault.
    assert of(cmd.OriginateAgent, arrive(acd, 2, 9.0))[0].agent_id == "a1"


def test_abandon_while_waiting() -> None:
    acd = make_acd()
    arrive(acd, 1, 5.0)
    out = acd.handle(ev.ChannelHungUp(uniqueid="u1"), 30.0)
    final = records(CallRecord, out)[-1]
    assert (final.outcome, final.ended_at, final.version) == (CallOutcome.ABANDONED, 30.0, 2)
    assert acd.waiting("support") == 0
    assert of(cmd.ReleaseCaller, out)


def test_agi_session_end_while_waiting_counts_as_hangup_but_not_once_connected() -> None:
    acd = make_acd()
    arrive(acd, 1, 5.0)
    out = acd.handle(ev.CallerSessionEnded(call_id="c1"), 6.0)
    assert records(CallRecord, out)[-1].outcome is CallOutcome.ABANDONED
    login(acd, "a1", 7.0)
    (offer,) = of(cmd.OriginateAgent, arrive(acd, 2, 8.0))
    acd.handle(ev.OfferClaimed(offer_id=offer.offer_id), 9.0)
    assert records(CallRecord, acd.handle(ev.CallerSessionEnded(call_id="c2"), 9.01)) == []
    assert acd.calls["c2"].state is CallState.CONNECTED


def test_unknown_hotline_is_refused_with_a_message() -> None:
    acd = make_acd()
    out = acd.handle(ev.CallArrived(call_id="x", hotline="999", caller="", channel="c", uniqueid="u"), 1.0)
    (release,) = of(cmd.ReleaseCaller, out)
    assert release.sound == "ccqueue/unavailable"
    assert records(CallRecord, out)[-1].outcome is CallOutcome.REFUSED


def test_ring_timeout_backstop_cancels_an_unreported_leg() -> None:
    acd = make_acd(ring=15)
    login(acd, "a1", 0.0)
    (offer,) = of(cmd.OriginateAgent, arrive(acd, 1, 1.0))
    deadline = acd.next_deadline()
    assert deadline is not None and deadline > 16.0
    out = acd.tick(deadline)
    assert of(cmd.HangupChannel, out)[0].uniqueid == offer.offer_id
    assert acd.calls["c1"].state is CallState.WAITING


def test_pause_while_on_call_is_deferred_until_wrap_up_ends() -> None:
    acd = make_acd(wrapup=2)
    login(acd, "a1", 0.0)
    (offer,) = of(cmd.OriginateAgent, arrive(acd, 1, 1.0))
    acd.handle(ev.OfferClaimed(offer_id=offer.offer_id), 2.0)
    acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.PAUSE, reason="lunch"), 3.0)
    assert acd.agents["a1"].state is AgentState.ON_CALL
    acd.handle(ev.ChannelHungUp(uniqueid="u1"), 10.0)
    acd.tick(12.0)
    assert (acd.agents["a1"].state, acd.agents["a1"].reason) == (AgentState.PAUSED, "lunch")
    assert of(cmd.OriginateAgent, arrive(acd, 2, 13.0)) == []


def test_illegal_and_unknown_agent_requests_raise_and_change_nothing() -> None:
    acd = make_acd()
    with pytest.raises(IllegalTransition) as info:
        acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.PAUSE, reason="x"), 1.0)
    assert info.value.error_id == "agent-state-illegal"
    assert acd.agents["a1"].state is AgentState.LOGGED_OUT
    with pytest.raises(UnknownAgent):
        login(acd, "nobody", 1.0)


def test_agent_state_intervals_have_stable_ids_and_cover_time() -> None:
    acd = make_acd()
    out = login(acd, "a1", 10.0)
    out += acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.PAUSE, reason="coffee"), 20.0)
    out += acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.UNPAUSE), 25.0)
    intervals = records(AgentStateRecord, out)
    assert [(i.interval_id, i.state, i.reason, i.started_at, i.ended_at) for i in intervals] == [
        ("a1:1", "available", None, 10.0, 20.0),
        ("a1:2", "paused", "coffee", 20.0, 25.0),
    ]


def test_call_events_have_stable_sequential_ids() -> None:
    acd = make_acd()
    login(acd, "a1", 0.0)
    out = arrive(acd, 1, 1.0)
    (offer,) = of(cmd.OriginateAgent, out)
    out += acd.handle(ev.OfferClaimed(offer_id=offer.offer_id), 2.0)
    out += acd.handle(ev.ChannelHungUp(uniqueid="u1"), 9.0)
    timeline = records(CallEventRecord, out)
    assert [e.event_id for e in timeline] == [f"c1:{i}" for i in range(len(timeline))]
    assert [e.kind for e in timeline] == ["call_arrived", "call_queued", "agent_offered", "call_answered", "call_ended"]


def test_reconnect_settles_what_ended_while_ami_was_down() -> None:
    acd = make_acd()
    login(acd, "a1", 0.0)
    (offer,) = of(cmd.OriginateAgent, arrive(acd, 1, 1.0))
    arrive(acd, 2, 2.0)
    out = acd.handle(ev.AsteriskReconnected(live_uniqueids=frozenset({"u2"})), 30.0)
    ended = {r.call_id: r.outcome for r in records(CallRecord, out)}
    assert ended == {"c1": CallOutcome.ABANDONED}
    assert "c2" in acd.calls
    assert offer.offer_id not in acd.offers
