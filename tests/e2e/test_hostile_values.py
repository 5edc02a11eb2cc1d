"""Values from outside through the real Asterisk 22: a caller id made of dialplan
functions and punctuation is carried as data all the way — the call is routed and
answered as any other, the agent's phone shows it as text, PostgreSQL stores it as it
came, and no function in it is ever evaluated."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from testbed.baresip import Softphone
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import Daemon, wait_row
from tests.e2e.test_calls import login, until
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e


async def test_a_callers_number_made_of_dialplan_functions_is_shown_and_stored_never_run(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone], asterisk: AsteriskSandbox
) -> None:
    login(daemon, "agent1")
    marker = f"/tmp/ccqueue-owned-{uuid.uuid4().hex[:8]}"
    hostile = f"${{SHELL(touch {marker})}}$[1+1],1|2;3"
    mark = len(probe.events)
    caller = await probe.call_hotline(caller=hostile)

    agent_enter = await probe.wait_for(
        lambda m: match(Event="BridgeEnter")(m) and (m.get("Channel") or "").startswith("PJSIP/agent1"),
        timeout=20,
        since=mark,
        what="agent1 entering the bridge with the caller",
    )
    caller_enter = await probe.wait_for(
        match(Event="BridgeEnter", Uniqueid=f"{caller}-hl"), timeout=5, since=mark, what="the caller entering the bridge"
    )
    await until(lambda: phones["agent1"].call_state == "in_call", what="agent1's phone in the call")
    # What Asterisk made of the number (it drops '(', ')', '-' and spaces from numbers),
    # still full of functions and separators: that is the caller id ccqueue was given.
    given = caller_enter["CallerIDNum"]
    assert "${SHELL" in given and "$[1+1],1|2;3" in given, given
    # The agent's leg shows it as a name, as text; not as a number (it is not one: the
    # leg keeps the number Asterisk gives it by itself).
    assert agent_enter.get("CallerIDName") == given, agent_enter
    assert "SHELL" not in (agent_enter.get("CallerIDNum") or ""), agent_enter

    await probe.hangup(caller)
    row = await wait_row(daemon.dsn, "select * from calls where caller = $1", given, check=lambda r: r["ended_at"] is not None)
    assert row["outcome"] == "answered" and row["agent"] == "agent1"
    assert not Path(marker).exists() and not (asterisk.root / marker.lstrip("/")).exists()
