"""The restore's reading of Asterisk (``ccqueue.recovery``) against a telephony adapter
whose AMI answers are given: a channel that hangs up while the restore reads the rest
is still ended once the core knows its call.
"""

from __future__ import annotations

import socket

from panoramisk.message import Message

from ccqueue.asterisk.live import LiveChannel
from ccqueue.asterisk.telephony import AsteriskTelephony
from ccqueue.core import events as ev
from ccqueue.recovery import recover

CALLER_UID, LEG_UID = "1765000000.1", "c1.1"


def refused_dsn() -> str:
    """A DSN nobody listens at: the restore goes on from the channels alone."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://nobody@127.0.0.1:{port}/none"


def conversation() -> list[LiveChannel]:
    """A caller in the hotline context, bridged to the agent leg of its call."""
    return [
        LiveChannel(
            uniqueid=CALLER_UID,
            channel="Local/300@hotline-00000004;2",
            context="hotline",
            application="Bridge",
            bridge_id="b1",
            caller="+12025550003",
            variables={"CCQ_CALL_ID": "c1", "CCQ_HOTLINE": "300", "CCQ_QUEUE": "support", "CCQ_ENTERED": "1765000000.0"},
        ),
        LiveChannel(
            uniqueid=LEG_UID,
            channel="PJSIP/agent1-00000005",
            context="ccqueue-agent",
            application="Bridge",
            bridge_id="b1",
            caller="",
            variables={"CCQ_OFFER": LEG_UID, "CCQ_CALL": "c1"},
        ),
    ]


async def test_a_conversation_that_ends_while_the_restore_reads_is_ended_after_it_is_restored() -> None:
    posted: list[ev.Event] = []
    telephony = AsteriskTelephony(
        host="127.0.0.1", port=1, username="u", secret="s", agent_context="ccqueue-agent", post=posted.append
    )
    telephony.ami.ready.set()

    async def live_channels(**_: object) -> list[LiveChannel]:
        return conversation()

    async def away_entries(**_: object) -> list[object]:
        return []

    telephony.live_channels = live_channels  # type: ignore[method-assign]
    telephony.away_entries = away_entries  # type: ignore[method-assign]

    async def spool_replayed() -> None:
        # The conversation ends while the restore waits for the spool: Asterisk's
        # Hangup events reach the core before the call does.
        for uid in (CALLER_UID, LEG_UID):
            telephony._on_event(Message({"Event": "Hangup", "Uniqueid": uid, "Cause-txt": "Normal Clearing"}))

    recovered = await recover(
        telephony=telephony,
        dsn=refused_dsn(),
        agent_ids=["agent1"],
        agent_for_endpoint=lambda endpoint: "agent1" if endpoint == "PJSIP/agent1" else None,
        post=posted.append,
        spool_replayed=spool_replayed,
        began=0.0,
    )

    assert recovered.calls == ("c1",)
    restored_at = next(n for n, e in enumerate(posted) if isinstance(e, ev.StateRestored))
    (restored,) = posted[restored_at].calls  # type: ignore[union-attr]
    assert restored.agent_id == "agent1" and restored.offer_id == LEG_UID
    after = [e for e in posted[restored_at + 1 :] if isinstance(e, ev.ChannelHungUp)]
    assert [e.uniqueid for e in after] == [CALLER_UID, LEG_UID]
    assert after[0].cause == "Normal Clearing"
    # Told once more only while the restore read: a later hang-up is posted once.
    telephony._on_event(Message({"Event": "Hangup", "Uniqueid": "other.1"}))
    assert sum(1 for e in posted if isinstance(e, ev.ChannelHungUp) and e.uniqueid == "other.1") == 1
