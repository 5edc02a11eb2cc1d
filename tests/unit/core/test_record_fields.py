"""The figures a call's records carry for reports and metrics: when it joined a queue,
the agent intervals of the call, the outcome from the answer on, and a stop told apart
from an abandon."""

from __future__ import annotations

from types import MappingProxyType

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.records import AgentStateRecord, CallEventRecord, CallOutcome, CallRecord


def make_acd() -> Acd:
    queue = QueueSettings(name="support", ring_timeout_s=15, wrapup_s=5)
    return Acd(
        AcdSettings(
            queues=MappingProxyType({"support": queue}),
            agents=MappingProxyType(
                {a: AgentSettings(agent_id=a, name=a.upper(), endpoint=f"PJSIP/{a}", queues=("support",)) for a in ("a1", "a2")}
            ),
            hotlines=MappingProxyType(
                {
                    "100": HotlineSettings(number="100", queue="support"),
                    "200": HotlineSettings(number="200", queue=None, ivr="main"),
                }
            ),
        )
    )


def arrive(acd: Acd, call_id: str, hotline: str, now: float) -> list[cmd.Command]:
    event = ev.CallArrived(call_id=call_id, hotline=hotline, caller="+4930123", channel=f"Local/{call_id}", uniqueid=call_id)
    return acd.handle(event, now)


def written(out: list[cmd.Command], kind: type) -> list:
    return [c.record for c in out if isinstance(c, cmd.Write) and isinstance(c.record, kind)]


def offer_of(out: list[cmd.Command]) -> cmd.OriginateAgent:
    (offer,) = [c for c in out if isinstance(c, cmd.OriginateAgent)]
    return offer


def test_an_ivr_call_is_queued_when_it_leaves_the_ivr_and_its_wait_starts_there() -> None:
    acd = make_acd()
    out = arrive(acd, "c1", "200", 100.0)
    (first,) = written(out, CallRecord)
    assert first.queued_at is None  # in the IVR: not queued yet
    out += acd.handle(ev.CallRouted(call_id="c1", queue="support"), 130.0)
    out += acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN), 140.0)
    out += acd.handle(ev.OfferClaimed(offer_id=offer_of(out).offer_id), 145.0)
    out += acd.handle(ev.ChannelHungUp(uniqueid="c1"), 200.0)
    summaries = written(out, CallRecord)
    assert [s.queued_at for s in summaries[1:]] == [130.0] * (len(summaries) - 1)
    final = summaries[-1]
    assert (final.arrived_at, final.queued_at, final.answered_at, final.ended_at) == (100.0, 130.0, 145.0, 200.0)
    assert final.answered_at - final.queued_at == 15.0  # the wait: 30 s in the IVR are not in it
    (queued,) = [e for e in written(out, CallEventRecord) if e.kind == "call_queued"]
    assert queued.at == final.queued_at  # the same moment as the timeline's


def test_a_direct_call_is_queued_on_arrival() -> None:
    acd = make_acd()
    out = arrive(acd, "c1", "100", 10.0)
    (summary,) = [s for s in written(out, CallRecord) if s.queue == "support"]
    assert summary.queued_at == 10.0


def test_a_call_refused_by_its_queue_is_never_queued() -> None:
    acd = make_acd()
    out = acd.handle(ev.CallRouted(call_id="nope", queue="support"), 1.0)  # no such call: nothing happens
    assert written(out, CallRecord) == []
    out = arrive(acd, "c1", "999", 5.0)  # unknown hotline
    (final,) = written(out, CallRecord)
    assert final.outcome is CallOutcome.REFUSED and final.queued_at is None


def test_the_summary_written_at_the_answer_says_answered_not_waiting() -> None:
    acd = make_acd()
    acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN), 0.0)
    out = arrive(acd, "c1", "100", 1.0)
    out = acd.handle(ev.OfferClaimed(offer_id=offer_of(out).offer_id), 3.0)
    (at_answer,) = written(out, CallRecord)
    assert (at_answer.outcome, at_answer.answered_at, at_answer.ended_at, at_answer.agent) == (
        CallOutcome.ANSWERED,
        3.0,
        None,
        "a1",
    )


def test_the_agent_intervals_of_a_call_carry_its_id_and_the_others_do_not() -> None:
    acd = make_acd()
    out = acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN), 0.0)
    out += arrive(acd, "c1", "100", 1.0)
    first = offer_of(out)
    out += acd.handle(ev.OfferFailed(offer_id=first.offer_id, failure=ev.RingFailure.NO_ANSWER), 4.0)  # a1 missed it
    out += acd.handle(ev.AgentRequested(agent_id="a2", action=ev.AgentAction.LOGIN), 5.0)
    second = [c for c in out if isinstance(c, cmd.OriginateAgent)][1]
    out += acd.handle(ev.OfferClaimed(offer_id=second.offer_id), 7.0)
    out += acd.handle(ev.ChannelHungUp(uniqueid="c1"), 60.0)
    out += acd.tick(65.0)  # a2's wrap-up of 5 s is over
    out += acd.handle(ev.AgentRequested(agent_id="a2", action=ev.AgentAction.PAUSE, reason="lunch"), 70.0)
    got = [(i.agent_id, i.state, i.started_at, i.ended_at, i.call_id) for i in written(out, AgentStateRecord)]
    assert got == [
        ("a1", "available", 0.0, 1.0, None),
        ("a1", "ringing", 1.0, 4.0, "c1"),  # a ring that came to nothing is the call's too
        ("a2", "available", 5.0, 5.0, None),
        ("a2", "ringing", 5.0, 7.0, "c1"),
        ("a2", "on_call", 7.0, 60.0, "c1"),
        ("a2", "wrap_up", 60.0, 65.0, "c1"),
        ("a2", "available", 65.0, 70.0, None),  # served nobody: the call is no longer its
    ]


def test_stopping_leaves_the_calls_open_for_the_next_process_and_closes_the_call_intervals() -> None:
    acd = make_acd()
    acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN), 0.0)
    out = arrive(acd, "c1", "100", 1.0)
    acd.handle(ev.OfferClaimed(offer_id=offer_of(out).offer_id), 2.0)  # c1 connected to a1
    arrive(acd, "c2", "100", 3.0)  # c2 waits
    out = acd.handle(ev.ShutdownRequested(), 10.0)
    assert written(out, CallRecord) == []  # neither row is closed: the next process follows both
    events = {(e.call_id, e.kind): e.data for e in written(out, CallEventRecord)}
    assert events == {("c2", "call_left_to_dialplan"): {"reason": "ccqueue stopping"}}
    (on_call,) = written(out, AgentStateRecord)
    assert (on_call.agent_id, on_call.state, on_call.call_id) == ("a1", "on_call", "c1")


def test_the_views_time_a_wait_from_joining_the_queue_not_from_the_ivr() -> None:
    acd = make_acd()
    arrive(acd, "c1", "200", 100.0)  # 30 s in the IVR first
    caller = acd.views.caller("c1")
    assert caller is not None and caller.queued_at is None
    acd.handle(ev.CallRouted(call_id="c1", queue="support"), 130.0)
    arrive(acd, "c2", "100", 135.0)  # straight to the queue
    (queue,) = acd.views.queues()
    # The longest wait is c1's from 130, not from its arrival at 100.
    assert (queue.oldest_arrival, queue.oldest_queued_at) == (100.0, 130.0)
    assert [(c.call_id, c.queued_at) for c in acd.views.waiting_callers("support")] == [("c1", 130.0), ("c2", 135.0)]
