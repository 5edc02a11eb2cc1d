"""The access table, the router and the OpenAPI description agree, in every direction."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from ccqueue.config.models import Http
from ccqueue.config.users import Role
from ccqueue.http.access import ROUTES, Route
from ccqueue.http.app import _errors, build_app
from ccqueue.http.auth import Auth
from ccqueue.http.openapi import openapi, registered_routes
from tests.support.auth import ADMIN, SUPERVISOR, USERS
from tests.unit.http.test_http_callbacks import FakeEngine


def _app(**kwargs: Any) -> web.Application:
    return build_app(engine=FakeEngine(), registry=CollectorRegistry(), health=dict, users=lambda: USERS, **kwargs)  # type: ignore[arg-type]


def test_every_registered_route_has_an_access_rule_and_every_rule_a_route() -> None:
    registered = set(registered_routes(_app()))
    assert registered - set(ROUTES) == set(), "routes nobody decided who may call"
    assert set(ROUTES) - registered == set(), "rules for routes that do not exist"


def test_the_openapi_description_names_every_route_and_only_those() -> None:
    app = _app()
    document = openapi(app)
    described = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert described == set(registered_routes(app))
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert not operation.get("x-ccqueue-undescribed"), (method, path)
            assert operation["summary"] and operation["responses"], (method, path)
            for name in (p["name"] for p in operation["parameters"] if p["in"] == "path"):
                assert "{" + name + "}" in path
            assert {name for name in path.split("/") if name.startswith("{")} == {
                "{" + p["name"] + "}" for p in operation["parameters"] if p["in"] == "path"
            }, (method, path)
    assert document["paths"]["/api/config/reload"]["post"]["x-ccqueue-role"] == "admin"
    assert document["paths"]["/api/session"]["post"]["security"] == []


async def test_the_description_is_served() -> None:
    async with TestClient(TestServer(_app())) as client:
        r = await client.get("/api/openapi.json")
        assert r.status == 200
        document = await r.json()
        assert document["openapi"].startswith("3.1") and "/api/agents/{agent_id}/{action}" in document["paths"]
    async with TestClient(TestServer(_app(settings=Http(open=())))) as client:
        assert (await client.get("/api/openapi.json")).status == 401
        assert (await client.get("/api/openapi.json", headers=ADMIN)).status == 200


async def test_a_route_added_without_a_rule_is_closed_to_everyone() -> None:
    """A route another module adds (campaigns, say) answers nobody until its row exists."""
    app = _app()
    hits: list[int] = []

    async def handler(_request: web.Request) -> web.Response:
        hits.append(1)
        return web.json_response({})

    app.router.add_post("/api/campaigns/{campaign}/start", handler)
    async with TestClient(TestServer(app)) as client:
        r = await client.post("/api/campaigns/spring/start", headers=ADMIN)
        assert (r.status, (await r.json())["error"]) == (500, "internal")
        assert hits == []


async def test_a_row_opens_a_new_route_to_its_role() -> None:
    rules = {**ROUTES, ("POST", "/api/campaigns/{campaign}/start"): Route(Role.ADMIN, "Start a campaign")}
    auth = Auth(users=lambda: USERS, settings=Http(), agent_queues=lambda _a: None, routes=rules)
    app = web.Application(middlewares=[_errors, auth.guard])

    async def handler(_request: web.Request) -> web.Response:
        return web.json_response({"started": True})

    app.router.add_post("/api/campaigns/{campaign}/start", handler)
    async with TestClient(TestServer(app)) as client:
        assert (await client.post("/api/campaigns/spring/start", headers=ADMIN)).status == 200
        assert (await client.post("/api/campaigns/spring/start")).status == 401
        assert (await client.post("/api/campaigns/spring/start", headers=SUPERVISOR)).status == 403
