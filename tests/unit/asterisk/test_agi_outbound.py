"""The FastAGI ``outbound`` script: a campaign's answered callee, held in silence until
the engine decides, then the safe harbour, a broadcast with its keys, or a hang-up."""

from __future__ import annotations

from typing import Any

from ccqueue.asterisk.agi import AgiServer
from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from tests.support.fakes import FakeAsterisk, agi_session

HEADERS = {"agi_uniqueid": "out-renewals-1-1", "agi_channel": "Local/+12025550101@ccqueue-outbound-dial-00000001;1"}
VARIABLES = {
    "GET VARIABLE CCQ_ATTEMPT": "200 result=1 (out-renewals-1-1)",
    "GET VARIABLE AMDSTATUS": "200 result=1 (HUMAN)",
    "GET VARIABLE CCQ_CAMPAIGN": "200 result=1 (renewals)",
}


def server(posted: list[Any]) -> AgiServer:
    async def ask(event: Any) -> None:
        posted.append(event)

    async def status(_uniqueid: str) -> None:
        return None

    return AgiServer(ask=ask, post=posted.append, channel_status=status, allowed_peers=())


async def test_the_callee_is_announced_held_in_silence_then_hears_the_safe_harbour() -> None:
    posted: list[Any] = []
    agi = server(posted)
    waits = 0

    def on_command(command: str) -> None:
        nonlocal waits
        if command.startswith("WAIT FOR DIGIT"):
            waits += 1
            if waits == 3:  # the connect deadline passes while the callee waits
                agi.deliver(cmd.ReleaseCaller(call_id="out-renewals-1-1", sound="ccqueue/safe-harbour", reason="deadline"))

    peer = FakeAsterisk(replies=VARIABLES, on_command=on_command)
    await agi_session(peer, agi._outbound, headers=HEADERS)
    answered = [e for e in posted if isinstance(e, ev.ContactAnswered)]
    assert answered == [
        ev.ContactAnswered(
            attempt_id="out-renewals-1-1", amd="HUMAN", uniqueid=HEADERS["agi_uniqueid"], channel=HEADERS["agi_channel"]
        )
    ]
    played = [c for c in peer.commands if c.startswith(("STREAM FILE", "HANGUP", "EXEC Playback"))]
    assert played and "ccqueue/safe-harbour" in played[0] and peer.commands[-1].startswith("HANGUP")
    # Silence while waiting: short waits, no music, no prompt.
    assert all("MUSIC" not in c for c in peer.commands)
    assert isinstance(posted[-1], ev.CallerSessionEnded) and posted[-1].call_id == "out-renewals-1-1"


async def test_a_broadcast_key_is_reported() -> None:
    posted: list[Any] = []
    agi = server(posted)
    delivered = False

    def on_command(command: str) -> None:
        nonlocal delivered
        if command.startswith("WAIT FOR DIGIT") and not delivered:
            delivered = True
            agi.deliver(cmd.PlayBroadcast(call_id="out-renewals-1-1", sound="ccqueue/broadcast-sample", keys="91"))
        elif command.startswith("STREAM FILE ccqueue/broadcast-sample"):
            # The key ends the session's wait for the engine: release it as the core would.
            agi.deliver(cmd.ReleaseCaller(call_id="out-renewals-1-1", sound=None, reason="opted out"))

    peer = FakeAsterisk(keys=["-", "9"], replies=VARIABLES, on_command=on_command)
    await agi_session(peer, agi._outbound, headers=HEADERS)
    assert ev.CalleePressed(attempt_id="out-renewals-1-1", digit="9") in posted


async def test_a_session_without_an_attempt_is_hung_up() -> None:
    posted: list[Any] = []
    peer = FakeAsterisk(replies={"GET VARIABLE CCQ_ATTEMPT": "200 result=0"})
    await agi_session(peer, server(posted)._outbound, headers=HEADERS)
    assert peer.commands[-1].startswith("HANGUP") and not any(isinstance(e, ev.ContactAnswered) for e in posted)
