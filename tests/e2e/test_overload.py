"""Past what the box can serve, a new caller is refused at the door, and let in again after.

ccqueue runs with a low loop-lag limit (``overload.max_loop_lag_s: 0.2``, ``hold_s: 3``).
The test stalls its event loop for real — the process is stopped (SIGSTOP) for 0.8 s,
as a box starved of CPU would stall it — and places a caller right after: the caller
must hear ``ccqueue/queue-full`` (its session ends at once and the dialplan plays it), be
hung up, and its call be recorded ``refused`` with the overload as the reason. Once the lag has stayed low for
``hold_s`` (``ccqueue_overload_shedding`` back to 0 on /metrics), a new caller is let in
and waits in its queue as usual.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.baresip import Softphone
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import Daemon, fetch, running_daemon, wait_row, write_config
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e

STALL_S = 0.8
# One late sample sheds here: a single stall stands for a loop that cannot keep up.
OVERLOAD = "overload: {max_loop_lag_s: 0.2, max_backlog: 500, hold_s: 3, lag_samples: 1}\n"


@pytest.fixture
def overload_daemon(asterisk: AsteriskSandbox, phones: dict[str, Softphone], database: str, tmp_path: Path) -> Iterator[Daemon]:
    config = tmp_path / "config"
    write_config(config)
    with open(config / "ccqueue.yaml", "a") as fh:
        fh.write(OVERLOAD)
    with running_daemon(asterisk, phones, config, database, tmp_path) as d:
        yield d


def agi_command(uniqueid: str, fragment: str):  # type: ignore[no-untyped-def]
    return lambda m: match(Event="AGIExecStart", Uniqueid=uniqueid)(m) and fragment in (m.get("Command") or "")


def shedding(daemon: Daemon) -> bool:
    for line in daemon.text("/metrics").splitlines():
        if line.startswith("ccqueue_overload_shedding "):
            return float(line.split()[1]) == 1.0
    raise AssertionError("ccqueue_overload_shedding missing from /metrics")


def stall(daemon: Daemon, seconds: float) -> None:
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)


async def test_a_stalled_loop_refuses_new_callers_at_the_door_then_admits_again(overload_daemon: Daemon, probe: AmiProbe) -> None:
    daemon = overload_daemon
    assert not shedding(daemon)
    metrics = daemon.text("/metrics")
    assert "ccqueue_loop_lag_seconds " in metrics and "ccqueue_inbox_backlog " in metrics

    mark = len(probe.events)
    await asyncio.to_thread(stall, daemon, STALL_S)
    refused = await probe.call_hotline(number="100", caller="+15550901")
    # The session ends at once; the dialplan plays the message.
    await probe.wait_for(
        match(Event="Newexten", Uniqueid=f"{refused}-hl", Application="Playback", AppData="ccqueue/queue-full"),
        timeout=10,
        since=mark,
        what="the queue-full message",
    )
    await probe.wait_for(
        match(Event="Hangup", Uniqueid=f"{refused}-hl"), timeout=15, since=mark, what="the refused caller hung up"
    )
    row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550901", check=lambda r: r["outcome"] == "refused"
    )
    events = await fetch(daemon.dsn, "select kind, data from call_events where call_id = $1", row["call_id"])
    assert any(e["kind"] == "session_refused" and "overload" in str(e["data"]) for e in events), events
    # Nothing of the normal session ran for it: no music, no welcome.
    assert not any(
        agi_command(f"{refused}-hl", "MUSIC")(m) or agi_command(f"{refused}-hl", "welcome")(m) for m in probe.events[mark:]
    )
    assert 'ccqueue_overload_refused_total{reason="loop_lag"} 1.0' in daemon.text("/metrics")

    deadline = time.monotonic() + 15
    while shedding(daemon):
        assert time.monotonic() < deadline, "still shedding 15 s after the stall"
        await asyncio.sleep(0.2)
    mark = len(probe.events)
    admitted = await probe.call_hotline(number="100", caller="+15550902")
    await probe.wait_for(
        agi_command(f"{admitted}-hl", "MUSIC ON"), timeout=10, since=mark, what="hold music for the admitted caller"
    )
    await wait_row(daemon.dsn, "select * from calls where caller = $1", "+15550902", check=lambda r: r["outcome"] == "waiting")
    assert not any(
        match(Event="Newexten", Uniqueid=f"{admitted}-hl", Application="Playback", AppData="ccqueue/queue-full")(m)
        for m in probe.events[mark:]
    )
