"""The one-command demo, run as a user would run it: ``bash deploy/demo.sh``.

It brings up PostgreSQL, the Asterisk sandbox instance ``demo``, ``ccqueue run``, two
baresip agents and the caller stream on the configuration's own ports (5038, 4573,
5060, 8080 — apart from the other end-to-end tests' 25xxx ports), runs for a while,
stops, and prints a summary read from the ``calls`` and ``callbacks`` tables just
before PostgreSQL stops. The test checks that summary (callers on the queue's own
hotline and on the IVR's, a callback booked), the caller stream's own count, the
report command and SQL printed at the end, the report written, and that nothing the
demo started is still running afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]

REPO = Path(__file__).resolve().parents[2]
RUN_FOR_S = 60
DEMO_ARGS = [
    "--for",
    str(RUN_FOR_S),
    "--per-minute",
    "20",
    "--talk-mean-s",
    "8",  # short calls: each agent takes several in the run
    "--patience-mean-s",
    "60",
    "--callback-share",
    # Callers who ask for a callback while they wait, enough of them that some book one in
    # a short run at any hour: the IVR's callers ask for one only while its office
    # (Europe/Berlin, 08:00-20:00 on weekdays) is closed, and a caller an agent takes
    # in the middle of the offer books none.
    "0.35",
    "--ivr-share",
    "0.2",
    "--seed",
    "7",
    "--status-every",
    "10",
]
# start-up (warm: ~5 s) + the run + stopping; a cold machine installs first
DEMO_DEADLINE_S = 300
SUMMARY = re.compile(r"^demo summary: calls=(\d+) answered=(\d+) abandoned=(\d+) other=(\d+)$", re.M)
CALLER_TOTALS = re.compile(r"caller stream stopped: arrived=(\d+) bridged=(\d+)")
RECORDED = re.compile(
    r"^demo recorded: outcomes (.+?) \| calls by hotline (.+?) \| callbacks booked=(\d+) completed=(\d+)$", re.M
)
REPORT_COMMAND = re.compile(
    r"^  report     ccqueue report --dsn (postgresql://\S+) --from (\S+) --to (\S+) --tz UTC "
    r"--by interval --format html --out (\S+)$",
    re.M,
)
LOAD = re.compile(r"^load: 20 callers/min \(--per-minute\) for 2 agent\(s\): ~\d+% busy", re.M)
STARTED = re.compile(r"^started (.+?) \(pid (\d+)\)", re.M)
STOPPED = re.compile(r"^stopped (.+?) \(pid (\d+)\)", re.M)
DEMO_PROCESS_WORDS = ("asterisk", "baresip", "ccqueue", "postgres")


def _ours(pid: int) -> bool:
    """Whether ``pid`` is (still) one of the demo's processes (pids may be reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z" and any(word in cmdline for word in DEMO_PROCESS_WORDS)


def _tcp_listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _run_demo() -> tuple[int, str]:
    proc = subprocess.Popen(
        ["bash", "deploy/demo.sh", *DEMO_ARGS],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        out, _ = proc.communicate(timeout=DEMO_DEADLINE_S)
    except subprocess.TimeoutExpired:
        # SIGTERM: the demo stops everything it started, by pid, before it exits
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
        pytest.fail(f"the demo did not finish within {DEMO_DEADLINE_S} s:\n{out.decode(errors='replace')}")
    return proc.returncode, out.decode(errors="replace")


def test_demo_answers_calls_records_them_and_leaves_nothing_running() -> None:
    if os.geteuid() != 0:
        pytest.skip("the demo runs as root (chroot, PostgreSQL as postgres)")
    code, out = _run_demo()
    print(out)  # shown by pytest on failure, or with -s
    context = f"demo output:\n{out}"
    assert code == 0, context

    # Everything came up, and the caller stream ran.
    started = {name: int(pid) for name, pid in STARTED.findall(out)}
    for part in ("PostgreSQL", "Asterisk", "ccqueue", "baresip agent1", "baresip agent2", "caller stream"):
        assert part in started, f"{part} was not started; {context}"
    assert "ccqueue demo is up" in out, context
    assert "http://127.0.0.1:8080/wallboard" in out and "http://127.0.0.1:8080/agent " in out and "psql 'postgresql://" in out, (
        context
    )
    # How to sign in: the run's supervisor and password, and the admin's token for curl.
    signin = re.search(r"sign in as 'demo', password '([^']+)'", out)
    assert signin, context
    assert re.search(r"Authorization: Bearer ccq_\S+", out), context

    # The summary comes from the calls table: several calls answered by the agents.
    m = SUMMARY.search(out)
    assert m, f"no summary line; {context}"
    calls, answered, abandoned, other = (int(g) for g in m.groups())
    assert calls == answered + abandoned + other, context
    assert answered >= 3, f"only {answered} call(s) answered; {context}"
    recorded = RECORDED.search(out)
    assert recorded, f"no 'demo recorded' line; {context}"
    outcomes = dict(item.split("=") for item in recorded[1].split())
    by_hotline = dict(item.split("=") for item in recorded[2].split())
    assert "waiting" not in outcomes, f"calls still 'waiting' after the demo stopped; {context}"
    # the calls that are neither answered nor abandoned went through the IVR or a callback
    assert other == sum(int(n) for o, n in outcomes.items() if o not in ("answered", "abandoned")), context
    assert int(by_hotline.get("300", 0)) >= 1, f"no caller reached the IVR hotline 300; {context}"
    assert int(by_hotline.get("100", 0)) >= 1, context
    assert int(recorded[3]) >= 1, f"no callback booked; {context}"
    assert LOAD.search(out), f"the load figures were not printed; {context}"
    totals = CALLER_TOTALS.search(out)
    assert totals, f"no caller stream totals; {context}"
    arrived, bridged = (int(g) for g in totals.groups())
    assert calls <= arrived, context
    # every caller bridged to an agent is an answered call (one may straddle the stop)
    assert abs(bridged - answered) <= 1, context

    # It stopped everything it started, in reverse order, and nothing is left.
    stopped = [name for name, _ in STOPPED.findall(out)]
    assert set(stopped) == set(started), f"started {sorted(started)}, stopped {stopped}; {context}"
    order = [n for n in stopped if n in ("caller stream", "ccqueue", "Asterisk", "PostgreSQL")]
    assert order == ["caller stream", "ccqueue", "Asterisk", "PostgreSQL"], context
    assert "demo stopped: everything it started has been stopped" in out, context
    left = [f"{name} (pid {pid})" for name, pid in started.items() if _ours(pid)]
    assert not left, f"still running after the demo: {left}; {context}"
    status = subprocess.run(
        ["bash", "deploy/asterisk/sandbox.sh", "status", "--instance", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert status.returncode == 3 and status.stdout.strip() == "stopped", status.stdout + status.stderr
    pg_port = re.search(r"^started PostgreSQL \(pid \d+\) on 127\.0\.0\.1:(\d+)", out, re.M)
    assert pg_port, context
    for port in (5038, 4573, 8080, int(pg_port[1])):
        assert not _tcp_listening(port), f"127.0.0.1:{port} still listening after the demo"
    assert not list((REPO / "var" / "demo" / "run").glob("*.pid")), "pid files left in var/demo/run"

    # At the end: how to look at what the run recorded, and the report already written.
    report = REPORT_COMMAND.search(out)
    assert report, f"no report command printed; {context}"
    assert report[1].endswith(f":{pg_port[1]}/ccqueue"), context
    assert report[2] < report[3], context
    assert out.rindex("ccqueue report") > out.index("demo stopped: everything it started has been stopped"), context
    assert f"the report is written to {report[4]}." in out, context
    html = (REPO / report[4]).read_text()
    assert "<table" in html, html[:500]
    assert re.search(r"^  calls      psql 'postgresql://\S+' -c \"select .* from calls ", out, re.M), context
    assert re.search(r"^  callbacks  psql 'postgresql://\S+' -c \"select .* from callbacks ", out, re.M), context
    assert re.search(r"^  runuser -u postgres -- \S+/pg_ctl start -D ", out, re.M), context
