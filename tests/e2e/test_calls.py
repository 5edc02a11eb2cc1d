"""Real calls through Asterisk 22 to baresip agents, recorded in PostgreSQL.

Each test places a caller as a Local channel (``Local/100@hotline``), lets the real
``ccqueue run`` process route it, and checks both what Asterisk did (AMI events seen by a
second AMI login) and what ccqueue wrote (rows in PostgreSQL).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from testbed.baresip import Softphone
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import RING_TIMEOUT_S, Daemon, fetch, wait_row
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e

CALL_BY_CHANNEL = "select * from calls where channel like $1 || '%'"


async def until(check, *, timeout: float = 10, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    """Poll ``check`` with a deadline, letting the event loop run (the AMI probe reads)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        await asyncio.sleep(0.05)


def login(daemon: Daemon, *agents: str) -> None:
    for agent in agents:
        status, body = daemon.http("POST", f"/api/agents/{agent}/login")
        assert status == 200, body
        assert body["state"] == "available"


async def timeline(dsn: str, call_id: str) -> list[tuple[str, dict]]:
    rows = await fetch(dsn, "select kind, data from call_events where call_id = $1 order by seq", call_id)
    import json

    return [(r["kind"], json.loads(r["data"]) if isinstance(r["data"], str) else r["data"]) for r in rows]


async def test_answered_call_is_bridged_to_longest_idle_agent_and_recorded(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone], asterisk: AsteriskSandbox
) -> None:
    login(daemon, "agent2")
    login(daemon, "agent1")  # logged in later: agent2 has been idle longer
    mark = len(probe.events)
    caller = await probe.call_hotline(caller="+15550101")
    hotline_leg = f"{caller}-hl"

    # Greeting, then the agent answers and both legs enter one bridge.
    agent_enter = await probe.wait_for(
        lambda m: match(Event="BridgeEnter")(m) and (m.get("Channel") or "").startswith("PJSIP/agent2"),
        timeout=20,
        since=mark,
        what="agent2 entering a bridge",
    )
    caller_enter = await probe.wait_for(
        match(Event="BridgeEnter", Uniqueid=hotline_leg), timeout=5, since=mark, what="caller entering a bridge"
    )
    assert agent_enter["BridgeUniqueid"] == caller_enter["BridgeUniqueid"]
    assert probe.seen(lambda m: match(Event="Newexten", Uniqueid=hotline_leg)(m) and m.get("Application") == "AGI", since=mark)
    await until(lambda: phones["agent2"].call_state == "in_call", what="agent2's phone in the call")
    assert phones["agent1"].call_state == "idle"

    _status, agents = daemon.http("GET", "/api/agents")
    states = {a["id"]: a["state"] for a in agents}
    assert states["agent2"] == "on_call" and states["agent1"] == "available"

    # The caller hangs up; the call is recorded as answered by agent2.
    await probe.hangup(caller)
    await probe.wait_for(match(Event="Hangup", Uniqueid=hotline_leg), timeout=10, since=mark)
    row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550101", check=lambda r: r["ended_at"] is not None
    )
    assert row["outcome"] == "answered"
    assert row["agent"] == "agent2" and row["queue"] == "support" and row["hotline"] == "100"
    assert row["arrived_at"] <= row["queued_at"] <= row["answered_at"] <= row["ended_at"]
    kinds = [k for k, _ in await timeline(daemon.dsn, row["call_id"])]
    assert kinds[:3] == ["call_arrived", "call_queued", "agent_offered"]
    # agent2's ring, talk and wrap-up name the call; the wrap-up follows its end.
    served = await wait_row(
        daemon.dsn,
        "select array_agg(state order by started_at) as states, max(started_at) filter (where state = 'wrap_up') as wrap_from"
        " from agent_state_intervals where agent_id = 'agent2' and call_id = $1",
        row["call_id"],
        check=lambda r: r["states"] is not None and "wrap_up" in r["states"],
    )
    assert served["states"] == ["ringing", "on_call", "wrap_up"] and served["wrap_from"] == row["ended_at"]
    assert "call_answered" in kinds and kinds[-1] == "call_ended"
    assert len(await fetch(daemon.dsn, "select 1 from calls")) == 1

    # Wrap-up (1 s), then agent2 is available again.
    await until(lambda: daemon.http("GET", "/api/agents/agent2")[1]["state"] == "available", what="agent2 leaving wrap-up")
    # No channel is left behind in Asterisk.
    await until(lambda: not asterisk.channels(), timeout=5, what="no channels left")


async def test_ring_no_answer_moves_to_next_agent_and_caller_keeps_place(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    phones["agent1"].set_answermode("manual")
    login(daemon, "agent1")
    login(daemon, "agent2")
    mark = len(probe.events)
    started = time.monotonic()
    caller = await probe.call_hotline(caller="+15550102")

    await probe.wait_for(
        lambda m: match(Event="Newchannel")(m) and (m.get("Channel") or "").startswith("PJSIP/agent1"),
        timeout=15,
        since=mark,
        what="agent1 ringing",
    )
    agent2_enter = await probe.wait_for(
        lambda m: match(Event="BridgeEnter")(m) and (m.get("Channel") or "").startswith("PJSIP/agent2"),
        timeout=RING_TIMEOUT_S + 15,
        since=mark,
        what="agent2 bridged after agent1 did not answer",
    )
    assert time.monotonic() - started >= RING_TIMEOUT_S - 0.5
    assert agent2_enter
    assert not probe.seen(
        lambda m: match(Event="BridgeEnter")(m) and (m.get("Channel") or "").startswith("PJSIP/agent1"), since=mark
    )

    _, agent1 = daemon.http("GET", "/api/agents/agent1")
    assert agent1["state"] == "available"  # free, but sitting out its missed-call cooldown

    await probe.hangup(caller)
    row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550102", check=lambda r: r["ended_at"] is not None
    )
    assert (row["outcome"], row["agent"]) == ("answered", "agent2")
    events = await timeline(daemon.dsn, row["call_id"])
    offers = [(k, d.get("agent"), d.get("failure")) for k, d in events if k in ("agent_offered", "offer_failed")]
    assert offers == [
        ("agent_offered", "agent1", None),
        ("offer_failed", "agent1", "no_answer"),
        ("agent_offered", "agent2", None),
    ]

    # The agent that did not answer is not offered the next call at once.
    mark = len(probe.events)
    login(daemon, "agent3")
    caller2 = await probe.call_hotline(caller="+15550103")
    enter = await probe.wait_for(
        lambda m: match(Event="BridgeEnter")(m) and (m.get("Channel") or "").startswith("PJSIP/"),
        timeout=15,
        since=mark,
        what="an agent bridged for the second caller",
    )
    assert enter["Channel"].startswith("PJSIP/agent3") or enter["Channel"].startswith("PJSIP/agent2")
    assert not probe.seen(
        lambda m: match(Event="Newchannel")(m) and (m.get("Channel") or "").startswith("PJSIP/agent1"), since=mark
    )
    await probe.hangup(caller2)


async def test_caller_abandons_while_waiting(daemon: Daemon, probe: AmiProbe) -> None:
    # Nobody is logged in: the caller hears the greeting and music on hold, then gives up.
    mark = len(probe.events)
    caller = await probe.call_hotline(caller="+15550104")
    moh = await probe.wait_for(
        match(Event="MusicOnHoldStart", Uniqueid=f"{caller}-hl"), timeout=15, since=mark, what="music on hold"
    )
    assert moh["Class"] == "default"
    await asyncio.sleep(1.0)  # the caller listens to the music a moment, then gives up
    await probe.hangup(caller)
    row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550104", check=lambda r: r["ended_at"] is not None
    )
    assert row["outcome"] == "abandoned" and row["agent"] is None and row["answered_at"] is None
    assert 4.0 <= row["wait_s"] <= 15.0
    metrics = daemon.text("/metrics")
    assert 'ccqueue_calls_total{outcome="abandoned",queue="support"} 1.0' in metrics


async def test_caller_hangs_up_while_agent_rings_cancels_the_agent_leg(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    phones["agent1"].set_answermode("manual")
    login(daemon, "agent1")
    mark = len(probe.events)
    caller = await probe.call_hotline(caller="+15550105")
    ring = await probe.wait_for(
        lambda m: match(Event="Newchannel")(m) and (m.get("Channel") or "").startswith("PJSIP/agent1"),
        timeout=15,
        since=mark,
        what="agent1 ringing",
    )
    await until(lambda: phones["agent1"].call_state == "ringing", what="agent1's phone ringing")
    await probe.hangup(caller)
    await probe.wait_for(match(Event="Hangup", Uniqueid=ring["Uniqueid"]), timeout=5, since=mark, what="agent leg cancelled")
    row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550105", check=lambda r: r["ended_at"] is not None
    )
    assert row["outcome"] == "abandoned" and row["agent"] is None
    # The agent is free again at once, and its phone never joined a bridge.
    _, agent1 = daemon.http("GET", "/api/agents/agent1")
    assert agent1["state"] == "available"
    assert not probe.seen(match(Event="BridgeEnter"), since=mark)
    kinds = [k for k, _ in await timeline(daemon.dsn, row["call_id"])]
    assert "offer_cancelled" in kinds


async def test_daemon_down_caller_hears_music_then_the_apology_never_dead_air(
    daemon: Daemon, probe: AmiProbe, asterisk: AsteriskSandbox
) -> None:
    daemon.stop()
    mark = len(probe.events)
    asterisk.rx("dialplan set global CCQ_AWAY_HOLD_S 3")  # a short hold for the test (120 s by default)
    try:
        caller = await probe.call_hotline(caller="+15550106")
        await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{caller}-hl"), timeout=10, since=mark, what="music")
        played = await probe.wait_for(
            lambda m: match(Event="Newexten", Uniqueid=f"{caller}-hl", Application="Playback")(m),
            timeout=10,
            since=mark,
            what="the apology being played",
        )
        assert played["AppData"] == "ccqueue/unavailable"
        await probe.wait_for(match(Event="Hangup", Uniqueid=f"{caller}-hl"), timeout=15, since=mark)
    finally:
        asterisk.rx("dialplan set global CCQ_AWAY_HOLD_S 120")
    assert await fetch(daemon.dsn, "select 1 from calls") == []
    daemon.start()  # the call is recorded from what the dialplan left: failed, the apology heard
    row = await wait_row(daemon.dsn, "select * from calls where caller = $1", "+15550106")
    assert row["outcome"] == "failed" and row["ended_at"] is not None


async def test_stopping_ccqueue_leaves_the_waiting_caller_on_hold_and_its_record_open(daemon: Daemon, probe: AmiProbe) -> None:
    login(daemon, "agent3")
    daemon.http("POST", "/api/agents/agent3/pause", {"reason": "meeting"})
    mark = len(probe.events)
    caller = await probe.call_hotline(caller="+15550107")
    await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{caller}-hl"), timeout=15, since=mark, what="music on hold")
    await asyncio.to_thread(daemon.stop)  # SIGTERM: a graceful stop
    await probe.wait_for(
        match(Event="Newexten", Uniqueid=f"{caller}-hl", Application="MusicOnHold"),
        timeout=10,
        since=mark,
        what="the dialplan holding the caller",
    )
    assert not probe.seen(match(Event="Newexten", Uniqueid=f"{caller}-hl", Application="Playback"), since=mark)
    rows = await fetch(daemon.dsn, "select outcome, ended_at from calls where caller = $1", "+15550107")
    assert [(r["outcome"], r["ended_at"]) for r in rows] == [("waiting", None)]  # the next process takes it back
    kinds = [r["kind"] for r in await fetch(daemon.dsn, "select kind from call_events order by at, seq")]
    assert kinds[-1] == "call_left_to_dialplan"
    intervals = await fetch(
        daemon.dsn, "select state, reason from agent_state_intervals where agent_id = 'agent3' order by started_at"
    )
    assert [(r["state"], r["reason"]) for r in intervals] == [("available", None), ("paused", "meeting")]


async def test_a_killed_ccqueue_leaves_no_caller_in_silence_and_the_next_start_closes_its_records(
    daemon: Daemon, probe: AmiProbe
) -> None:
    import signal

    mark = len(probe.events)
    caller = await probe.call_hotline(caller="+15550108")
    await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{caller}-hl"), timeout=15, since=mark, what="music on hold")
    row = await wait_row(daemon.dsn, CALL_BY_CHANNEL, "Local/100@hotline", check=lambda r: r["caller"] == "+15550108")
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGKILL)  # no graceful stop: nothing is closed
    daemon.proc.wait(timeout=5)
    await probe.wait_for(
        match(Event="Newexten", Uniqueid=f"{caller}-hl", Application="MusicOnHold"),
        timeout=10,
        since=mark,
        what="the dialplan holding the caller after ccqueue died",
    )
    (still,) = await fetch(daemon.dsn, "select outcome from calls where call_id = $1", row["call_id"])
    assert still["outcome"] == "waiting"  # the dead process could not say more
    hung_up_at = time.time()
    await probe.hangup(f"{caller}-hl")  # the caller gives up while ccqueue is down
    await probe.wait_for(match(Event="Hangup", Uniqueid=f"{caller}-hl"), timeout=10, since=mark)
    daemon.start()
    closed = await wait_row(
        daemon.dsn, "select * from calls where call_id = $1", row["call_id"], check=lambda r: r["ended_at"] is not None
    )
    assert closed["outcome"] == "abandoned" and closed["version"] == row["version"] + 1
    assert abs(closed["ended_at"].timestamp() - hung_up_at) < 2
    kinds = [k for k, _ in await timeline(daemon.dsn, row["call_id"])]
    assert kinds[-1] == "call_ended" and "call_unfollowed" not in kinds
