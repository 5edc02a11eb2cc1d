"""The HTTP API and /metrics, over a real aiohttp server and a running engine.

Asterisk is replaced by a recording stand-in here (this tests the HTTP adapter, not the
call flow: tests/e2e does that against real Asterisk).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from types import MappingProxyType

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.engine.engine import Engine
from ccqueue.http.app import build_app
from ccqueue.metrics import Metrics, StateCollector
from tests.support.auth import ADMIN, USERS
from tests.support.fakes import RecordingCallers, RecordingTelephony, Records


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient, Engine]]:
    settings = AcdSettings(
        queues=MappingProxyType({"support": QueueSettings(name="support")}),
        agents=MappingProxyType(
            {"agent1": AgentSettings(agent_id="agent1", name="Alice", endpoint="PJSIP/agent1", queues=("support",))}
        ),
        hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support")}),
    )
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    engine = Engine(
        Acd(settings), telephony=RecordingTelephony(), callers=RecordingCallers(), records=Records(), on_record=metrics.on_record
    )
    registry.register(StateCollector(engine.acd.views, lambda: {"asterisk_ami": True}, lambda: {"records_pending": 0}))
    app = build_app(
        engine=engine,
        registry=registry,
        health=lambda: {"status": "ok", "ami": "ready", "database": "ready"},
        users=lambda: USERS,
    )
    task = asyncio.create_task(engine.run())
    async with TestClient(TestServer(app), headers=ADMIN) as c:
        yield c, engine
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_login_pause_unpause_logout(client: tuple[TestClient, Engine]) -> None:
    c, _ = client
    r = await c.post("/api/agents/agent1/login")
    assert r.status == 200 and (await r.json())["state"] == "available"
    r = await c.post("/api/agents/agent1/pause", json={"reason": "lunch"})
    body = await r.json()
    assert (r.status, body["state"], body["reason"]) == (200, "paused", "lunch")
    r = await c.post("/api/agents/agent1/unpause")
    assert (await r.json())["state"] == "available"
    r = await c.post("/api/agents/agent1/logout")
    assert (await r.json())["state"] == "logged_out"


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/agents/nobody/login", None, 404, "agent-unknown"),
        ("/api/agents/agent1/pause", {"reason": "x"}, 409, "agent-state-illegal"),  # logged out
        ("/api/agents/agent1/pause", {"reason": ""}, 400, "bad-request"),
        ("/api/agents/agent1/pause", {"reason": 5}, 400, "bad-request"),
    ],
)
async def test_errors_have_stable_ids_and_statuses(
    client: tuple[TestClient, Engine], path: str, body: object, status: int, error: str
) -> None:
    c, engine = client
    r = await c.post(path, json=body) if body is not None else await c.post(path)
    assert r.status == status
    assert (await r.json())["error"] == error
    assert engine.acd.agents["agent1"].state.value == "logged_out"  # nothing changed


async def test_metrics_follow_prometheus_conventions(client: tuple[TestClient, Engine]) -> None:
    c, engine = client
    await c.post("/api/agents/agent1/login")
    engine.post(ev.CallArrived(call_id="c1", hotline="100", caller="+1", channel="Local/x;2", uniqueid="u1"))
    engine.post(ev.ChannelHungUp(uniqueid="u1"))
    for _ in range(100):
        text = await (await c.get("/metrics")).text()
        if 'ccqueue_calls_total{outcome="abandoned",queue="support"} 1.0' in text:
            break
        await asyncio.sleep(0.01)
    assert 'ccqueue_callers_waiting{queue="support"} 0.0' in text
    # The caller left while agent1 rang: one abandoned call, agent1 free again at once.
    assert 'ccqueue_calls_total{outcome="abandoned",queue="support"} 1.0' in text
    assert 'ccqueue_agents{state="available"} 1.0' in text
    assert 'ccqueue_agents{state="ringing"} 0.0' in text
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is needed to check the exposition"
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_wallboard_page_and_data(client: tuple[TestClient, Engine]) -> None:
    c, _ = client
    page = await c.get("/wallboard")
    assert page.status == 200 and "ccqueue wallboard" in await page.text()
    data = await (await c.get("/api/wallboard")).json()
    assert data["queues"][0]["name"] == "support" and data["queues"][0]["callbacks"] == 0
    assert data["agents"][0]["id"] == "agent1"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/api/agents/agent1/pause", b'{"reason": "\xff\xfe"}', 400, "bad-request"),  # not UTF-8
        ("POST", "/api/agents/agent1/pause", b"[" * 5000 + b"]" * 5000, 400, "bad-request"),  # nested too deep
        ("POST", "/api/callbacks", b"[" * 5000 + b"]" * 5000, 400, "bad-request"),
        ("GET", "/no/such/route", None, 404, "not-found"),
        ("DELETE", "/healthz", None, 405, "method-not-allowed"),
        ("POST", "/api/agents/agent1/pause", b"x" * (65 * 1024), 413, "body-too-large"),
    ],
    ids=["not-utf8", "nested-5000", "callback-nested-5000", "no-route", "wrong-method", "body-too-large"],
)
async def test_every_error_is_json_with_a_stable_id(
    client: tuple[TestClient, Engine], method: str, path: str, body: bytes | None, status: int, error: str
) -> None:
    c, engine = client
    await c.post("/api/agents/agent1/login")
    r = await c.request(method, path, data=body, headers={"Content-Type": "application/json"})
    assert r.status == status
    assert r.content_type == "application/json"
    answer = await r.json()
    assert answer["error"] == error and answer["message"], answer
    assert engine.acd.agents["agent1"].state.value == "available"  # nothing changed
