"""The call distributor as a pure state machine: events in, commands out."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, CallState, HotlineSettings, QueueSettings
from ccqueue.core.agent_state import AgentState
from ccqueue.core.errors import IllegalTransition, UnknownAgent
from ccqueue.core.records import AgentPresenceRecord, AgentStateRecord, CallEventRecord, CallOutcome, CallRecord
from ccqueue.core.replies import ClaimAnswer


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


def claim_reply(acd: Acd, offer_id: str, now: float) -> ClaimAnswer:
    reply = acd.handle_with_reply(ev.OfferClaimed(offer_id=offer_id), now).reply
    assert isinstance(reply, ClaimAnswer) and reply.offer_id == offer_id
    return reply


def login(acd: Acd, agent: str, now: float) -> list[cmd.Command]:
    return acd.handle(ev.AgentRequested(agent_id=agent, action=ev.AgentAction.LOGIN), now)


def of(kind: type, out: list[cmd.Command]) -> list:
    return [c for c in out if isinstance(c, kind)]


def records(kind: type, out: list[cmd.Command]) -> list:
    return [c.record for c in of(cmd.Write, out) if isinstance(c.record, kind)]


def test_call_waits_with_greeting_then_hold_when_nobody_is_logged_in() -> None:
    acd = make_acd()
    out = arrive(acd, 1, 100.0)
    assert [type(c) for c in out if not isinstance(c, cmd.Write)] == [cmd.PlayToCaller, cmd.NoteOnCaller, cmd.HoldCaller]
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
    handled = acd.handle_with_reply(ev.OfferClaimed(offer_id=offer.offer_id), 3.0)
    assert handled.reply == ClaimAnswer(offer_id=offer.offer_id, caller_uniqueid="u1", reason="claim granted", call_id="c1")
    assert acd.agents["a1"].state is AgentState.ON_CALL
    assert claim_reply(acd, offer.offer_id, 3.1).caller_uniqueid is None


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
    assert claim_reply(acd, offer.offer_id, 8.1).caller_uniqueid is None
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
    assert offer.offer_id not in {o.offer_id for o in acd.live_offers()}


# --- skills, strategies, returning customers, auto-pause, device state ---------------

from ccqueue.core.routing import Strategy  # noqa: E402
from ccqueue.core.skills import RoutingStep, SkillRequirement  # noqa: E402


def skilled_acd(**queue: object) -> Acd:
    """agent 'expert' holds billing 5, 'novice' billing 1; queue billing widens after 10 s."""
    q = QueueSettings(
        name="billing",
        steps=(
            RoutingStep(requirements=(SkillRequirement(skill="billing", min_level=4),), duration_s=10.0),
            RoutingStep(requirements=(SkillRequirement(skill="billing", min_level=1),)),
        ),
        **queue,  # type: ignore[arg-type]
    )
    agents = {
        "expert": AgentSettings(agent_id="expert", name="E", endpoint="PJSIP/expert", queues=("billing",), skills={"billing": 5}),
        "novice": AgentSettings(agent_id="novice", name="N", endpoint="PJSIP/novice", queues=("billing",), skills={"billing": 1}),
    }
    return Acd(
        AcdSettings(
            queues=MappingProxyType({"billing": q}),
            agents=MappingProxyType(agents),
            hotlines=MappingProxyType({"200": HotlineSettings(number="200", queue="billing")}),
        )
    )


def arrive_at(acd: Acd, n: int, now: float, hotline: str = "200", caller: str | None = None) -> list[cmd.Command]:
    return acd.handle(
        ev.CallArrived(call_id=f"c{n}", hotline=hotline, caller=caller or f"+7900{n}", channel=f"L/{n};2", uniqueid=f"u{n}"),
        now,
    )


def test_skill_requirement_holds_until_the_step_widens() -> None:
    acd = skilled_acd()
    login(acd, "novice", 0.0)
    assert of(cmd.OriginateAgent, arrive_at(acd, 1, 1.0)) == []  # needs billing >= 4
    assert acd.next_deadline() == 11.0  # the router wakes the engine when the step ends
    assert of(cmd.OriginateAgent, acd.tick(10.9)) == []
    (offer,) = of(cmd.OriginateAgent, acd.tick(11.0))
    assert offer.agent_id == "novice"


def test_ring_all_first_answer_wins_and_the_others_stop_ringing() -> None:
    base = make_acd(agents=3).settings
    acd = Acd(
        AcdSettings(
            queues=MappingProxyType({"support": QueueSettings(name="support", strategy=Strategy.RING_ALL)}),
            agents=base.agents,
            hotlines=base.hotlines,
        )
    )
    for a in ("a1", "a2", "a3"):
        login(acd, a, 0.0)
    offers = of(cmd.OriginateAgent, arrive(acd, 1, 1.0))
    assert sorted(o.agent_id for o in offers) == ["a1", "a2", "a3"]
    winner = next(o for o in offers if o.agent_id == "a2")
    handled = acd.handle_with_reply(ev.OfferClaimed(offer_id=winner.offer_id), 2.0)
    out = handled.commands
    assert isinstance(handled.reply, ClaimAnswer) and handled.reply.caller_uniqueid == "u1"
    assert sorted(h.uniqueid for h in of(cmd.HangupChannel, out)) == sorted(o.offer_id for o in offers if o is not winner)
    assert {a: acd.agents[a].state for a in ("a1", "a2", "a3")} == {
        "a1": AgentState.AVAILABLE,
        "a2": AgentState.ON_CALL,
        "a3": AgentState.AVAILABLE,
    }
    # A losing leg that answered a moment later is refused.
    loser = next(o for o in offers if o.agent_id == "a1")
    assert claim_reply(acd, loser.offer_id, 2.1).caller_uniqueid is None


def test_returning_customer_goes_to_their_last_agent_first() -> None:
    acd = skilled_acd(returning_window_s=600.0, returning_wait_s=20.0)
    login(acd, "novice", 0.0)
    login(acd, "expert", 0.0)
    (first,) = of(cmd.OriginateAgent, arrive_at(acd, 1, 100.0, caller="+7900555"))
    assert first.agent_id == "expert"
    acd.handle(ev.OfferClaimed(offer_id=first.offer_id), 101.0)
    acd.handle(ev.ChannelHungUp(uniqueid="u1"), 160.0)
    # The same customer calls again while the expert is in wrap-up: it waits for them ...
    out = arrive_at(acd, 2, 161.0, caller="+7900555")
    assert of(cmd.OriginateAgent, out) == []
    assert [r.kind for r in records(CallEventRecord, out)][-1] == "returning_customer"
    # ... and gets them as soon as the wrap-up ends.
    (again,) = of(cmd.OriginateAgent, acd.tick(165.0))
    assert (again.call_id, again.agent_id) == ("c2", "expert")


def test_returning_customer_falls_back_to_everyone_after_the_wait() -> None:
    acd = skilled_acd(returning_window_s=600.0, returning_wait_s=5.0)
    login(acd, "expert", 0.0)
    (first,) = of(cmd.OriginateAgent, arrive_at(acd, 1, 100.0, caller="+7900555"))
    acd.handle(ev.OfferClaimed(offer_id=first.offer_id), 101.0)
    acd.handle(ev.ChannelHungUp(uniqueid="u1"), 110.0)
    acd.handle(ev.AgentRequested(agent_id="expert", action=ev.AgentAction.LOGOUT), 111.0)  # deferred to wrap-up end
    login(acd, "novice", 112.0)
    arrive_at(acd, 2, 120.0, caller="+7900555")
    assert of(cmd.OriginateAgent, acd.tick(124.9)) == []
    (offer,) = of(cmd.OriginateAgent, acd.tick(130.0))  # preference over, step widened
    assert offer.agent_id == "novice"


def test_auto_pause_after_misses_with_reason_and_reset_on_answer() -> None:
    base = make_acd(agents=1, cooldown=0).settings
    acd = Acd(
        AcdSettings(
            queues=MappingProxyType(
                {"support": QueueSettings(name="support", missed_cooldown_s=0, auto_pause_after=2, auto_pause_window_s=60)}
            ),
            agents=base.agents,
            hotlines=base.hotlines,
        )
    )
    login(acd, "a1", 0.0)
    (o1,) = of(cmd.OriginateAgent, arrive(acd, 1, 1.0))
    (o2,) = of(cmd.OriginateAgent, acd.handle(ev.OfferFailed(offer_id=o1.offer_id, failure=ev.RingFailure.NO_ANSWER), 16.0))
    acd.handle(ev.OfferClaimed(offer_id=o2.offer_id), 17.0)  # answered: the count starts again
    acd.handle(ev.ChannelHungUp(uniqueid="u1"), 20.0)
    acd.tick(25.0)
    (o3,) = of(cmd.OriginateAgent, arrive(acd, 2, 30.0))
    (o4,) = of(cmd.OriginateAgent, acd.handle(ev.OfferFailed(offer_id=o3.offer_id, failure=ev.RingFailure.NO_ANSWER), 45.0))
    out = acd.handle(ev.OfferFailed(offer_id=o4.offer_id, failure=ev.RingFailure.NO_ANSWER), 60.0)
    assert (acd.agents["a1"].state, acd.agents["a1"].reason) == (AgentState.PAUSED, "missed-calls")
    assert of(cmd.NotifyAgentPaused, out)[0].reason == "missed-calls"
    assert of(cmd.OriginateAgent, out) == []  # the caller keeps waiting, not offered to a paused agent


def test_busy_or_unregistered_phone_is_not_offered_calls() -> None:
    acd = make_acd()
    login(acd, "a1", 0.0)
    login(acd, "a2", 1.0)
    acd.handle(ev.DeviceStateChanged(device="PJSIP/a1", state="INUSE"), 2.0)  # a direct call
    (offer,) = of(cmd.OriginateAgent, arrive(acd, 1, 3.0))
    assert offer.agent_id == "a2"
    acd.handle(ev.DeviceStateChanged(device="PJSIP/a2", state="UNAVAILABLE"), 4.0)
    acd.handle(ev.OfferFailed(offer_id=offer.offer_id, failure=ev.RingFailure.UNREACHABLE), 4.1)
    assert acd.calls["c1"].state is CallState.WAITING  # nobody can take it now
    (again,) = of(cmd.OriginateAgent, acd.handle(ev.DeviceStateChanged(device="PJSIP/a1", state="NOT_INUSE"), 5.0))
    assert again.agent_id == "a1"


def test_shutdown_leaves_callers_to_the_dialplan_and_closes_the_agents_intervals() -> None:
    acd = make_acd(agents=2)
    login(acd, "a1", 0.0)
    (offer,) = of(cmd.OriginateAgent, arrive(acd, 1, 1.0))
    acd.handle(ev.OfferClaimed(offer_id=offer.offer_id), 2.0)  # c1 connected to a1
    login(acd, "a2", 3.0)
    acd.handle(ev.AgentRequested(agent_id="a2", action=ev.AgentAction.PAUSE, reason="x"), 3.5)
    arrive(acd, 2, 4.0)  # c2 waits
    out = acd.handle(ev.ShutdownRequested(), 10.0)
    # Nobody is redirected to the apology or hung up: the next process takes them back.
    assert of(cmd.RedirectCaller, out) == [] and of(cmd.ReleaseCaller, out) == [] and of(cmd.HangupChannel, out) == []
    assert records(CallRecord, out) == []  # both rows stay open
    assert [(e.call_id, e.kind) for e in records(CallEventRecord, out)] == [("c2", "call_left_to_dialplan")]
    intervals = {(i.agent_id, i.state, i.ended_at) for i in records(AgentStateRecord, out)}
    assert intervals == {("a1", "on_call", 10.0), ("a2", "paused", 10.0)}
    presence = {(p.agent_id, p.presence, p.reason, p.since) for p in records(AgentPresenceRecord, out)}
    assert presence == {("a1", "available", None, 10.0), ("a2", "paused", "x", 10.0)}


def test_sessions_closing_because_ccqueue_stops_do_not_end_the_calls() -> None:
    acd = make_acd()
    arrive(acd, 1, 1.0)
    acd.handle(ev.ShutdownRequested(), 2.0)
    out = acd.handle(ev.CallerSessionEnded(call_id="c1"), 2.1)
    assert records(CallRecord, out) == [] and acd.calls["c1"].state is CallState.WAITING


def test_shutdown_hangs_up_an_agent_ringing_and_the_caller_keeps_its_place() -> None:
    acd = make_acd()
    login(acd, "a1", 0.0)
    (offer,) = of(cmd.OriginateAgent, arrive(acd, 1, 1.0))
    out = acd.handle(ev.ShutdownRequested(), 2.0)
    assert [h.uniqueid for h in of(cmd.HangupChannel, out)] == [offer.offer_id]
    assert acd.calls["c1"].state is CallState.WAITING and acd.agents["a1"].state is AgentState.AVAILABLE


def test_a_session_refused_at_the_door_is_recorded_and_never_routed() -> None:
    acd = make_acd()
    login(acd, "a1", 0)
    out = acd.handle(
        ev.CallArrived(
            call_id="c1",
            hotline="100",
            caller="+1555",
            channel="Local/100,F(x)@hotline-1;2",
            uniqueid="u1",
            refused="channel name malformed",
        ),
        1,
    )
    assert of(cmd.OriginateAgent, out) == [] and of(cmd.ReleaseCaller, out) == []  # the dialplan apologises
    assert [r.kind for r in records(CallEventRecord, out)] == ["call_arrived", "session_refused", "call_ended"]
    assert records(CallRecord, out)[-1].outcome is CallOutcome.REFUSED
    assert acd.calls == {}


# -- a call's transition table --------------------------------------------------------

from ccqueue.core.calls import CALL_TRANSITIONS, Call, CallTrigger  # noqa: E402
from ccqueue.core.errors import IllegalCallTransition  # noqa: E402


@pytest.mark.parametrize(
    ("state", "trigger"),
    [(s, t) for s in CallState for t in CallTrigger if t not in CALL_TRANSITIONS[s]],
)
def test_an_illegal_call_move_names_the_state_and_trigger_and_changes_nothing(state: CallState, trigger: CallTrigger) -> None:
    call = Call(call_id="c1", hotline="100", caller="+1", channel="ch", uniqueid="u1", queue=None, arrived_at=0.0, state=state)
    with pytest.raises(IllegalCallTransition) as raised:
        call.move(trigger)
    assert (raised.value.state, raised.value.trigger) == (state.value, trigger.value)
    assert f"is {state.value} cannot {trigger.value}" in str(raised.value)
    assert raised.value.error_id == "call-state-illegal"
    assert call.state is state


def test_a_call_moves_only_through_the_table() -> None:
    call = Call(call_id="c1", hotline="100", caller="+1", channel="ch", uniqueid="u1", queue=None, arrived_at=0.0)
    for trigger, expected in [
        (CallTrigger.JOIN, CallState.WAITING),
        (CallTrigger.OFFER, CallState.OFFERING),
        (CallTrigger.RING_ENDED, CallState.WAITING),
        (CallTrigger.OFFER, CallState.OFFERING),
        (CallTrigger.ANSWER, CallState.CONNECTED),
        (CallTrigger.END, CallState.ENDED),
    ]:
        call.move(trigger)
        assert call.state is expected


def test_no_part_of_the_core_sets_a_call_state_by_hand() -> None:
    import pathlib
    import re

    core = pathlib.Path(__file__).resolve().parents[3] / "ccqueue" / "core"
    bare = [
        f"{path.name}:{n}"
        for path in sorted(core.glob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bcall\.state\s*=[^=]", line)
    ]
    assert bare == []


def test_a_claim_by_an_agent_no_longer_ringing_is_refused_and_changes_nothing() -> None:
    """After a restart during callback dialling, an agent rung for a caller went on to
    wrap-up before its leg claimed (bench/faults.py, kill9-callback). The claim is
    refused without touching the call; the leg's hang-up and then the caller's settle
    it — before, the half-granted claim left an offer the caller's hang-up could not
    find, and the engine died of it."""
    acd = make_acd(agents=1)
    login(acd, "a1", 10.0)
    (offer,) = of(cmd.OriginateAgent, arrive(acd, 1, 100.0))
    acd.agents["a1"].state = AgentState.WRAP_UP  # where the restored callback left it
    reply = claim_reply(acd, offer.offer_id, 101.0)
    assert reply.caller_uniqueid is None
    assert acd.calls["c1"].state is CallState.OFFERING
    assert acd.agents["a1"].state is AgentState.WRAP_UP
    acd.handle(ev.ChannelHungUp(uniqueid=offer.offer_id, cause="claim lost"), 102.0)
    assert acd.agents["a1"].state is AgentState.WRAP_UP
    assert acd.calls["c1"].state is CallState.WAITING  # back in line, its place kept
    out = acd.handle(ev.ChannelHungUp(uniqueid="u1", cause="caller hung up"), 103.0)
    (summary,) = records(CallRecord, out)
    assert summary.outcome is CallOutcome.ABANDONED
