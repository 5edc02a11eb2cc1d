"""An active/standby pair through the real Asterisk, baresip agents and PostgreSQL: the
active is killed with callers waiting and one talking, the standby takes over within
5 s without anyone reconfiguring Asterisk, and the old active, back, stays standby.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.baresip import Softphone
from testbed.sandbox import AsteriskSandbox
from testbed.standby import StandbyPair, is_active, is_standby, measure_takeover, wait_for
from tests.e2e.conftest import (
    AGI_PORT,
    HTTP_PORT,
    STANDBY_AGI_PORT,
    STANDBY_HTTP_PORT,
    fetch,
    wait_row,
)
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e

TAKEOVER_TARGET_S = 5.0


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in\n{text[:2000]}")


@pytest.fixture
def pair(
    asterisk: AsteriskSandbox, phones: dict[str, Softphone], e2e_config: Path, database: str, tmp_path: Path
) -> Iterator[StandbyPair]:
    folder = tmp_path / "config"
    shutil.copytree(e2e_config, folder)
    with (folder / "ccqueue.yaml").open("a") as f:
        f.write("standby: {poll_s: 0.25, check_timeout_s: 2}\n")
    for phone in phones.values():
        phone.set_answermode("auto")
    started = StandbyPair(
        config=folder, dsn=database, workdir=tmp_path, ports=[(HTTP_PORT, AGI_PORT), (STANDBY_HTTP_PORT, STANDBY_AGI_PORT)]
    )
    try:
        started.start()
        yield started
    finally:
        started.stop()
        asterisk.rx("channel request hangup all")
        asterisk.rx("database deltree ccqueue-away")
        for member in started.members:
            log = member.log_text()
            assert "Traceback" not in log, log[-3000:]


async def test_the_standby_takes_over_a_killed_active_keeping_everyone(pair: StandbyPair, probe: AmiProbe) -> None:
    first, second = pair.members
    dsn = first.dsn
    # The standby serves nothing: no FastAGI listener, its role on /healthz and /metrics.
    assert pair.active() is first
    assert is_standby(second.health()) and refuses(STANDBY_AGI_PORT) and not refuses(AGI_PORT)
    assert second.http("GET", "/api/agents")[0] == 503
    assert metric(second.text("/metrics"), "ccqueue_active") == 0.0
    assert metric(first.text("/metrics"), "ccqueue_active") == 1.0

    assert first.http("POST", "/api/agents/agent1/login")[0] == 200
    await wait_row(dsn, "select * from agent_presence where agent_id = $1 and presence = $2", "agent1", "available", timeout=5)
    talker = await probe.call_hotline(caller="+15550901")
    talking = await wait_row(dsn, "select * from calls where caller = $1", "+15550901", check=lambda r: r["answered_at"])
    assert talking["agent"] == "agent1"
    waiters = ["+15550902", "+15550903", "+15550904"]
    uids = {}
    for number in waiters:
        uids[number] = await probe.call_hotline(caller=number)
        await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{uids[number]}-hl"), timeout=15, what="on hold")
        await asyncio.sleep(0.3)
    before = {n: await wait_row(dsn, "select * from calls where caller = $1", n, check=lambda r: r["queued_at"]) for n in waiters}

    mark = len(probe.events)
    result = await asyncio.to_thread(measure_takeover, pair)
    print(f"\ntakeover: {result}")
    assert result["new"] == second.name and result["takeover_s"] < TAKEOVER_TARGET_S
    # The old active, started again, stays standby: no FastAGI, no writes of its own.
    assert result["old_active_fenced"] is True and refuses(AGI_PORT)
    lease = (await fetch(dsn, "select epoch, holder from ccqueue_lease"))[0]
    assert lease["epoch"] == result["new_epoch"] and f"agi={STANDBY_AGI_PORT}" in lease["holder"]
    assert metric(second.text("/metrics"), "ccqueue_takeovers_total") == 1.0
    # An action sent to the old one is refused, and nothing of it reaches PostgreSQL.
    assert first.http("POST", "/api/agents/agent2/login")[0] == 503
    assert await fetch(dsn, "select * from agent_presence where agent_id = $1", "agent2") == []
    # Nobody heard the apology, nobody was hung up.
    assert not probe.seen(
        lambda m: match(Event="Newexten", Application="Playback")(m) and "unavailable" in m.get("AppData", ""), since=mark
    )
    assert not probe.seen(match(Event="Hangup"), since=mark)

    # The new active follows the conversation and holds the waiting callers.
    assert second.http("GET", "/api/agents/agent1")[1]["state"] == "on_call"
    deadline = time.monotonic() + 10
    while {q["name"]: q["waiting"] for q in second.http("GET", "/api/queues")[1]}["support"] != 3:
        assert time.monotonic() < deadline, second.http("GET", "/api/queues")
        await asyncio.sleep(0.1)
    hung_up_at = time.time()
    await probe.hangup(f"{talker}-hl")
    closed = await wait_row(dsn, "select * from calls where caller = $1", "+15550901", check=lambda r: r["ended_at"])
    assert closed["outcome"] == "answered" and closed["agent"] == "agent1"
    assert closed["answered_at"] == talking["answered_at"] and abs(closed["ended_at"].timestamp() - hung_up_at) < 2

    # A new call reaches the new active without Asterisk being told: the dialplan tries
    # the first address (refused by the old active, now standby), then the second.
    late = await probe.call_hotline(caller="+15550905")
    late_row = await wait_row(
        dsn, "select * from calls where caller = $1", "+15550905", check=lambda r: r["queued_at"], timeout=5
    )
    uids["+15550905"] = late
    before["+15550905"] = late_row
    waiters.append("+15550905")

    # The waiting callers are answered in their original order (the late one last).
    answered = []
    for number in waiters:
        row = await wait_row(dsn, "select * from calls where caller = $1", number, check=lambda r: r["answered_at"], timeout=30)
        answered.append(row)
        assert row["arrived_at"] == before[number]["arrived_at"] and row["queued_at"] == before[number]["queued_at"]
        await probe.hangup(f"{uids[number]}-hl")
    assert [r["answered_at"] for r in answered] == sorted(r["answered_at"] for r in answered)
    for number in [*waiters, "+15550901"]:  # no call has two rows
        await wait_row(dsn, "select * from calls where caller = $1", number, check=lambda r: r["ended_at"])
        assert len(await fetch(dsn, "select * from calls where caller = $1", number)) == 1
    # Still one active, the same; the old one never took the lease back.
    assert pair.active() is second and is_standby(first.health())


async def test_an_active_that_loses_its_lock_session_steps_down_and_its_callers_reach_the_other(
    pair: StandbyPair, probe: AmiProbe
) -> None:
    """The database ends the active's lock session (a failover, a network cut) while the
    process lives on: it stops serving FastAGI at once, its callers fall back into the
    dialplan's hold loop and reach the other member, which takes over."""
    first, second = pair.members
    dsn = first.dsn
    assert first.http("POST", "/api/agents/agent1/login")[0] == 200
    assert first.http("POST", "/api/agents/agent1/pause", {"reason": "meeting"})[0] == 200
    await wait_row(dsn, "select * from agent_presence where agent_id = $1 and presence = $2", "agent1", "paused", timeout=5)
    waiters = ["+15550911", "+15550912"]
    uids = {}
    for number in waiters:
        uids[number] = await probe.call_hotline(caller=number)
        await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{uids[number]}-hl"), timeout=15, what="on hold")
        await asyncio.sleep(0.3)
    before = {n: await wait_row(dsn, "select * from calls where caller = $1", n, check=lambda r: r["queued_at"]) for n in waiters}

    mark = len(probe.events)
    cut_at = time.monotonic()
    cut = await fetch(
        dsn,
        """select pg_terminate_backend(l.pid) from pg_locks l join pg_stat_activity a on a.pid = l.pid
            where l.locktype = 'advisory' and l.granted and a.application_name = 'ccqueue-lease'""",
    )
    assert len(cut) == 1  # the active's lock session only
    took = await asyncio.to_thread(wait_for, second, is_active, since=cut_at)
    print(f"\ntakeover after the active lost its lock session: {took:.3f} s")
    assert took < TAKEOVER_TARGET_S
    assert is_standby(first.health()) and refuses(AGI_PORT)
    assert first.proc is not None and first.proc.poll() is None  # alive, and standby
    assert not probe.seen(match(Event="Hangup"), since=mark)

    # agent1 is back from its pause on the new active; the callers are answered in order.
    assert second.http("GET", "/api/agents/agent1")[1]["state"] == "paused"
    assert second.http("POST", "/api/agents/agent1/unpause")[0] == 200
    answered = []
    for number in waiters:
        row = await wait_row(dsn, "select * from calls where caller = $1", number, check=lambda r: r["answered_at"], timeout=30)
        answered.append(row)
        assert row["arrived_at"] == before[number]["arrived_at"] and row["agent"] == "agent1"
        await probe.hangup(f"{uids[number]}-hl")
    assert answered[0]["answered_at"] < answered[1]["answered_at"]
    for number in waiters:
        await wait_row(dsn, "select * from calls where caller = $1", number, check=lambda r: r["ended_at"])
        assert len(await fetch(dsn, "select * from calls where caller = $1", number)) == 1
    assert "stepped_down" in first.log_text() and pair.active() is second
