"""FastAGI sessions that Asterisk did not open, and channel names that carry dialplan text.

A local process that reaches ccqueue's FastAGI port can write any headers. These tests
send such sessions to the real ``ccqueue run`` next to the real Asterisk and check that
nothing changes: no agent rings, no agent is logged out, no row is written. And a channel
name is never spliced into ``Bridge()``: the agent is bridged to the caller's uniqueid.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from ccqueue.asterisk.session_check import session_key
from testbed.baresip import Softphone
from tests.e2e.conftest import AGI_PORT, AMI_SECRET, Daemon, fetch, wait_row
from tests.e2e.test_calls import login, timeline
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e

SPLICED = "Local/100@hotline-0000beef;2,F(ccqueue-survey^s^1)&PJSIP/evil"


async def forge(
    script: str, *, channel: str, uniqueid: str, args: tuple[str, ...] = (), seconds: float = 4
) -> tuple[list[str], float]:
    """Play Asterisk's side of a FastAGI session: send the headers, answer every command
    with success, until ccqueue closes the connection or ``seconds`` pass. Returns the
    commands ccqueue sent and how long it kept the connection open."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", AGI_PORT)
    headers = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1:{AGI_PORT}/{script}",
        "agi_channel": channel,
        "agi_language": "en",
        "agi_type": channel.split("/", 1)[0],
        "agi_uniqueid": uniqueid,
        "agi_callerid": "+15550999",
        "agi_calleridname": "Probe",
        "agi_context": "hotline",
        "agi_extension": "100",
        "agi_priority": "3",
        **{f"agi_arg_{n}": arg for n, arg in enumerate(args, 1)},
    }
    writer.write("".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n")
    await writer.drain()
    commands: list[str] = []
    try:
        while time.monotonic() - started < seconds and len(commands) < 200:
            try:
                line = await asyncio.wait_for(reader.readline(), seconds - (time.monotonic() - started))
            except TimeoutError:
                break
            if not line:
                break
            commands.append(line.decode().strip())
            writer.write(b"200 result=0\n")
            await writer.drain()
    finally:
        writer.close()
    return commands, time.monotonic() - started


def agent_rang(probe: AmiProbe, since: int) -> list[dict[str, str]]:
    return probe.seen(lambda m: match(Event="Newchannel")(m) and (m.get("Channel") or "").startswith("PJSIP/agent"), since=since)


async def test_a_forged_inbound_session_with_a_spliced_channel_changes_nothing(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    login(daemon, "agent1", "agent2")
    mark = len(probe.events)
    commands, open_s = await forge("inbound", channel=SPLICED, uniqueid="1796000000.4242")

    assert commands == [], "ccqueue served a session Asterisk did not open"
    assert open_s < 2, f"the forged session was kept open {open_s:.1f} s"
    await asyncio.sleep(2)  # room for an offer to go out, had the session been believed
    assert agent_rang(probe, mark) == []
    _, agents = daemon.http("GET", "/api/agents")
    assert {a["id"]: a["state"] for a in agents if a["id"] in ("agent1", "agent2")} == {
        "agent1": "available",
        "agent2": "available",
    }
    assert await fetch(daemon.dsn, "select call_id from calls") == []
    assert "agi_session_forged" in daemon.log_text() and "no such channel" in daemon.log_text()


async def test_a_forged_feature_session_cannot_log_an_agent_out(daemon: Daemon, phones: dict[str, Softphone]) -> None:
    login(daemon, "agent1")
    commands, _ = await forge("feature", channel="PJSIP/agent1-00000001", uniqueid="1796000000.77", args=("logout",))

    assert commands == []
    assert daemon.http("GET", "/api/agents/agent1")[1]["state"] == "available"
    assert "agi_session_forged" in daemon.log_text()


async def test_a_session_cannot_borrow_a_waiting_callers_channel(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    # Nobody is logged in: the real caller waits in its session.
    mark = len(probe.events)
    caller = await probe.call_hotline(caller="+15550811")
    leg = f"{caller}-hl"
    await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=leg), timeout=15, since=mark, what="caller on hold")
    channel = probe.seen(match(Event="Newchannel", Uniqueid=leg), since=mark)[0]["Channel"]

    # The real uniqueid and name, but another script: Asterisk says the channel runs inbound.
    commands, _ = await forge("feature", channel=channel, uniqueid=leg, args=("logout",))
    assert commands == []
    # The same script while its real session is open: a second session is not believed.
    commands, _ = await forge("inbound", channel=channel, uniqueid=leg)
    assert commands == []
    log = daemon.log_text()
    assert "channel runs another AGI script" in log and "a session is already open for this channel" in log

    _, queues = daemon.http("GET", "/api/queues")
    assert {q["name"]: q["waiting"] for q in queues}["support"] == 1
    await probe.hangup(caller)
    row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550811", check=lambda r: r["ended_at"] is not None
    )
    assert row["outcome"] == "abandoned"
    assert len(await fetch(daemon.dsn, "select call_id from calls")) == 1


async def test_the_agent_is_granted_the_callers_uniqueid_and_bridged_to_exactly_that_channel(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    login(daemon, "agent1")
    mark = len(probe.events)
    caller = await probe.call_hotline(caller="+15550812")
    leg = f"{caller}-hl"
    granted = await probe.wait_for(
        lambda m: match(Event="VarSet", Variable="CCQ_CALLER_UID")(m) and (m.get("Channel") or "").startswith("PJSIP/agent1"),
        timeout=20,
        since=mark,
        what="the claim's grant",
    )
    assert granted["Value"] == leg
    channel = probe.seen(match(Event="Newchannel", Uniqueid=leg), since=mark)[0]["Channel"]
    bridge = await probe.wait_for(
        lambda m: match(Event="Newexten", Application="Bridge")(m) and (m.get("Channel") or "").startswith("PJSIP/agent1"),
        timeout=20,
        since=mark,
        what="the agent leg's Bridge()",
    )
    # The uniqueid is turned into the name by an exact look-up: Bridge() itself would
    # match either by prefix (tests/integration/test_sandbox.py shows it).
    assert bridge["AppData"] == f"{channel},F(ccqueue-survey^s^1)"
    await probe.wait_for(match(Event="BridgeEnter", Uniqueid=leg), timeout=5, since=mark, what="caller in the bridge")
    await probe.hangup(caller)
    await wait_row(daemon.dsn, "select * from calls where caller = $1", "+15550812", check=lambda r: r["outcome"] == "answered")


async def test_a_real_channel_named_with_dialplan_punctuation_is_refused_and_recorded(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    login(daemon, "agent1")
    mark = len(probe.events)
    # A number as a trunk might pass it through: it becomes part of the Local channel's name.
    response = await probe.client.send(
        {
            "Action": "Originate",
            "Channel": "Local/100,F(ccqueue-survey^s^1)&PJSIP@hotline",
            "Context": "ccqueue-test-caller",
            "Exten": "wait",
            "Priority": "1",
            "CallerID": '"Customer" <+15550813>',
            "ChannelId": "splice-1",
            "OtherChannelId": "splice-1-hl",
            "Async": "true",
            "Timeout": "10000",
        },
        timeout=15,
    )
    assert any((m.get("Response") or "") == "Success" for m in (response if isinstance(response, list) else [response]))

    # The dialplan apologises (AGI() returned without a call) and no agent rings.
    await probe.wait_for(
        match(Event="Newexten", Uniqueid="splice-1-hl", Application="Playback", AppData="ccqueue/unavailable"),
        timeout=10,
        since=mark,
        what="the apology",
    )
    row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550813", check=lambda r: r["ended_at"] is not None
    )
    assert row["outcome"] == "refused"
    events = await timeline(daemon.dsn, row["call_id"])
    assert ("session_refused", {"reason": "channel name malformed"}) in events
    await asyncio.sleep(1)
    assert agent_rang(probe, mark) == []
    await probe.hangup("splice-1")


async def test_the_dialplans_sessions_present_the_key_and_a_wrong_key_is_still_checked(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    key = session_key(AMI_SECRET)
    login(daemon, "agent1")
    mark = len(probe.events)
    caller = await probe.call_hotline(caller="+15550813")
    # ccqueue set the key in Asterisk's globals at its login; the hotline's AGI() presents it.
    entered = await probe.wait_for(
        lambda m: match(Event="Newexten", Uniqueid=f"{caller}-hl", Application="AGI")(m),
        timeout=20,
        since=mark,
        what="the hotline's AGI()",
    )
    assert entered["AppData"].endswith(f"/inbound?key={key}")
    await probe.wait_for(match(Event="BridgeEnter", Uniqueid=f"{caller}-hl"), timeout=20, since=mark, what="the bridge")
    await probe.hangup(caller)
    assert "agi_session_forged" not in daemon.log_text()
    # A session with another key is asked about over AMI as any other: refused.
    commands, _ = await forge(f"inbound?key={'0' * 32}", channel=SPLICED, uniqueid="1796000000.4343")
    assert commands == [] and "agi_session_forged" in daemon.log_text()
