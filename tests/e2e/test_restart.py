"""ccqueue restarts under live calls, through the real Asterisk, baresip agents and
PostgreSQL: nobody is lost.

- ``kill -9`` and SIGTERM with callers waiting and one in conversation: the waiting
  callers stay on the line (the dialplan's hold loop, music, no apology), the new
  process takes them back in their order with their original arrival times, and an
  agent answers them; the conversation's row is closed when it really ends; agents keep
  their login and pause.
- A call placed while ccqueue is down gets exactly one row, whether the caller hangs up
  before ccqueue is back or is still holding when it comes; a second restart adds
  nothing.
- A conversation that ends while ccqueue is down is closed by the next process with its
  true end and outcome, once; one that ccqueue saw end itself is not closed again.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from pathlib import Path

import pytest

from testbed.baresip import Softphone
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import HTTP_PORT, Daemon, fetch, wait_row
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e

# The target: back in service within this long after the new process starts.
BACK_IN_SERVICE_S = 5.0


async def until(check, *, timeout: float = 15, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        await asyncio.sleep(0.05)


def agent(daemon: Daemon, agent_id: str) -> dict:  # type: ignore[type-arg]
    return daemon.http("GET", f"/api/agents/{agent_id}")[1]


def next_daemon(old: Daemon, tmp_path: Path, name: str) -> Daemon:
    return Daemon(
        config=old.config,
        dsn=old.dsn,
        http_port=HTTP_PORT,
        log_path=tmp_path / f"{name}.log",
        spool_dir=old.spool_dir,
        log_args=("--log-level", "debug"),
    )


def stop_hard(daemon: Daemon, how: str) -> None:
    """End the process: SIGKILL (nothing flushed), or SIGTERM (a graceful stop)."""
    proc = daemon.proc
    assert proc is not None
    proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
    proc.wait(timeout=20)
    daemon.proc = None


def restart(daemon: Daemon) -> float:
    """Start the next process; returns how long it took to be back in service."""
    began = time.monotonic()
    daemon.start(timeout=BACK_IN_SERVICE_S * 3)
    return time.monotonic() - began


def restored_after_s(daemon: Daemon) -> float:
    found = re.search(r"state_restored.*?after_s=([0-9.]+)", daemon.log_text())
    assert found, daemon.log_text()[-3000:]
    return float(found.group(1))


async def stored_presence(dsn: str, agent_id: str, presence: str) -> None:
    """Wait until the agent's presence is in PostgreSQL (it is written at once)."""
    await wait_row(dsn, "select * from agent_presence where agent_id = $1 and presence = $2", agent_id, presence, timeout=5)


async def rows_of(dsn: str, caller: str) -> list:  # type: ignore[type-arg]
    return await fetch(dsn, "select * from calls where caller = $1", caller)


@pytest.mark.parametrize("how", ["kill", "term"])
async def test_a_restart_keeps_waiting_callers_in_their_place_and_follows_the_conversation(
    how: str,
    daemon: Daemon,
    probe: AmiProbe,
    phones: dict[str, Softphone],
    asterisk: AsteriskSandbox,
    tmp_path: Path,
) -> None:
    dsn = daemon.dsn
    assert daemon.http("POST", "/api/agents/agent1/login")[0] == 200
    assert daemon.http("POST", "/api/agents/agent2/login")[0] == 200
    assert daemon.http("POST", "/api/agents/agent2/pause", {"reason": "lunch"})[0] == 200

    # A conversation: agent1 answers the first caller.
    talker = await probe.call_hotline(caller="+15550701")
    talking = await wait_row(dsn, "select * from calls where caller = $1", "+15550701", check=lambda r: r["answered_at"])
    assert talking["agent"] == "agent1"
    # Three callers wait behind it, in this order.
    waiters = ["+15550702", "+15550703", "+15550704"]
    uids = {}
    for number in waiters:
        uids[number] = await probe.call_hotline(caller=number)
        await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{uids[number]}-hl"), timeout=15, what="on hold")
        await asyncio.sleep(0.3)
    before = {n: await wait_row(dsn, "select * from calls where caller = $1", n, check=lambda r: r["queued_at"]) for n in waiters}

    mark = len(probe.events)
    stop_hard(daemon, how)
    # Nobody heard the apology, nobody was hung up: the callers hold in the dialplan.
    await asyncio.sleep(3)
    held = [m for m in probe.seen(match(Event="Newexten", Application="MusicOnHold"), since=mark)]
    assert {m["Uniqueid"] for m in held} >= {f"{uids[n]}-hl" for n in waiters}
    assert not probe.seen(
        lambda m: match(Event="Newexten", Application="Playback")(m) and "unavailable" in m.get("AppData", ""), since=mark
    )
    assert not probe.seen(match(Event="Hangup"), since=mark)

    new = next_daemon(daemon, tmp_path, f"after-{how}")
    back_in = restart(new)
    try:
        after_s = restored_after_s(new)
        print(f"\nback in service after {how}: healthy {back_in:.2f} s after spawn; state restored {after_s:.3f} s after serving")
        assert back_in < BACK_IN_SERVICE_S

        # Agents keep their login and pause; agent1 is still on its call.
        assert agent(new, "agent1")["state"] == "on_call"
        paused = agent(new, "agent2")
        assert (paused["state"], paused["reason"]) == ("paused", "lunch")
        assert agent(new, "agent3")["state"] == "logged_out"
        _, queues = new.http("GET", "/api/queues")
        assert {q["name"]: q["waiting"] for q in queues}["support"] == 3

        # The conversation is followed to its end: the caller hangs up, the row closes.
        hung_up_at = time.time()
        await probe.hangup(f"{talker}-hl")
        closed = await wait_row(dsn, "select * from calls where caller = $1", "+15550701", check=lambda r: r["ended_at"])
        assert closed["outcome"] == "answered" and closed["agent"] == "agent1"
        assert closed["answered_at"] == talking["answered_at"] and closed["arrived_at"] == talking["arrived_at"]
        assert abs(closed["ended_at"].timestamp() - hung_up_at) < 2

        # The waiting callers are answered in their order, with their original arrival times.
        answered = []
        for number in waiters:
            row = await wait_row(
                dsn, "select * from calls where caller = $1", number, check=lambda r: r["answered_at"], timeout=30
            )
            answered.append(row)
            assert row["arrived_at"] == before[number]["arrived_at"] and row["queued_at"] == before[number]["queued_at"]
            await probe.hangup(f"{uids[number]}-hl")  # the agent is free for the next one after wrap-up
        assert [r["answered_at"] for r in answered] == sorted(r["answered_at"] for r in answered)
        assert {r["agent"] for r in answered} == {"agent1"}  # agent2 stayed paused
        for number in [*waiters, "+15550701"]:
            await wait_row(dsn, "select * from calls where caller = $1", number, check=lambda r: r["ended_at"])
            assert len(await rows_of(dsn, number)) == 1
        kinds = [
            r["kind"]
            for r in await fetch(dsn, "select kind from call_events where call_id = $1 order by seq", answered[0]["call_id"])
        ]
        assert "call_restored" in kinds and kinds[-1] == "call_ended" and "call_unfollowed" not in kinds
    finally:
        new.stop()
        sys_log = new.log_text()
        assert "Traceback" not in sys_log, sys_log[-3000:]


async def test_a_call_placed_while_ccqueue_is_down_gets_exactly_one_row(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone], asterisk: AsteriskSandbox, tmp_path: Path
) -> None:
    dsn = daemon.dsn
    assert daemon.http("POST", "/api/agents/agent1/login")[0] == 200
    await stored_presence(dsn, "agent1", "available")
    stop_hard(daemon, "kill")

    # One caller gives up while ccqueue is down; another is still holding when it is back.
    gone = await probe.call_hotline(caller="+15550801")
    holding = await probe.call_hotline(caller="+15550802")
    await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{holding}-hl"), timeout=15, what="on hold")
    await asyncio.sleep(1)
    gave_up_at = time.time()
    await probe.hangup(f"{gone}-hl")
    await asyncio.sleep(1)

    new = next_daemon(daemon, tmp_path, "after-down")
    restart(new)
    try:
        row = await wait_row(dsn, "select * from calls where caller = $1", "+15550801", check=lambda r: r["ended_at"])
        assert row["outcome"] == "abandoned" and row["hotline"] == "100"
        assert abs(row["ended_at"].timestamp() - gave_up_at) < 2 and row["arrived_at"] < row["ended_at"]
        kinds = [
            r["kind"] for r in await fetch(dsn, "select kind from call_events where call_id = $1 order by seq", row["call_id"])
        ]
        assert kinds == ["call_arrived", "call_ended"]

        # The holding caller is taken as it arrived (the dialplan's time) and answered.
        held = await wait_row(
            dsn, "select * from calls where caller = $1", "+15550802", check=lambda r: r["answered_at"], timeout=20
        )
        assert held["agent"] == "agent1" and held["arrived_at"] < row["ended_at"]
        await probe.hangup(f"{holding}-hl")
        await wait_row(dsn, "select * from calls where caller = $1", "+15550802", check=lambda r: r["ended_at"])
    finally:
        new.stop()

    # Another start reads the same entry again: nothing is added.
    again = next_daemon(daemon, tmp_path, "again")
    restart(again)
    try:
        await asyncio.sleep(1)
        assert len(await rows_of(dsn, "+15550801")) == 1 and len(await rows_of(dsn, "+15550802")) == 1
        assert (
            len(await fetch(dsn, "select 1 from call_events e join calls c using (call_id) where c.caller = $1", "+15550801"))
            == 2
        )
        # Recorded, the line is deleted from Asterisk's database by the next caller's session.
        caller = await probe.call_hotline(caller="+15550803")
        await wait_row(dsn, "select * from calls where caller = $1", "+15550803")
        await until(lambda: "ccqueue-away" not in asterisk.rx("database show ccqueue-away"), what="the line deleted")
        await probe.hangup(f"{caller}-hl")
    finally:
        again.stop()


async def test_a_caller_killed_with_its_session_just_opened_is_recorded_once(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone], asterisk: AsteriskSandbox, tmp_path: Path
) -> None:
    """The session reached ccqueue moments before a kill -9 (its row may not have been
    written yet); the caller hangs up while ccqueue is down: one row all the same."""
    dsn = daemon.dsn
    mark = len(probe.events)
    caller = await probe.call_hotline(caller="+15550901")
    await probe.wait_for(
        lambda m: match(Event="AGIExecStart", Uniqueid=f"{caller}-hl")(m) and "CCQ_AWAY" in m.get("Command", ""),
        timeout=15,
        since=mark,
        what="the session's first commands",
    )
    stop_hard(daemon, "kill")
    await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{caller}-hl"), timeout=15, since=mark, what="held")
    await probe.hangup(f"{caller}-hl")
    await asyncio.sleep(1)
    new = next_daemon(daemon, tmp_path, "after-early-kill")
    restart(new)
    try:
        row = await wait_row(dsn, "select * from calls where caller = $1", "+15550901", check=lambda r: r["ended_at"])
        assert row["outcome"] == "abandoned"
        assert len(await rows_of(dsn, "+15550901")) == 1
        events = await fetch(dsn, "select kind, data from call_events where call_id = $1 order by seq", row["call_id"])
        assert events[-1]["kind"] == "call_ended" and json.loads(events[-1]["data"])["while"] == "ccqueue away"
    finally:
        new.stop()


async def test_kill_with_twelve_waiting_and_three_talking_loses_nobody(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone], asterisk: AsteriskSandbox, tmp_path: Path
) -> None:
    """The scale of a small contact centre's busy minute: three conversations, twelve
    callers waiting; ``kill -9``; the new process is back in service within 5 s with
    every one of them, and the oldest waiting caller is the next one answered."""
    dsn = daemon.dsn
    talkers = [f"+1555071{n}" for n in range(3)]
    waiters = [f"+155507{n:02d}" for n in range(20, 32)]
    uids: dict[str, str] = {}
    for n, number in enumerate(talkers):
        assert daemon.http("POST", f"/api/agents/agent{n + 1}/login")[0] == 200
        uids[number] = await probe.call_hotline(caller=number)
        await wait_row(dsn, "select * from calls where caller = $1", number, check=lambda r: r["answered_at"])
    for number in waiters:
        uids[number] = await probe.call_hotline(caller=number)
        await asyncio.sleep(0.1)
    for number in waiters:
        await wait_row(dsn, "select * from calls where caller = $1", number, check=lambda r: r["queued_at"])
    before = {r["caller"]: r for r in await fetch(dsn, "select * from calls")}

    stop_hard(daemon, "kill")
    await asyncio.sleep(1)
    new = next_daemon(daemon, tmp_path, "after-kill-busy")
    back_in = restart(new)
    try:
        after_s = restored_after_s(new)
        print(f"\n3 talking + 12 waiting: healthy {back_in:.2f} s after spawn; state restored {after_s:.3f} s after serving")
        assert back_in < BACK_IN_SERVICE_S
        assert [agent(new, f"agent{n}")["state"] for n in (1, 2, 3)] == ["on_call"] * 3
        _, queues = new.http("GET", "/api/queues")
        assert {q["name"]: q["waiting"] for q in queues}["support"] == 12

        # One conversation ends: its agent, after wrap-up, takes the caller who came first.
        await probe.hangup(f"{uids[talkers[0]]}-hl")
        first = await wait_row(
            dsn, "select * from calls where caller = $1", waiters[0], check=lambda r: r["answered_at"], timeout=20
        )
        assert first["agent"] == "agent1" and first["arrived_at"] == before[waiters[0]]["arrived_at"]
        for number in waiters[1:]:
            row = (await rows_of(dsn, number))[0]
            assert row["answered_at"] is None and row["arrived_at"] == before[number]["arrived_at"]
    finally:
        for uid in uids.values():
            await probe.hangup(f"{uid}-hl")
        for number in [*talkers, *waiters]:
            row = await wait_row(dsn, "select * from calls where caller = $1", number, check=lambda r: r["ended_at"])
            assert row["outcome"] in ("answered", "abandoned") and len(await rows_of(dsn, number)) == 1
        new.stop()


async def events_of(dsn: str, call_id: str) -> list:  # type: ignore[type-arg]
    return await fetch(dsn, "select kind, at, data from call_events where call_id = $1 order by seq", call_id)


async def test_a_conversation_that_ends_while_ccqueue_is_down_is_closed_at_its_true_end(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone], asterisk: AsteriskSandbox, tmp_path: Path
) -> None:
    dsn = daemon.dsn
    assert daemon.http("POST", "/api/agents/agent1/login")[0] == 200
    # One conversation ccqueue sees end itself, then one that ends while it is down.
    seen = await probe.call_hotline(caller="+15550951")
    seen_row = await wait_row(dsn, "select * from calls where caller = $1", "+15550951", check=lambda r: r["answered_at"])
    await probe.hangup(f"{seen}-hl")
    await wait_row(dsn, "select * from calls where caller = $1", "+15550951", check=lambda r: r["ended_at"])
    await until(lambda: agent(daemon, "agent1")["state"] == "available", timeout=30, what="agent1 free")
    talker = await probe.call_hotline(caller="+15550952")
    talking = await wait_row(dsn, "select * from calls where caller = $1", "+15550952", check=lambda r: r["answered_at"])
    assert talking["agent"] == "agent1"

    stop_hard(daemon, "kill")
    await asyncio.sleep(1)
    hung_up_at = time.time()
    await probe.hangup(f"{talker}-hl")
    await asyncio.sleep(2)

    new = next_daemon(daemon, tmp_path, "after-ended-away")
    restart(new)
    try:
        row = await wait_row(dsn, "select * from calls where caller = $1", "+15550952", check=lambda r: r["ended_at"])
        assert row["outcome"] == "answered" and row["agent"] == "agent1"
        assert row["answered_at"] == talking["answered_at"] and row["arrived_at"] == talking["arrived_at"]
        assert abs(row["ended_at"].timestamp() - hung_up_at) < 2
        await asyncio.sleep(2)  # the sweep of unfollowed calls has run by now
        events = await events_of(dsn, row["call_id"])
        kinds = [e["kind"] for e in events]
        assert kinds[0] == "call_arrived" and kinds[-1] == "call_ended" and "call_unfollowed" not in kinds
        assert kinds.count("call_ended") == 1 and events[-1]["at"] == row["ended_at"]
        ended = json.loads(events[-1]["data"])
        assert ended["outcome"] == "answered" and ended["while"] == "ccqueue away" and ended["agent_leg"]
        # The conversation ccqueue saw end is not closed a second time.
        assert [e["kind"] for e in await events_of(dsn, seen_row["call_id"])].count("call_ended") == 1
        # Recorded (or followed), the lines are deleted by the next callers' sessions.
        caller = await probe.call_hotline(caller="+15550953")
        await wait_row(dsn, "select * from calls where caller = $1", "+15550953")
        await until(lambda: "ccqueue-away" not in asterisk.rx("database show ccqueue-away"), what="the lines deleted")
        await probe.hangup(f"{caller}-hl")
        await wait_row(dsn, "select * from calls where caller = $1", "+15550953", check=lambda r: r["ended_at"])
    finally:
        new.stop()

    # Another start changes nothing.
    again = next_daemon(daemon, tmp_path, "again-ended-away")
    restart(again)
    try:
        await asyncio.sleep(2)
        for number in ("+15550951", "+15550952"):
            rows = await rows_of(dsn, number)
            assert len(rows) == 1 and rows[0]["outcome"] == "answered"
            kinds = [e["kind"] for e in await events_of(dsn, rows[0]["call_id"])]
            assert kinds.count("call_ended") == 1 and "call_unfollowed" not in kinds
    finally:
        again.stop()
