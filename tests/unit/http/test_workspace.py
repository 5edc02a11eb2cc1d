"""The agent's page routes: who may use them, the screen-pop stream, history and wrap-up,
over a real aiohttp server and a running engine (Asterisk replaced by the recording
stand-ins; the history store by one in memory). tests/e2e/test_agent_page.py drives the
page in a browser against the real Asterisk and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from ccqueue.config import Config, load_config
from ccqueue.config.to_core import acd_settings
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd
from ccqueue.engine.engine import Engine
from ccqueue.http import workspace as http_workspace
from ccqueue.http.app import build_app
from ccqueue.http.workspace import page_language
from ccqueue.workspace import Workspace
from tests.support.auth import ADMIN, AGENT, SUPERVISOR, USERS
from tests.support.fakes import EARLIER, MemoryStore, RecordingCallers, RecordingTelephony, Records

SCRIPT_NAME = "<script>alert(1)</script>"


@dataclass
class Site:
    client: TestClient
    engine: Engine
    telephony: RecordingTelephony
    workspace: Workspace
    store: MemoryStore


def _config(tmp_path: Path) -> Config:
    (tmp_path / "ccqueue.yaml").write_text(
        """
asterisk: {ami: {username: ccqueue, secret: s}}
hotlines: {"100": {queue: support}}
workspace: {dispositions: [resolved, escalated], pause_reasons: [lunch, training], language: ru}
queues:
  support: {ring_timeout_s: 600, dispositions: [resolved, refund]}
  billing: {}
agents:
  agent1: {name: Alice, password: p, queues: [support]}
  agent2: {name: Bob, password: p, queues: [support, billing]}
"""
    )
    return load_config(tmp_path / "ccqueue.yaml", env={})


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    config = _config(tmp_path)
    store = MemoryStore()
    workspace = Workspace(history=lambda number: store.history(number, 50))
    telephony = RecordingTelephony()
    engine = Engine(
        Acd(acd_settings(config)),
        telephony=telephony,
        callers=RecordingCallers(),
        records=Records(),
        on_record=workspace.on_record,
    )
    app = build_app(
        engine=engine,
        registry=CollectorRegistry(),
        health=lambda: {"status": "ok"},
        users=lambda: USERS,
        config=lambda: config,
        workspace=workspace,
        workspace_store=store,
    )
    tasks = [asyncio.create_task(engine.run()), asyncio.create_task(workspace.run())]
    async with TestClient(TestServer(app), headers={}) as client:
        yield Site(client, engine, telephony, workspace, store)
    for task in tasks:
        task.cancel()


async def _next_event(content: asyncio.StreamReader, timeout: float = 5.0) -> tuple[str, dict[str, Any] | None]:
    """The next SSE block: (its event name, its data), or ('comment', None)."""
    lines = []
    async with asyncio.timeout(timeout):
        while True:
            line = (await content.readline()).decode()
            assert line, "the stream ended"
            if line == "\n":
                break
            lines.append(line.rstrip("\n"))
    if lines[0].startswith(":"):
        return "comment", None
    name = lines[0].removeprefix("event: ")
    return name, json.loads("".join(x.removeprefix("data: ") for x in lines[1:]))


async def _until(content: asyncio.StreamReader, name: str) -> dict[str, Any]:
    for _ in range(20):
        kind, data = await _next_event(content)
        if kind == name:
            assert data is not None
            return data
    raise AssertionError(f"no {name} event")


async def _ring(site: Site, *, caller: str = "+15550100100", name: str = "") -> str:
    """agent1 logged in, a caller in 'support', agent1's phone ringing: the offer id."""
    e = site.engine
    await e.ask(ev.AgentRequested(agent_id="agent1", action=ev.AgentAction.LOGIN))
    await e.ask(ev.CallArrived(call_id="c1", hotline="100", caller=caller, caller_name=name, channel="Local/x;2", uniqueid="u1"))
    for _ in range(100):
        if site.telephony.originated:
            break
        await asyncio.sleep(0.01)
    offer_id = site.telephony.originated[0].offer_id
    site.workspace.on_ringing(offer_id)
    return offer_id


# -- who may ------------------------------------------------------------------------------


async def test_the_page_without_a_session_goes_to_sign_in(site: Site) -> None:
    r = await site.client.get("/agent", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/signin?next=/agent"
    r = await site.client.get("/api/agents/agent1/events")
    assert r.status == 401 and (await r.json())["error"] == "not-signed-in"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/agents/agent2/events"),
        ("POST", "/api/agents/agent2/calls/c1/wrapup"),
        ("POST", "/api/agents/agent2/pause"),
    ],
)
async def test_an_agent_acting_on_another_agent_is_refused(site: Site, method: str, path: str) -> None:
    r = await site.client.request(method, path, headers=AGENT, json={"disposition": "resolved"})
    assert r.status == 403
    body = await r.json()
    assert body["error"] == "forbidden" and "agent2" in body["message"]
    assert site.store.saved == []


async def test_the_page_is_served_to_an_agent_and_shows_values_as_text_only(site: Site) -> None:
    r = await site.client.get("/agent", headers=AGENT)
    assert r.status == 200 and r.content_type == "text/html"
    page = await r.text()
    assert "textContent" in page and "EventSource" in page
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in page


def test_every_string_of_the_page_is_in_both_languages() -> None:
    page = (Path(http_workspace.__file__).parent / "static" / "agent.html").read_text(encoding="utf-8")
    tables = page.split("const STRINGS = {", 1)[1].split("\n};", 1)[0]
    en_part, ru_part = tables.split("\n  ru: {", 1)

    def keys(part: str) -> set[str]:  # a key opens a line or follows a value's comma
        return set(re.findall(r"(?:^|\",)\s*(\w+): \"", part, flags=re.MULTILINE))

    assert keys(en_part) == keys(ru_part) and len(keys(en_part)) > 40
    used = set(re.findall(r"data-t=\"(\w+)\"", page)) | set(re.findall(r"\bt\(\"(\w+)\"\)", page))
    assert used <= keys(en_part), used - keys(en_part)


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ru-RU,ru;q=0.9,en;q=0.8", "ru"),
        ("en-GB,en;q=0.9,ru;q=0.5", "en"),
        ("de-DE,de", "ru"),
        ("", "ru"),
        ("en;q=0.2,ru;q=0.7", "ru"),
    ],
)
def test_the_page_language_follows_the_browser_else_the_setting(header: str, language: str) -> None:
    assert page_language(header, "ru") == language


# -- the stream ---------------------------------------------------------------------------


async def test_the_stream_says_hello_then_pops_when_the_phone_rings(site: Site) -> None:
    async with site.client.get("/api/agents/agent1/events", headers={**AGENT, "Accept-Language": "en-US"}) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        hello = await _until(r.content, "hello")
        assert hello["agent"]["state"] == "logged_out" and hello["language"] == "en"
        assert hello["dispositions"] == {"support": ["resolved", "refund"]}
        assert hello["pause_reasons"] == ["lunch", "training"] and hello["pop"] is None
        await _ring(site, name=SCRIPT_NAME)
        pop = await _until(r.content, "pop")
    assert pop["call_id"] == "c1" and pop["caller"] == "+15550100100" and pop["caller_name"] == SCRIPT_NAME
    assert pop["queue"] == "support" and pop["hotline"] == "100" and pop["waited_s"] >= 0
    # The history was asked for at the offer; with it in, the pop carries it, else an update follows.
    assert site.store.asked == ["+15550100100"]
    assert pop["history"] in (None, [EARLIER])


async def test_a_supervisor_watches_an_agent_and_a_page_opened_mid_call_gets_the_pop(site: Site) -> None:
    await _ring(site)
    await asyncio.sleep(0.05)
    # No page was open at the offer: nothing was read from the database.
    assert site.store.asked == []
    async with site.client.get("/api/agents/agent1/events", headers=SUPERVISOR) as r:
        hello = await _until(r.content, "hello")
        assert hello["role"] == "supervisor" and hello["agent"]["id"] == "agent1"
        assert hello["pop"]["call_id"] == "c1"
        # The page that opened asks for the history of the pop it shows; it follows as an update.
        history = hello["pop"]["history"] or (await _until(r.content, "history"))["history"]
    assert history == [EARLIER] and site.store.asked == ["+15550100100"]


async def test_the_stream_reports_a_logout_waiting_for_the_call(site: Site) -> None:
    await _ring(site)
    async with site.client.get("/api/agents/agent1/events", headers=AGENT) as r:
        await _until(r.content, "hello")
        await site.engine.ask(ev.AgentRequested(agent_id="agent1", action=ev.AgentAction.LOGOUT))
        state = await _until(r.content, "state")
    assert state["state"] == "ringing" and state["pending"] == "logout"


# -- history and wrap-up ------------------------------------------------------------------


async def test_an_agent_reads_only_its_own_callers_history(site: Site) -> None:
    r = await site.client.get("/api/history", params={"number": "+15550100100"}, headers=AGENT)
    assert r.status == 403 and (await r.json())["error"] == "forbidden"
    await _ring(site)
    r = await site.client.get("/api/history", params={"number": "+15550100100"}, headers=AGENT)
    assert r.status == 200 and (await r.json())["items"] == [EARLIER]
    r = await site.client.get("/api/history", params={"number": "+15550199999"}, headers=AGENT)
    assert r.status == 403
    r = await site.client.get("/api/history", params={"number": "+15550199999"}, headers=SUPERVISOR)
    assert r.status == 200
    r = await site.client.get("/api/history", headers=ADMIN)
    assert r.status == 400 and (await r.json())["error"] == "bad-request"


async def test_a_wrapup_takes_a_code_of_the_calls_queue_and_is_stored(site: Site) -> None:
    await _ring(site)
    url = "/api/agents/agent1/calls/c1/wrapup"
    r = await site.client.post(url, headers=AGENT, json={"disposition": "escalated", "note": "x"})
    assert r.status == 422 and (await r.json())["error"] == "disposition-unknown"  # support has its own list
    r = await site.client.post(url, headers=AGENT, json={"disposition": "Not A Code"})
    assert r.status == 400 and (await r.json())["error"] == "bad-request"
    r = await site.client.post(url, headers=AGENT, json={"disposition": "refund", "note": "x" * 4001})
    assert r.status == 400
    assert site.store.saved == []
    r = await site.client.post(url, headers=AGENT, json={"disposition": "refund", "note": " <b>asked</b> for a refund "})
    assert r.status == 200
    [row] = site.store.saved
    assert row["call_id"] == "c1" and row["agent"] == "agent1" and row["disposition"] == "refund"
    assert row["note"] == "<b>asked</b> for a refund" and row["saved_by"] == "alice"


async def test_a_wrapup_of_a_call_that_is_not_the_agents_is_refused(site: Site) -> None:
    site.store.calls["old2"] = ("agent2", "support")
    r = await site.client.post("/api/agents/agent1/calls/old2/wrapup", headers=AGENT, json={"disposition": "resolved"})
    assert r.status == 403 and (await r.json())["error"] == "forbidden"
    r = await site.client.post("/api/agents/agent1/calls/nope/wrapup", headers=AGENT, json={"disposition": "resolved"})
    assert r.status == 404 and (await r.json())["error"] == "call-unknown"
    # A recorded call of the agent's, no longer in memory: its queue's list applies.
    site.store.calls["old3"] = ("agent1", "billing")
    r = await site.client.post("/api/agents/agent1/calls/old3/wrapup", headers=AGENT, json={"disposition": "escalated"})
    assert r.status == 200 and site.store.saved[-1]["call_id"] == "old3"
