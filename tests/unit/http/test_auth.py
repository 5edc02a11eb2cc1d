"""Who may do what over HTTP: each attack refused, over a real aiohttp server and engine.

The users are tests/support/auth.py's: root (admin), sam (supervisor of ``support``,
with a password), alice (the agent ``agent1``). ``agent3`` serves only ``sales``,
outside sam's teams. The audit rows these requests leave in PostgreSQL are tested in
tests/integration/test_audit_store.py; here the records handed to the writer are.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from types import MappingProxyType
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from ccqueue.config.models import Http
from ccqueue.config.users import User
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.records import AuditRecord
from ccqueue.engine.engine import Engine
from ccqueue.http.access import PUBLIC, ROUTES
from ccqueue.http.app import _errors, build_app
from ccqueue.http.auth import COOKIE, CSRF_HEADER, SIGN_IN_FAILURES, SIGN_IN_WINDOW_S, Auth
from ccqueue.reload import ReloadResult
from tests.support.auth import ADMIN, ADMIN_TOKEN, AGENT, SUPERVISOR, SUPERVISOR_PASSWORD, USERS
from tests.support.fakes import RecordingCallers, RecordingTelephony, Records


@dataclass
class Site:
    client: TestClient
    engine: Engine
    audit: list[AuditRecord]
    users: dict[str, Mapping[str, User]]
    reloads: list[int] = field(default_factory=list)

    def state(self, agent_id: str) -> str:
        view = self.engine.acd.views.agent(agent_id)
        assert view is not None
        return view.state.value

    async def sign_in(self, user: str = "sam", password: str = SUPERVISOR_PASSWORD) -> str:
        """Sign in with a password; the cookie stays in the client's jar. Returns the CSRF token."""
        r = await self.client.post("/api/session", json={"user": user, "password": password})
        assert r.status == 200, await r.text()
        return str((await r.json())["csrf_token"])


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
        hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support")}),
    )


@pytest.fixture
async def make_site() -> AsyncIterator[Callable[..., Any]]:
    """Sites on demand (``await make_site(Http(...))``), all stopped at the end."""
    started: list[tuple[TestClient, asyncio.Task[None]]] = []

    async def make(http: Http | None = None) -> Site:
        engine = Engine(Acd(_settings()), telephony=RecordingTelephony(), callers=RecordingCallers(), records=Records())
        audit: list[AuditRecord] = []
        users: dict[str, Mapping[str, User]] = {"now": USERS}
        reloads: list[int] = []

        async def reload() -> ReloadResult:
            reloads.append(1)
            return ReloadResult(applied=True)

        app = build_app(
            engine=engine,
            registry=CollectorRegistry(),
            health=lambda: {"status": "ok", "ami": "ready", "database": "ready"},
            reload=reload,
            users=lambda: users["now"],
            settings=http,
            audit=audit.append,
        )
        client = TestClient(TestServer(app))
        await client.start_server()
        task = asyncio.create_task(engine.run())
        started.append((client, task))
        return Site(client, engine, audit, users, reloads)

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


# -- no session: 401 -------------------------------------------------------------------------

_SAMPLE = {
    "agent_id": "agent1",
    "action": "login",
    "callback_id": "cb1",
    "name": "renewals",
    "attempt_id": "a1",
    "decision": "skip",
    "call_id": "c1",
    "recording_id": "c1.1",
}
_CLOSED = sorted(
    (method, path)
    for (method, path), route in ROUTES.items()
    if route.role is not PUBLIC and route.openable is None and not route.page
)


@pytest.mark.parametrize(("method", "path"), _CLOSED)
async def test_every_closed_route_answers_401_json_without_credentials(site: Site, method: str, path: str) -> None:
    sample = {**_SAMPLE, "action": "start"} if path.startswith("/api/campaigns/") or "/recording/" in path else _SAMPLE
    r = await site.client.request(method, path.format(**sample))
    assert await _error(r) == (401, "not-signed-in")
    assert site.state("agent1") == "logged_out" and site.reloads == []


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {ADMIN_TOKEN}x", "Bearer ccq_made-up", f"Basic {ADMIN_TOKEN}", "Bearer ", ADMIN_TOKEN],
)
async def test_a_wrong_or_malformed_token_is_refused(site: Site, authorization: str) -> None:
    r = await site.client.post("/api/agents/agent1/login", headers={"Authorization": authorization})
    assert await _error(r) == (401, "not-signed-in")
    assert site.state("agent1") == "logged_out"


async def test_a_revoked_token_is_refused_from_the_next_request(site: Site) -> None:
    assert (await site.client.get("/api/agents", headers=ADMIN)).status == 200
    site.users["now"] = MappingProxyType({k: v for k, v in USERS.items() if k != "root"})  # a reload without root
    r = await site.client.post("/api/config/reload", headers=ADMIN)
    assert await _error(r) == (401, "not-signed-in")
    assert site.reloads == []


# -- wrong role: 403 -----------------------------------------------------------------------------


async def test_an_agent_acts_on_itself_and_on_no_other_agent(site: Site) -> None:
    r = await site.client.post("/api/agents/agent1/login", headers=AGENT)
    assert (r.status, (await r.json())["state"]) == (200, "available")
    for agent in ("agent2", "agent3"):
        r = await site.client.post(f"/api/agents/{agent}/login", headers=AGENT)
        assert await _error(r) == (403, "forbidden")
        assert site.state(agent) == "logged_out"
        assert await _error(await site.client.get(f"/api/agents/{agent}", headers=AGENT)) == (403, "forbidden")
    # An unknown agent is no different: the agent learns nothing about who exists.
    assert await _error(await site.client.post("/api/agents/nobody/login", headers=AGENT)) == (403, "forbidden")
    listed = await (await site.client.get("/api/agents", headers=AGENT)).json()
    assert [a["id"] for a in listed] == ["agent1"]


@pytest.mark.parametrize("who", [AGENT, SUPERVISOR], ids=["agent", "supervisor"])
async def test_only_an_admin_reloads_the_configuration(site: Site, who: dict[str, str]) -> None:
    assert await _error(await site.client.post("/api/config/reload", headers=who)) == (403, "forbidden")
    assert site.reloads == []
    assert (await site.client.post("/api/config/reload", headers=ADMIN)).status == 200
    assert site.reloads == [1]


async def test_a_supervisor_acts_on_its_teams_agents_only(site: Site) -> None:
    assert (await site.client.post("/api/agents/agent2/login", headers=SUPERVISOR)).status == 200
    assert await _error(await site.client.post("/api/agents/agent3/login", headers=SUPERVISOR)) == (403, "forbidden")
    assert site.state("agent3") == "logged_out"
    listed = await (await site.client.get("/api/agents", headers=SUPERVISOR)).json()
    assert sorted(a["id"] for a in listed) == ["agent1", "agent2"]
    queues = await (await site.client.get("/api/queues", headers=SUPERVISOR)).json()
    assert [q["name"] for q in queues] == ["support"]
    assert await _error(await site.client.get("/api/callbacks?queue=sales", headers=SUPERVISOR)) == (403, "forbidden")
    board = await (await site.client.get("/api/wallboard", headers=SUPERVISOR)).json()
    assert [q["name"] for q in board["queues"]] == ["support"]
    assert sorted(a["id"] for a in board["agents"]) == ["agent1", "agent2"]
    # The admin reaches everything.
    assert (await site.client.post("/api/agents/agent3/login", headers=ADMIN)).status == 200


async def test_an_agent_does_not_see_the_wallboard_or_callbacks(site: Site) -> None:
    for path in ("/api/wallboard", "/api/callbacks", "/api/wallboard/events"):
        assert await _error(await site.client.get(path, headers=AGENT)) == (403, "forbidden")


# -- sessions and CSRF ------------------------------------------------------------------------------


def _set_cookie(r: Any) -> str:
    (header,) = r.headers.getall("Set-Cookie")
    return str(header)


@pytest.mark.parametrize("secure", [False, True])
async def test_the_session_cookie_is_httponly_samesite_strict_and_secure_when_configured(
    make_site: Callable[..., Any], secure: bool
) -> None:
    site = await make_site(Http(secure_cookies=secure))
    r = await site.client.post("/api/session", json={"user": "sam", "password": SUPERVISOR_PASSWORD})
    assert r.status == 200
    header = _set_cookie(r)
    morsel = SimpleCookie(header)[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/"
    assert bool(morsel["secure"]) is secure
    assert len(morsel.value) >= 40  # 32 random bytes
    body = await r.json()
    assert (body["user"], body["role"], body["queues"]) == ("sam", "supervisor", ["support"])
    assert morsel.value not in str(body) and body["csrf_token"]


@pytest.mark.parametrize(
    ("user", "password"), [("sam", "wrong-password"), ("nobody", SUPERVISOR_PASSWORD), ("alice", "anything-at-all")]
)
async def test_a_wrong_password_or_user_is_refused_alike(site: Site, user: str, password: str) -> None:
    r = await site.client.post("/api/session", json={"user": user, "password": password})
    assert await _error(r) == (401, "sign-in-refused")
    assert "Set-Cookie" not in r.headers
    assert site.audit[-1].actor == user and site.audit[-1].outcome == "refused"


async def test_a_change_with_the_cookie_needs_the_csrf_token(site: Site) -> None:
    token = await site.sign_in()
    # Reading needs no token.
    assert (await site.client.get("/api/agents/agent1")).status == 200
    for headers in ({}, {CSRF_HEADER: "guess"}, {CSRF_HEADER: ""}):
        r = await site.client.post("/api/agents/agent1/login", headers=headers)
        assert await _error(r) == (403, "csrf-refused")
        assert site.state("agent1") == "logged_out"
    r = await site.client.post("/api/agents/agent1/login", headers={CSRF_HEADER: token})
    assert (r.status, (await r.json())["state"]) == (200, "available")


async def test_a_cross_site_text_plain_form_post_is_refused(site: Site) -> None:
    """What an HTML form on another site can send: the cookie (if the browser sends it
    at all), text/plain or form encoding, no custom header."""
    token = await site.sign_in()
    assert (await site.client.post("/api/agents/agent1/login", headers={CSRF_HEADER: token})).status == 200
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        r = await site.client.post(
            "/api/agents/agent1/logout",
            data=b'{"reason": "x"}',
            headers={"Content-Type": content_type, "Origin": "https://evil.example"},
        )
        assert await _error(r) == (403, "csrf-refused")
        assert site.state("agent1") == "available"
    # Even with the token, a body that is not declared JSON is refused.
    r = await site.client.post(
        "/api/agents/agent1/pause", data=b'{"reason": "x"}', headers={"Content-Type": "text/plain", CSRF_HEADER: token}
    )
    assert await _error(r) == (415, "unsupported-media-type")
    assert site.state("agent1") == "available"


async def test_signing_in_refuses_a_form_post(site: Site) -> None:
    """Login CSRF: another site's form cannot sign the browser in as someone else."""
    r = await site.client.post(
        "/api/session", data=f'{{"user": "sam", "password": "{SUPERVISOR_PASSWORD}"}}', headers={"Content-Type": "text/plain"}
    )
    assert await _error(r) == (415, "unsupported-media-type")
    assert "Set-Cookie" not in r.headers


async def test_signing_out_ends_the_session(site: Site) -> None:
    token = await site.sign_in()
    cookie = site.client.session.cookie_jar.filter_cookies(site.client.make_url("/"))[COOKIE].value
    assert await _error(await site.client.delete("/api/session")) == (403, "csrf-refused")
    r = await site.client.delete("/api/session", headers={CSRF_HEADER: token})
    assert r.status == 200
    # The old cookie, replayed, is refused.
    r = await site.client.get("/api/agents", cookies={COOKIE: cookie})
    assert await _error(r) == (401, "not-signed-in")


async def test_a_session_follows_its_user_through_a_reload(site: Site) -> None:
    await site.sign_in()
    assert (await site.client.get("/api/wallboard")).status == 200
    site.users["now"] = MappingProxyType({k: v for k, v in USERS.items() if k != "sam"})
    assert await _error(await site.client.get("/api/wallboard")) == (401, "not-signed-in")


async def test_a_made_up_cookie_is_refused(site: Site) -> None:
    r = await site.client.get("/api/agents", cookies={COOKIE: "x" * 43})
    assert await _error(r) == (401, "not-signed-in")


# -- pages and open paths -------------------------------------------------------------------------


async def test_the_wallboard_page_sends_a_stranger_to_sign_in(site: Site) -> None:
    r = await site.client.get("/wallboard", allow_redirects=False)
    assert (r.status, r.headers["Location"]) == (303, "/signin?next=/wallboard")
    r = await site.client.get("/signin")
    assert r.status == 200 and "<form" in await r.text()
    # So does an ended session.
    r = await site.client.get("/wallboard", allow_redirects=False, cookies={COOKIE: "ended-long-ago"})
    assert (r.status, r.headers["Location"]) == (303, "/signin?next=/wallboard")


async def test_metrics_and_health_are_open_by_default_and_closed_when_told(make_site: Callable[..., Any]) -> None:
    site = await make_site()
    assert (await site.client.get("/metrics")).status == 200
    assert (await site.client.get("/healthz")).status == 200
    assert (await site.client.get("/api/openapi.json")).status == 200
    assert await _error(await site.client.get("/api/wallboard")) == (401, "not-signed-in")
    site = await make_site(Http(open=("wallboard",)))
    assert await _error(await site.client.get("/metrics")) == (401, "not-signed-in")
    assert await _error(await site.client.get("/healthz")) == (401, "not-signed-in")
    assert (await site.client.get("/metrics", headers=SUPERVISOR)).status == 200
    assert await _error(await site.client.get("/metrics", headers=AGENT)) == (403, "forbidden")
    assert (await site.client.get("/api/wallboard")).status == 200
    assert (await site.client.get("/wallboard", allow_redirects=False)).status == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("GET", "/nowhere", None, 404, "not-found"),
        ("POST", "/api/nowhere", None, 404, "not-found"),
        ("PUT", "/api/agents/agent1/login", None, 405, "method-not-allowed"),
        ("POST", "/api/agents", None, 405, "method-not-allowed"),
        ("POST", "/api/session", b"{" * 70_000, 413, "body-too-large"),
        ("POST", "/api/agents/agent1/pause", b"[" * 70_000, 413, "body-too-large"),
    ],
)
async def test_aiohttps_own_errors_answer_json_signed_in_or_not(
    site: Site, method: str, path: str, body: bytes | None, status: int, error: str
) -> None:
    for headers in ({}, ADMIN):
        r = await site.client.request(method, path, data=body, headers={**headers, "Content-Type": "application/json"})
        assert await _error(r) == (status, error)


# -- the audit ------------------------------------------------------------------------------------------


async def test_every_change_is_audited_accepted_or_refused_and_reads_are_not(site: Site) -> None:
    await site.client.get("/api/agents", headers=ADMIN)
    await site.client.post("/api/agents/agent1/login", headers=AGENT)
    await site.client.post("/api/agents/agent2/login", headers=AGENT)
    await site.client.post("/api/config/reload")
    await site.client.post("/api/session", json={"user": "sam", "password": "nope-nope-nope"})
    rows = [(a.actor, a.role, a.via, a.method, a.path, a.route, a.status, a.outcome, a.error) for a in site.audit]
    assert rows == [
        (
            "alice",
            "agent",
            "token",
            "POST",
            "/api/agents/agent1/login",
            "POST /api/agents/{agent_id}/{action}",
            200,
            "accepted",
            None,
        ),
        (
            "alice",
            "agent",
            "token",
            "POST",
            "/api/agents/agent2/login",
            "POST /api/agents/{agent_id}/{action}",
            403,
            "refused",
            "forbidden",
        ),
        (None, None, "none", "POST", "/api/config/reload", "POST /api/config/reload", 401, "refused", "not-signed-in"),
        ("sam", None, "none", "POST", "/api/session", "POST /api/session", 401, "refused", "sign-in-refused"),
    ]
    assert all(a.remote == "127.0.0.1" and a.at > 0 for a in site.audit)
    assert len({a.audit_id for a in site.audit}) == len(site.audit)


async def test_a_session_ends_when_idle_too_long_and_after_its_maximum() -> None:
    now = [1000.0]
    auth = Auth(
        users=lambda: USERS,
        settings=Http(session_idle_s=60, session_max_s=300),
        agent_queues=lambda _agent: ("support",),
        clock=lambda: now[0],
    )
    app = web.Application(middlewares=[_errors, auth.guard])
    app.add_routes(auth.routes())

    async def agents(_request: web.Request) -> web.Response:
        return web.json_response([])

    app.router.add_get("/api/agents", agents)
    async with TestClient(TestServer(app)) as client:

        async def sign_in() -> None:
            r = await client.post("/api/session", json={"user": "sam", "password": SUPERVISOR_PASSWORD})
            assert r.status == 200

        await sign_in()
        for _ in range(5):  # busy: a request every 59 s keeps it alive ...
            now[0] += 59
            assert (await client.get("/api/agents")).status == 200
        now[0] += 59  # ... until 300 s after sign-in
        assert await _error(await client.get("/api/agents")) == (401, "not-signed-in")
        await sign_in()
        now[0] += 61  # idle for longer than 60 s
        assert await _error(await client.get("/api/agents")) == (401, "not-signed-in")


async def test_guessing_passwords_is_throttled_per_address() -> None:
    now = [1000.0]
    auth = Auth(users=lambda: USERS, settings=Http(), agent_queues=lambda _agent: None, clock=lambda: now[0])
    app = web.Application(middlewares=[_errors, auth.guard])
    app.add_routes(auth.routes())
    async with TestClient(TestServer(app)) as client:

        async def attempt(password: str) -> tuple[int, str | None]:
            r = await client.post("/api/session", json={"user": "sam", "password": password})
            return r.status, (await r.json()).get("error")

        for n in range(SIGN_IN_FAILURES):
            now[0] += 1
            assert await attempt(f"guess-number-{n}") == (401, "sign-in-refused")
        # Now even the right password is refused unchecked ...
        assert await attempt(SUPERVISOR_PASSWORD) == (429, "sign-in-throttled")
        # ... until the oldest failure leaves the window.
        now[0] += SIGN_IN_WINDOW_S - SIGN_IN_FAILURES + 1
        assert await attempt(SUPERVISOR_PASSWORD) == (200, None)
