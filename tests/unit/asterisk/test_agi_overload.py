"""The FastAGI door under overload: a new caller refused cheaply, told, recorded; others served."""

from __future__ import annotations

import asyncio
import socket

from ccqueue.asterisk.agi import AgiServer
from ccqueue.asterisk.session_check import ChannelStatus, parse_allow
from ccqueue.core import events as ev
from ccqueue.core.overload import Shed
from ccqueue.listen import listening_socket
from tests.support.fakes import agi_headers, raw_agi_session

BURST = 120
INBOUND = {
    "agi_network_script": "inbound",
    "agi_uniqueid": "1796000000.12",
    "agi_channel": "Local/100@hotline-00000001;2",
    "agi_extension": "100",
    "agi_callerid": "+15550100",
}


class Door:
    def __init__(self, verdict: Shed | None) -> None:
        self.verdict = verdict
        self.asked = 0
        self.opening_when_told: list[int] = []

    def admit(self) -> Shed | None:
        self.asked += 1
        return self.verdict


def _server(door: Door) -> tuple[AgiServer, list[str], list[ev.Event]]:
    looked_up: list[str] = []
    posted: list[ev.Event] = []

    async def lookup(uniqueid: str) -> ChannelStatus | None:
        looked_up.append(uniqueid)
        return None  # not confirmed: an admitted session goes no further here

    async def ask(event: ev.Event) -> None:
        posted.append(event)

    server = AgiServer(
        ask=ask,  # type: ignore[arg-type]
        post=posted.append,
        channel_status=lookup,
        allowed_peers=parse_allow(["127.0.0.0/8"]),
        door=door,
        refused_sound=lambda: sound(),
    )

    def sound() -> str:  # asked as the message is sent: what the backlog holds then
        door.opening_when_told.append(server.opening)
        return "ccqueue/queue-full"

    return server, looked_up, posted


async def test_a_new_caller_past_capacity_is_told_recorded_refused_and_hung_up_with_no_ami_action() -> None:
    door = Door(Shed.BACKLOG)
    server, looked_up, posted = _server(door)
    sent = await raw_agi_session(server.handle_connection, agi_headers(INBOUND))
    assert sent == [
        b"GET VARIABLE CCQ_CALL_ID\n",  # not a caller coming back to its place
        # The session ends at once; the dialplan plays CCQ_SOUND and hangs up (CCQ_END=busy).
        b'EXEC MSet "CCQ_AWAY=,CCQ_END=busy,CCQ_SOUND=ccqueue/queue-full"\n',
    ]
    assert looked_up == []  # Asterisk was not asked about the channel: the cheapest path
    assert door.opening_when_told == [0]  # settled before its message: not counted as work waiting
    (arrived,) = posted
    assert isinstance(arrived, ev.CallArrived)
    assert (arrived.refused, arrived.uniqueid, arrived.caller, arrived.hotline) == (
        "overload: backlog",
        "1796000000.12",
        "+15550100",
        "100",
    )
    assert server.opening == 0


async def test_an_admitted_caller_goes_on_to_the_usual_checks() -> None:
    door = Door(None)
    server, looked_up, posted = _server(door)
    await raw_agi_session(server.handle_connection, agi_headers(INBOUND))
    assert door.asked == 1 and looked_up == ["1796000000.12"] and posted == []
    assert server.opening == 0


async def test_other_scripts_and_malformed_sessions_never_ask_the_door() -> None:
    door = Door(Shed.LOOP_LAG)
    server, _, posted = _server(door)
    await raw_agi_session(server.handle_connection, agi_headers({**INBOUND, "agi_network_script": "claim"}))
    await raw_agi_session(server.handle_connection, agi_headers({**INBOUND, "agi_uniqueid": "no good"}))
    assert door.asked == 0 and posted == []


class _Request:
    def __init__(self) -> None:
        self.commands: list[str] = []

    async def send_command(self, command: str) -> dict[str, object]:
        self.commands.append(command)
        await asyncio.sleep(0)  # Asterisk answers later: other sessions run meanwhile
        return {}


async def test_sessions_starting_together_share_the_away_lines_to_delete() -> None:
    """Many callers arrive at once after a restart: each line is deleted once, and no
    session fails for finding the list emptied by another."""
    server, _, _ = _server(Door(None))
    server.forget_away(["1796000000.1", "1796000000.2", "1796000000.3"])
    first, second = _Request(), _Request()
    await asyncio.gather(server._clear_away(first), server._clear_away(second))
    deleted = sorted(first.commands + second.commands)
    assert deleted == [f"DATABASE DEL ccqueue-away 1796000000.{n}" for n in (1, 2, 3)]


async def test_a_burst_of_connections_is_taken_in_a_few_turns_of_the_loop() -> None:
    """Each accepted connection's set-up runs in its own task: the accept loop does not
    wait a turn of the event loop per connection, so a burst of calls arriving while the
    loop is busy is taken at once instead of overflowing the kernel's queue."""
    server, _, _ = _server(Door(None))
    sock = listening_socket("127.0.0.1", 0, backlog=1024)
    port = sock.getsockname()[1]
    clients = []
    for _ in range(BURST):
        client = socket.create_connection(("127.0.0.1", port))  # queued by the kernel, not yet accepted
        clients.append(client)
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(count_turns())
    serving = asyncio.create_task(server.serve(sock, max_sessions=1000))
    try:
        async with asyncio.timeout(5):
            while server.opening < BURST:
                await asyncio.sleep(0)
        assert turns < BURST / 4, turns  # one turn per connection before
    finally:
        serving.cancel()
        ticker.cancel()
        await asyncio.gather(serving, ticker, return_exceptions=True)
        for client in clients:
            client.close()
        sock.close()
