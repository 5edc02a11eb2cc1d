"""A real Prometheus scrapes ccqueue's /metrics while a real call happens, with the
shipped rules loaded; every query of the shipped Grafana dashboard then returns data."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import HTTP_PORT, Daemon, free_block, wait_row
from tests.support.dashboard import RULES, queries
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e


@pytest.fixture
def prometheus(tmp_path: Path, daemon: Daemon) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "the Debian package prometheus is needed (deploy/install-deps.sh installs it)"
    port = free_block(1)
    shutil.copy(RULES, tmp_path / "rules.yml")
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "rule_files: [rules.yml]\n"
        "scrape_configs:\n"
        f"  - job_name: ccqueue\n    static_configs: [{{targets: ['127.0.0.1:{HTTP_PORT}']}}]\n"
    )
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def api(base: str, path: str, **params: str) -> dict:
    url = f"{base}/api/v1/{path}?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as response:
        return dict(json.loads(response.read())["data"])


def query(base: str, promql: str) -> list[dict]:
    try:
        return list(api(base, "query", query=promql)["result"])
    except OSError:
        return []  # not up yet


async def wait_data(base: str, promql: str, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := query(base, promql):
            return result
        await asyncio.sleep(0.5)
    raise AssertionError(f"no data for {promql}")


async def wait_value(base: str, promql: str, expected: float, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    result: list[dict] = []
    while time.monotonic() < deadline:
        result = query(base, promql)
        if result and float(result[0]["value"][1]) == expected:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{promql} never became {expected}; last: {result}")


async def test_prometheus_scrapes_agents_waiting_callers_and_outcomes(daemon: Daemon, probe: AmiProbe, prometheus: str) -> None:
    await wait_value(prometheus, 'up{job="ccqueue"}', 1)
    await wait_value(prometheus, 'ccqueue_link_up{peer="asterisk_ami"}', 1)
    # A caller waits with nobody logged in ...
    mark = len(probe.events)
    caller = await probe.call_hotline(caller="+15550301")
    await wait_value(prometheus, 'ccqueue_callers_waiting{queue="support"}', 1)
    # ... then an agent logs in and takes the call.
    status, agent = daemon.http("POST", "/api/agents/agent1/login")
    assert (status, agent["state"]) == (200, "ringing")  # offered the waiting call at once
    await probe.wait_for(match(Event="BridgeEnter", Uniqueid=f"{caller}-hl"), timeout=15, since=mark)
    await wait_value(prometheus, 'ccqueue_agents{state="on_call"}', 1)
    await wait_value(prometheus, 'ccqueue_callers_waiting{queue="support"}', 0)
    await probe.hangup(caller)
    await wait_row(daemon.dsn, "select * from calls where caller = $1", "+15550301", check=lambda r: r["ended_at"] is not None)
    await wait_value(prometheus, 'ccqueue_calls_total{queue="support",outcome="answered"}', 1)
    # Wrap-up (1 s in the test configuration) over: the handle time is known.
    await wait_value(prometheus, 'ccqueue_handle_seconds_count{queue="support"}', 1)
    await wait_value(prometheus, 'ccqueue_service_level_window_calls{queue="support",window="15m"}', 1)

    # Every query of the shipped dashboard returns data from the real scrapes, and those
    # the call moved show it.
    values: dict[str, list[float]] = {}
    for title, promql in queries():
        result = await wait_data(prometheus, promql)
        values.setdefault(title, []).extend(float(r["value"][1]) for r in result)
    moved = (
        "Average speed of answer (15 min)",
        "Average handle time (15 min)",
        "Calls ended (15 min) by outcome",
        "Service level calls (15 min)",
        "Occupancy (15 min)",
        "Wait, 90th percentile (answered, 15 min)",
        "Agents logged in, by queue",
        "Version",
    )
    for title in moved:
        assert any(v > 0 for v in values[title]), (title, values[title])
    # The shipped rules evaluate without error on real series.
    groups = api(prometheus, "rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) >= 10
    assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
