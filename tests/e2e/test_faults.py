"""Faults under live calls, through the real Asterisk, baresip agents and PostgreSQL
(the quick ones of ``bench/faults.py``): each call still ends with exactly one row, its
true outcome and its whole timeline.

- ccqueue's loop stalled (SIGSTOP) until Asterisk drops its AMI link for the manager's
  ``writetimeout``: after SIGCONT ccqueue logs in again and resynchronises — a call that
  ended while it was away is closed, its agent is free, and the caller who waited
  through the stall is answered.
- PostgreSQL stopped with a call in conversation and started again: the calls that
  ended meanwhile reach it from the spool, once.
- PostgreSQL stopped and the spool's disk full: ccqueue keeps running, keeps the
  records in memory, says so (an error with its id, a metric), and writes them all once
  the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.baresip import Softphone
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import AMI_USER, HTTP_PORT, Daemon, fetch, running_daemon, wait_row
from tests.support.postgres import PgServer
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e

FLOOD_BATCH = 25
FLOOD_MAX = 4000  # channels at most to fill the stalled link's buffers


async def until(check, *, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        await asyncio.sleep(0.1)


async def one_whole_row(dsn: str, caller: str, outcome: str) -> None:
    """Exactly one row for ``caller``, closed with ``outcome``, its timeline whole."""
    row = await wait_row(dsn, "select * from calls where caller = $1", caller, check=lambda r: r["ended_at"], timeout=20)
    assert row["outcome"] == outcome, dict(row)
    assert len(await fetch(dsn, "select 1 from calls where caller = $1", caller)) == 1
    events = await fetch(dsn, "select seq, kind from call_events where call_id = $1 order by seq", row["call_id"])
    seqs = [e["seq"] for e in events]
    assert events[0]["kind"] == "call_arrived" and events[-1]["kind"] == "call_ended", [e["kind"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs


def ami_sessions(asterisk: AsteriskSandbox) -> int:
    out = asterisk.rx("manager show connected")
    return sum(1 for line in out.splitlines() if line.split()[:1] == [AMI_USER])


async def test_a_stall_past_the_ami_write_timeout_ends_in_a_resynchronised_link(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone], asterisk: AsteriskSandbox
) -> None:
    dsn = daemon.dsn
    assert daemon.http("POST", "/api/agents/agent1/login")[0] == 200
    talker = await probe.call_hotline(caller="+15551001")
    await wait_row(dsn, "select * from calls where caller = $1", "+15551001", check=lambda r: r["answered_at"])
    waiter = await probe.call_hotline(caller="+15551002")
    await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{waiter}-hl"), timeout=15, what="the waiter on hold")

    sessions = ami_sessions(asterisk)
    assert daemon.proc is not None
    daemon.proc.send_signal(19)  # SIGSTOP: the event loop stands still, reading nothing
    try:
        # Asterisk drops a reader only when a write to it blocks past writetimeout, so
        # the socket buffers must fill: channels that answer and hang up make events.
        flooded = 0
        while ami_sessions(asterisk) >= sessions:
            assert flooded < FLOOD_MAX, "Asterisk kept the stalled link"
            await asyncio.gather(
                *(
                    probe.client.send(
                        {
                            "Action": "Originate",
                            "Channel": "Local/s@ccqueue-test-flood",
                            "Application": "Wait",
                            "Data": "0",
                            "Async": "true",
                        },
                        timeout=10,
                    )
                    for _ in range(FLOOD_BATCH)
                )
            )
            flooded += FLOOD_BATCH
        # The conversation ends while ccqueue has no link: it never hears this Hangup.
        await probe.hangup(f"{talker}-hl")
        await asyncio.sleep(0.5)
    finally:
        daemon.proc.send_signal(18)  # SIGCONT

    await until(lambda: daemon.http("GET", "/healthz")[1].get("ami") == "ready", timeout=20, what="AMI link again")
    await one_whole_row(dsn, "+15551001", "answered")
    # agent1, free again after its wrap-up, takes the caller who waited through the stall.
    await wait_row(dsn, "select * from calls where caller = $1", "+15551002", check=lambda r: r["answered_at"], timeout=20)
    await probe.hangup(f"{waiter}-hl")
    await one_whole_row(dsn, "+15551002", "answered")
    assert "Traceback" not in daemon.log_text()


async def test_postgresql_stopped_and_started_with_a_call_in_conversation(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone], pg_server: PgServer
) -> None:
    dsn = daemon.dsn
    assert daemon.http("POST", "/api/agents/agent1/login")[0] == 200
    talker = await probe.call_hotline(caller="+15551101")
    await wait_row(dsn, "select * from calls where caller = $1", "+15551101", check=lambda r: r["answered_at"])
    assert daemon.http("POST", "/api/agents/agent1/pause", {"reason": "break"})[0] == 200  # after this call

    pg_server.stop()
    try:
        await probe.hangup(f"{talker}-hl")  # the conversation ends with PostgreSQL away
        gone = await probe.call_hotline(caller="+15551102")  # a caller comes and gives up
        await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{gone}-hl"), timeout=15, what="on hold")
        await probe.hangup(f"{gone}-hl")
        # The writer finds PostgreSQL gone at its next write, and spools.
        await until(lambda: daemon.http("GET", "/healthz")[1].get("database") == "down", timeout=15, what="database down")
    finally:
        pg_server.start()
    await until(lambda: daemon.http("GET", "/healthz")[1].get("database") == "ready", timeout=20, what="database back")
    await one_whole_row(dsn, "+15551101", "answered")
    await one_whole_row(dsn, "+15551102", "abandoned")


@contextlib.contextmanager
def small_disk(folder: Path, size_kib: int = 256) -> Iterator[Path]:
    """A tmpfs of ``size_kib`` mounted at ``folder`` (the test runs as root)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(path: Path) -> None:
    with open(path, "wb", buffering=0) as fh:
        while True:
            try:
                fh.write(b"\0" * 4096)
                fh.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return


async def test_the_spool_disk_full_while_postgresql_is_down_keeps_every_record(
    asterisk: AsteriskSandbox,
    phones: dict[str, Softphone],
    e2e_config: Path,
    database: str,
    probe: AmiProbe,
    pg_server: PgServer,
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "disk") as disk, running_daemon(asterisk, phones, e2e_config, database, tmp_path) as daemon:
        # The same daemon again, its spool on the small disk.
        daemon.stop()
        daemon.spool_dir = disk / "spool"
        daemon.start()
        assert daemon.http("POST", "/api/agents/agent1/login")[0] == 200
        talker = await probe.call_hotline(caller="+15551201")
        await wait_row(database, "select * from calls where caller = $1", "+15551201", check=lambda r: r["answered_at"])
        assert daemon.http("POST", "/api/agents/agent1/pause", {"reason": "break"})[0] == 200  # after this call

        fill(disk / "filler")
        pg_server.stop()
        try:
            await probe.hangup(f"{talker}-hl")
            gone = await probe.call_hotline(caller="+15551202")
            await probe.wait_for(match(Event="MusicOnHoldStart", Uniqueid=f"{gone}-hl"), timeout=15, what="on hold")
            await probe.hangup(f"{gone}-hl")

            def refused() -> bool:
                return "spool-write-failed" in daemon.log_text()

            await until(refused, timeout=20, what="spool failure logged")
            assert daemon.proc is not None and daemon.proc.poll() is None, "ccqueue died with its disk full"
            metrics = daemon.text("/metrics")
            failures = [
                float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("ccqueue_spool_write_failures_total ")
            ]
            assert failures and failures[0] >= 1, metrics[-2000:]
            assert daemon.http("GET", "/healthz")[1]["records_pending"] > 0
        finally:
            (disk / "filler").unlink(missing_ok=True)
            pg_server.start()
        await until(lambda: daemon.http("GET", "/healthz")[1].get("database") == "ready", timeout=20, what="database back")
        await one_whole_row(database, "+15551201", "answered")
        await one_whole_row(database, "+15551202", "abandoned")
        assert daemon.http("GET", "/healthz")[1]["records_pending"] == 0
        assert "records_lost" not in daemon.log_text()
    assert HTTP_PORT  # the daemon served on the suite's port throughout
