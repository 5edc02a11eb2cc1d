"""Asterisk restarts under a running ccqueue: the AMI link comes back by itself, and the
calls Asterisk dropped meanwhile are recorded as ended — none is lost, none left open.

This test has an Asterisk instance of its own, so restarting it disturbs no other test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import AMI_SECRET, AMI_USER, Daemon, free_block, running_asterisk, wait_row, write_config
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e

BASE = free_block(10)
AMI, SIP, AGI, HTTP = BASE, BASE + 1, BASE + 2, BASE + 3
RTP = free_block(200, first=30000, last=50000)


def waiting(daemon: Daemon) -> int:
    _, queues = daemon.http("GET", "/api/queues")
    return int({q["name"]: q["waiting"] for q in queues}["support"])


@pytest.fixture
def own_asterisk(tmp_path: Path) -> Iterator[AsteriskSandbox]:
    config = tmp_path / "config"
    write_config(config, ami=AMI, agi=AGI, http=HTTP)
    with running_asterisk("reconnect", config, ami=AMI, sip=SIP, agi=AGI, rtp=(RTP, RTP + 199)) as sandbox:
        yield sandbox


async def test_ami_reconnects_after_asterisk_restart_and_dropped_calls_are_recorded(
    own_asterisk: AsteriskSandbox, database: str, tmp_path: Path
) -> None:
    daemon = Daemon(
        config=tmp_path / "config", dsn=database, http_port=HTTP, log_path=tmp_path / "ccqueue.log", spool_dir=tmp_path / "spool"
    )
    daemon.start()
    try:
        async with AmiProbe(port=AMI, username=AMI_USER, secret=AMI_SECRET) as probe:
            caller = await probe.call_hotline(caller="+15550401")  # nobody logged in: it waits
            await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{caller}-hl"), timeout=15, what="caller on hold")
        assert waiting(daemon) == 1

        own_asterisk.stop()  # drops every channel, and ccqueue's AMI link with them
        deadline = time.monotonic() + 10
        while daemon.http("GET", "/healthz")[1]["ami"] == "ready":
            assert time.monotonic() < deadline, "ccqueue did not notice the AMI link was gone"
            await asyncio.sleep(0.1)
        assert daemon.http("GET", "/healthz")[0] == 503

        own_asterisk.start()
        deadline = time.monotonic() + 30  # reconnect backoff: 0.5 s doubling, at most 10 s
        while daemon.http("GET", "/healthz")[1]["ami"] != "ready":
            assert time.monotonic() < deadline, "ccqueue did not reconnect:\n" + daemon.log_text()[-3000:]
            await asyncio.sleep(0.2)

        # The caller Asterisk dropped is recorded as ended, once, and nobody waits any more.
        row = await wait_row(
            database, "select * from calls where caller = $1", "+15550401", check=lambda r: r["ended_at"] is not None
        )
        assert row["outcome"] == "abandoned"
        assert waiting(daemon) == 0

        # And calls work again over the new link.
        async with AmiProbe(port=AMI, username=AMI_USER, secret=AMI_SECRET) as probe:
            caller = await probe.call_hotline(caller="+15550402")
            await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{caller}-hl"), timeout=15, what="caller on hold")
            await probe.hangup(caller)
        row = await wait_row(
            database, "select * from calls where caller = $1", "+15550402", check=lambda r: r["ended_at"] is not None
        )
        assert row["outcome"] == "abandoned"
        assert "ami_login_failed" not in daemon.log_text()
    finally:
        daemon.stop()
