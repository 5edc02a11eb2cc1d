"""Live reload under real calls: a valid configuration takes over without losing anyone,
an invalid one is refused and changes nothing; through the API and through SIGHUP.

The daemon here runs on its own copy of the session's configuration, so editing the
files cannot disturb other tests.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.baresip import Softphone
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import Daemon, running_daemon, wait_row
from tests.e2e.test_calls import until
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e


@pytest.fixture
def editable(
    asterisk: AsteriskSandbox, phones: dict[str, Softphone], e2e_config: Path, database: str, tmp_path: Path
) -> Iterator[tuple[Daemon, Path]]:
    folder = tmp_path / "config"
    shutil.copytree(e2e_config, folder)
    with running_daemon(asterisk, phones, folder, database, tmp_path) as d:
        yield d, folder


def queue_names(daemon: Daemon) -> list[str]:
    status, body = daemon.http("GET", "/api/queues")
    assert status == 200
    return [q["name"] for q in body]


async def test_a_waiting_call_survives_a_valid_reload_and_an_invalid_one_changes_nothing(
    editable: tuple[Daemon, Path], probe: AmiProbe
) -> None:
    daemon, folder = editable
    queues = folder / "queues.yaml"
    original = queues.read_text()
    mark = len(probe.events)
    caller = await probe.call_hotline(number="100", caller="+15550601")
    waiting = await wait_row(daemon.dsn, "select * from calls where caller = $1", "+15550601")

    # Valid: a new queue, and a longer ring for the queue the caller waits in.
    queues.write_text(original.replace("  support:\n", "  support:\n    priority: 1\n", 1) + "  extra: {}\n")
    status, body = daemon.http("POST", "/api/config/reload")
    assert (status, body["status"], body["needs_restart"]) == (200, "applied", []), body
    assert "extra" in queue_names(daemon)

    # Invalid: a typo. Refused with file and line; the running configuration stays.
    queues.write_text(original + "  broken:\n    ring_timout_s: 3\n")
    status, body = daemon.http("POST", "/api/config/reload")
    assert status == 422 and body["error"] == "config-invalid", body
    assert any("queues.yaml:" in p and "ring_timout_s" in p and "did you mean" in p for p in body["problems"]), body
    assert "broken" not in queue_names(daemon) and "extra" in queue_names(daemon)

    # The caller, still waiting in its place, is answered.
    status, agent = daemon.http("POST", "/api/agents/agent1/login")
    assert status == 200, agent
    await probe.wait_for(match(Event="BridgeEnter", Uniqueid=f"{caller}-hl"), timeout=20, since=mark, what="the caller bridged")
    row = await wait_row(
        daemon.dsn, "select * from calls where call_id = $1", waiting["call_id"], check=lambda r: r["answered_at"] is not None
    )
    assert row["arrived_at"] == waiting["arrived_at"] and row["agent"] == "agent1"


async def test_a_call_in_the_ivr_finishes_on_the_tree_it_started_with(editable: tuple[Daemon, Path], probe: AmiProbe) -> None:
    daemon, folder = editable
    ivr = folder / "ivr.yaml"
    mark = len(probe.events)
    # Hotline 500's menu: key 1 leads to billing. The caller presses 1 three seconds in.
    caller = await probe.call_hotline(number="500", script="ivr-key1", caller="+15550602")
    await probe.wait_for(
        lambda m: match(Event="AGIExecStart", Uniqueid=f"{caller}-hl")(m) and "ivr-main-menu" in (m.get("Command") or ""),
        timeout=15,
        since=mark,
        what="the menu prompt",
    )
    # While the caller is in the menu, key 1 is pointed at support instead.
    text = ivr.read_text()
    assert '{"1": billing, "2": support}' in text
    ivr.write_text(text.replace('{"1": billing, "2": support}', '{"1": support, "2": billing}', 1))
    status, body = daemon.http("POST", "/api/config/reload")
    assert status == 200, body
    status, _ = daemon.http("POST", "/api/agents/agent1/login")
    assert status == 200
    await probe.wait_for(match(Event="BridgeEnter", Uniqueid=f"{caller}-hl"), timeout=25, since=mark, what="the caller bridged")
    row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550602", check=lambda r: r["answered_at"] is not None
    )
    assert row["queue"] == "billing"  # the tree it started with

    # A new caller gets the new tree.
    await probe.hangup(f"{caller}-hl")
    mark = len(probe.events)
    second = await probe.call_hotline(number="500", script="ivr-key1", caller="+15550603")
    await probe.wait_for(
        match(Event="BridgeEnter", Uniqueid=f"{second}-hl"), timeout=30, since=mark, what="the second caller bridged"
    )
    row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550603", check=lambda r: r["answered_at"] is not None
    )
    assert row["queue"] == "support"


async def test_sighup_reloads_and_a_reload_that_strands_an_agent_is_refused(editable: tuple[Daemon, Path]) -> None:
    daemon, folder = editable
    queues = folder / "queues.yaml"
    queues.write_text(queues.read_text() + "  viahup: {}\n")
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    await until(lambda: "viahup" in queue_names(daemon), timeout=10, what="the SIGHUP reload")

    status, _ = daemon.http("POST", "/api/agents/agent3/login")
    assert status == 200
    agents = folder / "agents.yaml"
    kept = agents.read_text()
    agents.write_text("\n".join(line for line in kept.splitlines() if not line.strip().startswith("agent3:")) + "\n")
    status, body = daemon.http("POST", "/api/config/reload")
    assert status == 409 and body["error"] == "reload-refused" and "agent3" in body["problems"][0], body
    status, listed = daemon.http("GET", "/api/agents")
    assert {a["id"]: a["state"] for a in listed}["agent3"] == "available"
