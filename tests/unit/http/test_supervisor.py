"""The supervisor's screen and listening in, over a real aiohttp server and a running
engine (Asterisk replaced by the recording stand-ins and a recording spy; the spy
against real Asterisk and baresip is tests/e2e/test_spy.py).

Users: tests/support/auth.py's, with sam (supervisor of ``support``) given a phone, and
``nophone``, a supervisor of ``support`` without one. ``agent3`` serves only ``sales``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from ccqueue.config.users import Role, User
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.errors import SpyNotAnswered
from ccqueue.core.records import AuditRecord
from ccqueue.credentials import hash_token
from ccqueue.engine.engine import Engine
from ccqueue.http.app import build_app
from ccqueue.http.auth import CSRF_HEADER
from tests.support.auth import ADMIN, AGENT, SUPERVISOR, SUPERVISOR_PASSWORD, USERS, bearer
from tests.support.fakes import RecordingCallers, RecordingTelephony, Records

NOPHONE_TOKEN = "ccq_test-nophone-token"
NOPHONE = bearer(NOPHONE_TOKEN)
SAM = USERS["sam"]
_USERS = MappingProxyType(
    {
        **USERS,
        "sam": User(
            role=Role.SUPERVISOR,
            queues=SAM.queues,
            tokens=SAM.tokens,
            password_hash=SAM.password_hash,
            phone="PJSIP/sup1",
        ),
        "nophone": User(role=Role.SUPERVISOR, queues=("support",), tokens=(hash_token(NOPHONE_TOKEN),)),
    }
)


@dataclass
class RecordingSpy:
    """The Asterisk side of listening in: every request kept; answers like the real one."""

    asked: list[dict[str, str]] = field(default_factory=list)
    failure: Exception | None = None

    async def __call__(self, *, supervisor: str, phone: str, agent_id: str, target: str, mode: str) -> dict[str, Any]:
        self.asked.append({"supervisor": supervisor, "phone": phone, "agent_id": agent_id, "target": target, "mode": mode})
        if self.failure is not None:
            raise self.failure
        return {"agent": agent_id, "mode": mode, "spy_id": "spy-1", "rang": len(self.asked) == 1}


@dataclass
class Site:
    client: TestClient
    engine: Engine
    telephony: RecordingTelephony
    spy: RecordingSpy
    audit: list[AuditRecord]

    def state(self, agent_id: str) -> str:
        view = self.engine.acd.views.agent(agent_id)
        assert view is not None
        return view.state.value

    async def on_call(self, agent_id: str = "agent1") -> str:
        """``agent_id`` logged in and talking to a caller; returns its leg's uniqueid (the offer id)."""
        await self.engine.ask(ev.AgentRequested(agent_id=agent_id, action=ev.AgentAction.LOGIN))
        n = len(self.telephony.originated) + 1
        await self.engine.ask(
            ev.CallArrived(
                call_id=f"c{n}",
                hotline="200" if agent_id == "agent3" else "100",
                caller="+15550100100",
                channel=f"PJSIP/in-{n}",
                uniqueid=f"u{n}",
            )
        )
        deadline = time.monotonic() + 3
        while len(self.telephony.originated) < n:
            assert time.monotonic() < deadline, "no agent was rung"
            await asyncio.sleep(0.01)
        offer = self.telephony.originated[-1]
        assert offer.agent_id == agent_id
        await self.engine.ask(ev.OfferClaimed(offer_id=offer.offer_id))
        assert self.state(agent_id) == "on_call"
        return offer.offer_id


def _settings() -> AcdSettings:
    queues = {name: QueueSettings(name=name) for name in ("support", "sales")}
    agents = {
        "agent1": AgentSettings(agent_id="agent1", name="Alice", endpoint="PJSIP/agent1", queues=("support",)),
        "agent2": AgentSettings(agent_id="agent2", name="Boris", endpoint="PJSIP/agent2", queues=("support",)),
        "agent3": AgentSettings(agent_id="agent3", name="Chen", endpoint="PJSIP/agent3", queues=("sales",)),
    }
    return AcdSettings(
        queues=MappingProxyType(queues),
        agents=MappingProxyType(agents),
        hotlines=MappingProxyType(
            {"100": HotlineSettings(number="100", queue="support"), "200": HotlineSettings(number="200", queue="sales")}
        ),
    )


@pytest.fixture
async def make_site() -> AsyncIterator[Callable[..., Any]]:
    started: list[tuple[TestClient, asyncio.Task[None]]] = []

    async def make(*, with_spy: bool = True) -> Site:
        telephony = RecordingTelephony()
        engine = Engine(Acd(_settings()), telephony=telephony, callers=RecordingCallers(), records=Records())
        spy, audit = RecordingSpy(), []
        app = build_app(
            engine=engine,
            registry=CollectorRegistry(),
            health=lambda: {"status": "ok", "ami": "ready", "database": "ready"},
            users=lambda: _USERS,
            audit=audit.append,
            spy=spy if with_spy else None,
        )
        client = TestClient(TestServer(app))
        await client.start_server()
        task = asyncio.create_task(engine.run())
        started.append((client, task))
        return Site(client, engine, telephony, spy, audit)

    yield make
    for client, task in started:
        await client.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def site(make_site: Callable[..., Any]) -> Site:
    return await make_site()  # type: ignore[no-any-return]


async def _error(r: Any) -> tuple[int, str]:
    assert r.content_type == "application/json", (r.status, await r.text())
    return r.status, (await r.json())["error"]


# -- listening in ------------------------------------------------------------------------------


async def test_a_supervisor_listens_then_barges_on_its_teams_agent(site: Site) -> None:
    leg = await site.on_call("agent1")
    r = await site.client.post("/api/agents/agent1/spy", json={"mode": "listen"}, headers=SUPERVISOR)
    assert r.status == 200, await r.text()
    assert (await r.json())["mode"] == "listen"
    r = await site.client.post("/api/agents/agent1/spy", json={"mode": "barge"}, headers=SUPERVISOR)
    assert r.status == 200, await r.text()
    # The leg spied on is the agent's answered leg, as the core knows it; the phone is sam's own.
    assert site.spy.asked == [
        {"supervisor": "sam", "phone": "PJSIP/sup1", "agent_id": "agent1", "target": leg, "mode": "listen"},
        {"supervisor": "sam", "phone": "PJSIP/sup1", "agent_id": "agent1", "target": leg, "mode": "barge"},
    ]
    # Each request is audited: who, which agent, accepted.
    spies = [a for a in site.audit if a.route == "POST /api/agents/{agent_id}/spy"]
    assert [(a.actor, a.role, a.path, a.outcome, a.status) for a in spies] == [
        ("sam", "supervisor", "/api/agents/agent1/spy", "accepted", 200)
    ] * 2


async def test_an_admin_without_a_phone_and_a_supervisor_outside_its_teams(site: Site) -> None:
    await site.on_call("agent3")
    # sam does not reach agent3 (sales); an admin reaches every agent, but has no phone.
    r = await site.client.post("/api/agents/agent3/spy", json={"mode": "whisper"}, headers=ADMIN)
    assert await _error(r) == (409, "spy-phone-missing")
    r = await site.client.post("/api/agents/agent3/spy", json={"mode": "whisper"}, headers=SUPERVISOR)
    assert await _error(r) == (403, "forbidden")
    assert site.spy.asked == []


async def test_refused_when_the_agent_is_not_on_a_call(site: Site) -> None:
    r = await site.client.post("/api/agents/agent1/spy", json={"mode": "listen"}, headers=SUPERVISOR)
    assert await _error(r) == (409, "agent-not-on-call")
    await site.engine.ask(ev.AgentRequested(agent_id="agent1", action=ev.AgentAction.LOGIN))
    r = await site.client.post("/api/agents/agent1/spy", json={"mode": "listen"}, headers=SUPERVISOR)
    assert await _error(r) == (409, "agent-not-on-call")
    assert site.spy.asked == []
    refused = [a for a in site.audit if a.route == "POST /api/agents/{agent_id}/spy"]
    assert [(a.outcome, a.error) for a in refused] == [("refused", "agent-not-on-call")] * 2


async def test_refused_outside_the_supervisors_teams_and_to_agents(site: Site) -> None:
    await site.on_call("agent3")
    await site.on_call("agent1")
    r = await site.client.post("/api/agents/agent3/spy", json={"mode": "listen"}, headers=SUPERVISOR)
    assert await _error(r) == (403, "forbidden")
    # An agent may not spy, not even on itself.
    r = await site.client.post("/api/agents/agent1/spy", json={"mode": "listen"}, headers=AGENT)
    assert await _error(r) == (403, "forbidden")
    assert site.spy.asked == []


async def test_refused_without_a_phone_or_with_a_bad_body(site: Site) -> None:
    await site.on_call("agent1")
    r = await site.client.post("/api/agents/agent1/spy", json={"mode": "listen"}, headers=NOPHONE)
    assert await _error(r) == (409, "spy-phone-missing")
    for body in ({"mode": "eavesdrop"}, {"mode": "listen", "channel": "PJSIP/agent10"}, {}, ["listen"], {"mode": None}):
        r = await site.client.post("/api/agents/agent1/spy", json=body, headers=SUPERVISOR)
        assert await _error(r) == (400, "bad-request"), body
    r = await site.client.post("/api/agents/agent1/spy", data=b"mode=listen", headers=SUPERVISOR)
    assert await _error(r) == (415, "unsupported-media-type")
    r = await site.client.post("/api/agents/nobody/spy", json={"mode": "listen"}, headers=ADMIN)
    assert await _error(r) == (404, "agent-unknown")
    assert site.spy.asked == []


async def test_a_phone_that_does_not_answer(site: Site) -> None:
    await site.on_call("agent1")
    site.spy.failure = SpyNotAnswered("PJSIP/sup1 did not answer (reason 3)")
    r = await site.client.post("/api/agents/agent1/spy", json={"mode": "listen"}, headers=SUPERVISOR)
    assert await _error(r) == (409, "spy-not-answered")


async def test_without_an_asterisk_link_nobody_listens(make_site: Callable[..., Any]) -> None:
    site = await make_site(with_spy=False)
    await site.on_call("agent1")
    r = await site.client.post("/api/agents/agent1/spy", json={"mode": "listen"}, headers=SUPERVISOR)
    assert await _error(r) == (409, "spy-phone-missing")


async def test_a_session_needs_the_csrf_token(site: Site) -> None:
    await site.on_call("agent1")
    r = await site.client.post("/api/session", json={"user": "sam", "password": SUPERVISOR_PASSWORD})
    csrf = (await r.json())["csrf_token"]
    r = await site.client.post("/api/agents/agent1/spy", json={"mode": "listen"})
    assert await _error(r) == (403, "csrf-refused")
    r = await site.client.post("/api/agents/agent1/spy", json={"mode": "listen"}, headers={CSRF_HEADER: csrf})
    assert r.status == 200, await r.text()
    assert [a["mode"] for a in site.spy.asked] == ["listen"]


# -- force pause and log out from the screen --------------------------------------------------


async def test_force_pause_and_logout_only_on_the_supervisors_teams(site: Site) -> None:
    for agent in ("agent1", "agent3"):
        await site.engine.ask(ev.AgentRequested(agent_id=agent, action=ev.AgentAction.LOGIN))
    r = await site.client.post("/api/agents/agent1/pause", json={"reason": "coaching"}, headers=SUPERVISOR)
    assert r.status == 200 and (await r.json())["reason"] == "coaching"
    r = await site.client.post("/api/agents/agent3/pause", json={"reason": "coaching"}, headers=SUPERVISOR)
    assert await _error(r) == (403, "forbidden")
    r = await site.client.post("/api/agents/agent3/logout", headers=SUPERVISOR)
    assert await _error(r) == (403, "forbidden")
    assert (site.state("agent1"), site.state("agent3")) == ("paused", "available")
    r = await site.client.post("/api/agents/agent1/logout", headers=SUPERVISOR)
    assert r.status == 200 and site.state("agent1") == "logged_out"


# -- the page ------------------------------------------------------------------------------------


async def test_the_page_is_for_supervisors(site: Site) -> None:
    r = await site.client.get("/supervisor", allow_redirects=False)
    assert (r.status, r.headers["Location"]) == (303, "/signin?next=/supervisor")
    r = await site.client.get("/supervisor", headers=SUPERVISOR)
    text = await r.text()
    assert r.status == 200 and r.content_type == "text/html"
    assert "/api/agents/${encodeURIComponent(a.id)}/spy" in text and "Слушать" in text
    # Values from outside go in as text only: the page never builds HTML from strings.
    assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "document.write" not in text
    r = await site.client.get("/supervisor", headers=AGENT)
    assert await _error(r) == (403, "forbidden")
