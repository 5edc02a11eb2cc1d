"""The end of a conversation left in Asterisk's database by the agent leg's hang-up
handler: read at start-up like the away callers' lines, pushed by the agent's dialplan
once the claim has granted the caller, and deleted once a running ccqueue has seen the leg hang up itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ccqueue.asterisk.agi import ENDED_HANDLER, AgiServer
from ccqueue.asterisk.live import away_entries
from ccqueue.core import events as ev
from ccqueue.core.records import CallOutcome
from ccqueue.core.replies import ClaimAnswer
from ccqueue.recovery import _away_call
from tests.support.fakes import FakeAsterisk, agi_session

LEG = "1796000000.12"
DIALPLAN = Path(__file__).resolve().parents[3] / "dialplan/extensions.conf"


def tree(**lines: str) -> list[dict[str, object]]:
    return [{"Event": "DBGetTreeResponse", "Key": f"/ccqueue-away/{k.replace('_', '.')}", "Val": v} for k, v in lines.items()]


def test_a_conversations_end_is_read_with_its_leg_cause_and_time() -> None:
    (entry,) = away_entries(tree(**{"1796000000_12": "c-9|1796000000.4|1796000100.250|answered|16|PJSIP/agent1-0000002a"}))
    assert (entry.uniqueid, entry.call_id, entry.caller_uniqueid, entry.ended_at, entry.outcome, entry.cause) == (
        LEG, "c-9", "1796000000.4", 1796000100.25, "answered", "16",
    )  # fmt: skip
    assert entry.channel == "PJSIP/agent1-0000002a"
    away = _away_call(entry)
    assert (away.outcome, away.row_id, away.ended_at, away.cause) == (CallOutcome.ANSWERED, "c-9", 1796000100.25, "16")


def test_a_conversations_end_that_does_not_parse_is_dropped_and_the_away_lines_still_read() -> None:
    entries = away_entries(
        tree(
            a="|1.4|1796000100.2|answered|16|PJSIP/agent1-1",  # no call id
            b="c-1|1.4|soon|answered|16|PJSIP/agent1-1",  # no time
            c="c-2|1.4|1796000100.2|answered|x|PJSIP/agent1-1|x",  # a cause that is no number: left out
            d="c-3|1796000000.1|1796000030.5|abandoned|100|support|1796000001|+1555|Local/100@hotline-1;2",
        )
    )
    assert [(e.call_id, e.outcome, e.cause, e.channel) for e in entries] == [
        ("c-2", "answered", "", "PJSIP/agent1-1|x"),
        ("c-3", "abandoned", "", "Local/100@hotline-1;2"),
    ]


async def claim(server: AgiServer, offer_id: str) -> list[str]:
    peer = FakeAsterisk()
    await agi_session(peer, server._claim, headers={"agi_uniqueid": offer_id})
    return peer.commands


def server_granting(caller: str) -> AgiServer:
    async def ask(event: ev.Event) -> ClaimAnswer:
        assert isinstance(event, ev.OfferClaimed)
        return ClaimAnswer(offer_id=event.offer_id, caller_uniqueid=caller, reason="granted")

    return AgiServer(ask=ask, post=lambda e: None, channel_status=lambda u: asyncio.sleep(0), allowed_peers=())  # type: ignore[arg-type]


async def test_a_granted_claim_is_one_round_trip_and_the_seen_end_is_deleted() -> None:
    server = server_granting("1796000000.4")
    commands = await claim(server, LEG)
    assert commands == ['EXEC MSet "CCQ_CALLER_UID=1796000000.4,CCQ_CLAIM=granted"']
    # The dialplan pushes the leg's hang-up handler once it has found the caller's channel.
    agent = DIALPLAN.read_text().split("\n[ccqueue-agent]", 1)[1].split("\n[", 1)[0].splitlines()
    found = agent.index(' same => n,GotoIf($["${CCQ_CALLER_CHAN}" = ""]?lost)')
    assert agent[found + 1] == f" same => n,Set(CHANNEL(hangup_handler_push)={ENDED_HANDLER})"
    assert ENDED_HANDLER == "ccqueue-ended,s,1"
    server.leg_gone("1796000000.99")  # some other channel: nothing of it to delete
    assert list(server._away_recorded) == []
    server.leg_gone(LEG)
    server.leg_gone(LEG)  # told twice: deleted once
    assert list(server._away_recorded) == [LEG]


async def test_a_claim_not_granted_pushes_nothing() -> None:
    server = server_granting("1.1,F(x)")
    commands = await claim(server, LEG)
    assert commands == ["SET VARIABLE CCQ_CLAIM lost"]
    server.leg_gone(LEG)
    assert list(server._away_recorded) == []
