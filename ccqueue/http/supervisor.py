"""The supervisor's screen and listening in: ``GET /supervisor``, ``POST /api/agents/{agent_id}/spy``.

Rules kept here:

1. The page is static (``static/supervisor.html``); it reads what the wallboard, the
   agent actions and the callbacks API already serve, so what a supervisor sees and may
   do there is what the route table (ccqueue.http.access) lets it, nothing more.
2. A spy request goes handler -> checks -> the Asterisk side: the body is exactly
   ``{"mode": "listen"|"whisper"|"barge"}``; the guard has already refused an agent
   outside the supervisor's teams (``forbidden``); the agent must be on a call
   (``agent-not-on-call``) and the user must have a phone (``spy-phone-missing``).
   Which channel is spied on comes from the core (the agent's leg in conversation),
   never from the request.
3. Every spy request is audited like every change (ccqueue.http.auth rule 6); the
   mode, which the audit row does not hold (it keeps no body), is logged with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import structlog
from aiohttp import web

from ccqueue.config.users import User
from ccqueue.core.agent_state import AgentState
from ccqueue.core.errors import AgentNotOnCall, RequestError, SpyPhoneMissing, UnknownAgent
from ccqueue.http.auth import principal_of

__all__ = ["SPY_MODES", "Spy", "supervisor_routes"]

log = structlog.get_logger("ccqueue.http.supervisor")

SPY_MODES = ("listen", "whisper", "barge")
STATIC = Path(__file__).parent / "static"


class Spy(Protocol):
    """Rings ``phone`` into ``target`` (the agent's leg) in ``mode``; the answer's JSON."""

    async def __call__(self, *, supervisor: str, phone: str, agent_id: str, target: str, mode: str) -> dict[str, Any]: ...


class _Engine(Protocol):
    acd: Any  # its ``views`` and ``agent_leg``


def supervisor_routes(engine: _Engine, *, users: Callable[[], Mapping[str, User]], spy: Spy | None = None) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/supervisor")
    async def page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "supervisor.html")

    @routes.post("/api/agents/{agent_id}/spy")
    async def spy_on(request: web.Request) -> web.Response:
        principal = principal_of(request)
        agent_id = request.match_info["agent_id"]
        mode = await _mode(request)
        log.info("spy_requested", user=principal.name, agent=agent_id, mode=mode)
        view = engine.acd.views.agent(agent_id)
        if view is None:
            raise UnknownAgent(agent_id)
        if spy is None:
            raise SpyPhoneMissing("listening in is not available here (no Asterisk link)")
        user = users().get(principal.name)
        phone = user.phone if user is not None else None
        if phone is None:
            raise SpyPhoneMissing(f"{principal.name} has no phone to listen on: set users.{principal.name}.phone")
        target = engine.acd.agent_leg(agent_id) if view.state is AgentState.ON_CALL else None
        if target is None:
            raise AgentNotOnCall(agent_id, view.state.value.replace("_", " "))
        answer = await spy(supervisor=principal.name, phone=phone, agent_id=agent_id, target=target, mode=mode)
        return web.json_response(answer)

    return routes


async def _mode(request: web.Request) -> str:
    example = '{"mode": "listen"}'
    try:
        body = await request.json() if request.body_exists else None
    except (ValueError, RecursionError):
        raise RequestError(f"the body is not JSON; expected e.g. {example}") from None
    if not isinstance(body, dict) or set(body) != {"mode"} or body["mode"] not in SPY_MODES:
        raise RequestError(f"the body must be exactly {example}, the mode one of {', '.join(SPY_MODES)}")
    return str(body["mode"])
