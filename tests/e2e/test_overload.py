"""Past what the box can serve, new callers are refused at the door, and let in again after.

ccqueue runs with a low loop-lag limit (``overload.max_loop_lag_s: 0.2``) and a door that
a lag closes outright (``cut_ratio: 0``) and that opens again a second after the lag has
stayed low for ``hold_s`` (3 s). The test stalls its event loop for real — the process is
stopped (SIGSTOP) for 0.8 s, as a box starved of CPU would stall it — and, once ccqueue
has set the dialplan's door (the global ``CCQ_DOOR``), places a caller: the dialplan
refuses it before it reaches ccqueue's FastAGI at all — with ``refusal: message`` it is
answered and hears ``ccqueue/queue-full``, with ``refusal: busy`` it is hung up unanswered
with cause 17 (user busy) — and its call is recorded ``refused``, from the line its
hang-up left, exactly once. Once the door is open again (``ccqueue_overload_shedding``
back to 0 on /metrics), a new caller is let in and waits in its queue as usual.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testbed.baresip import Softphone
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import Daemon, fetch, running_daemon, wait_row, write_config
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e

STALL_S = 0.8
# One late sample counts here: a single stall stands for a loop that cannot keep up.
OVERLOAD = (
    "overload: {{max_loop_lag_s: 0.2, max_backlog: 500, hold_s: 3, lag_samples: 1, cut_ratio: 0, "
    "regain_per_s: 1, refusal: {refusal}}}\n"
)


@pytest.fixture(params=["message", "busy"])
def overload_daemon(
    request: pytest.FixtureRequest,
    asterisk: AsteriskSandbox,
    phones: dict[str, Softphone],
    database: str,
    tmp_path: Path,
) -> Iterator[Daemon]:
    config = tmp_path / "config"
    write_config(config)
    with open(config / "ccqueue.yaml", "a") as fh:
        fh.write(OVERLOAD.format(refusal=request.param))
    with running_daemon(asterisk, phones, config, database, tmp_path) as d:
        d.refusal = request.param  # type: ignore[attr-defined]
        yield d


async def door(probe: AmiProbe) -> str:
    answer = await probe.client.send({"Action": "Getvar", "Variable": "CCQ_DOOR"}, timeout=5)
    message = answer[0] if isinstance(answer, list) else answer
    return str(message.get("Value") or "")


async def wait_door(probe: AmiProbe, check: Callable[[list[str]], bool], what: str) -> list[str]:
    deadline = time.monotonic() + 15
    while True:
        fields = (await door(probe)).split("^")
        if check(fields):
            return fields
        assert time.monotonic() < deadline, f"CCQ_DOOR is {fields}, not {what}"
        await asyncio.sleep(0.1)


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


async def test_a_stalled_loop_refuses_new_callers_in_the_dialplan_then_admits_again(
    overload_daemon: Daemon, probe: AmiProbe
) -> None:
    daemon = overload_daemon
    refusal = daemon.refusal  # type: ignore[attr-defined]
    assert not shedding(daemon)
    metrics = daemon.text("/metrics")
    assert "ccqueue_loop_lag_seconds " in metrics and "ccqueue_inbox_backlog " in metrics
    assert "ccqueue_overload_admitted_share 1.0" in metrics

    await asyncio.to_thread(stall, daemon, STALL_S)
    fields = await wait_door(probe, lambda f: len(f) == 4 and f[1] == "1000", "closed")
    assert int(fields[0]) > time.time() and fields[2:] == [refusal, "ccqueue/queue-full"]
    mark = len(probe.events)
    refused = await probe.call_hotline(number="100", caller="+15550901")
    hung_up = await probe.wait_for(
        match(Event="Hangup", Uniqueid=f"{refused}-hl"), timeout=15, since=mark, what="the refused caller hung up"
    )
    mine = [m for m in probe.events[mark:] if m.get("Uniqueid") == f"{refused}-hl"]
    # Refused before ccqueue's FastAGI: no session was opened for it.
    assert not any(m.get("Application") == "AGI" or m.get("Event") == "AGIExecStart" for m in mine), mine
    played = [m for m in mine if m.get("Event") == "Newexten" and m.get("Application") == "Playback"]
    if refusal == "message":
        assert [m["AppData"] for m in played] == ["ccqueue/queue-full"]
    else:  # never answered, no media: user busy (SIP 486 on a PJSIP caller)
        assert not played and hung_up["Cause"] == "17"
        assert not any(m.get("Event") == "Newstate" and m.get("ChannelStateDesc") == "Up" for m in mine)
    row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550901", check=lambda r: r["outcome"] == "refused"
    )
    assert row["hotline"] == "100" and row["ended_at"] is not None
    events = await fetch(daemon.dsn, "select kind, data from call_events where call_id = $1", row["call_id"])
    assert any(e["kind"] == "call_ended" and "door" in str(e["data"]) for e in events), events
    deadline = time.monotonic() + 10
    while 'ccqueue_overload_refused_total{reason="door"} 1.0' not in daemon.text("/metrics"):
        assert time.monotonic() < deadline, "the door's refusal not counted"
        await asyncio.sleep(0.2)
    # Counted with the calls, as any refused call is (the wallboard takes the same records).
    assert 'ccqueue_calls_total{outcome="refused",queue=""} 1.0' in daemon.text("/metrics")
    rows = await fetch(daemon.dsn, "select call_id from calls where caller = $1", "+15550901")
    assert len(rows) == 1

    deadline = time.monotonic() + 20
    while shedding(daemon):
        assert time.monotonic() < deadline, "still shedding 20 s after the stall"
        await asyncio.sleep(0.2)
    await wait_door(probe, lambda f: f[:2] == ["0", "0"], "open")
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
    # Recorded once, then its line deleted (by the next session, the admitted caller's);
    # a restart would not record it again either (record_away_calls keys it by the line).
    line = await probe.client.send({"Action": "DBGet", "Family": "ccqueue-away", "Key": f"{refused}-hl"}, timeout=5)
    answer = line[0] if isinstance(line, list) else line
    assert (answer.get("Response") or "").lower() == "error", line
