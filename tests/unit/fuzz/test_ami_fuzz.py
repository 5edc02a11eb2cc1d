"""AMI under bad input: bytes on the wire, and events in any order, through the real
client's protocol, the translation boundary and the engine over the real core.

- Whatever bytes arrive (fields missing, empty, not UTF-8, NUL, huge, unknown events,
  split anywhere), the protocol never raises, and each event reaches the engine as a
  typed event or not at all.
- Whatever sequence of events the engine is given (out of order, duplicated, for
  channels it never saw, interleaved with callers, claims and ring failures), no
  exception escapes it and the core's invariants hold after every event: an agent holds
  at most one call, a connected or ringing call has its agent in a state that says so, and
  no caller is granted to a second agent while the first still has it.
"""

from __future__ import annotations

import asyncio
from types import MappingProxyType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccqueue.asterisk.ami import AmiClient, _Protocol
from ccqueue.asterisk.translate import IncompleteMessage, translate_event
from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.agent_state import AgentState
from ccqueue.core.calls import CallState
from ccqueue.core.replies import ClaimAnswer
from ccqueue.engine.engine import Engine
from ccqueue.engine.inbox import Envelope
from tests.support.fakes import FakeClock, RecordingCallers, RecordingTelephony, Records
from tests.unit.fuzz.conftest import ProductLog

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))

# -- the wire ----------------------------------------------------------------------------

FIELD_NAMES = ["Event", "Uniqueid", "Cause-txt", "BridgeUniqueid", "DialStatus", "Device", "State", "Channel", "ActionID"]
EVENT_NAMES = ["Hangup", "BridgeEnter", "DialEnd", "DeviceStateChange", "Newchannel", "UserEvent", "Shutdown", "", "hangup"]
odd_value = st.one_of(
    st.sampled_from(
        [b"", b"1765000000.1", b"PJSIP/a1", b"INUSE", b"\xff\xfe", b"\x00", b"a: b", b"${SHELL(id)}", b"x" * 100_000]
    ),
    st.binary(max_size=30).map(lambda b: b.replace(b"\r\n", b"")),
)
wire_message = st.tuples(
    st.sampled_from(EVENT_NAMES), st.lists(st.tuples(st.sampled_from(FIELD_NAMES), odd_value), max_size=6), st.booleans()
).map(
    lambda m: (
        (b"Event: " + m[0].encode() + b"\r\n" if m[0] or m[2] else b"")
        + b"".join(k.encode() + (b": " if m[2] else b":") + v + b"\r\n" for k, v in m[1])
        + b"\r\n"
    )
)


class NoTransport:
    """The socket under the protocol: a Shutdown event closes it, and that is all."""

    def close(self) -> None:
        pass

    def write(self, _data: bytes) -> None:
        pass


class Collecting:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self.incomplete = 0

    def on_event(self, message: Any) -> None:
        # What AsteriskTelephony._on_event does: translate, drop an incomplete one.
        try:
            event = translate_event(message)
        except IncompleteMessage:
            self.incomplete += 1
            return
        if event is not None:
            self.events.append(event)


@FUZZ
@given(st.lists(wire_message, max_size=8), st.lists(st.integers(1, 200), max_size=10))
def test_any_bytes_from_ami_become_typed_events_or_nothing(messages: list[bytes], cuts: list[int]) -> None:
    sink = Collecting()
    client = AmiClient(host="127.0.0.1", port=1, username="u", secret="s", on_event=sink.on_event)
    protocol = _Protocol()  # the protocol class the client connects with
    protocol.connection_made(NoTransport())
    protocol.factory = client  # as AmiClient._session wires it
    protocol.encoding = "utf8"
    stream = b"Asterisk Call Manager/9.0.0\r\n" + b"".join(messages)
    start = 0
    for cut in [*cuts, len(stream)]:
        protocol.data_received(stream[start : start + cut] if cut != len(stream) else stream[start:])
        start += cut
        if start >= len(stream):
            break
    typed = (ev.ChannelHungUp, ev.ChannelBridged, ev.DialEnded, ev.DeviceStateChanged)
    assert all(isinstance(e, typed) for e in sink.events)
    for e in sink.events:
        assert all(isinstance(v, str) and v for k, v in vars_of(e).items() if k in ("uniqueid", "device", "bridge_id"))


def vars_of(event: Any) -> dict[str, Any]:
    return {name: getattr(event, name) for name in event.__dataclass_fields__}


# -- the engine --------------------------------------------------------------------------

AGENTS = ("a1", "a2", "a3")
CALLERS = 4


class Rig(Engine):
    """The engine over the real core, driven one event at a time (as its loop does), keeping
    the Originates it sends so that events can name the agent legs."""

    def __init__(self) -> None:
        settings_ = AcdSettings(
            queues=MappingProxyType({"support": QueueSettings(name="support", ring_timeout_s=15, wrapup_s=5)}),
            agents=MappingProxyType(
                {a: AgentSettings(agent_id=a, name=a, endpoint=f"PJSIP/{a}", queues=("support",)) for a in AGENTS}
            ),
            hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support")}),
        )
        self.clock = FakeClock(1_765_000_000.0)
        super().__init__(
            Acd(settings_), telephony=RecordingTelephony(), callers=RecordingCallers(), records=Records(), clock=self.clock
        )
        self.offers: list[cmd.OriginateAgent] = []
        self.grants: dict[str, str] = {}  # caller uniqueid -> offer id of the agent leg granted it

    def _execute(self, commands: list[cmd.Command]) -> None:
        self.offers += [c for c in commands if isinstance(c, cmd.OriginateAgent)]
        super()._execute(commands)

    def give(self, event: ev.Event) -> Any:
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._handle(Envelope(event, reply))
        if reply.done() and reply.exception() is None:
            return reply.result()
        return None

    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self._execute(self.acd.tick(self.clock()))


def caller_uid(i: int) -> str:
    return f"1765000000.{i}"


step = st.one_of(
    st.tuples(st.just("arrive"), st.integers(0, CALLERS - 1)),
    st.tuples(st.just("claim"), st.integers(0, 12)),
    st.tuples(st.just("answer_leg"), st.integers(0, 12)),  # the agent leg enters a bridge
    st.tuples(st.just("bridge_caller"), st.integers(0, CALLERS - 1)),
    st.tuples(st.just("hangup_leg"), st.integers(0, 12)),
    st.tuples(st.just("hangup_caller"), st.integers(0, CALLERS - 1)),
    st.tuples(st.just("ring_failed"), st.integers(0, 12)),
    st.tuples(st.just("session_ended"), st.integers(0, CALLERS - 1)),
    st.tuples(st.just("device"), st.integers(0, len(AGENTS) - 1)),
    st.tuples(st.just("unknown_channel"), st.integers(0, 3)),
    st.tuples(st.just("again"), st.just(0)),  # the previous event once more
    st.tuples(st.just("tick"), st.integers(1, 20)),
)


def _check_invariants(rig: Rig) -> None:
    views = rig.acd.views
    holders: dict[str, str] = {}
    for call_id in views.call_ids():
        call = views.caller(call_id)
        assert call is not None
        if call.agent_id is not None and call.state in (CallState.OFFERING, CallState.CONNECTED):
            assert call.agent_id not in holders, f"agent {call.agent_id} holds {holders[call.agent_id]} and {call_id}"
            holders[call.agent_id] = call_id
            agent = views.agent(call.agent_id)
            assert agent is not None and agent.state in (AgentState.RINGING, AgentState.ON_CALL), (call, agent)
    for agent in views.agents():
        if agent.state in (AgentState.AVAILABLE, AgentState.LOGGED_OUT, AgentState.PAUSED):
            assert agent.agent_id not in holders, agent


@FUZZ
@given(st.lists(step, max_size=40), st.sampled_from(["INUSE", "NOT_INUSE", "UNAVAILABLE", "\xff", "", "x" * 5000]))
def test_events_in_any_order_keep_the_cores_invariants(product_log: ProductLog, steps: list[tuple[str, int]], state: str) -> None:
    async def scenario() -> None:
        rig = Rig()
        for agent in AGENTS:
            rig.give(ev.AgentRequested(agent_id=agent, action=ev.AgentAction.LOGIN))
        previous: ev.Event | None = None
        for kind, n in steps:
            leg = rig.offers[n % len(rig.offers)].offer_id if rig.offers else f"offer-{n}"
            event: ev.Event | None = None
            match kind:
                case "arrive":
                    event = ev.CallArrived(
                        call_id=f"c{n}", hotline="100", caller="+15550100", channel=f"PJSIP/t-{n}", uniqueid=caller_uid(n)
                    )
                case "claim":
                    answer = rig.give(ev.OfferClaimed(offer_id=leg))
                    if isinstance(answer, ClaimAnswer) and answer.caller_uniqueid is not None:
                        holder = rig.grants.get(answer.caller_uniqueid)
                        live = {v.call_id for v in rig.acd.views.agents_calls().values()}
                        assert holder is None or holder == leg or not live, (answer, holder)
                        rig.grants[answer.caller_uniqueid] = leg
                case "answer_leg":
                    event = ev.ChannelBridged(uniqueid=leg, bridge_id="b1")
                case "bridge_caller":
                    event = ev.ChannelBridged(uniqueid=caller_uid(n), bridge_id="b1")
                case "hangup_leg":
                    event = ev.ChannelHungUp(uniqueid=leg, cause="Normal Clearing")
                case "hangup_caller":
                    event = ev.ChannelHungUp(uniqueid=caller_uid(n), cause="")
                    rig.grants.pop(caller_uid(n), None)
                case "ring_failed":
                    event = ev.OfferFailed(offer_id=leg, failure=ev.RingFailure.NO_ANSWER)
                case "session_ended":
                    event = ev.CallerSessionEnded(call_id=f"c{n}")
                case "device":
                    event = ev.DeviceStateChanged(device=f"PJSIP/{AGENTS[n]}", state=state or "UNKNOWN")
                case "unknown_channel":
                    event = ev.ChannelHungUp(uniqueid=f"9.{n}")
                case "again":
                    event = previous
                case "tick":
                    rig.tick(float(n))
            if event is not None:
                rig.give(event)  # raises if anything but a refusal escapes the engine
                previous = event
            _check_invariants(rig)

    asyncio.run(scenario())
    assert product_log.tracebacks_without_id() == []


def test_a_message_with_a_field_twice_is_dropped_and_the_link_reads_on() -> None:
    sink = Collecting()
    client = AmiClient(host="127.0.0.1", port=1, username="u", secret="s", on_event=sink.on_event)
    protocol = _Protocol()
    protocol.connection_made(NoTransport())
    protocol.factory = client
    protocol.encoding = "utf8"
    protocol.data_received(
        b"Asterisk Call Manager/9.0.0\r\n"
        b"Event: Hangup\r\nEvent: Hangup\r\nUniqueid: 1.1\r\n\r\n"  # panoramisk cannot read it
        b"Event: Hangup\r\nUniqueid: 1.2\r\nUniqueid: 1.3\r\n\r\n"  # which channel hung up?
        b"Event: Hangup\r\nUniqueid: 1.4\r\nCause-txt: Normal Clearing\r\n\r\n"
    )
    assert sink.events == [ev.ChannelHungUp(uniqueid="1.4", cause="Normal Clearing")]
    assert sink.incomplete == 1


def test_list_answers_skip_an_item_with_a_field_twice() -> None:
    from ccqueue.asterisk.translate import channel_status, device_states, live_uniqueids

    items: list[Any] = [
        {"Event": "DeviceStateChange", "Device": ["PJSIP/a1", "PJSIP/a2"], "State": "INUSE"},
        {"Event": "DeviceStateChange", "Device": "PJSIP/a3", "State": "INUSE"},
        {"Event": "CoreShowChannel", "Uniqueid": ["1.1", "1.2"]},
        {
            "Event": "Status",
            "Uniqueid": "1.5",
            "Channel": ["PJSIP/x-1", "PJSIP/y-2"],
            "Application": "AGI",
            "Data": "agi://x/inbound",
        },
    ]
    assert device_states(items) == [ev.DeviceStateChanged(device="PJSIP/a3", state="INUSE")]
    assert live_uniqueids(items) == frozenset()
    status = channel_status(items, "1.5")
    assert status is not None and status.channel == ""  # no name: the session is not believed
