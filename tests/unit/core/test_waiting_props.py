"""Invariants of waiting under arbitrary sequences of events (hypothesis).

- No caller is let in while ``max_waiting`` callers and callbacks are in line; a
  callback coming back to its place after an attempt is not admitted again.
- Whatever is offered to an agent (a caller or a callback) had the earliest place among
  everything still in line: a callback never jumps ahead of callers who came before it,
  nor falls behind those who came after.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, CallState
from ccqueue.core.agent_state import AgentState
from ccqueue.core.callbacks import ROUTER_PREFIX
from ccqueue.core.errors import CcqueueError
from ccqueue.core.waiting import Admission
from tests.unit.core.test_waiting import make_acd

MAX_WAITING = 4

op = st.one_of(
    st.tuples(st.just("arrive"), st.integers(0, 0)),
    st.tuples(st.just("arrive"), st.integers(0, 0)),
    st.tuples(st.just("callback"), st.integers(0, 30)),
    st.tuples(st.just("hangup"), st.integers(0, 30)),
    st.tuples(st.just("callback"), st.integers(0, 30)),
    st.tuples(st.just("login"), st.integers(1, 3)),
    st.tuples(st.just("logout"), st.integers(1, 3)),
    st.tuples(st.just("answer"), st.integers(0, 30)),
    st.tuples(st.just("ring_fail"), st.integers(0, 30)),
    st.tuples(st.just("dial"), st.sampled_from(["ANSWER", "BUSY", "NOANSWER"])),
    st.tuples(st.just("end"), st.integers(0, 30)),
    st.tuples(st.just("wait"), st.integers(1, 120)),
    st.tuples(st.just("pause"), st.integers(1, 3)),
    st.tuples(st.just("unpause"), st.integers(1, 3)),
    st.tuples(st.just("phone_busy"), st.integers(1, 3)),
    st.tuples(st.just("phone_free"), st.integers(1, 3)),
)


def staffing_by_scan(acd: Acd, now: float) -> dict[str, list[int]]:
    """The per-queue [staffed, serving, busy] counts, the slow way: every agent looked at."""
    counts = {queue: [0, 0, 0] for queue in acd.settings.queues}
    for agent_id, status in acd.agents.items():
        staffed = status.state not in (AgentState.LOGGED_OUT, AgentState.PAUSED)
        serving = staffed and status.deferred is None
        busy = serving and (status.state is not AgentState.AVAILABLE or status.missed_until > now or not status.device_ok)
        for queue in acd.settings.agents[agent_id].queues:
            counts[queue][0] += staffed
            counts[queue][1] += serving
            counts[queue][2] += busy
    return counts


def check(acd: Acd, out: list[cmd.Command], places: dict[str, float], now: float) -> None:
    """``places``: what the test itself knows of each one's place (its caller's arrival)."""
    assert acd.staff_counts() == staffing_by_scan(acd, now)  # kept as agents change, never drifting
    in_line = acd.router.waiting_calls("support")
    # Callers never exceed the limit; a callback coming back to its place after an attempt
    # (the agent missed it, the customer was busy) is not admitted again and may.
    assert len([w for w in in_line if not w.startswith(ROUTER_PREFIX)]) <= MAX_WAITING
    for command in out:
        if isinstance(command, cmd.OriginateAgent):
            offered = places[command.call_id]
            assert all(places[other] >= offered for other in in_line), (command.call_id, offered, in_line)


@settings(max_examples=300, deadline=None)
@example(
    [
        ("arrive", 0),
        ("arrive", 0),
        ("arrive", 0),
        ("arrive", 0),
        ("callback", 0),
        ("login", 1),
        ("answer", 0),
        ("arrive", 0),
        ("end", 0),
    ]
)  # a callback back in line after its attempt
@example([("arrive", 0), ("arrive", 0), ("callback", 0), ("login", 1)])  # a booked place, then an agent
@example([("login", 1), ("arrive", 0), ("arrive", 0), ("arrive", 0), ("callback", 1), ("ring_fail", 0), ("wait", 30)])
@given(st.lists(op, min_size=5, max_size=60))
def test_limits_hold_and_nothing_jumps_the_line(ops: list[tuple[str, object]]) -> None:
    for cooldown in (0.0, 30.0):  # a missed call makes the agent busy for a while, or not
        run(ops, cooldown)


def run(ops: list[tuple[str, object]], cooldown: float) -> None:
    settings = make_acd(agents=3, admission=Admission(max_waiting=MAX_WAITING)).settings
    queues = {name: replace(q, missed_cooldown_s=cooldown) for name, q in settings.queues.items()}
    acd = Acd(replace(settings, queues=MappingProxyType(queues)))
    now, n = 0.0, 0
    offers: list[str] = []
    claimed: list[str] = []
    places: dict[str, float] = {}
    for kind, arg in ops:
        now += 1.0
        out: list[cmd.Command] = []
        try:
            if kind == "arrive":
                n += 1
                before = acd.router.waiting("support") + sum(1 for c in acd.calls.values() if c.state is CallState.OFFERING)
                out = acd.handle(
                    ev.CallArrived(call_id=f"c{n}", hotline="100", caller=f"+1555000{n:04d}", channel=f"ch{n}", uniqueid=f"u{n}"),
                    now,
                )
                places[f"c{n}"] = now
                if any(isinstance(c, cmd.Write) and getattr(c.record, "kind", "") == "call_queued" for c in out):
                    assert before < MAX_WAITING, f"c{n} admitted with {before} already in line"  # the door keeps the limit
            elif kind == "hangup" and acd.calls:
                call = list(acd.calls.values())[int(arg) % len(acd.calls)]  # type: ignore[call-overload]
                out = acd.handle(ev.ChannelHungUp(uniqueid=call.uniqueid), now)
            elif kind == "callback":
                waiting = [c for c in acd.calls.values() if c.state is CallState.WAITING]
                if waiting:
                    call = waiting[int(arg) % len(waiting)]  # type: ignore[call-overload]
                    out = acd.handle(
                        ev.CallbackRequested(callback_id=f"k{call.call_id}", number=call.caller, call_id=call.call_id), now
                    )
                    places[f"{ROUTER_PREFIX}k{call.call_id}"] = places[call.call_id]
            elif kind in ("login", "logout", "pause", "unpause"):
                action = ev.AgentAction(kind)
                reason = "break" if action is ev.AgentAction.PAUSE else None
                out = acd.handle(ev.AgentRequested(agent_id=f"a{arg}", action=action, reason=reason), now)
            elif kind in ("phone_busy", "phone_free"):
                state = "INUSE" if kind == "phone_busy" else "NOT_INUSE"
                out = acd.handle(ev.DeviceStateChanged(device=f"PJSIP/a{arg}", state=state), now)
            elif kind in ("answer", "ring_fail") and offers:
                offer_id = offers.pop(int(arg) % len(offers))  # type: ignore[call-overload]
                if kind == "answer":
                    out = acd.handle(ev.OfferClaimed(offer_id=offer_id), now)
                    claimed.append(offer_id)
                else:
                    out = acd.handle(ev.OfferFailed(offer_id=offer_id, failure=ev.RingFailure.NO_ANSWER), now)
            elif kind == "dial" and claimed:
                out = acd.handle(ev.DialEnded(uniqueid=claimed[-1], status=str(arg)), now)
            elif kind == "end" and claimed:
                out = acd.handle(ev.ChannelHungUp(uniqueid=claimed.pop(int(arg) % len(claimed))), now)  # type: ignore[call-overload]
            elif kind == "wait":
                now += float(arg)  # type: ignore[arg-type]
                out = acd.tick(now)
        except CcqueueError:
            continue  # an illegal request (logging out twice...) changes nothing
        out = out + acd.tick(now)  # as the engine does at each deadline: the core is up to date
        offers.extend(c.offer_id for c in out if isinstance(c, cmd.OriginateAgent))
        check(acd, out, places, now)
