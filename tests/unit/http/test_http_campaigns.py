"""The campaigns API over a real aiohttp server and a real core (the engine's ask and
post answered synchronously by ``Acd``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd
from ccqueue.core.replies import Reply
from ccqueue.http.app import _errors
from ccqueue.http.campaigns import campaign_routes
from tests.unit.core.test_dialer import NOON, contact, make_acd


class CoreEngine:
    def __init__(self, acd: Acd) -> None:
        self.acd = acd
        self.commands: list[cmd.Command] = []

    async def ask(self, event: Any) -> Reply | None:
        handled = self.acd.handle_with_reply(event, NOON)
        self.commands += handled.commands
        return handled.reply

    def post(self, event: Any) -> None:
        self.commands += self.acd.handle(event, NOON)


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient[Any, Any], CoreEngine, list[str]]]:
    engine = CoreEngine(make_acd())
    added: list[str] = []

    async def add_do_not_call(raw: str) -> str:
        number = "+" + "".join(ch for ch in raw if ch.isdigit())
        added.append(number)
        return number

    app = web.Application(middlewares=[_errors])
    app.add_routes(campaign_routes(engine, add_do_not_call=add_do_not_call, clock=lambda: NOON))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client, engine, added


async def test_start_pause_stop_and_the_illegal_moves_are_409_with_a_stable_id(client: Any) -> None:
    http, _engine, _ = client
    answer = await http.post("/api/campaigns/renewals/start")
    assert answer.status == 200 and (await answer.json())["state"] == "running"
    again = await http.post("/api/campaigns/renewals/start")
    assert again.status == 409 and (await again.json())["error"] == "campaign-state-illegal"
    assert (await (await http.post("/api/campaigns/renewals/pause")).json())["state"] == "paused"
    assert (await (await http.post("/api/campaigns/renewals/stop")).json())["state"] == "stopped"
    stopped = await http.post("/api/campaigns/renewals/stop")
    assert stopped.status == 409
    unknown = await http.post("/api/campaigns/nope/start")
    assert unknown.status == 404 and (await unknown.json())["error"] == "campaign-unknown"
    listed = await (await http.get("/api/campaigns")).json()
    assert [c["name"] for c in listed] == ["renewals"] and listed[0]["pacing"]["ratio_24h"] == 0.0


async def test_a_number_put_on_do_not_call_is_stored_then_never_dialled(client: Any) -> None:
    http, engine, added = client
    answer = await http.post("/api/dnc", json={"number": "+1 555 000 0001"})
    assert answer.status == 201 and (await answer.json())["number"] == "+15550000001"
    assert added == ["+15550000001"]
    engine.post(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN))
    await http.post("/api/campaigns/renewals/start")
    engine.post(ev.ContactsSupplied(campaign="renewals", contacts=(contact(1), contact(2))))
    assert [c.number for c in engine.commands if isinstance(c, cmd.DialContact)] == ["+15550000002"]
    bad = await http.post("/api/dnc", json={"number": "x", "extra": 1})
    assert bad.status == 400 and (await bad.json())["error"] == "bad-request"


async def test_a_contact_list_needs_the_database(client: Any) -> None:
    http, _, _ = client
    answer = await http.post("/api/campaigns/renewals/contacts", data=b"number\n+15550000001\n")
    assert answer.status == 400
    unknown = await http.post("/api/campaigns/nope/contacts", data=b"number\n")
    assert unknown.status == 404
