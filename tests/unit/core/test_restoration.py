"""After a restart: waiting callers keep their place, conversations are followed to their
end, agents keep their login and pause, callbacks being dialled are not dialled again."""

from __future__ import annotations

import dataclasses

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd
from ccqueue.core.agent_state import AgentState
from ccqueue.core.callbacks import CallbackPolicy
from ccqueue.core.calls import CallState
from ccqueue.core.records import (
    AgentPresenceRecord,
    AgentStateRecord,
    CallbackRecord,
    CallbackStatus,
    CallEventRecord,
    CallOutcome,
    CallRecord,
)
from tests.unit.core.test_acd import arrive, login, make_acd, of, records


def waiting(n: int, arrived_at: float, **changes: object) -> ev.RestoredCall:
    call = ev.RestoredCall(
        call_id=f"c{n}",
        hotline="100",
        caller=f"+7900{n}",
        channel=f"Local/100-{n};2",
        uniqueid=f"u{n}",
        arrived_at=arrived_at,
        queue="support",
        queued_at=arrived_at + 1,
    )
    return dataclasses.replace(call, **changes)  # type: ignore[arg-type]


def available(agent: str, since: float, *, seq: int = 0) -> ev.RestoredAgent:
    return ev.RestoredAgent(agent_id=agent, presence=ev.Presence.AVAILABLE, since=since, interval_seq=seq)


def offered(out: list[cmd.Command]) -> list[str]:
    return [o.call_id for o in of(cmd.OriginateAgent, out)]


def test_waiting_callers_keep_their_place_ahead_of_a_caller_who_arrived_later() -> None:
    acd = make_acd(agents=1)
    arrive(acd, 3, 100.0)  # reached the new process before the restore did
    acd.handle(ev.StateRestored(calls=(waiting(2, 20.0), waiting(1, 10.0))), 101.0)
    assert [acd.calls[c].arrived_at for c in ("c1", "c2", "c3")] == [10.0, 20.0, 100.0]
    order = []
    for now in (102.0, 110.0, 120.0):
        out = login(acd, "a1", now) if now == 102.0 else []
        if now != 102.0:
            (offer,) = [o for o in acd.live_offers()]
            acd.handle(ev.OfferClaimed(offer_id=offer.offer_id), now)
            out = acd.handle(ev.ChannelHungUp(uniqueid=acd.calls[offer.call_id].uniqueid), now + 1)
            out += acd.tick(now + 8)  # wrap-up over
        order += offered(out)
    assert order == ["c1", "c2", "c3"]


def test_a_restored_waiting_call_continues_its_stored_summary_and_timeline() -> None:
    acd = make_acd()
    out = acd.handle(ev.StateRestored(calls=(waiting(1, 10.0, version=3, next_seq=5, priority=7),)), 50.0)
    (summary,) = records(CallRecord, out)
    assert (summary.version, summary.arrived_at, summary.queued_at, summary.outcome) == (4, 10.0, 11.0, CallOutcome.WAITING)
    (restored,) = records(CallEventRecord, out)
    assert (restored.event_id, restored.kind, restored.data) == (
        "c1:5",
        "call_restored",
        {"state": "waiting", "queue": "support"},
    )
    assert of(cmd.HoldCaller, out) == [cmd.HoldCaller(call_id="c1", moh_class="default")]
    assert acd.calls["c1"].priority == 7 and acd.calls["c1"].state is CallState.WAITING
    out = login(acd, "a1", 51.0)
    assert [o.offer_id for o in of(cmd.OriginateAgent, out)] == ["c1.6"]  # an id no earlier offer had


def test_a_caller_restored_without_a_session_is_answered_and_bridged_by_its_uniqueid() -> None:
    acd = make_acd(agents=1)
    acd.handle(ev.StateRestored(calls=(waiting(1, 10.0),), agents=(available("a1", 5.0),)), 50.0)
    (offer,) = acd.live_offers()
    reply = acd.handle_with_reply(ev.OfferClaimed(offer_id=offer.offer_id), 51.0).reply
    assert reply is not None and reply.caller_uniqueid == "u1"  # type: ignore[union-attr]
    out = acd.handle(ev.ChannelHungUp(uniqueid="u1"), 80.0)
    final = records(CallRecord, out)[-1]
    assert (final.outcome, final.arrived_at, final.answered_at, final.ended_at) == (CallOutcome.ANSWERED, 10.0, 51.0, 80.0)


def test_agents_get_their_login_and_pause_back_and_their_intervals_go_on() -> None:
    acd = make_acd(agents=3)
    paused = ev.RestoredAgent(agent_id="a2", presence=ev.Presence.PAUSED, reason="lunch", since=30.0, interval_seq=4)
    gone = ev.RestoredAgent(agent_id="a3", presence=ev.Presence.LOGGED_OUT, since=1.0, interval_seq=9)
    acd.handle(ev.StateRestored(agents=(available("a1", 40.0, seq=7), paused, gone)), 50.0)
    states = {a: (s.state, s.reason, s.since) for a, s in acd.agents.items()}
    assert states == {
        "a1": (AgentState.AVAILABLE, None, 40.0),
        "a2": (AgentState.PAUSED, "lunch", 30.0),
        "a3": (AgentState.LOGGED_OUT, None, 1.0),  # logged out since its last interval
    }
    out = acd.handle(ev.AgentRequested(agent_id="a2", action=ev.AgentAction.UNPAUSE), 60.0)
    (interval,) = records(AgentStateRecord, out)
    assert (interval.interval_id, interval.state, interval.reason, interval.started_at) == ("a2:5", "paused", "lunch", 30.0)
    (presence,) = records(AgentPresenceRecord, out)
    assert (presence.presence, presence.since) == ("available", 60.0)
    out = arrive(acd, 1, 61.0)
    assert {o.agent_id for o in of(cmd.OriginateAgent, out)} <= {"a1", "a2"} and of(cmd.OriginateAgent, out)


def test_a_conversation_in_progress_is_followed_to_its_end() -> None:
    acd = make_acd(agents=1, wrapup=5)
    talking = waiting(1, 10.0, agent_id="a1", offer_id="c1.2", answered_at=20.0, version=4, next_seq=6)
    out = acd.handle(ev.StateRestored(calls=(talking,), agents=(available("a1", 5.0, seq=3),)), 50.0)
    assert acd.calls["c1"].state is CallState.CONNECTED and acd.agents["a1"].state is AgentState.ON_CALL
    assert of(cmd.OriginateAgent, out) == [] and of(cmd.HoldCaller, out) == []
    out = arrive(acd, 2, 55.0)
    assert of(cmd.OriginateAgent, out) == []  # the agent is busy with the restored call
    out = acd.handle(ev.ChannelHungUp(uniqueid="c1.2"), 90.0)  # the agent hangs up
    final = [r for r in records(CallRecord, out) if r.call_id == "c1"][-1]
    assert (final.outcome, final.agent, final.answered_at, final.ended_at, final.version) == (
        CallOutcome.ANSWERED, "a1", 20.0, 90.0, 6,
    )  # fmt: skip
    (on_call,) = records(AgentStateRecord, out)
    assert (on_call.interval_id, on_call.state, on_call.started_at, on_call.call_id) == ("a1:4", "on_call", 20.0, "c1")
    assert acd.agents["a1"].state is AgentState.WRAP_UP
    assert offered(acd.tick(96.0)) == ["c2"]  # after wrap-up, the next caller


def test_the_caller_hanging_up_a_restored_conversation_closes_it_as_answered() -> None:
    acd = make_acd(agents=1)
    talking = waiting(1, 10.0, agent_id="a1", offer_id="c1.1", answered_at=20.0)
    acd.handle(ev.StateRestored(calls=(talking,), agents=(available("a1", 5.0),)), 50.0)
    out = acd.handle(ev.ChannelHungUp(uniqueid="u1"), 70.0)
    final = records(CallRecord, out)[-1]
    assert (final.outcome, final.ended_at) == (CallOutcome.ANSWERED, 70.0)
    assert acd.calls == {}


def test_restoring_twice_changes_nothing() -> None:
    acd = make_acd(agents=1)
    state = ev.StateRestored(calls=(waiting(1, 10.0),), agents=(available("a1", 5.0),))
    acd.handle(state, 50.0)
    (first,) = acd.live_offers()
    out = acd.handle(state, 51.0)
    assert records(CallRecord, out) == [] and records(CallEventRecord, out) == [] and of(cmd.OriginateAgent, out) == []
    assert acd.live_offers() == [first]


def test_a_returning_caller_that_was_restored_is_held_again() -> None:
    acd = make_acd(agents=1)
    acd.handle(ev.StateRestored(calls=(waiting(1, 10.0),)), 50.0)
    out = acd.handle(ev.CallerReturned(call=waiting(1, 10.0)), 51.0)
    assert of(cmd.HoldCaller, out) == [cmd.HoldCaller(call_id="c1", moh_class="default")]
    assert [e.kind for e in records(CallEventRecord, out)] == ["caller_returned"]
    assert acd.calls["c1"].arrived_at == 10.0


def test_a_returning_caller_nobody_restored_is_taken_back_from_its_channel() -> None:
    acd = make_acd(agents=1)
    arrive(acd, 2, 40.0)
    out = acd.handle(ev.CallerReturned(call=waiting(1, 10.0, priority=None)), 50.0)
    # Nothing of its timeline was stored: it begins with its arrival, at the channel's
    # time (bench/faults.py, kill -9 moments after the session began: call_arrived missing).
    events = records(CallEventRecord, out)
    assert [(e.kind, e.seq, e.at) for e in events] == [("call_arrived", 0, 10.0), ("call_returned", 1, 50.0)]
    assert records(CallRecord, out)[-1].version == 1
    assert offered(login(acd, "a1", 51.0)) == ["c1"]  # ahead of c2, who arrived later


def test_a_returning_caller_that_had_not_joined_its_hotlines_queue_yet_joins_it() -> None:
    acd = make_acd(agents=1)
    out = acd.handle(ev.CallerReturned(call=waiting(1, 10.0, queue=None, queued_at=None)), 50.0)
    assert acd.calls["c1"].queue == "support" and acd.calls["c1"].in_line
    assert of(cmd.HoldCaller, out)


def test_a_caller_found_arriving_at_a_hotline_with_the_dialplans_time_keeps_it() -> None:
    acd = make_acd()
    out = acd.handle(
        ev.CallArrived(call_id="c1", hotline="100", caller="+1", channel="Local/1;2", uniqueid="u1", arrived_at=90.0), 100.0
    )
    assert records(CallRecord, out)[-1].arrived_at == 90.0
    out = acd.handle(
        ev.CallArrived(call_id="c2", hotline="100", caller="+1", channel="Local/2;2", uniqueid="u2", arrived_at=130.0), 101.0
    )
    assert records(CallRecord, out)[-1].arrived_at == 101.0  # a clock ahead of ours is not believed


def test_joining_a_queue_notes_the_queue_and_place_on_the_callers_channel() -> None:
    acd = make_acd()
    out = arrive(acd, 1, 100.0)
    (note,) = of(cmd.NoteOnCaller, out)
    assert dict(note.variables) == {"CCQ_QUEUE": "support", "CCQ_QUEUED": "100.000", "CCQ_PRIORITY": "", "CCQ_LANG": "en"}
    kinds = [type(c) for c in out if not isinstance(c, cmd.Write)]
    assert kinds.index(cmd.NoteOnCaller) < kinds.index(cmd.HoldCaller)  # noted before the caller waits


# -- callbacks ------------------------------------------------------------------------

POLICY = CallbackPolicy(dial="PJSIP/{digits}@trunk", allowed=(r"\+1555\d{7}",), max_attempts=2, retry_delay_s=60, expire_s=3600)


def with_callbacks(acd: Acd) -> Acd:
    return Acd(dataclasses.replace(acd.settings, callbacks=POLICY))


def dialing(version: int = 3) -> CallbackRecord:
    return CallbackRecord(
        callback_id="cb1",
        version=version,
        queue="support",
        number="+15550001111",
        status=CallbackStatus.DIALING,
        requested_at=10.0,
        place_at=10.0,
        not_before=None,
        expires_at=5000.0,
        attempts=0,
        next_attempt_at=None,
        call_id=None,
        agent="a1",
        result=None,
    )


def test_a_callback_whose_agent_leg_still_lives_is_followed_not_dialled_again() -> None:
    acd = with_callbacks(make_acd(agents=2))
    acd.handle(ev.StateRestored(agents=(available("a1", 5.0), available("a2", 5.0)), live_legs=frozenset({"cb-cb1.3"})), 50.0)
    out = acd.handle(ev.CallbacksRestored(callbacks=(dialing(),)), 51.0)
    assert of(cmd.OriginateAgent, out) == []  # nobody is rung for it again
    assert acd.agents["a1"].state is AgentState.ON_CALL and acd.callbacks["cb1"].status is CallbackStatus.DIALING
    out = acd.handle(ev.ChannelHungUp(uniqueid="cb-cb1.3"), 90.0)
    (closed,) = records(CallbackRecord, out)
    assert closed.status is CallbackStatus.COMPLETED and "restarted" in (closed.result or "")
    assert of(cmd.OriginateAgent, out + acd.tick(200.0)) == [] and acd.callbacks == {}


def test_an_agent_still_calling_a_customer_back_is_not_offered_a_waiting_caller() -> None:
    """The callbacks being dialled come with the restored state and are followed before
    any waiting caller is offered: before, the open callbacks came a moment later, the
    agent on the callback's leg was rung for a caller meanwhile (bench/faults.py,
    kill9-callback), and its claim met an agent no longer ringing."""
    acd = with_callbacks(make_acd(agents=1))
    out = acd.handle(
        ev.StateRestored(
            agents=(available("a1", 5.0),),
            calls=(waiting(1, 20.0),),
            live_legs=frozenset({"cb-cb1.3"}),
            callbacks=(dialing(),),
        ),
        50.0,
    )
    assert of(cmd.OriginateAgent, out) == []  # a1 is on the callback's call
    assert acd.agents["a1"].state is AgentState.ON_CALL and acd.calls["c1"].state is CallState.WAITING
    assert of(cmd.OriginateAgent, acd.handle(ev.CallbacksRestored(callbacks=(dialing(),)), 51.0)) == []  # once
    out = acd.handle(ev.ChannelHungUp(uniqueid="cb-cb1.3"), 90.0)
    (closed,) = records(CallbackRecord, out)
    assert closed.status is CallbackStatus.COMPLETED


def test_a_callback_that_was_dialling_when_its_leg_died_too_is_tried_again() -> None:
    acd = with_callbacks(make_acd(agents=1))
    acd.handle(ev.StateRestored(agents=(available("a1", 5.0),)), 50.0)
    out = acd.handle(ev.CallbacksRestored(callbacks=(dialing(),)), 51.0)
    assert [o.offer_id for o in of(cmd.OriginateAgent, out)] == ["cb-cb1.4"]


def test_a_logged_out_agent_logging_in_writes_its_logged_out_time_from_its_last_interval() -> None:
    acd = make_acd(agents=1)
    gone = ev.RestoredAgent(agent_id="a1", presence=ev.Presence.LOGGED_OUT, since=40.0, interval_seq=9)
    acd.handle(ev.StateRestored(agents=(gone,)), 50.0)
    (interval,) = records(AgentStateRecord, login(acd, "a1", 60.0))
    assert (interval.interval_id, interval.state, interval.started_at, interval.ended_at) == ("a1:10", "logged_out", 40.0, 60.0)
