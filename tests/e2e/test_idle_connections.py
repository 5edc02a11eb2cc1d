"""Idle and half-open connections cannot starve ccqueue of descriptors.

ccqueue runs with a small open-file limit (256, soft and hard, so it cannot raise it).
The test then holds more sockets than that: idle HTTP connections, HTTP requests whose
headers never end, FastAGI sessions that send their headers and then answer nothing, and
FastAGI connections that stop mid-headers. Meanwhile a real caller dials the hotline
through Asterisk: the caller must reach ccqueue and hear hold music at once, an agent
who logs in must get the call, ``/healthz`` must answer, ccqueue must close every one of
those sockets within its deadlines, and its log must stay short (one line per dropped
FastAGI session at most, no tracebacks).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from pathlib import Path

import pytest

from testbed.baresip import Softphone
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import (
    AGI_PORT,
    AMI_PORT,
    AMI_SECRET,
    AMI_USER,
    HTTP_PORT,
    Daemon,
)
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e

OPEN_FILES = 256
IDLE_HTTP, HALF_HTTP, SILENT_AGI, HALF_AGI = 300, 150, 60, 20
# The longest deadline a held socket meets: the FastAGI answer deadline (the first
# command is SET VARIABLE) or HTTP's idle deadline, plus scheduling slack.
CLOSE_WITHIN_S = 30

FORGED_AGI_HEADERS = (
    "agi_network: yes\nagi_network_script: inbound\nagi_request: agi://127.0.0.1/inbound\n"
    "agi_channel: PJSIP/forged-{n}\nagi_uniqueid: forged.{n}\nagi_extension: 100\n"
    "agi_callerid: +15559990{n:03d}\n\n"
)


async def _open(port: int, payload: bytes, *, timeout: float = 3.0) -> socket.socket | None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, ("127.0.0.1", port))
            if payload:
                await loop.sock_sendall(sock, payload)
    except (OSError, TimeoutError):
        sock.close()
        return None
    return sock


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the other end closed it (anything it sent is read and dropped)."""
    while True:
        try:
            if not sock.recv(65536):
                return True
        except BlockingIOError:
            return False
        except OSError:  # reset
            return True


async def test_idle_sockets_beyond_the_descriptor_limit_do_not_stop_calls(
    asterisk: AsteriskSandbox, phones: dict[str, Softphone], e2e_config: Path, database: str, tmp_path: Path
) -> None:
    for phone in phones.values():
        phone.set_answermode("auto")
    daemon = Daemon(
        config=e2e_config,
        dsn=database,
        http_port=HTTP_PORT,
        log_path=tmp_path / "ccqueue.log",
        spool_dir=tmp_path / "spool",
        open_files=OPEN_FILES,
    )
    daemon.start()
    held: list[socket.socket] = []
    try:
        started_lines = len(daemon.log_text().splitlines())
        opened_at = time.monotonic()
        opened = await asyncio.gather(
            *[_open(HTTP_PORT, b"") for _ in range(IDLE_HTTP)],
            *[_open(HTTP_PORT, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n") for _ in range(HALF_HTTP)],
            *[_open(AGI_PORT, FORGED_AGI_HEADERS.format(n=n).encode()) for n in range(SILENT_AGI)],
            *[_open(AGI_PORT, b"agi_network: yes\n") for _ in range(HALF_AGI)],
        )
        held = [s for s in opened if s is not None]
        assert len(held) > OPEN_FILES, f"only {len(held)} sockets connected"

        async with AmiProbe(port=AMI_PORT, username=AMI_USER, secret=AMI_SECRET) as probe:
            # A real caller, nobody logged in: its FastAGI session starts at once (the
            # session's first command sets CCQ_CALL_ID), and after the greeting (6.4 s)
            # it hears hold music.
            mark = len(probe.events)
            caller = await probe.call_hotline(caller="+15550601")
            placed = time.monotonic()
            await probe.wait_for(
                match(Event="VarSet", Variable="CCQ_CALL_ID", Uniqueid=f"{caller}-hl"),
                timeout=3,
                since=mark,
                what="the caller's FastAGI session",
            )
            reached_s = time.monotonic() - placed
            await probe.wait_for(
                match(Event="MusicOnHoldStart", Uniqueid=f"{caller}-hl"), timeout=10, since=mark, what="the caller on hold"
            )
            on_hold_s = time.monotonic() - placed

            status, health = daemon.http("GET", "/healthz")
            assert status == 200 and health["ami"] == "ready", health

            # An agent logs in over the same HTTP listener and gets the caller.
            status, body = daemon.http("POST", "/api/agents/agent1/login")
            assert status == 200, body
            await probe.wait_for(
                match(Event="BridgeEnter", Uniqueid=f"{caller}-hl"), timeout=15, since=mark, what="the caller bridged to agent1"
            )
            await probe.hangup(caller)

        # ccqueue closes every held socket within its deadlines.
        deadline = opened_at + CLOSE_WITHIN_S
        open_now = list(held)
        while open_now and time.monotonic() < deadline:
            open_now = [s for s in open_now if not _closed_by_peer(s)]
            await asyncio.sleep(0.25)
        closed_s = time.monotonic() - opened_at
        assert not open_now, f"{len(open_now)} of {len(held)} sockets still open after {CLOSE_WITHIN_S} s"

        status, _ = daemon.http("GET", "/healthz")
        assert status == 200
    finally:
        for sock in held:
            sock.close()
        daemon.stop()
        asterisk.rx("channel request hangup all")

    lines = daemon.log_text().splitlines()
    flood_lines = lines[started_lines:]
    tracebacks = sum("Traceback" in line for line in lines)
    sys.stderr.write(
        f"\nfigures: open-file limit {OPEN_FILES}; sockets held {len(held)} of {len(opened)}; "
        f"caller reached ccqueue after {reached_s:.2f} s, on hold after {on_hold_s:.2f} s; all closed after {closed_s:.1f} s; "
        f"log lines {len(lines)} ({len(flood_lines)} after start-up), tracebacks {tracebacks}\n"
    )
    with contextlib.suppress(StopIteration):
        sys.stderr.write(next(line for line in lines if "open_files" in line) + "\n")
    assert tracebacks == 0, "\n".join(lines[-40:])
    # At most a line per FastAGI socket dropped, a few summaries, and the call's own lines.
    assert len(flood_lines) < SILENT_AGI + HALF_AGI + 150, "\n".join(lines[-40:])


async def test_stop_with_many_waiting_callers_logs_summaries(
    asterisk: AsteriskSandbox, e2e_config: Path, database: str, tmp_path: Path
) -> None:
    """Real callers through Asterisk, all waiting (nobody logged in), then SIGTERM: each
    is left to the dialplan's hold loop, and the log says so once, not once per caller."""
    daemon = Daemon(
        config=e2e_config, dsn=database, http_port=HTTP_PORT, log_path=tmp_path / "ccqueue.log", spool_dir=tmp_path / "spool"
    )
    daemon.start()
    sessions = 60
    try:
        async with AmiProbe(port=AMI_PORT, username=AMI_USER, secret=AMI_SECRET) as probe:
            callers = await asyncio.gather(*(probe.call_hotline(caller=f"+1555070{n:04d}") for n in range(sessions)))
            for caller in callers:
                await probe.wait_for(
                    match(Event="MusicOnHoldStart", Uniqueid=f"{caller}-hl"), timeout=30, what=f"{caller} on hold"
                )
            _, queues = daemon.http("GET", "/api/queues")
            assert {q["name"]: q["waiting"] for q in queues}["support"] == sessions
            lines_before = len(daemon.log_text().splitlines())
            stopped_at = time.monotonic()
            daemon.stop()  # SIGTERM: every caller is left on hold for the next process
            stop_s = time.monotonic() - stopped_at
    finally:
        daemon.stop()
        asterisk.rx("channel request hangup all")

    lines = daemon.log_text().splitlines()[lines_before:]
    sys.stderr.write(f"\nfigures: stop with {sessions} callers took {stop_s:.1f} s and logged {len(lines)} lines\n")
    sys.stderr.write("\n".join(line[:300] for line in lines) + "\n")
    assert not any("Traceback" in line or "CancelledError" in line for line in lines), "\n".join(lines[-40:])
    # One summary of what was sent (and one of what failed, if anything did), not a
    # line per caller.
    assert not any("caller_redirected" in line or "redirect_failed" in line for line in lines)
    assert sum("callers_redirected=0" in line for line in lines) == 1
    assert sum(f"count={sessions}" in line and "agi_sessions_closed" in line for line in lines) == 1
    assert sum("shutdown_commands_failed" in line for line in lines) <= 1
    assert len(lines) < 20
