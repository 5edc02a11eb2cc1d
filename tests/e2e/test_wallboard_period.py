"""The wallboard's period counts survive a restart: real calls through Asterisk to a
baresip agent, ccqueue stopped and started again, the counts read back from PostgreSQL
and new calls added to them."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.baresip import Softphone
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import Daemon, running_daemon, wait_row
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e


@pytest.fixture
def period_daemon(
    asterisk: AsteriskSandbox, phones: dict[str, Softphone], e2e_config: Path, database: str, tmp_path: Path
) -> Iterator[Daemon]:
    """ccqueue with a period that began an hour ago (UTC), so that no run of this test
    sees it turn over."""
    config = tmp_path / "config"
    shutil.copytree(e2e_config, config)
    starts = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%H:%M")
    (config / "wallboard.yaml").write_text(f'wallboard:\n  period: {{label: Shift, starts_at: "{starts}", time_zone: UTC}}\n')
    with running_daemon(asterisk, phones, config, database, tmp_path) as d:
        yield d


def board(daemon: Daemon) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    status, data = daemon.http("GET", "/api/wallboard")
    assert status == 200
    queue = next(q for q in data["queues"] if q["name"] == "support")
    agents = {a["id"]: a for a in data["agents"]}
    return data["period"], queue, agents


async def until_board(daemon: Daemon, check: Any, *, timeout: float = 15.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        period, queue, agents = board(daemon)
        if check(period, queue, agents):
            return
        assert time.monotonic() < deadline, f"{what}: {period} {queue} {agents.get('agent1')}"
        await asyncio.sleep(0.2)


def figures(queue: dict[str, Any]) -> tuple[int, int, int, int]:
    return queue["offered"], queue["answered"], queue["abandoned"], queue["short_abandoned"]


async def answered_call(daemon: Daemon, probe: AmiProbe, number: str) -> None:
    mark = len(probe.events)
    caller = await probe.call_hotline(caller=number)
    await probe.wait_for(match(Event="BridgeEnter", Uniqueid=f"{caller}-hl"), timeout=15, since=mark, what="caller bridged")
    await probe.hangup(caller)
    await wait_row(daemon.dsn, "select * from calls where caller = $1", number, check=lambda r: r["ended_at"] is not None)


async def test_period_counts_are_kept_across_a_restart(period_daemon: Daemon, probe: AmiProbe) -> None:
    daemon = period_daemon
    period, queue, _ = board(daemon)
    assert period["label"] == "Shift" and figures(queue) == (0, 0, 0, 0)
    # One call answered by agent1, then one abandoned after 6 s with nobody logged in.
    assert daemon.http("POST", "/api/agents/agent1/login")[0] == 200
    await answered_call(daemon, probe, "+15550401")
    assert daemon.http("POST", "/api/agents/agent1/logout")[0] == 200
    await wait_row(daemon.dsn, "select * from agent_state_intervals where agent_id = 'agent1' and state = 'wrap_up'")
    mark = len(probe.events)
    caller = await probe.call_hotline(caller="+15550402")
    await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{caller}-hl"), timeout=15, since=mark, what="waiting")
    await asyncio.sleep(6.5)  # past the 5 s short-abandon threshold
    await probe.hangup(caller)
    await wait_row(daemon.dsn, "select * from calls where caller = $1", "+15550402", check=lambda r: r["outcome"] == "abandoned")
    await until_board(
        daemon,
        lambda p, q, a: figures(q) == (2, 1, 1, 0) and a["agent1"]["handled_today"] == 1,
        what="the live counts",
    )

    await asyncio.to_thread(daemon.stop)
    await asyncio.to_thread(daemon.start)
    # Read back from PostgreSQL: the same figures, and the page no longer says "since start-up".
    await until_board(daemon, lambda p, q, a: p["complete"], what="the period read back")
    period, queue, agents = board(daemon)
    assert figures(queue) == (2, 1, 1, 0)
    assert queue["service_level_period"] == 0.5  # answered at once; the abandon counts against it
    assert agents["agent1"]["handled_today"] == 1

    # A call after the restart adds to what was read back.
    assert daemon.http("POST", "/api/agents/agent1/login")[0] == 200
    await answered_call(daemon, probe, "+15550403")
    await until_board(
        daemon,
        lambda p, q, a: figures(q) == (3, 2, 1, 0) and a["agent1"]["handled_today"] == 2,
        what="live counts on top of the read-back ones",
    )
