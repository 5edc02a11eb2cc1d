"""Skill-based routing and agent states, through real Asterisk to three baresip agents.

Agents (tests/e2e/conftest.py): agent1 billing 5; agent2 billing 2, tech 3; agent3 tech 5.
Queue ``billing`` (hotline 200) first needs billing >= 4, and after WIDEN_AFTER_S any
billing level; it pauses an agent after two unanswered offers. Queue ``support``
(hotline 100) prefers a returning caller's last agent.
"""

from __future__ import annotations

import json
import time

import pytest

from testbed.baresip import Softphone
from tests.e2e.conftest import SIP_PORT, WIDEN_AFTER_S, Daemon, fetch, wait_row
from tests.e2e.test_calls import login, until
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e


def rang(probe: AmiProbe, agent: str, since: int) -> list[dict[str, str]]:
    return probe.seen(
        lambda m: match(Event="Newchannel")(m) and (m.get("Channel") or "").startswith(f"PJSIP/{agent}-"), since=since
    )


async def bridged_agent(probe: AmiProbe, since: int, timeout: float) -> str:
    enter = await probe.wait_for(
        lambda m: match(Event="BridgeEnter")(m) and (m.get("Channel") or "").startswith("PJSIP/"),
        timeout=timeout,
        since=since,
        what="an agent bridged",
    )
    return enter["Channel"].split("/")[1].rsplit("-", 1)[0]


async def test_skill_call_reaches_only_holders_and_widens_to_a_lower_level(daemon: Daemon, probe: AmiProbe) -> None:
    login(daemon, "agent3")  # tech only: must never get a billing call
    login(daemon, "agent2")  # billing 2: only after the first step (billing >= 4) ends
    mark = len(probe.events)
    started = time.monotonic()
    caller = await probe.call_hotline(number="200", caller="+15550201")
    assert await bridged_agent(probe, mark, timeout=WIDEN_AFTER_S + 15) == "agent2"
    assert time.monotonic() - started >= WIDEN_AFTER_S - 0.5  # not before the step widened
    assert rang(probe, "agent3", mark) == []
    await probe.hangup(caller)
    row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550201", check=lambda r: r["ended_at"] is not None
    )
    assert (row["queue"], row["agent"], row["outcome"]) == ("billing", "agent2", "answered")
    assert (row["answered_at"] - row["arrived_at"]).total_seconds() >= WIDEN_AFTER_S - 0.5


async def test_expert_gets_the_billing_call_at_once(daemon: Daemon, probe: AmiProbe) -> None:
    login(daemon, "agent2")  # idle longer, but only billing 2
    login(daemon, "agent1")  # billing 5
    mark = len(probe.events)
    caller = await probe.call_hotline(number="200", caller="+15550202")
    assert await bridged_agent(probe, mark, timeout=10) == "agent1"
    assert rang(probe, "agent2", mark) == []
    await probe.hangup(caller)


async def test_returning_caller_reaches_their_last_agent(daemon: Daemon, probe: AmiProbe) -> None:
    login(daemon, "agent2")
    login(daemon, "agent1")
    mark = len(probe.events)
    first = await probe.call_hotline(caller="+15550203")
    assert await bridged_agent(probe, mark, timeout=10) == "agent2"  # longest idle
    await probe.hangup(first)
    await wait_row(daemon.dsn, "select * from calls where caller = $1", "+15550203", check=lambda r: r["ended_at"] is not None)
    # agent1 is now the longest idle, but the same customer calling again gets agent2.
    mark = len(probe.events)
    second = await probe.call_hotline(caller="+15550203")
    assert await bridged_agent(probe, mark, timeout=15) == "agent2"
    assert rang(probe, "agent1", mark) == []
    await probe.hangup(second)
    await wait_row(
        daemon.dsn,
        "select count(*) as n from calls where caller = $1 and ended_at is not null",
        "+15550203",
        check=lambda r: r["n"] == 2,
    )
    rows = await fetch(daemon.dsn, "select call_id, agent from calls where caller = $1 order by arrived_at", "+15550203")
    assert [r["agent"] for r in rows] == ["agent2", "agent2"]
    kinds = [
        r["kind"]
        for r in await fetch(daemon.dsn, "select kind from call_events where call_id = $1 order by seq", rows[1]["call_id"])
    ]
    assert "returning_customer" in kinds


async def test_agent_who_misses_two_offers_is_paused_with_a_reason(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    phones["agent1"].set_answermode("manual")
    login(daemon, "agent1")
    mark = len(probe.events)
    caller = await probe.call_hotline(number="200", caller="+15550204")
    await until(lambda: daemon.http("GET", "/api/agents/agent1")[1]["state"] == "paused", timeout=30, what="agent1 auto-paused")
    _, agent = daemon.http("GET", "/api/agents/agent1")
    assert agent["reason"] == "missed-calls"
    assert len(rang(probe, "agent1", mark)) == 2
    # The caller still waits (nobody else can take it) and is not offered to the paused agent.
    _, queues = daemon.http("GET", "/api/queues")
    assert {q["name"]: q["waiting"] for q in queues}["billing"] == 1
    await probe.hangup(caller)
    row = await wait_row(
        daemon.dsn, "select * from calls where caller = $1", "+15550204", check=lambda r: r["ended_at"] is not None
    )
    events = await fetch(daemon.dsn, "select kind, data from call_events where call_id = $1 order by seq", row["call_id"])
    failures = [json.loads(e["data"])["failure"] for e in events if e["kind"] == "offer_failed"]
    assert failures == ["no_answer", "no_answer"]
    # Time in each state is recorded as intervals.
    intervals = await wait_row(
        daemon.dsn,
        "select count(*) as n from agent_state_intervals where agent_id = 'agent1' and state = 'ringing'",
        check=lambda r: r["n"] >= 2,
    )
    assert intervals["n"] == 2


async def test_feature_codes_from_the_softphone(daemon: Daemon, phones: dict[str, Softphone]) -> None:
    phone = phones["agent3"]

    async def dial(code: str, expect: str) -> None:
        phone.command("dial", f"sip:{code}@127.0.0.1:{SIP_PORT}")
        await until(lambda: daemon.http("GET", "/api/agents/agent3")[1]["state"] == expect, what=f"{code} → {expect}")
        await until(lambda: phone.call_state == "idle", what="the feature call to end")

    await dial("*21", "available")
    await dial("*23", "paused")
    assert daemon.http("GET", "/api/agents/agent3")[1]["reason"] == "phone"
    await dial("*24", "available")
    await dial("*22", "logged_out")
