"""Outbound campaigns end to end: ccqueue dials the sandbox's stand-in public network
through the real Asterisk (AMD() included), baresip agents take the calls, and every
attempt is checked in PostgreSQL.

The campaigns are in the e2e configuration (tests/e2e/conftest.py): a progressive one
on ``support``, a predictive one on ``billing`` and a broadcast on ``small``, all with a
calling window open now in UTC. Contacts are given the zone UTC, or Pacific/Auckland
to be outside that window.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any

import pytest

from testbed import pstn
from testbed.baresip import Softphone
from testbed.daemon import ADMIN_TOKEN
from tests.e2e.conftest import Daemon, fetch, wait_row
from tests.support.probe import AmiProbe

pytestmark = pytest.mark.e2e


def upload(daemon: Daemon, campaign: str, csv: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{daemon.base_url}/api/campaigns/{campaign}/contacts", data=csv.encode(), method="POST")
    request.add_header("Content-Type", "text/csv")
    request.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return dict(json.loads(response.read()))


def ok(daemon: Daemon, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    status, answer = daemon.http(method, path, body)
    assert status < 300, (status, answer)
    return answer


async def attempts_of(dsn: str, number: str) -> list[Any]:
    return await fetch(dsn, "SELECT * FROM attempts WHERE number = $1 ORDER BY started_at", number)


async def until(check: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.2)


async def test_progressive_campaign_person_busy_machine_no_answer_dnc_and_window(
    daemon: Daemon, database: str, phones: dict[str, Softphone]
) -> None:
    person, busy, machine, nobody = pstn.person(1), pstn.busy(0), pstn.machine(1), pstn.no_answer()
    blocked, far = pstn.person(2), pstn.person(3)
    ok(daemon, "POST", "/api/agents/agent1/login")
    report = upload(
        daemon,
        "e2e-progressive",
        "number,name,tz,account\n"
        f"{person},Ann Smith,UTC,A-1\n"
        f"{busy},Bob Busy,UTC,B-2\n"
        f"{machine},Mo Machine,UTC,M-3\n"
        f"{nobody},Nobody Home,UTC,N-4\n"
        f"{blocked},Dee Blocked,UTC,D-5\n"
        f"{far},Far Away,Pacific/Auckland,F-6\n",
    )
    assert report["imported"] == 6
    assert ok(daemon, "POST", "/api/dnc", {"number": blocked})["number"] == blocked
    status = ok(daemon, "POST", "/api/campaigns/e2e-progressive/start")
    assert status["state"] == "running"
    code, refused = daemon.http("POST", "/api/campaigns/e2e-progressive/start")
    assert (code, refused["error"]) == (409, "campaign-state-illegal")

    # The person is bridged to agent1, whose screen data (the contact's fields) is there.
    async def agent_on_outbound() -> Any:
        view = ok(daemon, "GET", "/api/agents/agent1")
        outbound = view.get("outbound")
        return outbound if outbound and outbound["stage"] == "connected" else None

    screen = await until(agent_on_outbound, timeout=20, what="agent1 talking to the campaign's person")
    assert screen["number"] == person and screen["name"] == "Ann Smith" and screen["fields"]["account"] == "A-1"
    assert phones["agent1"].in_call
    row = await wait_row(database, "SELECT * FROM attempts WHERE number = $1", person, check=lambda r: r["connected_at"])
    assert row["amd"] == "HUMAN" and row["agent_id"] == "agent1" and row["outcome"] == "connected"
    assert (row["connected_at"] - row["answered_at"]).total_seconds() < 2
    phones["agent1"].hangup()
    await wait_row(database, "SELECT * FROM attempts WHERE number = $1", person, check=lambda r: r["ended_at"])

    # Busy: retried after the campaign's 3 s, twice in all.
    async def busy_twice() -> Any:
        rows = await attempts_of(database, busy)
        return rows if len(rows) == 2 and all(r["ended_at"] for r in rows) else None

    busy_rows = await until(busy_twice, timeout=60, what="the busy number dialled twice")
    assert [r["outcome"] for r in busy_rows] == ["busy", "busy"]
    assert (busy_rows[1]["started_at"] - busy_rows[0]["ended_at"]).total_seconds() >= 3
    contact = (await fetch(database, "SELECT * FROM contacts WHERE number = $1", busy))[0]
    assert contact["attempts"] == 2 and contact["done"]

    # The machine: detected by AMD(), never reaches an agent.
    machine_row = await wait_row(
        database, "SELECT * FROM attempts WHERE number = $1", machine, check=lambda r: r["ended_at"], timeout=60
    )
    assert machine_row["amd"] == "MACHINE" and machine_row["outcome"] == "machine"
    assert machine_row["agent_id"] is None and machine_row["connected_at"] is None
    kinds = [
        r["kind"]
        for r in await fetch(database, "SELECT kind FROM attempt_events WHERE attempt_id = $1", machine_row["attempt_id"])
    ]
    assert "agent_rung" not in kinds and "agent_connected" not in kinds

    # No answer: rang at least 15 s before the dial gave up.
    nobody_row = await wait_row(
        database, "SELECT * FROM attempts WHERE number = $1", nobody, check=lambda r: r["ended_at"], timeout=60
    )
    assert nobody_row["outcome"] == "no_answer" and nobody_row["answered_at"] is None
    assert (nobody_row["ended_at"] - nobody_row["started_at"]).total_seconds() >= 15

    # Never dialled: the do-not-call number and the one outside its calling window.
    assert await attempts_of(database, blocked) == []
    assert await attempts_of(database, far) == []
    (far_contact,) = await fetch(database, "SELECT * FROM contacts WHERE number = $1", far)
    assert far_contact["next_at"].timestamp() > time.time() and not far_contact["done"]
    # Every attempt has its timeline, dialled first and ended last.
    for row in await fetch(database, "SELECT attempt_id FROM attempts"):
        events = await fetch(database, "SELECT kind FROM attempt_events WHERE attempt_id = $1 ORDER BY seq", row["attempt_id"])
        assert events[0]["kind"] in ("agent_held", "dialed") and events[-1]["kind"] == "ended"
    metrics = daemon.text("/metrics")
    assert 'ccqueue_campaign_attempts_total{campaign="e2e-progressive",outcome="busy"} 2.0' in metrics
    assert 'ccqueue_campaign_abandon_ratio{campaign="e2e-predictive",window="24h"} 0.0' in metrics


async def test_predictive_call_with_no_free_agent_gets_the_safe_harbour_and_the_number_is_locked(
    daemon: Daemon, database: str
) -> None:
    person = pstn.person(4)
    ok(daemon, "POST", "/api/agents/agent1/login")
    upload(daemon, "e2e-predictive", f"number,name,tz\n{person},Pat Person,UTC\n")
    ok(daemon, "POST", "/api/campaigns/e2e-predictive/start")
    await wait_row(database, "SELECT * FROM attempts WHERE number = $1", person)
    # The only agent leaves while the number rings: nobody will be free when it answers.
    ok(daemon, "POST", "/api/agents/agent1/logout")
    row = await wait_row(database, "SELECT * FROM attempts WHERE number = $1", person, check=lambda r: r["ended_at"], timeout=30)
    assert row["outcome"] == "abandoned" and row["abandoned"] and row["safe_harbour"] and row["amd"] == "HUMAN"
    (harbour,) = await fetch(
        database, "SELECT at FROM attempt_events WHERE attempt_id = $1 AND kind = 'safe_harbour'", row["attempt_id"]
    )
    assert (harbour["at"] - row["answered_at"]).total_seconds() <= 2.2
    (contact,) = await fetch(database, "SELECT * FROM contacts WHERE number = $1", person)
    locked_for = contact["locked_until"].timestamp() - time.time()
    assert 71 * 3600 < locked_for <= 72 * 3600
    view = ok(daemon, "GET", "/api/campaigns/e2e-predictive")
    assert view["pacing"]["abandons_24h"] == 1 and view["pacing"]["live_answers_24h"] == 1
    # A restart finds the campaign running and its pacer's rolling windows as they were.
    daemon.stop()
    daemon.start()

    async def restored() -> Any:
        view = ok(daemon, "GET", "/api/campaigns/e2e-predictive")
        return view if view["pacing"]["live_answers_24h"] == 1 else None

    view = await until(restored, timeout=15, what="the campaign restored from PostgreSQL")
    assert view["state"] == "running" and view["pacing"]["abandons_24h"] == 1
    assert view["pacing"]["ratio_24h"] == 1.0
    assert len(await attempts_of(database, person)) == 1  # locked: not dialled again


async def test_broadcast_operator_key_reaches_an_agent_and_opt_out_key_adds_do_not_call(
    daemon: Daemon, database: str, phones: dict[str, Softphone]
) -> None:
    operator, opt_out = pstn.presses("1", 1), pstn.presses("9", 1)
    ok(daemon, "POST", "/api/agents/agent1/login")
    upload(daemon, "e2e-broadcast", f"number,name,tz,plan\n{operator},Olga Operator,UTC,gold\n{opt_out},Otto Out,UTC,silver\n")
    ok(daemon, "POST", "/api/campaigns/e2e-broadcast/start")
    row = await wait_row(database, "SELECT * FROM attempts WHERE number = $1", opt_out, check=lambda r: r["ended_at"], timeout=40)
    assert row["outcome"] == "opted_out"
    (dnc,) = await fetch(database, "SELECT * FROM do_not_call WHERE number = $1", opt_out)
    assert dnc["source"] == "opt_out"
    reached = await wait_row(
        database,
        "SELECT * FROM calls WHERE call_id = (SELECT attempt_id FROM attempts WHERE number = $1)",
        operator,
        check=lambda r: r["agent"] == "agent1",
        timeout=40,
    )
    assert reached["queue"] == "small" and reached["outcome"] == "answered"
    (attempt,) = await attempts_of(database, operator)
    assert attempt["outcome"] == "connected"
    phones["agent1"].hangup()


async def test_preview_the_agent_sees_the_contact_skips_one_and_dials_the_next(
    daemon: Daemon, database: str, phones: dict[str, Softphone]
) -> None:
    skipped, dialled = pstn.person(5), pstn.person(1)
    ok(daemon, "POST", "/api/agents/agent1/login")
    upload(
        daemon,
        "e2e-preview",
        f"number,name,tz,account,note\n{skipped},Sid Skipped,UTC,S-1,call after 5\n{dialled},Dana Dialled,UTC,D-2,renewal due\n",
    )
    ok(daemon, "POST", "/api/campaigns/e2e-preview/start")

    async def previewing(number: str) -> Any:
        outbound = ok(daemon, "GET", "/api/agents/agent1").get("outbound")
        return outbound if outbound and outbound["stage"] == "preview" and outbound["number"] == number else None

    # The first contact is shown to the held agent before anything is dialled.
    first = await until(lambda: previewing(skipped), timeout=15, what="agent1 previewing the first contact")
    assert first["name"] == "Sid Skipped" and first["fields"] == {"account": "S-1", "note": "call after 5"}
    assert [r["started_at"] for r in await attempts_of(database, skipped) if r["answered_at"]] == []
    ok(daemon, "POST", f"/api/campaigns/e2e-preview/preview/{first['attempt_id']}/skip")
    row = await wait_row(database, "SELECT * FROM attempts WHERE number = $1", skipped, check=lambda r: r["outcome"])
    assert row["outcome"] == "skipped" and row["answered_at"] is None and row["ended_at"] is not None
    timeline = await fetch(database, "SELECT kind, detail FROM attempt_events WHERE attempt_id = $1", row["attempt_id"])
    kinds = [r["kind"] for r in timeline]
    assert "dialed" not in kinds  # a skip dials nothing
    (skip,) = [json.loads(r["detail"]) for r in timeline if r["kind"] == "preview_skipped"]
    assert skip["agent"] == "agent1"

    # The next contact: shown, then dialled on the agent's word and bridged to that agent.
    second = await until(lambda: previewing(dialled), timeout=15, what="agent1 previewing the second contact")
    assert second["name"] == "Dana Dialled" and second["fields"]["account"] == "D-2"
    ok(daemon, "POST", f"/api/campaigns/e2e-preview/preview/{second['attempt_id']}/dial")

    async def talking() -> Any:
        outbound = ok(daemon, "GET", "/api/agents/agent1").get("outbound")
        return outbound if outbound and outbound["stage"] == "connected" else None

    screen = await until(talking, timeout=20, what="agent1 talking to the previewed person")
    assert screen["attempt_id"] == second["attempt_id"] and screen["number"] == dialled
    assert phones["agent1"].in_call
    row = await wait_row(database, "SELECT * FROM attempts WHERE number = $1", dialled, check=lambda r: r["connected_at"])
    assert row["amd"] == "HUMAN" and row["agent_id"] == "agent1" and row["outcome"] == "connected" and not row["abandoned"]
    assert (row["connected_at"] - row["answered_at"]).total_seconds() < 2
    phones["agent1"].hangup()
    await wait_row(database, "SELECT * FROM attempts WHERE number = $1", dialled, check=lambda r: r["ended_at"])
    # The skipped number was never dialled: its only attempt is the skip.
    assert [r["outcome"] for r in await attempts_of(database, skipped)] == ["skipped"]
    (contact,) = await fetch(database, "SELECT * FROM contacts WHERE number = $1", skipped)
    assert not contact["done"] and contact["next_at"].timestamp() > time.time() + 600


async def test_a_machine_gets_the_campaigns_message_after_its_beep(daemon: Daemon, database: str, probe: AmiProbe) -> None:
    machine = pstn.machine(0)
    ok(daemon, "POST", "/api/agents/agent1/login")
    upload(daemon, "e2e-message", f"number,name,tz\n{machine},Mabel Machine,UTC\n")
    since = len(probe.events)
    ok(daemon, "POST", "/api/campaigns/e2e-message/start")
    row = await wait_row(
        database, "SELECT * FROM attempts WHERE number = $1", machine, check=lambda r: r["answered_at"], timeout=15
    )
    attempt_id = row["attempt_id"]
    # AMD() says machine; the session waits out the greeting (15 s) and its beep, then plays
    # the message (Asterisk's own event times, so the test's polling does not blur them).
    message = await probe.wait_for(
        lambda m: (
            m.get("Event") == "AGIExecStart"
            and m.get("Uniqueid") == attempt_id
            and "ccqueue/machine-message" in m.get("Command", "")
        ),
        timeout=35,
        since=since,
        what="the campaign's message played to the machine",
    )
    (beep,) = probe.seen(
        lambda m: m.get("Event") == "Newexten" and m.get("Application") == "Playback" and m.get("AppData") == "beep",
        since=since,
    )
    assert float(message["Timestamp"]) > float(beep["Timestamp"]), "the message started before the machine's beep"
    started = float(message["Timestamp"]) - row["answered_at"].timestamp()
    assert 15.0 < started < 25.0, f"the message started {started:.1f} s after the answer"
    # The machine heard it: the stand-in's WaitForNoise() ended on noise after the beep.
    heard = await probe.wait_for(
        lambda m: m.get("Event") == "VarSet" and m.get("Variable") == "WAITSTATUS" and m.get("Value") == "NOISE",
        timeout=10,
        since=since,
        what="the machine hearing the message",
    )
    assert "standin-pstn" in heard["Channel"]
    row = await wait_row(database, "SELECT * FROM attempts WHERE number = $1", machine, check=lambda r: r["ended_at"], timeout=30)
    assert row["amd"] == "MACHINE" and row["outcome"] == "machine" and row["message_left"]
    assert row["agent_id"] is None and row["connected_at"] is None and not row["abandoned"]
    (contact,) = await fetch(database, "SELECT * FROM contacts WHERE number = $1", machine)
    assert contact["done"] and json.loads(contact["outcome_counts"]) == {"machine": 1}
