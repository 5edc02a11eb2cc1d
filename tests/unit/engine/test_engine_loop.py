"""The engine loop itself: one task takes events from the inbox, asks the core, hands each
command to the adapter that carries it out, and runs the core's timers when they fall due
with no event to wake it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from types import MappingProxyType

import pytest

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.agent_state import AgentState
from ccqueue.core.errors import UnknownAgent
from ccqueue.core.records import CallOutcome, CallRecord
from ccqueue.core.replies import ClaimAnswer
from ccqueue.engine.engine import Engine
from ccqueue.engine.inbox import Inbox
from tests.support.fakes import RecordingCallers, RecordingTelephony, Records

WRAPUP_S = 0.3


def settings() -> AcdSettings:
    return AcdSettings(
        queues=MappingProxyType({"support": QueueSettings(name="support", wrapup_s=WRAPUP_S, ring_timeout_s=5)}),
        agents=MappingProxyType({"a1": AgentSettings(agent_id="a1", name="A1", endpoint="PJSIP/a1", queues=("support",))}),
        hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support")}),
    )


class Running:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.telephony = RecordingTelephony()
        self.callers = RecordingCallers()
        self.records = Records()
        self.seen: list[object] = []
        self.engine = Engine(
            Acd(settings()),
            inbox=self.inbox,
            telephony=self.telephony,
            callers=self.callers,
            records=self.records,
            on_record=self.seen.append,
        )


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    r = Running()
    task = asyncio.create_task(r.engine.run())
    try:
        yield r
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(check: Callable[[], bool], *, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the engine did not get there in time"
        await asyncio.sleep(0.01)


def arrival(n: int = 1) -> ev.CallArrived:
    return ev.CallArrived(call_id=f"c{n}", hotline="100", caller="+15550100", channel=f"Local/100-{n};2", uniqueid=f"u{n}")


async def test_an_event_posted_is_handled_and_its_commands_carried_out(running: Running) -> None:
    await running.inbox.ask(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN))
    running.inbox.post(arrival())
    await until(lambda: len(running.telephony.originated) == 1)
    (offer,) = running.telephony.originated
    assert (offer.call_id, offer.agent_id, offer.endpoint) == ("c1", "a1", "PJSIP/a1")
    assert [type(c) for c in running.callers.delivered] == [cmd.PlayToCaller, cmd.NoteOnCaller, cmd.HoldCaller]
    assert running.records.of(CallRecord)[-1].outcome is CallOutcome.WAITING
    assert running.seen == running.records.records  # every record also reaches the metrics
    assert running.engine.events_handled == 2


async def test_ask_returns_the_cores_reply_or_raises_its_error(running: Running) -> None:
    await running.inbox.ask(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN))
    running.inbox.post(arrival())
    await until(lambda: bool(running.telephony.originated))
    offer_id = running.telephony.originated[0].offer_id
    answer = await running.inbox.ask(ev.OfferClaimed(offer_id=offer_id))
    assert answer == ClaimAnswer(offer_id=offer_id, caller_uniqueid="u1", reason="claim granted", call_id="c1")
    with pytest.raises(UnknownAgent):
        await running.inbox.ask(ev.AgentRequested(agent_id="nobody", action=ev.AgentAction.LOGIN))
    # The loop goes on after a refusal, and a refused post is only logged.
    running.inbox.post(ev.AgentRequested(agent_id="nobody", action=ev.AgentAction.LOGIN))
    assert (await running.inbox.ask(ev.OfferClaimed(offer_id=offer_id))).caller_uniqueid is None  # type: ignore[union-attr]


async def test_a_timer_falls_due_with_no_event_to_wake_the_loop(running: Running) -> None:
    await running.inbox.ask(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN))
    running.inbox.post(arrival())
    await until(lambda: bool(running.telephony.originated))
    await running.inbox.ask(ev.OfferClaimed(offer_id=running.telephony.originated[0].offer_id))
    await running.inbox.ask(ev.ChannelHungUp(uniqueid="u1", cause="caller hung up"))
    view = running.engine.acd.views.agent("a1")
    assert view is not None and view.state is AgentState.WRAP_UP
    started = time.monotonic()
    await until(lambda: running.engine.acd.views.agent("a1").state is AgentState.AVAILABLE)  # type: ignore[union-attr]
    assert WRAPUP_S * 0.8 <= time.monotonic() - started < WRAPUP_S + 1.0


async def test_a_ring_failure_reported_by_asterisk_comes_back_as_an_event() -> None:
    r = Running()
    r.telephony.failure = ev.RingFailure.NO_ANSWER
    task = asyncio.create_task(r.engine.run())
    try:
        await r.inbox.ask(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN))
        r.inbox.post(arrival())
        await until(lambda: any(getattr(rec, "kind", "") == "offer_failed" for rec in r.records.records))
        # The caller keeps its place; the agent that did not answer sits out its cooldown.
        assert r.engine.acd.views.queues()[0].waiting == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_shut_down_settles_every_call_and_waits_for_asterisk(running: Running) -> None:
    running.inbox.post(arrival())
    await until(lambda: bool(running.callers.delivered))
    await running.engine.shut_down(timeout=2)
    assert [c.uniqueid for c in running.callers.delivered if isinstance(c, cmd.RedirectCaller)] == []  # sessions end it
    final = running.records.of(CallRecord)[-1]  # left open for the next process, which takes it back
    assert final.call_id == "c1" and final.outcome is CallOutcome.WAITING and final.ended_at is None
