"""FastAGI sessions against peers that misbehave: raw sockets on loopback against the
real ``AgiServer`` (the engine is a stand-in that records what it is asked)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog

from ccqueue.asterisk import agi
from ccqueue.asterisk.agi import AgiServer
from ccqueue.asterisk.session_check import ChannelStatus, parse_allow
from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.listen import listening_socket

INBOUND = (
    b"agi_network: yes\nagi_network_script: inbound\nagi_channel: PJSIP/x-1\n"
    b"agi_uniqueid: 1.1\nagi_extension: 100\nagi_callerid: +15550100\n\n"
)


async def confirm_inbound(uniqueid: str) -> ChannelStatus:
    """Asterisk's word for every session of these tests: PJSIP/x-1 runs the inbound script."""
    return ChannelStatus(channel="PJSIP/x-1", uniqueid=uniqueid, application="AGI", data="agi://127.0.0.1/inbound")


class Engine:
    """Puts every caller on hold, as the real engine does when nobody is free."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self.server: AgiServer | None = None

    async def ask(self, event: ev.Event) -> list[Any]:
        self.events.append(event)
        if isinstance(event, ev.CallArrived) and self.server is not None:
            self.server.deliver(cmd.HoldCaller(call_id=event.call_id, moh_class="default"))
        return []

    def post(self, event: ev.Event) -> None:
        self.events.append(event)


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[int, Engine]]:
    """The daemon's accept loop with a session cap (``param``), or, without one, each
    connection straight to the session handler."""
    engine = Engine()
    server = AgiServer(
        ask=engine.ask, post=engine.post, channel_status=confirm_inbound, allowed_peers=parse_allow(["127.0.0.0/8"])
    )
    engine.server = server
    max_sessions = getattr(request, "param", None)
    if max_sessions is None:
        plain = await asyncio.start_server(server.handle_connection, "127.0.0.1", 0)
        try:
            yield plain.sockets[0].getsockname()[1], engine
        finally:
            plain.close()
        return
    sock = listening_socket("127.0.0.1", 0)
    task = asyncio.create_task(server.serve(sock, max_sessions=max_sessions))
    try:
        yield sock.getsockname()[1], engine
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        sock.close()


async def _closed_within(reader: asyncio.StreamReader, timeout: float) -> tuple[bool, bytes]:
    """Read until the server closes the connection; (closed in time, what it sent)."""
    received = b""
    try:
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                received += chunk
    except TimeoutError:
        return False, received
    except ConnectionError:
        pass
    return True, received


async def test_a_megabyte_header_line_is_refused_in_one_log_line(server: tuple[int, Engine]) -> None:
    port, engine = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    with structlog.testing.capture_logs() as logs:
        writer.write(b"agi_network: yes\nagi_network_script: " + b"x" * (1024 * 1024) + b"\n\n")
        closed, _ = await _closed_within(reader, 5)
        await asyncio.sleep(0.05)
    writer.close()
    assert closed
    assert [e["event"] for e in logs] == ["agi_session_refused"], logs
    assert "exc_info" not in logs[0] and logs[0]["error"] == "headers-refused"
    assert engine.events == []


async def test_a_peer_that_stops_answering_is_dropped_after_the_commands_deadline(
    server: tuple[int, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, engine = server
    monkeypatch.setattr(agi, "ANSWER_SLACK_S", 0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        writer.write(INBOUND)  # and then never answers its first command
        closed, sent = await _closed_within(reader, 5)
    writer.close()
    assert closed and sent.startswith(b"GET FULL VARIABLE ${CCQ_CALL_ID}")
    assert 0.4 < time.monotonic() - started < 3
    dropped = [e for e in logs if e["event"] == "agi_session_dropped"]
    assert dropped and dropped[0]["error"] == "peer-silent" and dropped[0]["command"] == "GET FULL"
    assert not any(isinstance(e, ev.CallArrived) for e in engine.events)  # it never became a call


async def test_a_waiting_caller_whose_peer_goes_silent_ends_its_call(
    server: tuple[int, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, engine = server
    monkeypatch.setattr(agi, "ANSWER_SLACK_S", 0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(INBOUND)
    async with asyncio.timeout(5):  # answer until the caller is on hold, then fall silent
        while not (await reader.readline()).startswith(b"WAIT FOR DIGIT"):
            writer.write(b"200 result=1\n")
    started = time.monotonic()
    closed, _ = await _closed_within(reader, 6)
    writer.close()
    assert closed
    assert 2.0 + 0.4 < time.monotonic() - started < 5  # the hold segment (2 s) plus slack
    kinds = [type(e).__name__ for e in engine.events]
    assert kinds[0] == "CallArrived" and kinds[-1] == "CallerSessionEnded", kinds


async def test_half_sent_headers_are_dropped_after_the_header_deadline(
    server: tuple[int, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, _ = server
    monkeypatch.setattr(agi, "HEADER_TIMEOUT_S", 0.3)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"agi_network: yes\n")
    closed, _ = await _closed_within(reader, 3)
    writer.close()
    assert closed


@pytest.mark.parametrize("server", [2], indirect=True)
async def test_sessions_beyond_the_cap_are_closed_at_once(server: tuple[int, Engine]) -> None:
    port, _ = server
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    await asyncio.sleep(0.1)
    with structlog.testing.capture_logs() as logs:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        closed, _ = await _closed_within(reader, 2)
        writer.close()
        await asyncio.sleep(1.2)  # the once-a-second summary
    assert closed
    assert [(e["event"], e["count"]) for e in logs] == [("agi_sessions_refused", 1)]
    for _, w in held:
        w.close()


@pytest.mark.parametrize(
    ("command", "low", "high"),
    [
        ("SET VARIABLE CCQ_CALL_ID x", 5, 15),
        ("WAIT FOR DIGIT 2000", 7, 17),
        ('STREAM FILE ccqueue/welcome "5"', 60, 600),
        ("GET DATA ccqueue/callback-enter 15000 16", 240, 1200),
        ('RECORD FILE /x wav "#" 120000 s=5', 120, 600),
        ("EXEC Dial PJSIP/100,30", 3600, 86400),
    ],
)
def test_each_command_gets_a_deadline_of_its_own_length_plus_slack(command: str, low: float, high: float) -> None:
    assert low <= agi.answer_deadline_s(command) <= high


def test_listening_socket_is_bound_to_loopback() -> None:
    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.getsockname()[0] == "127.0.0.1" and sock.type == socket.SOCK_STREAM
    finally:
        sock.close()
