"""The HTTP side: agents' API, health, metrics.

Handlers only translate: a request becomes a core event put on the engine's inbox with
``ask``; the answer (or the core's error) becomes JSON. Status codes for the core's
errors live in one table, ``ccqueue.http.errors.STATUS_BY_ERROR``; the error ids are
public API. Every error answer is JSON ``{"error": id, "message": ...}``, aiohttp's own
(no such route, wrong method, body too large) included: ``ERROR_BY_STATUS`` names those.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ccqueue.config.callbacks import Callbacks
from ccqueue.core import events as ev
from ccqueue.core.errors import CcqueueError
from ccqueue.core.views import AgentView
from ccqueue.engine.engine import Engine
from ccqueue.http.callbacks import callback_routes
from ccqueue.http.errors import ERROR_BY_STATUS, status_of

# A request body must arrive within this (a client that trickles it holds a connection).
BODY_TIMEOUT_S = 10.0
# An idle connection, or one whose request headers are not complete, is closed after
# this (aiohttp's keepalive_timeout, armed from the moment a connection is accepted).
# Apache's KeepAliveTimeout is 5 s, nginx's keepalive_timeout 75 s and its
# client_header_timeout 60 s; Prometheus scrapes every 15 s and reconnects if need be.
IDLE_TIMEOUT_S = 15.0

log = structlog.get_logger("ccqueue.http")

MAX_REASON_CHARS = 64
STATIC = Path(__file__).parent / "static"


def _error(status: int, error_id: str, message: str) -> web.Response:
    return web.json_response({"error": error_id, "message": message}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    try:
        if request.body_exists:  # read here, under a deadline; handlers get it cached
            try:
                async with asyncio.timeout(BODY_TIMEOUT_S):
                    await request.read()
            except TimeoutError:
                return _error(408, "request-timeout", f"the request body did not arrive within {BODY_TIMEOUT_S:g} s")
        response: web.StreamResponse = await handler(request)
        return response
    except CcqueueError as exc:
        return _error(status_of(exc.error_id), exc.error_id, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:  # a redirect is an answer, not an error
            raise
        return _http_error(request, exc)
    except Exception:
        log.exception("http_request_failed", method=request.method, path=request.path)
        return _error(500, "internal", "the request failed; the log says why")


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    """aiohttp's own error (no such route, wrong method, body too large) as JSON."""
    error_id = ERROR_BY_STATUS.get(exc.status, f"http-{exc.status}")
    if exc.status == 404:
        message = f"nothing at {request.path}"
    elif exc.status == 405:
        message = f"{request.method} is not allowed on {request.path}"
    else:  # aiohttp's text says what was wrong (e.g. the size limit), else its reason
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
    response = _error(exc.status, error_id, message)
    if "Allow" in exc.headers:
        response.headers["Allow"] = exc.headers["Allow"]
    return response


def _agent_view(agent: AgentView) -> dict[str, Any]:
    return {
        "id": agent.agent_id,
        "name": agent.name,
        "state": agent.state.value,
        "since": agent.since,
        "reason": agent.reason,
        "pending": agent.pending_action,
        "queues": list(agent.queues),
    }


def build_app(
    *,
    engine: Engine,
    registry: Any,
    health: Callable[[], dict[str, Any]],
    ended_calls: Callable[[], dict[tuple[str, str], int]] = dict,
    callbacks_config: Callable[[], Callbacks | None] = lambda: None,
    reload: Callable[[], Awaitable[Any]] | None = None,
    middlewares: tuple[Any, ...] = (),
) -> web.Application:
    app = web.Application(middlewares=[*middlewares, _errors], client_max_size=64 * 1024)
    routes = web.RouteTableDef()

    @routes.post("/api/config/reload")
    async def reload_config(_request: web.Request) -> web.Response:
        """Reload the configuration: 200 applied, 422 invalid (every problem listed), 409 refused."""
        if reload is None:
            return _error(404, "not-found", "reload is not available here")
        result = await reload()
        status = 200 if result.applied else status_of(result.error_id or "reload-refused")
        return web.json_response(result.as_json(), status=status)

    @routes.get("/healthz")
    async def healthz(_request: web.Request) -> web.Response:
        body = health()
        return web.json_response(body, status=200 if body.get("status") == "ok" else 503)

    @routes.get("/metrics")
    async def metrics(_request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    @routes.get("/api/agents")
    async def agents(_request: web.Request) -> web.Response:
        return web.json_response([_agent_view(a) for a in engine.acd.views.agents()])

    @routes.get("/api/agents/{agent_id}")
    async def agent(request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        view = engine.acd.views.agent(agent_id)
        if view is None:
            return _error(404, "agent-unknown", f"no agent {agent_id!r} is configured")
        return web.json_response(_agent_view(view))

    @routes.post("/api/agents/{agent_id}/{action:login|logout|pause|unpause}")
    async def agent_action(request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        action = ev.AgentAction(request.match_info["action"])
        reason = None
        if action is ev.AgentAction.PAUSE:
            reason = await _pause_reason(request)
            if isinstance(reason, web.Response):
                return reason
        await engine.ask(ev.AgentRequested(agent_id=agent_id, action=action, reason=reason))
        view = engine.acd.views.agent(agent_id)
        if view is None:  # removed by a reload meanwhile
            return _error(404, "agent-unknown", f"no agent {agent_id!r} is configured")
        return web.json_response(_agent_view(view))

    @routes.get("/api/queues")
    async def queues(_request: web.Request) -> web.Response:
        return web.json_response([{"name": q.name, "waiting": q.waiting} for q in engine.acd.views.queues()])

    @routes.get("/wallboard")
    async def wallboard(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "wallboard.html")

    @routes.get("/api/wallboard")
    async def wallboard_data(_request: web.Request) -> web.Response:
        views, now = engine.acd.views, time.time()
        totals = ended_calls()
        return web.json_response(
            {
                "now": now,
                "health": health(),
                "queues": [
                    {
                        "name": q.name,
                        "waiting": q.waiting,
                        "longest_wait_s": round(max(0.0, now - q.oldest_arrival) if q.oldest_arrival is not None else 0.0, 1),
                        "callbacks": q.callbacks_open,  # open: waiting for their turn or being made
                        "answered": totals.get((q.name, "answered"), 0),
                        "abandoned": totals.get((q.name, "abandoned"), 0),
                    }
                    for q in views.queues()
                ],
                "agents": [_agent_view(a) for a in views.agents()],
            }
        )

    app.add_routes(routes)
    app.add_routes(callback_routes(engine=engine, callbacks_config=callbacks_config))
    return app


async def _pause_reason(request: web.Request) -> str | web.Response:
    if not request.body_exists:
        return "break"
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        return _error(400, "bad-request", 'the body must be JSON, e.g. {"reason": "lunch"}')
    reason = body.get("reason", "break") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON_CHARS:
        return _error(400, "bad-request", f"'reason' must be a non-empty string of at most {MAX_REASON_CHARS} characters")
    return reason.strip()
