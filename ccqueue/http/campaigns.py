"""The campaigns API: start, pause and stop a campaign, see them all, load a contact
list, put a number on the do-not-call list, and an agent's preview decision.

Rules kept here:

1. A request goes handler -> checks -> the engine (``ask`` for a campaign's move, so
   that an illegal one is a 409 with its stable id and changes nothing).
2. A contact list is a CSV body; the import is all or nothing (``import_contacts``, the
   store's), and the report says what was imported and every problem with its line.
3. A number is normalised to E.164 before it reaches the do-not-call list; the list is
   written first, then the engine is told, so a restart never forgets it.
4. Errors are the core's error tree; ``ccqueue.http.errors.STATUS_BY_ERROR`` maps them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, Protocol

from aiohttp import web

from ccqueue.core import events as ev
from ccqueue.core.errors import InternalError, RequestError
from ccqueue.core.replies import CampaignStatus, Reply

__all__ = ["campaign_routes", "campaign_view"]

# A contact list posted at once: 64 MiB is about a million rows of a typical list.
MAX_LIST_BYTES = 64 * 1024 * 1024


class _Engine(Protocol):
    acd: Any

    async def ask(self, event: Any) -> Reply | None: ...

    def post(self, event: Any) -> None: ...


ImportContacts = Callable[[str, bytes, bool], Awaitable[dict[str, Any]]]
AddDoNotCall = Callable[[str], Awaitable[str]]


def campaign_view(status: CampaignStatus) -> dict[str, Any]:
    view = asdict(status)
    return view


def campaign_routes(
    engine: _Engine,
    *,
    import_contacts: ImportContacts | None = None,
    add_do_not_call: AddDoNotCall | None = None,
    clock: Callable[[], float] = time.time,
) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/api/campaigns")
    async def campaigns(_request: web.Request) -> web.Response:
        now = clock()
        return web.json_response([campaign_view(engine.acd.campaign_status(n, now)) for n in engine.acd.campaign_names()])

    @routes.get("/api/campaigns/{name}")
    async def campaign(request: web.Request) -> web.Response:
        return web.json_response(campaign_view(engine.acd.campaign_status(request.match_info["name"], clock())))

    @routes.post("/api/campaigns/{name}/{action:start|pause|stop}")
    async def move(request: web.Request) -> web.Response:
        action = ev.CampaignAction(request.match_info["action"])
        reply = await engine.ask(ev.CampaignRequested(campaign=request.match_info["name"], action=action))
        if not isinstance(reply, CampaignStatus):
            raise InternalError("a campaign's move came back without its status")
        return web.json_response(campaign_view(reply))

    @routes.post("/api/campaigns/{name}/contacts")
    async def contacts(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        engine.acd.campaign_status(name, clock())  # an unknown campaign: 404 before reading
        if import_contacts is None:
            raise RequestError("contact lists cannot be imported here (no database)")
        if request.content_length is not None and request.content_length > MAX_LIST_BYTES:
            raise RequestError(f"a contact list is at most {MAX_LIST_BYTES} bytes")
        body = await request.read()
        skip_invalid = request.query.get("skip_invalid", "").lower() in ("1", "true", "yes")
        report = await import_contacts(name, body, skip_invalid)
        return web.json_response(report, status=201)

    @routes.post("/api/dnc")
    async def do_not_call(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise RequestError('the body must be JSON: {"number": "..."}') from None
        if not isinstance(body, dict) or set(body) != {"number"} or not isinstance(body["number"], str):
            raise RequestError('the body must be {"number": "..."} and nothing else')
        if add_do_not_call is None:
            raise RequestError("the do-not-call list cannot be written here (no database)")
        number = await add_do_not_call(body["number"])
        engine.post(ev.DoNotCallAdded(number=number))
        return web.json_response({"number": number, "do_not_call": True}, status=201)

    @routes.post("/api/campaigns/{name}/preview/{attempt_id}/{decision:dial|skip}")
    async def preview(request: web.Request) -> web.Response:
        decision = request.match_info["decision"] == "dial"
        await engine.ask(ev.PreviewDecided(attempt_id=request.match_info["attempt_id"], dial=decision))
        return web.json_response({"attempt_id": request.match_info["attempt_id"], "dial": decision})

    return routes
