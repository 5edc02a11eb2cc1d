"""The IVR with real Asterisk: callers keying DTMF through trees, recorded in PostgreSQL.

The trees are written by ``tests/e2e/conftest.py`` (``write_ivr_config``), one per
hotline: 500 a menu to a skill queue, 510 a menu nobody answers, 520 and 521 after-hours
branches on schedules that are closed whenever the suite runs, 530 a CRM look-up, 540
straight to a queue (for the survey). Callers are Local channels whose ``;1`` half runs a
script of ``[ccqueue-test-caller]`` (``dialplan/extensions.conf``) that keys DTMF at
moments when a prompt that takes keys is playing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from testbed.baresip import Softphone
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import CRM_PORT, Daemon, fetch, wait_row
from tests.e2e.test_calls import login, timeline, until
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e

CALL_BY_CALLER = "select * from calls where caller = $1"
EVENTS_AT = "select kind, data, extract(epoch from at)::float8 as at from call_events where call_id = $1 order by seq"


def agi(uniqueid: str, fragment: str) -> Callable[[dict[str, str]], bool]:
    """An AGIExecStart on ``uniqueid`` whose command contains ``fragment``."""
    return lambda m: match(Event="AGIExecStart", Uniqueid=uniqueid)(m) and fragment in (m.get("Command") or "")


def entered(agent: str) -> Callable[[dict[str, str]], bool]:
    return lambda m: match(Event="BridgeEnter")(m) and (m.get("Channel") or "").startswith(f"PJSIP/{agent}")


async def ended(dsn: str, caller: str, *, timeout: float = 30) -> Any:
    return await wait_row(dsn, CALL_BY_CALLER, caller, timeout=timeout, check=lambda r: r["ended_at"] is not None)


def steps(events: list[tuple[str, dict]]) -> list[tuple[Any, ...]]:
    """The IVR's part of a timeline, compactly: (kind, node or keys or target...)."""
    out: list[tuple[Any, ...]] = []
    for kind, data in events:
        if kind == "ivr_node":
            out.append((kind, data["node"], data["type"]))
        elif kind in ("ivr_key", "ivr_invalid"):
            out.append((kind, data["node"], data["keys"]))
        elif kind in ("ivr_no_input",):
            out.append((kind, data["node"]))
        elif kind == "ivr_exhausted":
            out.append((kind, data["node"], data["tries"]))
        elif kind == "ivr_branch":
            out.append((kind, data["node"], data["to"]))
    return out


# --- 1. a menu path to a skill queue ----------------------------------------------------------


async def test_a_key_in_the_menu_reaches_the_skill_queue_and_an_agent_answers(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    login(daemon, "agent1")  # billing 5: the billing queue's first step wants billing 4
    mark = len(probe.events)
    caller = await probe.call_hotline(number="500", script="ivr-key1", caller="+15550501")
    leg = f"{caller}-hl"

    menu = await probe.wait_for(agi(leg, "ccqueue/ivr-main-menu"), timeout=10, since=mark, what="the menu prompt")
    assert '"0123456789*#"' in menu["Command"]  # every key cuts the prompt short and counts
    cut = await probe.wait_for(
        lambda m: match(Event="AGIExecEnd", Uniqueid=leg)(m) and "ivr-main-menu" in (m.get("Command") or ""),
        timeout=15,
        since=mark,
        what="the menu prompt cut by the key",
    )
    played = float(cut["Timestamp"]) - float(menu["Timestamp"])
    assert played < 10.0, played  # the key (3 s in) cut the 14 s prompt short
    agent_enter = await probe.wait_for(entered("agent1"), timeout=20, since=mark, what="agent1 bridged")
    caller_enter = await probe.wait_for(match(Event="BridgeEnter", Uniqueid=leg), timeout=5, since=mark, what="caller bridged")
    assert agent_enter["BridgeUniqueid"] == caller_enter["BridgeUniqueid"]
    await until(lambda: phones["agent1"].call_state == "in_call", what="agent1's phone in the call")

    await probe.hangup(caller)
    row = await ended(daemon.dsn, "+15550501")
    assert (row["outcome"], row["hotline"], row["queue"], row["agent"]) == ("answered", "500", "billing", "agent1")
    events = await timeline(daemon.dsn, row["call_id"])
    assert steps(events) == [
        ("ivr_node", "main", "menu"),
        ("ivr_key", "main", "1"),
        ("ivr_node", "billing", "queue"),
    ]
    kinds = [k for k, _ in events]
    assert kinds[0] == "call_arrived" and kinds[-1] == "call_ended"
    assert kinds.index("ivr_node") < kinds.index("call_queued") < kinds.index("agent_offered") < kinds.index("call_answered")
    queued = next(d for k, d in events if k == "call_queued")
    assert queued["queue"] == "billing"


# --- 2. invalid input and no input ------------------------------------------------------------


async def test_wrong_keys_use_up_the_retries_and_the_caller_is_told_goodbye(daemon: Daemon, probe: AmiProbe) -> None:
    mark = len(probe.events)
    caller = await probe.call_hotline(number="500", script="ivr-wrong", caller="+15550502")
    leg = f"{caller}-hl"

    await probe.wait_for(agi(leg, "pm-invalid-option"), timeout=15, since=mark, what="the invalid-option prompt")
    await probe.wait_for(agi(leg, "vm-goodbye"), timeout=20, since=mark, what="the goodbye")
    await probe.wait_for(match(Event="Hangup", Uniqueid=leg), timeout=10, since=mark, what="the caller released")
    row = await ended(daemon.dsn, "+15550502")
    assert (row["outcome"], row["queue"], row["agent"]) == ("self_service", None, None)
    events = await timeline(daemon.dsn, row["call_id"])
    assert steps(events) == [
        ("ivr_node", "main", "menu"),
        ("ivr_key", "main", "7"),
        ("ivr_invalid", "main", "7"),
        ("ivr_key", "main", "8"),
        ("ivr_invalid", "main", "8"),
        ("ivr_exhausted", "main", 2),
        ("ivr_node", "goodbye", "hangup"),
    ]
    assert events[-1] == ("call_ended", {"outcome": "self_service", "reason": "no-choice"})


async def test_a_caller_who_presses_nothing_ends_up_in_a_queue(daemon: Daemon, probe: AmiProbe) -> None:
    mark = len(probe.events)
    started = time.monotonic()
    caller = await probe.call_hotline(number="510", script="wait", caller="+15550510")
    leg = f"{caller}-hl"

    row = await wait_row(daemon.dsn, CALL_BY_CALLER, "+15550510", timeout=20, check=lambda r: r["queue"] == "support")
    waited = time.monotonic() - started
    # Two tries of a beep and 2 s for a key: the timeouts were waited out, no longer.
    assert 4.0 <= waited <= 9.0, waited
    assert row["outcome"] == "waiting" and row["ended_at"] is None
    assert probe.seen(agi(leg, "WAIT FOR DIGIT 2000"), since=mark)
    events = await timeline(daemon.dsn, row["call_id"])
    assert steps(events) == [
        ("ivr_node", "main", "menu"),
        ("ivr_no_input", "main"),
        ("ivr_no_input", "main"),
        ("ivr_exhausted", "main", 2),
        ("ivr_node", "operator", "queue"),
    ]
    assert [k for k, _ in events][-1] == "call_queued"

    await probe.hangup(caller)
    row = await ended(daemon.dsn, "+15550510")
    assert row["outcome"] == "abandoned"


# --- 3. after hours ---------------------------------------------------------------------------


async def test_after_hours_the_caller_hears_goodbye(daemon: Daemon, probe: AmiProbe) -> None:
    mark = len(probe.events)
    caller = await probe.call_hotline(number="521", script="wait", caller="+15550521")
    leg = f"{caller}-hl"

    await probe.wait_for(agi(leg, "vm-goodbye"), timeout=10, since=mark, what="the goodbye")
    await probe.wait_for(match(Event="Hangup", Uniqueid=leg), timeout=10, since=mark, what="the caller released")
    row = await ended(daemon.dsn, "+15550521")
    assert (row["outcome"], row["queue"]) == ("self_service", None)
    events = await timeline(daemon.dsn, row["call_id"])
    assert steps(events) == [
        ("ivr_node", "hours", "branch"),
        ("ivr_branch", "hours", "closed"),
        ("ivr_node", "closed", "hangup"),
    ]
    assert events[-1] == ("call_ended", {"outcome": "self_service", "reason": "after-hours"})


# --- 4. a CRM look-up -------------------------------------------------------------------------


@dataclass
class Crm:
    """A stand-in CRM: customers by number; ``slow`` numbers answer after ``delay_s``."""

    customers: dict[str, dict[str, Any]]
    slow: set[str] = field(default_factory=set)
    delay_s: float = 5.0
    asked: list[tuple[str, float]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        number = request.match_info["number"]
        self.asked.append((number, time.monotonic()))
        if number in self.slow:
            await asyncio.sleep(self.delay_s)
        customer = self.customers.get(number)
        if customer is None:
            return web.json_response({"error": "unknown"}, status=404)
        return web.json_response(customer)


@contextlib.asynccontextmanager
async def crm_server(crm: Crm) -> AsyncIterator[Crm]:
    app = web.Application()
    app.router.add_get("/customers/{number}", crm.handle)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", CRM_PORT)
    await site.start()
    try:
        yield crm
    finally:
        await runner.cleanup()


async def lookup_times(dsn: str, call_id: str) -> tuple[dict, float]:
    """The look-up's outcome entry, and seconds from entering the node to it."""
    rows = await fetch(dsn, EVENTS_AT, call_id)
    entered_at = next(r["at"] for r in rows if r["kind"] == "ivr_node" and json.loads(r["data"])["node"] == "lookup")
    done = next(r for r in rows if r["kind"] == "ivr_lookup")
    return json.loads(done["data"]), done["at"] - entered_at


async def test_a_crm_answer_sets_variables_and_a_vip_routes_differently(daemon: Daemon, probe: AmiProbe) -> None:
    crm = Crm(
        customers={
            "+15550531": {"name": "Ada Lovelace", "vip": True, "account": {"tier": "gold"}},
            "+15550532": {"name": "Bob Smith", "vip": False},
        }
    )
    async with crm_server(crm):
        await probe.call_hotline(number="530", script="wait", caller="+15550531")
        await probe.call_hotline(number="530", script="wait", caller="+15550532")
        vip = await wait_row(daemon.dsn, CALL_BY_CALLER, "+15550531", timeout=15, check=lambda r: r["queue"] == "support")
        regular = await wait_row(daemon.dsn, CALL_BY_CALLER, "+15550532", timeout=15, check=lambda r: r["queue"] == "support")
    assert sorted(number for number, _ in crm.asked) == ["+15550531", "+15550532"]

    events = await timeline(daemon.dsn, vip["call_id"])
    assert steps(events) == [
        ("ivr_node", "lookup", "lookup"),
        ("ivr_node", "vip-check", "branch"),
        ("ivr_branch", "vip-check", "vip"),
        ("ivr_node", "vip", "queue"),
    ]
    looked_up = next(d for k, d in events if k == "ivr_lookup")
    assert looked_up == {"node": "lookup", "ok": True, "variables": ["customer_name", "tier", "vip"]}
    queued = next(d for k, d in events if k == "call_queued")
    assert queued["attributes"] == {"customer_name": "Ada Lovelace", "vip": "true", "tier": "gold"}

    events = await timeline(daemon.dsn, regular["call_id"])
    assert ("ivr_branch", "vip-check", "regular") in steps(events)
    queued = next(d for k, d in events if k == "call_queued")
    assert queued["attributes"] == {"customer_name": "Bob Smith", "vip": "false", "route": "regular"}


async def test_a_slow_crm_is_given_up_at_the_timeout(daemon: Daemon, probe: AmiProbe) -> None:
    crm = Crm(customers={"+15550533": {"name": "Slow Customer", "vip": True}}, slow={"+15550533"}, delay_s=5.0)
    async with crm_server(crm):
        started = time.monotonic()
        await probe.call_hotline(number="530", script="wait", caller="+15550533")
        row = await wait_row(daemon.dsn, CALL_BY_CALLER, "+15550533", timeout=15, check=lambda r: r["queue"] == "support")
        routed = time.monotonic() - started
        assert crm.asked and crm.asked[0][0] == "+15550533"
    looked_up, seconds = await lookup_times(daemon.dsn, row["call_id"])
    assert looked_up == {"node": "lookup", "ok": False, "reason": "timeout"}
    assert 1.8 <= seconds <= 2.6, seconds  # the node's timeout_s is 2; the CRM takes 5
    assert routed < 5.0, routed
    events = await timeline(daemon.dsn, row["call_id"])
    assert ("ivr_node", "crm-failed", "set") in steps(events)
    queued = next(d for k, d in events if k == "call_queued")
    assert queued["attributes"] == {"route": "crm-failed"}


async def test_a_crm_that_is_down_fails_at_once(daemon: Daemon, probe: AmiProbe) -> None:
    # Nothing listens on the CRM's port.
    await probe.call_hotline(number="530", script="wait", caller="+15550534")
    row = await wait_row(daemon.dsn, CALL_BY_CALLER, "+15550534", timeout=15, check=lambda r: r["queue"] == "support")
    looked_up, seconds = await lookup_times(daemon.dsn, row["call_id"])
    assert looked_up["ok"] is False and looked_up["reason"].startswith("unreachable"), looked_up
    assert seconds < 0.5, seconds
    events = await timeline(daemon.dsn, row["call_id"])
    assert ("ivr_node", "crm-failed", "set") in steps(events)


# --- 5. leave a message -----------------------------------------------------------------------


async def test_on_a_holiday_the_caller_leaves_a_message_that_is_kept(
    daemon: Daemon, probe: AmiProbe, asterisk: AsteriskSandbox
) -> None:
    mark = len(probe.events)
    caller = await probe.call_hotline(number="520", script="ivr-message", caller="+15550520")
    leg = f"{caller}-hl"

    await probe.wait_for(agi(leg, "RECORD FILE"), timeout=15, since=mark, what="the recording started")
    await probe.wait_for(match(Event="Hangup", Uniqueid=leg), timeout=30, since=mark, what="the caller released")
    row = await ended(daemon.dsn, "+15550520")
    assert (row["outcome"], row["queue"]) == ("voicemail", None)
    events = await timeline(daemon.dsn, row["call_id"])
    assert steps(events) == [
        ("ivr_node", "hours", "branch"),
        ("ivr_branch", "hours", "message"),
        ("ivr_node", "message", "voicemail"),
    ]
    message = next(d for k, d in events if k == "ivr_voicemail")
    assert message["caller_hung_up"] is False and message["max_s"] == 30
    path = message["path"]
    assert path.endswith(f"/ccqueue-messages/{row['call_id']}.wav"), path
    # The path is Asterisk's, inside the sandbox root; the file is in the instance's spool.
    inside, instance = asterisk.paths["INSTANCE_IN_ROOT"], Path(asterisk.paths["INSTANCE"])
    assert path.startswith(f"{inside}/spool/"), (path, inside)
    on_host = instance / path[len(inside) + 1 :]
    assert on_host.is_file(), on_host
    with wave.open(str(on_host)) as recording:
        seconds = recording.getnframes() / recording.getframerate()
    assert seconds >= 3.0, seconds  # the caller spoke (a 6 s prompt) before keying '#'


# --- 6. the survey ----------------------------------------------------------------------------


async def test_the_caller_rates_the_call_after_the_agent_hangs_up(
    daemon: Daemon, probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    login(daemon, "agent1")
    mark = len(probe.events)
    caller = await probe.call_hotline(number="540", script="ivr-survey", caller="+15550540")
    leg = f"{caller}-hl"
    await probe.wait_for(entered("agent1"), timeout=20, since=mark, what="agent1 bridged")
    await probe.wait_for(match(Event="BridgeEnter", Uniqueid=leg), timeout=5, since=mark, what="caller bridged")
    await until(lambda: phones["agent1"].call_state == "in_call", what="agent1's phone in the call")

    phones["agent1"].hangup()
    await probe.wait_for(agi(leg, "ccqueue/survey-rate"), timeout=10, since=mark, what="the first survey question")
    await probe.wait_for(agi(leg, "ccqueue/survey-recommend"), timeout=15, since=mark, what="the second survey question")
    await probe.wait_for(agi(leg, "ccqueue/survey-thanks"), timeout=15, since=mark, what="the thanks")
    row = await ended(daemon.dsn, "+15550540")
    assert (row["outcome"], row["agent"]) == ("answered", "agent1")
    survey = await wait_row(daemon.dsn, "select * from surveys where call_id = $1", row["call_id"], timeout=10)
    assert (survey["rating"], survey["recommend"]) == (4, 10)
    await probe.wait_for(match(Event="Hangup", Uniqueid=leg), timeout=10, since=mark, what="the caller released")
