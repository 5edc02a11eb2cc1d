"""Waiting with real Asterisk: admission, announcements, the cut on connect, callbacks.

Queue ``small`` (hotline 400) holds one waiting caller, refuses the next with
``ccqueue/queue-full``, announces position after 1 s and plays a long periodic message.
Callbacks dial ``Local/<digits>@ccqueue-test-trunk``, which rings agent3's softphone as
the customer.
"""

from __future__ import annotations

import time
import wave

import pytest

from ccqueue.core.waiting import announced_minutes
from testbed.baresip import Softphone
from testbed.sandbox import REPO_DIR, AsteriskSandbox
from tests.e2e.conftest import Daemon, fetch, wait_row
from tests.e2e.test_calls import timeline, until
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e

CALL_BY_CHANNEL = "select * from calls where channel like $1 || '%'"
CUSTOMER = "+12025550143"


def agi_command(uniqueid: str, fragment: str):  # type: ignore[no-untyped-def]
    """An AGIExecStart on ``uniqueid`` whose command contains ``fragment``."""
    return lambda m: match(Event="AGIExecStart", Uniqueid=uniqueid)(m) and fragment in (m.get("Command") or "")


async def test_a_full_queue_sends_the_next_caller_to_overflow(daemon: Daemon, probe: AmiProbe) -> None:
    mark = len(probe.events)
    first = await probe.call_hotline(number="400", caller="+15550401")
    await wait_row(daemon.dsn, CALL_BY_CHANNEL, "Local/400@hotline", check=lambda r: r["outcome"] == "waiting")
    second = await probe.call_hotline(number="400", caller="+15550402")
    await probe.wait_for(agi_command(f"{second}-hl", "ccqueue/queue-full"), timeout=10, since=mark, what="the refusal prompt")
    await probe.wait_for(
        match(Event="Hangup", Uniqueid=f"{second}-hl"), timeout=15, since=mark, what="the refused caller released"
    )
    refused = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550402", check=lambda r: r["outcome"] == "refused"
    )
    kinds = [kind for kind, _ in await timeline(daemon.dsn, refused["call_id"])]
    assert "call_refused" in kinds and "call_queued" not in kinds
    (row,) = await fetch(
        daemon.dsn, "select data from call_events where call_id = $1 and kind = 'call_refused'", refused["call_id"]
    )
    assert '"reason": "full"' in row["data"] and '"destination": "message"' in row["data"]
    still = await wait_row(daemon.dsn, "select * from calls where caller = $1", "+15550401")
    assert still["outcome"] == "waiting"
    assert not probe.seen(match(Event="Hangup", Uniqueid=f"{first}-hl"), since=mark)


async def test_a_waiting_caller_hears_its_position_and_estimated_wait(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    # agent2 takes the first caller; the second waits behind a busy agent, so the
    # estimate is finite (from the queue's prior: about 3 minutes) and is said.
    status, _ = daemon.http("POST", "/api/agents/agent2/login")
    assert status == 200
    mark = len(probe.events)
    first = await probe.call_hotline(number="400", caller="+15550404")
    await probe.wait_for(
        match(Event="BridgeEnter", Uniqueid=f"{first}-hl"), timeout=20, since=mark, what="the first caller bridged"
    )
    second = await probe.call_hotline(number="400", caller="+15550405")
    leg = f"{second}-hl"
    await probe.wait_for(agi_command(leg, "queue-youarenext"), timeout=15, since=mark, what="the position prompt")
    await probe.wait_for(agi_command(leg, "queue-holdtime"), timeout=10, since=mark, what="the wait prompt")
    minutes = await probe.wait_for(lambda m: agi_command(leg, "SAY NUMBER")(m), timeout=10, since=mark, what="the minutes said")
    await probe.wait_for(agi_command(leg, "queue-minutes"), timeout=10, since=mark, what="'minutes'")
    said = int(minutes["Command"].split()[2])
    row = await wait_row(daemon.dsn, "select * from calls where caller = $1", "+15550405")
    events = dict(await timeline(daemon.dsn, row["call_id"]))
    announced = events["announced"]
    assert announced["position"] == 1 and announced["ewt_s"] is not None
    assert said == announced_minutes(announced["ewt_s"]) and 2 <= said <= 4, (said, announced)


async def test_position_is_announced_and_an_agent_cuts_the_prompt_at_once(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    mark = len(probe.events)
    caller = await probe.call_hotline(number="400", caller="+15550403")
    leg = f"{caller}-hl"
    said = await probe.wait_for(agi_command(leg, "queue-youarenext"), timeout=15, since=mark, what="the position prompt")
    assert said["Command"].startswith("STREAM FILE")
    # The long periodic message (about 9 s) starts; an agent logs in while it plays.
    await probe.wait_for(agi_command(leg, "ccqueue/ivr-closed"), timeout=15, since=mark, what="the periodic message")
    started = time.monotonic()
    status, body = daemon.http("POST", "/api/agents/agent1/login")
    assert status == 200, body
    claim = await probe.wait_for(
        lambda m: (
            match(Event="AGIExecStart")(m)
            and (m.get("Channel") or "").startswith("PJSIP/agent1")
            and "CCQ_CLAIM=granted" in (m.get("Command") or "")
        ),
        timeout=15,
        since=mark,
        what="agent1's claim",
    )
    await probe.wait_for(match(Event="BridgeEnter", Uniqueid=leg), timeout=5, since=mark, what="the caller bridged")
    bridged = time.monotonic()
    assert claim is not None
    # Bridged well before the message could have ended on its own, and it never did.
    with wave.open(str(REPO_DIR / "sounds/en/ivr-closed.wav")) as sound:
        length = sound.getnframes() / sound.getframerate()
    assert bridged - started < length - 2.0, (bridged - started, length)
    played_out = [
        m
        for m in probe.seen(match(Event="AGIExecEnd", Uniqueid=leg), since=mark)
        if "ivr-closed" in (m.get("Command") or "") and not (m.get("Result") or "").startswith("-1")
    ]
    assert played_out == [], played_out
    row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550403", check=lambda r: r["answered_at"] is not None
    )
    assert row["agent"] == "agent1"
    kinds = [kind for kind, _ in await timeline(daemon.dsn, row["call_id"])]
    assert "announced" in kinds and "call_answered" in kinds
    await until(lambda: phones["agent1"].call_state == "in_call", what="agent1 in the call")


async def test_a_callback_keeps_its_place_survives_a_restart_and_rings_agent_then_customer(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone], asterisk: AsteriskSandbox
) -> None:
    mark = len(probe.events)
    # No agent logged in: the caller waits, presses 1, confirms its own number (1).
    caller = await probe.call_hotline(number="100", script="callback", caller=CUSTOMER)
    leg = f"{caller}-hl"
    await probe.wait_for(agi_command(leg, "ccqueue/callback-offer"), timeout=15, since=mark, what="the callback offer")
    await probe.wait_for(agi_command(leg, "ccqueue/callback-booked"), timeout=20, since=mark, what="the booking confirmed")
    await probe.wait_for(match(Event="Hangup", Uniqueid=leg), timeout=15, since=mark, what="the caller released")
    booked = await wait_row(daemon.dsn, "select * from callbacks where number = $1", CUSTOMER)
    assert booked["status"] == "pending" and booked["queue"] == "support"
    call = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", CUSTOMER, check=lambda r: r["outcome"] == "callback"
    )
    assert abs(booked["place_at"].timestamp() - call["arrived_at"].timestamp()) < 0.01  # the caller's own place

    # ccqueue restarts; the callback comes back from PostgreSQL.
    daemon.stop()
    daemon.start()
    listed: list = []

    def restored() -> bool:
        nonlocal listed
        status, listed = daemon.http("GET", "/api/callbacks")
        return status == 200 and [c["number"] for c in listed] == [CUSTOMER]

    await until(restored, timeout=10, what="the callback restored from PostgreSQL")

    mark = len(probe.events)
    status, body = daemon.http("POST", "/api/agents/agent1/login")
    assert status == 200 and body["state"] == "ringing", body  # reserved for the callback at once
    await probe.wait_for(
        lambda m: (
            match(Event="Newexten")(m)
            and (m.get("Channel") or "").startswith("PJSIP/agent1")
            and m.get("Application") == "Playback"
            and "callback-for" in (m.get("AppData") or "")
        ),
        timeout=20,
        since=mark,
        what="agent1 told it is a callback",
    )
    dial = await probe.wait_for(
        lambda m: match(Event="DialEnd")(m) and (m.get("Channel") or "").startswith("PJSIP/agent1"),
        timeout=30,
        since=mark,
        what="the customer's phone answering",
    )
    assert dial["DialStatus"] == "ANSWER"
    await until(lambda: phones["agent3"].call_state == "in_call", timeout=10, what="the customer's phone in the call")
    done = await wait_row(
        daemon.dsn, "select * from callbacks where number = $1", CUSTOMER, check=lambda r: r["status"] == "completed"
    )
    assert (done["attempts"], done["result"], done["agent"]) == (1, "ANSWER", "agent1")
    assert done["version"] > booked["version"]
    status, listed = daemon.http("GET", "/api/callbacks")
    assert listed == []
    asterisk.rx("channel request hangup all")
