"""The AMI boundary: recorded transcripts in, typed events out; the link's supervision.

A small scripted AMI peer on loopback stands in for Asterisk here; the real Asterisk is
exercised by tests/e2e.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable

import pytest
from panoramisk.ami_protocol import AMIProtocol

from ccqueue.asterisk.ami import AmiClient, AmiUnavailable
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
    awaiting_actions: list[object] = []

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


class ScriptedAmi:
    """A loopback AMI peer: accepts a login (or refuses it), answers or ignores actions."""

    def __init__(self, *, secret: str, ignore: frozenset[str] = frozenset()) -> None:
        self.secret = secret
        self.ignore = ignore
        self.received: list[dict[str, str]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(": ", 1) for line in block.decode().strip().split("\r\n") if ": " in line)
                self.received.append(fields)
                action, action_id = fields.get("Action", ""), fields.get("ActionID", "")
                if action in self.ignore:
                    continue
                if action == "Login":
                    ok = fields.get("Secret") == self.secret
                    status, message = ("Success", "Authentication accepted") if ok else ("Error", "Authentication failed")
                else:
                    status, message = "Success", "ok"
                writer.write(f"Response: {status}\r\nActionID: {action_id}\r\nMessage: {message}\r\n\r\n".encode())
                await writer.drain()

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


async def test_wrong_credentials_are_reported_clearly(peer: Callable[..., ScriptedAmi], capsys: pytest.CaptureFixture[str]) -> None:
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
        host="127.0.0.1", port=port, username="ccqueue", secret="s", on_event=lambda m: None,
        ping_interval_s=0.1, ping_timeout_s=0.2,
    )
    task = asyncio.create_task(client.run())
    try:
        await wait_until(lambda: client.connects >= 2, timeout=10)  # dropped, reconnected
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
