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
from tests.e2e.conftest import AMI_SECRET, AMI_USER, Daemon, fetch, free_block, running_asterisk, wait_row, write_config
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


async def test_a_caller_that_never_reached_ccqueue_and_died_with_asterisk_gets_its_row_once_the_link_is_back(
    own_asterisk: AsteriskSandbox, database: str, tmp_path: Path
) -> None:
    """A caller held by the dialplan as if ccqueue were away (its FastAGI address, passed
    down to the hotline half, answers nothing) is dropped by Asterisk's restart: the line
    its hang-up handler left is recorded when the AMI link comes back, not at ccqueue's
    next start; once, and deleted from Asterisk's database afterwards."""
    daemon = Daemon(
        config=tmp_path / "config", dsn=database, http_port=HTTP, log_path=tmp_path / "ccqueue.log", spool_dir=tmp_path / "spool"
    )
    daemon.start()
    try:
        async with AmiProbe(port=AMI, username=AMI_USER, secret=AMI_SECRET) as probe:
            uid = f"probe-unreached-{int(time.time())}"
            response = await probe.client.send(
                {
                    "Action": "Originate", "Channel": "Local/100@hotline", "Context": "ccqueue-test-caller",
                    "Exten": "wait", "Priority": "1", "CallerID": '"Customer" <+15550451>', "ChannelId": uid,
                    "OtherChannelId": f"{uid}-hl", "Async": "true", "Timeout": "30000",
                    "Variable": f"_CCQ_AGIS=agi://127.0.0.1:{BASE + 9}",  # nothing listens there
                },
                timeout=35,
            )  # fmt: skip
            assert any((m.get("Response") or "") == "Success" for m in (response if isinstance(response, list) else [response]))
            await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{uid}-hl"), timeout=15, what="caller held")

        dropped_at = time.time()
        own_asterisk.stop()
        own_asterisk.start()
        deadline = time.monotonic() + 30
        while daemon.http("GET", "/healthz")[1]["ami"] != "ready":
            assert time.monotonic() < deadline, "ccqueue did not reconnect:\n" + daemon.log_text()[-3000:]
            await asyncio.sleep(0.2)

        row = await wait_row(
            database, "select * from calls where caller = $1", "+15550451", check=lambda r: r["ended_at"] is not None
        )
        assert (row["outcome"], row["call_id"], row["hotline"]) == ("abandoned", f"away-{uid}-hl", "100")
        assert row["arrived_at"].timestamp() < dropped_at <= row["ended_at"].timestamp() < dropped_at + 10
        kinds = await fetch(database, "select kind from call_events where call_id = $1 order by seq", row["call_id"])
        assert [k["kind"] for k in kinds] == ["call_arrived", "call_ended"]

        # The next caller's session deletes the line; nothing is recorded twice.
        async with AmiProbe(port=AMI, username=AMI_USER, secret=AMI_SECRET) as probe:
            caller = await probe.call_hotline(caller="+15550452")
            await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{caller}-hl"), timeout=15, what="caller on hold")
            deadline = time.monotonic() + 10
            while "ccqueue-away" in own_asterisk.rx("database show ccqueue-away"):
                assert time.monotonic() < deadline, "the line was not deleted"
                await asyncio.sleep(0.2)
            await probe.hangup(caller)
        assert len(await fetch(database, "select 1 from calls where caller = $1", "+15550451")) == 1
    finally:
        daemon.stop()
