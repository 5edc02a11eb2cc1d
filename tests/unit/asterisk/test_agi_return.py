"""A caller the dialplan held while ccqueue was away comes back over FastAGI: it is
announced as returning (with what its channel says), only once the start-up restore is
with the engine; a new caller keeps the time the dialplan stamped; facts about the call
are kept on the channel in one command."""

from __future__ import annotations

import asyncio

from ccqueue.asterisk.agi import AgiServer
from ccqueue.asterisk.session_check import ChannelStatus, parse_allow
from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from tests.support.fakes import FakeAsterisk, agi_headers

HEADERS = {
    "agi_network": "yes",
    "agi_network_script": "inbound",
    "agi_channel": "PJSIP/x-1",
    "agi_uniqueid": "1.1",
    "agi_extension": "100",
    "agi_callerid": "+15550100",
}


async def confirm(uniqueid: str) -> ChannelStatus:
    return ChannelStatus(channel="PJSIP/x-1", uniqueid=uniqueid, application="AGI", data="agi://127.0.0.1/inbound")


def facts(call_id: str = "", entered: str = "", queue: str = "", queued: str = "", priority: str = "", lang: str = "") -> str:
    return f"200 result=1 ({call_id}|{entered}|{queue}|{queued}|{priority}|{lang})"


async def run(
    peer: FakeAsterisk,
    *,
    then: list[cmd.Command] | None = None,
    restored: asyncio.Event | None = None,
    forget: tuple[str, ...] = (),
) -> tuple[list[ev.Event], float | None]:
    """One session against an AgiServer; the engine answers the arrival with ``then``
    (and lets the caller go). Returns the events and when the first was asked."""
    events: list[ev.Event] = []
    asked_at: list[float] = []
    server: AgiServer

    async def ask(event: ev.Event) -> None:
        events.append(event)
        asked_at.append(asyncio.get_running_loop().time())
        call_id = event.call.call_id if isinstance(event, ev.CallerReturned) else getattr(event, "call_id", "")
        for command in [*(then or []), cmd.ReleaseCaller(call_id=call_id, sound=None, reason="test")]:
            server.deliver(dataclass_with_call(command, call_id))

    server = AgiServer(
        ask=ask, post=events.append, channel_status=confirm, allowed_peers=parse_allow(["127.0.0.0/8"]), restored=restored
    )
    server.forget_away(forget)
    listener = await asyncio.start_server(server.handle_connection, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener, asyncio.timeout(10):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(agi_headers(HEADERS))
        await peer.serve(reader, writer)
    return events, (asked_at[0] if asked_at else None)


def dataclass_with_call(command: cmd.Command, call_id: str) -> cmd.Command:
    import dataclasses

    return dataclasses.replace(command, call_id=call_id)  # type: ignore[type-var]


async def test_a_returning_caller_is_announced_with_what_its_channel_says() -> None:
    peer = FakeAsterisk(replies={"GET FULL VARIABLE": facts("c-7", "1796000000.500", "support", "1796000001.250", "5", "ru")})
    events, _ = await run(peer)
    returned = events[0]
    assert isinstance(returned, ev.CallerReturned)
    assert returned.call == ev.RestoredCall(
        call_id="c-7", hotline="100", caller="+15550100", channel="PJSIP/x-1", uniqueid="1.1", arrived_at=1796000000.5,
        queue="support", queued_at=1796000001.25, priority=5, language="ru",
    )  # fmt: skip
    assert not any(c.startswith("SET VARIABLE CCQ_CALL_ID") for c in peer.commands)  # it has its id already
    assert 'SET VARIABLE CCQ_AWAY ""' in peer.commands  # ccqueue has it again
    assert isinstance(events[-1], ev.CallerSessionEnded)


async def test_a_new_caller_keeps_the_time_the_dialplan_stamped_and_gets_its_call_id() -> None:
    peer = FakeAsterisk(replies={"GET FULL VARIABLE": facts(entered="1796000000.500")})
    events, _ = await run(peer)
    arrived = events[0]
    assert isinstance(arrived, ev.CallArrived) and arrived.arrived_at == 1796000000.5
    # Its id and the away mark cleared in one round trip, before the engine hears of it.
    assert peer.commands[1] == f'EXEC MSet "CCQ_CALL_ID={arrived.call_id},CCQ_AWAY="'
    assert not any(c.startswith("SET VARIABLE") for c in peer.commands)


async def test_a_call_id_ccqueue_could_not_have_written_makes_a_new_call() -> None:
    peer = FakeAsterisk(replies={"GET FULL VARIABLE": facts(call_id="x,F(evil)")})
    events, _ = await run(peer)
    assert isinstance(events[0], ev.CallArrived) and events[0].call_id != "x,F(evil)"


async def test_a_returning_caller_waits_for_the_restore_to_reach_the_engine() -> None:
    restored = asyncio.Event()
    loop = asyncio.get_running_loop()
    set_at = loop.time() + 0.3
    loop.call_at(set_at, restored.set)
    peer = FakeAsterisk(replies={"GET FULL VARIABLE": facts("c-7", "1796000000.500", "support")})
    events, asked_at = await run(peer, restored=restored)
    assert isinstance(events[0], ev.CallerReturned) and asked_at is not None and asked_at >= set_at


async def test_facts_about_the_call_are_kept_on_the_channel_in_one_command() -> None:
    note = cmd.NoteOnCaller(
        call_id="", variables=(("CCQ_QUEUE", "support"), ("CCQ_QUEUED", "1796000001.250"), ("CCQ_LANG", 'e"n'))
    )
    peer = FakeAsterisk(replies={"GET FULL VARIABLE": facts()})
    await run(peer, then=[note])
    (mset,) = [c for c in peer.commands if c.startswith("EXEC MSet") and "CCQ_QUEUE" in c]
    assert mset == 'EXEC MSet "CCQ_QUEUE=support,CCQ_QUEUED=1796000001.250"'  # a value that could split is left out


async def test_a_new_callers_session_deletes_a_few_recorded_away_lines() -> None:
    peer = FakeAsterisk(replies={"GET FULL VARIABLE": facts()})
    keys = tuple(f"17960000{n:02d}.1" for n in range(7))
    await run(peer, forget=(*keys, "bad key;x"))
    deleted = [c for c in peer.commands if c.startswith("DATABASE DEL")]
    assert deleted == [f"DATABASE DEL ccqueue-away {k}" for k in keys[:5]]  # a few per session, never a bad key


async def test_sessions_clearing_the_away_lines_at_once_take_each_line_once() -> None:
    """Callers coming back together after a restart each delete a few of the recorded
    away lines; one session's command in flight must not leave another popping a line
    that is no longer there."""
    server = AgiServer(ask=lambda _e: None, post=lambda _e: None, channel_status=confirm, allowed_peers=())  # type: ignore[arg-type, return-value]
    server.forget_away([f"1796000000.{n}" for n in range(3)])
    sent: list[str] = []

    class Request:
        async def send_command(self, command: str) -> None:
            sent.append(command)
            await asyncio.sleep(0)  # the reply is on its way: another session runs

    await asyncio.gather(*(server._clear_away(Request()) for _ in range(3)))  # type: ignore[arg-type]
    assert sorted(sent) == [f"DATABASE DEL ccqueue-away 1796000000.{n}" for n in range(3)]
