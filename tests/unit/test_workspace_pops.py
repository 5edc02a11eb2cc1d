"""The screen-pop's bookkeeping (ccqueue.workspace) and the ring it waits for
(ccqueue.asterisk.translate.ringing_uniqueid), from records and AMI messages as written."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ccqueue.asterisk.translate import ringing_uniqueid
from ccqueue.core.records import CallEventRecord, CallOutcome, CallRecord
from ccqueue.workspace import Workspace

T0 = 1_760_000_000.0


@pytest.mark.parametrize(
    ("message", "uniqueid"),
    [
        # An Originate's own dial: no calling channel, the new leg as the destination.
        ({"Event": "DialBegin", "DestUniqueid": "offer-1", "DestChannel": "PJSIP/agent1-0001"}, "offer-1"),
        ({"Event": "Newstate", "Uniqueid": "offer-1", "ChannelState": "5", "ChannelStateDesc": "Ringing"}, "offer-1"),
        # A dial from a caller's channel (a callback's Dial()): not an agent leg's ring.
        ({"Event": "DialBegin", "Uniqueid": "caller-1", "DestUniqueid": "x-2"}, None),
        ({"Event": "Newstate", "Uniqueid": "offer-1", "ChannelState": "6", "ChannelStateDesc": "Up"}, None),
        ({"Event": "Newstate", "ChannelState": "5"}, None),
        ({"Event": "Hangup", "Uniqueid": "offer-1"}, None),
    ],
)
def test_the_ring_is_read_from_dialbegin_or_newstate_ringing(message: dict[str, str], uniqueid: str | None) -> None:
    assert ringing_uniqueid(message) == uniqueid


def _event(seq: int, kind: str, at: float, **data: Any) -> CallEventRecord:
    return CallEventRecord(event_id=f"c1:{seq}", call_id="c1", seq=seq, at=at, kind=kind, data=data)


def _offered(w: Workspace) -> None:
    w.on_record(_event(0, "call_arrived", T0, caller="+15550100", hotline="530", channel="x", caller_name="Ann"))
    w.on_record(_event(1, "ivr_node", T0 + 1, tree="crm", node="lookup", type="lookup"))
    w.on_record(_event(2, "ivr_node", T0 + 2, tree="crm", node="support", type="queue"))
    w.on_record(_event(3, "call_queued", T0 + 3, queue="support", ewt_s=42.4, attributes={"tier": "gold"}))
    w.on_record(_event(4, "announced", T0 + 20, position=1, ewt_s=30.0))
    w.on_record(_event(5, "agent_offered", T0 + 25, agent="agent1", offer_id="offer-1"))


def test_a_pop_goes_to_the_agents_pages_once_at_the_ring_with_what_the_call_went_through() -> None:
    w = Workspace(clock=lambda: T0 + 25.5)
    page, other = w.subscribe("agent1"), w.subscribe("agent2")
    _offered(w)
    w.on_ringing("somebody-else")
    assert page.empty()
    w.on_ringing("offer-1")
    w.on_ringing("offer-1")  # DialBegin, then Newstate Ringing: one pop
    pop = page.get_nowait()
    assert page.empty() and other.empty() and w.pops == 1
    assert pop == {
        "type": "pop",
        "call_id": "c1",
        "offer_id": "offer-1",
        "rang_at": T0 + 25.5,
        "caller": "+15550100",
        "caller_name": "Ann",
        "hotline": "530",
        "queue": "support",
        "fields": {"tier": "gold"},
        "ivr_path": ["lookup", "support"],
        "waited_s": 22.5,
        "estimate_s": 30,  # the last one told
        "history": None,  # not fetched: no store here
    }
    assert w.latest("agent1") == {**pop, "ended_at": None}
    w.on_record(
        CallRecord(
            call_id="c1",
            version=3,
            caller="+15550100",
            hotline="530",
            queue="support",
            agent="agent1",
            arrived_at=T0,
            answered_at=T0 + 26,
            ended_at=T0 + 90,
            outcome=CallOutcome.ANSWERED,
        )
    )
    assert page.get_nowait() == {"type": "ended", "call_id": "c1", "ended_at": T0 + 90}
    assert w.latest("agent1")["ended_at"] == T0 + 90  # type: ignore[index]
    assert w.call_of("c1") == ("agent1", "support")


async def test_the_history_is_fetched_at_the_offer_and_follows_a_ring_that_came_first() -> None:
    asked: list[str] = []
    release = asyncio.Event()

    async def history(number: str) -> list[dict[str, Any]]:
        asked.append(number)
        await release.wait()
        return [{"kind": "call", "call_id": "old"}, {"kind": "call", "call_id": "c1"}]

    w = Workspace(history=history, clock=lambda: T0 + 26)
    page = w.subscribe("agent1")
    task = asyncio.create_task(w.run())
    try:
        _offered(w)
        await asyncio.sleep(0.01)
        assert asked == ["+15550100"]
        w.on_ringing("offer-1")
        assert page.get_nowait()["history"] is None
        release.set()
        update = await asyncio.wait_for(page.get(), 2)
        # The call itself is not its own history.
        assert update == {"type": "history", "call_id": "c1", "history": [{"kind": "call", "call_id": "old"}]}
        assert w.latest("agent1")["history"] == update["history"]  # type: ignore[index]
    finally:
        task.cancel()


async def test_a_history_store_that_fails_costs_the_history_not_the_pop() -> None:
    async def history(number: str) -> list[dict[str, Any]]:
        raise OSError("connection refused")

    w = Workspace(history=history, clock=lambda: T0 + 26)
    page = w.subscribe("agent1")
    task = asyncio.create_task(w.run())
    try:
        _offered(w)
        await asyncio.sleep(0.01)
        w.on_ringing("offer-1")
        assert page.get_nowait()["history"] == []
    finally:
        task.cancel()


def test_a_slow_page_loses_the_oldest_messages_and_never_blocks() -> None:
    w = Workspace()
    page = w.subscribe("agent1")
    for n in range(200):
        w._send("agent1", {"type": "state", "n": n})
    assert page.qsize() == 64 and page.get_nowait()["n"] == 136
    w.unsubscribe("agent1", page)
    w._send("agent1", {"type": "state"})  # nobody listens: nothing kept
