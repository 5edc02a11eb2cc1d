"""The AMI boundary: recorded transcripts in, typed events out; the link's supervision.

A small scripted AMI peer on loopback stands in for Asterisk here; the real Asterisk is
exercised by tests/e2e.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import ClassVar

import pytest
from panoramisk.ami_protocol import AMIProtocol

from ccqueue.asterisk import ami
from ccqueue.asterisk.ami import AmiClient, AmiUnavailable
from ccqueue.asterisk.live import AwayEntry
from ccqueue.asterisk.telephony import DOOR_HOLD_S, AsteriskTelephony
from ccqueue.asterisk.translate import IncompleteMessage, live_uniqueids, ring_failure, translate_event
from ccqueue.core import events as ev

# Recorded from Asterisk 22.10 (trimmed to the headers that matter).
TRANSCRIPT = (
    "Asterisk Call Manager/11.0.0\r\n"
    "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/agent1-00000000\r\nUniqueid: c1.1\r\n\r\n"
    "Event: BridgeEnter\r\nPrivilege: call,all\r\nBridgeUniqueid: b-42\r\nChannel: Local/100@hotline-00000000;2\r\n"
    "Uniqueid: probe-1-hl\r\n\r\n"
    "Event: TestEvent\r\nPrivilege: reporting,all\r\nType: StateChange\r\n\r\n"
    "Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/agent1-00000000\r\nUniqueid: c1.1\r\nCause: 16\r\n"
    "Cause-txt: Normal Clearing\r\n\r\n"
    "Event: Hangup\r\nPrivilege: call,all\r\nChannel: PJSIP/agent2-00000001\r\nCause: 16\r\n\r\n"
)


class Collector:
    """Plays panoramisk's factory role for a bare AMIProtocol."""

    forgetable_actions = ("ping",)
    awaiting_actions: ClassVar[list[object]] = []

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self.incomplete: list[str] = []

    def dispatch(self, message: object) -> None:
        try:
            event = translate_event(message)  # type: ignore[arg-type]
        except IncompleteMessage as exc:
            self.incomplete.append(str(exc))
            return
        if event is not None:
            self.events.append(event)


class FakeTransport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("seed", range(20))
def test_transcript_fed_in_random_pieces_gives_the_same_events(seed: int) -> None:
    rng = random.Random(seed)
    protocol = AMIProtocol()
    protocol.connection_made(FakeTransport())  # type: ignore[arg-type]
    collector = Collector()
    protocol.factory = collector
    data = TRANSCRIPT.encode()
    i = 0
    while i < len(data):
        n = rng.randint(1, 40)
        protocol.data_received(data[i : i + n])
        i += n
    assert collector.events == [
        ev.ChannelBridged(uniqueid="probe-1-hl", bridge_id="b-42"),
        ev.ChannelHungUp(uniqueid="c1.1", cause="Normal Clearing"),
    ]
    # A Hangup without its Uniqueid is refused, never read as an empty id.
    assert collector.incomplete == ["Hangup without Uniqueid"]


class Reader(Collector):
    """The factory of ccqueue's own protocol, which reads only some events."""

    events_read = frozenset({"bridgeenter", "hangup", "shutdown"})

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def dispatch(self, message: object) -> None:
        self.names.append(message["Event"])  # type: ignore[index]
        super().dispatch(message)


@pytest.mark.parametrize("seed", range(20))
def test_events_not_read_are_skipped_unless_they_answer_an_action(seed: int) -> None:
    rng = random.Random(seed)
    protocol = ami._Protocol()
    protocol.connection_made(FakeTransport())  # type: ignore[arg-type]
    reader = Reader()
    protocol.factory = reader
    answer = "Event: Status\r\nPrivilege: Call\r\nActionID: a-1\r\nChannel: PJSIP/agent1-00000000\r\nUniqueid: c1.1\r\n\r\n"
    data = (TRANSCRIPT + answer).encode()
    i = 0
    while i < len(data):
        n = rng.randint(1, 40)
        protocol.data_received(data[i : i + n])
        i += n
    # Newchannel and TestEvent are not read; the Status answers an action, so it is.
    assert reader.names == ["BridgeEnter", "Hangup", "Hangup", "Status"]
    assert reader.events == [
        ev.ChannelBridged(uniqueid="probe-1-hl", bridge_id="b-42"),
        ev.ChannelHungUp(uniqueid="c1.1", cause="Normal Clearing"),
    ]


@pytest.mark.parametrize(
    ("reason", "failure"),
    [
        ("4", None),
        ("3", ev.RingFailure.NO_ANSWER),
        ("5", ev.RingFailure.BUSY),
        ("0", ev.RingFailure.UNREACHABLE),  # unregistered phone, or rejected ring
        ("8", ev.RingFailure.UNREACHABLE),
    ],
)
def test_originate_response_reasons(reason: str, failure: ev.RingFailure | None) -> None:
    assert ring_failure({"Event": "OriginateResponse", "Response": "Failure", "Reason": reason}) == failure


def test_originate_response_without_reason_is_incomplete() -> None:
    with pytest.raises(IncompleteMessage):
        ring_failure({"Event": "OriginateResponse", "Reason": ""})


def test_live_uniqueids_from_core_show_channels() -> None:
    answer = [
        {"Response": "Success", "EventList": "start"},
        {"Event": "CoreShowChannel", "Uniqueid": "a"},
        {"Event": "CoreShowChannel", "Uniqueid": "b"},
        {"Event": "CoreShowChannelsComplete", "ListItems": "2"},
    ]
    assert live_uniqueids(answer) == frozenset({"a", "b"})


# --- the link, against a scripted peer ---------------------------------------------


# What Asterisk 22 answers, in its boot window, to an action it has not registered yet.
UNKNOWN = "Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."

# List actions the scripted peer answers as Asterisk does: the event that ends the list
# and the items in it.
LISTS: dict[str, tuple[str, list[dict[str, str]]]] = {
    "DeviceStateList": (
        "DeviceStateListComplete",
        [{"Event": "DeviceStateChange", "Device": "PJSIP/agent1", "State": "NOT_INUSE"}],
    ),
    "CoreShowChannels": ("CoreShowChannelsComplete", [{"Event": "CoreShowChannel", "Channel": "PJSIP/x-1", "Uniqueid": "c1"}]),
}


class ScriptedAmi:
    """A loopback AMI peer: accepts a login (or refuses it), answers or ignores actions.

    ``refuse`` maps an action to how many times it is first refused as unknown (as
    Asterisk does while it boots); ``drop_on`` closes the connection when an action comes.
    """

    def __init__(
        self,
        *,
        secret: str,
        ignore: frozenset[str] = frozenset(),
        refuse: Mapping[str, int] | None = None,
        drop_on: frozenset[str] = frozenset(),
    ) -> None:
        self.secret = secret
        self.ignore = ignore
        self.refuse = dict(refuse or {})
        self.drop_on = drop_on
        self.received: list[dict[str, str]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.on_action: Callable[[str], None] = lambda action: None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(": ", 1) for line in block.decode().strip().split("\r\n") if ": " in line)
                self.received.append(fields)
                action, action_id = fields.get("Action", ""), fields.get("ActionID", "")
                self.on_action(action)
                if action in self.drop_on:
                    writer.close()
                    return
                if action in self.ignore:
                    continue
                if self.refuse.get(action, 0) > 0:
                    self.refuse[action] -= 1
                    status, message = "Error", UNKNOWN.format(action=action)
                elif action in LISTS:
                    writer.write(self.whole_list(action, action_id).encode())
                    await writer.drain()
                    continue
                elif action == "Login":
                    ok = fields.get("Secret") == self.secret
                    status, message = ("Success", "Authentication accepted") if ok else ("Error", "Authentication failed")
                else:
                    status, message = "Success", "ok"
                writer.write(f"Response: {status}\r\nActionID: {action_id}\r\nMessage: {message}\r\n\r\n".encode())
                await writer.drain()

    @staticmethod
    def whole_list(action: str, action_id: str) -> str:
        complete, items = LISTS[action]
        blocks = [{"Response": "Success", "EventList": "start", "Message": "Items will follow"}]
        blocks += [{**item, "ActionID": action_id} for item in items]
        blocks.append({"Event": complete, "EventList": "Complete", "ListItems": str(len(items))})
        blocks[0]["ActionID"] = blocks[-1]["ActionID"] = action_id
        return "".join("".join(f"{k}: {v}\r\n" for k, v in b.items()) + "\r\n" for b in blocks)

    def drop_connections(self) -> None:
        for w in self.writers:
            w.close()
        self.writers.clear()


@pytest.fixture
async def peer() -> AsyncIterator[Callable[..., ScriptedAmi]]:
    servers: list[ScriptedAmi] = []

    def make(**kwargs: object) -> ScriptedAmi:
        s = ScriptedAmi(**kwargs)  # type: ignore[arg-type]
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.drop_connections()
        if s.server is not None:
            s.server.close()


async def start(peer: ScriptedAmi) -> int:
    peer.server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    return int(peer.server.sockets[0].getsockname()[1])


async def wait_until(check: Callable[[], bool], timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_wrong_credentials_are_reported_clearly(
    peer: Callable[..., ScriptedAmi], capsys: pytest.CaptureFixture[str]
) -> None:
    p = peer(secret="right")
    port = await start(p)
    client = AmiClient(host="127.0.0.1", port=port, username="ccqueue", secret="wrong", on_event=lambda m: None)
    task = asyncio.create_task(client.run())
    try:
        await wait_until(lambda: client.state == "auth_failed")
        assert not client.ready.is_set()
        out = capsys.readouterr().out
        assert "ami_login_failed" in out and "Authentication failed" in out
        assert "wrong" not in out  # the secret itself is never logged
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_in_flight_action_fails_on_link_loss_and_is_never_resent(peer: Callable[..., ScriptedAmi]) -> None:
    p = peer(secret="s", ignore=frozenset({"Originate"}))
    port = await start(p)
    client = AmiClient(host="127.0.0.1", port=port, username="ccqueue", secret="s", on_event=lambda m: None)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.ready.wait(), 5)
        pending = asyncio.create_task(client.send({"Action": "Originate", "ChannelId": "o1"}, timeout=30))
        await wait_until(lambda: any(r.get("Action") == "Originate" for r in p.received))
        p.drop_connections()
        with pytest.raises(AmiUnavailable):
            await pending
        # It reconnects by itself (backoff starts at 0.5 s) and logs in again ...
        await wait_until(lambda: client.connects == 2, timeout=10)
        await client.send({"Action": "Ping"}, timeout=5)
        # ... and the Originate that was in flight was sent exactly once.
        assert [r.get("ChannelId") for r in p.received if r.get("Action") == "Originate"] == ["o1"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_silent_link_is_dropped_by_the_ping_deadline(peer: Callable[..., ScriptedAmi]) -> None:
    p = peer(secret="s", ignore=frozenset({"Ping"}))
    port = await start(p)
    client = AmiClient(
        host="127.0.0.1",
        port=port,
        username="ccqueue",
        secret="s",
        on_event=lambda m: None,
        ping_interval_s=0.1,
        ping_timeout_s=0.2,
    )
    task = asyncio.create_task(client.run())
    try:
        await wait_until(lambda: client.connects >= 2, timeout=10)  # dropped, reconnected
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# --- start-up after the login: Asterisk's boot window, silent actions, surprises --------


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnects and start-up deadlines short enough for a unit test."""
    monkeypatch.setattr(ami, "BACKOFF_FIRST_S", 0.05)
    monkeypatch.setattr(ami, "BACKOFF_MAX_S", 0.2)
    monkeypatch.setattr(ami, "STARTUP_ACTION_TIMEOUT_S", 0.3)
    monkeypatch.setattr(ami, "STARTUP_DEADLINE_S", 0.5)


def telephony(port: int, posted: list[ev.Event]) -> AsteriskTelephony:
    return AsteriskTelephony(
        host="127.0.0.1", port=port, username="ccqueue", secret="s", agent_context="agent", post=posted.append
    )


def count(peer: ScriptedAmi, action: str) -> int:
    return sum(1 for r in peer.received if r.get("Action") == action)


async def test_start_up_list_refused_while_asterisk_boots_is_asked_again(
    peer: Callable[..., ScriptedAmi], capsys: pytest.CaptureFixture[str]
) -> None:
    # Asterisk takes the login and CoreShowChannels but does not know DeviceStateList yet.
    p = peer(secret="s", refuse={"DeviceStateList": 3})
    port = await start(p)
    posted: list[ev.Event] = []
    phone = telephony(port, posted)
    states_when_asked: list[str] = []
    p.on_action = lambda action: states_when_asked.append(phone.ami.state) if action == "DeviceStateList" else None
    task = asyncio.create_task(phone.run())
    try:
        started = time.monotonic()
        await asyncio.wait_for(phone.ami.ready.wait(), 5)
        # Refused three times, retried every STARTUP_RETRY_S, answered on the fourth:
        # nobody waited for an answer that would never come.
        assert time.monotonic() - started < 3 * ami.STARTUP_RETRY_S + 1
        assert count(p, "DeviceStateList") == 4
        assert states_when_asked == ["starting"] * 4  # /healthz says not ready meanwhile
        assert phone.ami.state == "ready" and phone.ami.connects == 1  # one link, never dropped
        assert posted == [
            ev.DeviceStateChanged(device="PJSIP/agent1", state="NOT_INUSE"),
            ev.AsteriskReconnected(live_uniqueids=frozenset({"c1"})),
        ]
        out = capsys.readouterr().out
        assert out.count("ami_asterisk_booting") == 1 and "Invalid/unknown command: DeviceStateList" in out
        assert "ami_session_failed" not in out
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_refused_list_action_is_answered_at_once(peer: Callable[..., ScriptedAmi]) -> None:
    p = peer(secret="s", refuse={"DeviceStateList": 1})
    port = await start(p)
    client = AmiClient(host="127.0.0.1", port=port, username="ccqueue", secret="s", on_event=lambda m: None)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.ready.wait(), 5)
        # One Error message, not a list: it ends the action (panoramisk alone would wait).
        answer = await client.send({"Action": "DeviceStateList", "_as_list": True}, timeout=2)
        assert not isinstance(answer, list)
        assert answer.get("Response") == "Error" and "Invalid/unknown command" in answer.get("Message")
        whole = await client.send({"Action": "DeviceStateList", "_as_list": True}, timeout=2)
        assert [m.get("Response") or m.get("Event") for m in whole] == ["Success", "DeviceStateChange", "DeviceStateListComplete"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_core_is_not_told_of_a_reconnect_from_a_refused_channel_list(
    peer: Callable[..., ScriptedAmi], quick_retries: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # A refusal would read as "no channel alive" and end every call: it must never get through.
    p = peer(secret="s", refuse={"CoreShowChannels": 1000})
    port = await start(p)
    posted: list[ev.Event] = []
    phone = telephony(port, posted)
    task = asyncio.create_task(phone.run())
    try:
        await wait_until(lambda: phone.ami.connects >= 3, timeout=10)  # given up, dropped, again
        assert not task.done()
        assert not any(isinstance(e, ev.AsteriskReconnected) for e in posted)
        assert phone.ami.state != "ready"
        out = capsys.readouterr().out
        assert "ami_session_failed" in out and "ami-startup-refused" in out
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_start_up_action_never_answered_drops_the_link_and_tries_again(
    peer: Callable[..., ScriptedAmi], quick_retries: None, capsys: pytest.CaptureFixture[str]
) -> None:
    p = peer(secret="s", ignore=frozenset({"DeviceStateList"}))
    port = await start(p)
    posted: list[ev.Event] = []
    phone = telephony(port, posted)
    task = asyncio.create_task(phone.run())
    try:
        await wait_until(lambda: phone.ami.connects >= 3, timeout=10)
        assert not task.done()
        assert not phone.ami.ready.is_set() and posted == []
        out = capsys.readouterr().out
        assert "ami_session_failed" in out and "ami-unavailable" in out and "no answer to DeviceStateList" in out
        # Asterisk comes to its senses: the next link gets through.
        p.ignore = frozenset()
        await asyncio.wait_for(phone.ami.ready.wait(), 5)
        assert posted[-1] == ev.AsteriskReconnected(live_uniqueids=frozenset({"c1"}))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_link_lost_during_start_up_is_noticed_at_once(
    peer: Callable[..., ScriptedAmi], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ami, "BACKOFF_FIRST_S", 0.05)
    p = peer(secret="s", drop_on=frozenset({"DeviceStateList"}))
    port = await start(p)
    phone = telephony(port, [])
    task = asyncio.create_task(phone.run())
    try:
        started = time.monotonic()
        await wait_until(lambda: phone.ami.connects >= 2, timeout=5)
        # Not after the start-up action's 10 s deadline: the lost link fails it.
        assert time.monotonic() - started < 2
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize(
    "surprise",
    [RuntimeError("surprise"), KeyError("Uniqueid"), ValueError("bad header"), AmiUnavailable("gone"), TimeoutError()],
    ids=type,
)
async def test_run_survives_any_exception_from_a_session(
    peer: Callable[..., ScriptedAmi], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], surprise: Exception
) -> None:
    monkeypatch.setattr(ami, "BACKOFF_FIRST_S", 0.05)
    p = peer(secret="s")
    port = await start(p)
    calls: list[int] = []

    async def on_ready() -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise surprise

    client = AmiClient(host="127.0.0.1", port=port, username="ccqueue", secret="s", on_event=lambda m: None, on_ready=on_ready)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.ready.wait(), 5)
        assert not task.done() and client.state == "ready" and client.connects == 3
        out = capsys.readouterr().out
        assert out.count("ami_session_failed") == 2  # once per failed link
        assert getattr(surprise, "error_id", "ami-session-failed") in out
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # Only a cancellation ends it.
    assert task.cancelled()


def test_the_age_of_asterisks_events_is_taken_once_per_sample() -> None:
    from panoramisk.message import Message

    t = AsteriskTelephony(host="127.0.0.1", port=1, username="u", secret="s", agent_context="ccqueue-agent", post=lambda e: None)
    now = time.time()
    t._on_event(Message({"Event": "Newstate", "Uniqueid": "u1", "Timestamp": f"{now - 2.5:.6f}"}))
    t._on_event(Message({"Event": "Newstate", "Uniqueid": "u2", "Timestamp": f"{now - 0.5:.6f}"}))
    t._on_event(Message({"Event": "Newstate", "Uniqueid": "u3", "Timestamp": "garbled"}))  # ignored
    age, dial = t.take_event_lag()
    assert 2.5 <= age < 3.5 and dial == 0.0  # the oldest since the last sample
    # Nothing read since: 0. One late burst then silence is one late sample (a stall, by
    # the gate's rule 2), and a calm that follows grows the door back only slowly (rule 6).
    assert t.take_event_lag() == (0.0, 0.0)


def test_an_originate_slow_to_start_dialling_is_asterisk_falling_behind() -> None:
    from panoramisk.message import Message

    t = AsteriskTelephony(host="127.0.0.1", port=1, username="u", secret="s", agent_context="ccqueue-agent", post=lambda e: None)
    sent = time.time() - 5.0
    t._dialling["c1.1"] = sent
    # The dial started 1.2 s after the Originate was sent; the event itself came at once.
    t._on_event(Message({"Event": "DialBegin", "DestUniqueid": "c1.1", "Timestamp": f"{sent + 1.2:.6f}"}))
    age, dial = t.take_event_lag()
    assert 3.7 < age < 4.5 and 1.1 < dial < 1.3  # the event came late too: both are told
    t._dialling["c1.2"] = time.time()
    t._on_event(Message({"Event": "DialBegin", "DestUniqueid": "c1.2", "Timestamp": f"{time.time() + 0.7:.6f}"}))
    age, dial = t.take_event_lag()
    assert age == 0.0 and 0.6 < dial < 0.8 and "c1.2" not in t._dialling


def test_a_caller_refused_at_the_dialplans_door_is_told_with_its_line() -> None:
    from panoramisk.message import Message

    t = AsteriskTelephony(host="127.0.0.1", port=1, username="u", secret="s", agent_context="ccqueue-agent", post=lambda e: None)
    told: list[AwayEntry] = []
    t.on_door_refused = told.append
    line = "|1765000000.100|1765000004.200|refused|100|||+15550901|PJSIP/trunk-0000002a"
    t._on_event(Message({"Event": "UserEvent", "UserEvent": "ccqueue-door", "Key": "1765000000.7", "Line": line}))
    assert [(e.uniqueid, e.outcome, e.hotline, e.caller, e.channel) for e in told] == [
        ("1765000000.7", "refused", "100", "+15550901", "PJSIP/trunk-0000002a")
    ]
    assert told[0].ended_at - told[0].entered_at == pytest.approx(4.1)
    # Not the door's, a key that is no uniqueid, a line that does not parse, a line with a
    # call id (a caller ccqueue knew: not a door refusal): none is told.
    t._on_event(Message({"Event": "UserEvent", "UserEvent": "BenchRefused", "Key": "1.2", "Line": line}))
    t._on_event(Message({"Event": "UserEvent", "UserEvent": "ccqueue-door", "Key": "../x y", "Line": line}))
    t._on_event(Message({"Event": "UserEvent", "UserEvent": "ccqueue-door", "Key": "1.3", "Line": "garbage|1"}))
    t._on_event(Message({"Event": "UserEvent", "UserEvent": "ccqueue-door", "Key": "1.4", "Line": "c-1" + line}))
    assert len(told) == 1


async def test_the_door_is_set_with_its_lapse_and_opened_with_zero() -> None:
    t = AsteriskTelephony(host="127.0.0.1", port=1, username="u", secret="s", agent_context="ccqueue-agent", post=lambda e: None)
    sent: list[dict[str, str]] = []

    async def send(action: dict[str, str], timeout: float) -> dict[str, str]:
        sent.append(action)
        return {"Response": "Success"}

    t.ami.send = send  # type: ignore[method-assign]
    await t.set_door(250, refusal="busy", sound="ccqueue/queue-full")
    await t.set_door(0, refusal="busy", sound="ccqueue/queue-full")
    until, per_mille, refusal, sound = sent[0]["Value"].split("^")
    assert sent[0]["Variable"] == "CCQ_DOOR" and (per_mille, refusal, sound) == ("250", "busy", "ccqueue/queue-full")
    assert 0 < int(until) - time.time() <= DOOR_HOLD_S
    assert sent[1]["Value"] == "0^0"
