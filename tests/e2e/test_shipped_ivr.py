"""The sample IVR shipped in ``config/ivr.yaml`` (hotline 300), driven through real Asterisk.

The daemon here runs the session's queues and agents with the shipped tree as it is,
only its CRM address pointed at a stand-in the test starts. Whether the sample's
``office`` schedule is open depends on the moment the suite runs; the test works out
which branch the caller must take from the same schedule, and checks that one.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccqueue.config import load_config
from ccqueue.config.to_core import schedules
from ccqueue.core.schedule import is_open
from testbed.baresip import Softphone
from testbed.sandbox import REPO_DIR, AsteriskSandbox
from tests.e2e.conftest import CRM_PORT, Daemon, running_daemon, wait_row
from tests.e2e.test_calls import timeline
from tests.e2e.test_ivr import Crm, crm_server
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e


@pytest.fixture
def shipped(
    asterisk: AsteriskSandbox, phones: dict[str, Softphone], e2e_config: Path, database: str, tmp_path: Path
) -> Iterator[Daemon]:
    folder = tmp_path / "config"
    shutil.copytree(e2e_config, folder)
    tree = (REPO_DIR / "config" / "ivr.yaml").read_text()
    assert "http://127.0.0.1:8099/" in tree
    (folder / "ivr.yaml").write_text(tree.replace("http://127.0.0.1:8099/", f"http://127.0.0.1:{CRM_PORT}/"))
    main = (folder / "ccqueue.yaml").read_text()
    main = re.sub(r'^  "5\d\d": .*\n', "", main, flags=re.M)  # the session's own test trees
    (folder / "ccqueue.yaml").write_text(main.replace("hotlines:\n", 'hotlines:\n  "300": {ivr: main}\n', 1))
    with running_daemon(asterisk, phones, folder, database, tmp_path) as d:
        yield d


async def test_a_vip_known_to_the_crm_goes_first_to_its_account_manager(shipped: Daemon, probe: AmiProbe) -> None:
    for agent in ("agent1", "agent2"):  # agent1 idle the longest: the queue would pick it
        assert shipped.http("POST", f"/api/agents/{agent}/login")[0] == 200
    crm = Crm(customers={"+15550701": {"name": "Ada", "vip": "true", "language": "en", "agent": "agent2"}})
    async with crm_server(crm):
        mark = len(probe.events)
        caller = await probe.call_hotline(number="300", caller="+15550701")
        await probe.wait_for(
            lambda m: match(Event="BridgeEnter")(m) and (m.get("Channel") or "").startswith("PJSIP/agent2"),
            timeout=30,
            since=mark,
            what="the account manager answering",
        )
        await probe.wait_for(
            match(Event="BridgeEnter", Uniqueid=f"{caller}-hl"), timeout=5, since=mark, what="the caller bridged"
        )
    assert [number for number, _ in crm.asked] == ["+15550701"]
    row = await wait_row(
        shipped.dsn, "select * from calls where caller = $1", "+15550701", check=lambda r: r["answered_at"] is not None
    )
    assert (row["queue"], row["agent"]) == ("support", "agent2")
    events = await timeline(shipped.dsn, row["call_id"])
    nodes = [data["node"] for kind, data in events if kind == "ivr_node"]
    assert nodes[:6] == ["welcome", "crm", "profile", "customer-language", "vip", "vip-queue"], nodes
    queued = next(data for kind, data in events if kind == "call_queued")
    assert queued["attributes"]["customer_name"] == "Ada"


async def test_an_unknown_caller_with_the_crm_down_takes_the_hours_branch(shipped: Daemon, probe: AmiProbe) -> None:
    # Nothing listens on the CRM port: the look-up fails at once and the schedule decides.
    office = schedules(load_config(REPO_DIR / "config"))["office"]
    assert shipped.http("POST", "/api/agents/agent1/login")[0] == 200
    mark = len(probe.events)
    opened = is_open(office, time.time())
    # The "callback" script presses 1 every 3 s: in the menu, 1 is support; when closed,
    # 1 in the closed menu is "leave a message".
    caller = await probe.call_hotline(number="300", script="callback", caller="+15550702")
    if opened:
        await probe.wait_for(
            match(Event="BridgeEnter", Uniqueid=f"{caller}-hl"), timeout=40, since=mark, what="the caller bridged"
        )
        row = await wait_row(
            shipped.dsn, "select * from calls where caller = $1", "+15550702", check=lambda r: r["answered_at"] is not None
        )
        assert row["queue"] == "support"
    else:
        # Closed: the closed menu's 1 is "leave a message"; the caller hangs up while recording.
        await probe.wait_for(
            lambda m: match(Event="AGIExecStart", Uniqueid=f"{caller}-hl")(m) and "RECORD FILE" in (m.get("Command") or ""),
            timeout=40,
            since=mark,
            what="the message being recorded",
        )
        await probe.hangup(f"{caller}-hl")
        row = await wait_row(
            shipped.dsn, "select * from calls where caller = $1", "+15550702", check=lambda r: r["outcome"] == "voicemail"
        )
    events = await timeline(shipped.dsn, row["call_id"])
    nodes = [data["node"] for kind, data in events if kind == "ivr_node"]
    lookup = next(data for kind, data in events if kind == "ivr_lookup")
    assert lookup["ok"] is False and "unreachable" in lookup["reason"], lookup
    assert nodes[:3] == ["welcome", "crm", "hours"], nodes
    assert nodes[3] == ("menu" if opened else "closed"), (opened, nodes)
