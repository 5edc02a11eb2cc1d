"""The HTTP side: agents' API, health, metrics.

Handlers only translate: a request becomes a core event put on the engine's inbox with
``ask``; the answer (or the core's error) becomes JSON. Status codes for the core's
errors live in one table, ``ccqueue.http.errors.STATUS_BY_ERROR``; the error ids are
public API. Every error answer is JSON ``{"error": id, "message": ...}``, aiohttp's own
(no such route, wrong method, body too large) included: ``ERROR_BY_STATUS`` names those.

Who may call what is one table, ``ccqueue.http.access.ROUTES``; the guard
(``ccqueue.http.auth``) checks every request against it before a handler runs, and
every request that changes state is audited. Lists (agents, queues, the wallboard)
show what the caller reaches: an agent itself, a supervisor its teams' queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ccqueue.config.callbacks import Callbacks
from ccqueue.config.models import Config, Http
from ccqueue.config.users import Role, User
from ccqueue.core import events as ev
from ccqueue.core.errors import CcqueueError
from ccqueue.core.records import AuditRecord
from ccqueue.core.views import AgentView
from ccqueue.engine.engine import Engine
from ccqueue.http.access import Principal
from ccqueue.http.auth import ERROR_ID, PRINCIPAL, Auth, reaches_queue
from ccqueue.http.callbacks import callback_routes
from ccqueue.http.campaigns import AddDoNotCall, ImportContacts, campaign_routes
from ccqueue.http.errors import ERROR_BY_STATUS, status_of
from ccqueue.http.openapi import openapi
from ccqueue.http.recordings import Erase, FetchRecording, recording_routes
from ccqueue.http.supervisor import Spy, supervisor_routes
from ccqueue.http.workspace import Pops, WorkspaceStore, workspace_routes
from ccqueue.metrics import Metrics
from ccqueue.workspace import Workspace

# A request body must arrive within this (a client that trickles it holds a connection).
BODY_TIMEOUT_S = 10.0
# An idle connection, or one whose request headers are not complete, is closed after
# this (aiohttp's keepalive_timeout, armed from the moment a connection is accepted).
# Apache's KeepAliveTimeout is 5 s, nginx's keepalive_timeout 75 s and its
# client_header_timeout 60 s; Prometheus scrapes every 15 s and reconnects if need be.
IDLE_TIMEOUT_S = 15.0

# The wallboard: its rolling window, how far below the SL target is still amber (points),
# how often its event stream looks for changes, the heartbeat that keeps proxies from
# closing an idle stream (nginx's proxy_read_timeout is 60 s), and a stream's lifetime.
WALLBOARD_WINDOW_S = 900.0
WALLBOARD_AMBER_POINTS = 5.0
WALLBOARD_TICK_S = 1.0
WALLBOARD_HEARTBEAT_S = 15.0
WALLBOARD_STREAM_S = 3600.0

log = structlog.get_logger("ccqueue.http")

MAX_REASON_CHARS = 64
STATIC = Path(__file__).parent / "static"


def _error(status: int, error_id: str, message: str) -> web.Response:
    response = web.json_response({"error": error_id, "message": message}, status=status)
    response[ERROR_ID] = error_id  # for the audit
    return response


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
        log.exception("http_request_failed", method=request.method, path=request.path, error_id="internal")
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


def mask_number(number: str) -> str:
    """A caller's number as the wallboard shows it: the country and area code and the last
    four digits (+1555•••0100); a short number (an extension) is shown whole."""
    if len(number) <= 8:
        return number
    return number[:5] + "\u2022\u2022\u2022" + number[-4:]


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _sl_colour(level: float | None, target: float | None) -> str:
    """green at or above the target, amber within WALLBOARD_AMBER_POINTS below it, red below that."""
    if level is None or target is None:
        return "none"  # no call counted in the window
    if level >= target:
        return "green"
    return "amber" if level >= target - WALLBOARD_AMBER_POINTS / 100 else "red"


def build_app(
    *,
    engine: Engine,
    registry: Any,
    health: Callable[[], dict[str, Any]],
    callbacks_config: Callable[[], Callbacks | None] = lambda: None,
    metrics: Metrics | None = None,
    reload: Callable[[], Awaitable[Any]] | None = None,
    middlewares: tuple[Any, ...] = (),
    users: Callable[[], Mapping[str, User]] = dict,
    settings: Http | None = None,
    audit: Callable[[AuditRecord], None] | None = None,
    import_contacts: ImportContacts | None = None,
    add_do_not_call: AddDoNotCall | None = None,
    spy: Spy | None = None,
    config: Callable[[], Config | None] = lambda: None,
    workspace: Pops | None = None,
    workspace_store: WorkspaceStore | None = None,
    fetch_recording: FetchRecording | None = None,
    recordings_directory: Callable[[], str] = lambda: "/nonexistent",
    erase: Erase | None = None,
) -> web.Application:
    """The app; without ``users`` nobody can sign in and only ``settings.open`` answers."""

    def agent_queues(agent_id: str) -> tuple[str, ...] | None:
        view = engine.acd.views.agent(agent_id)
        return None if view is None else tuple(view.queues)

    auth = Auth(users=users, settings=settings or Http(), agent_queues=agent_queues, audit=audit)
    app = web.Application(middlewares=[*middlewares, auth.audited, _errors, auth.guard], client_max_size=64 * 1024)
    routes = web.RouteTableDef()

    def reaches_agent(request: web.Request, view: AgentView) -> bool:
        principal = request.get(PRINCIPAL)
        return not isinstance(principal, Principal) or principal.reaches_agent(view.agent_id, tuple(view.queues))

    @routes.post("/api/config/reload")
    async def reload_config(_request: web.Request) -> web.Response:
        """Reload the configuration: 200 applied, 422 invalid (every problem listed), 409 refused."""
        if reload is None:
            return _error(404, "not-found", "reload is not available here")
        result = await reload()
        if result.applied:
            return web.json_response(result.as_json())
        # A refusal is an error answer like any other: its id and a message, then the details.
        error_id = result.error_id or "reload-refused"
        problems = list(result.problems)
        message = f"the configuration was not reloaded: {problems[0]}" if problems else "the configuration was not reloaded"
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more problem(s))"
        return web.json_response({**result.as_json(), "error": error_id, "message": message}, status=status_of(error_id))

    @routes.get("/healthz")
    async def healthz(_request: web.Request) -> web.Response:
        body = health()
        return web.json_response(body, status=200 if body.get("status") == "ok" else 503)

    @routes.get("/metrics")
    async def prometheus(_request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    @routes.get("/api/agents")
    async def agents(request: web.Request) -> web.Response:
        return web.json_response([_agent_view(a) for a in engine.acd.views.agents() if reaches_agent(request, a)])

    @routes.get("/api/agents/{agent_id}")
    async def agent(request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        view = engine.acd.views.agent(agent_id)
        if view is None:
            return _error(404, "agent-unknown", f"no agent {agent_id!r} is configured")
        # A campaign's contact the agent is held for, previews or talks to: its screen data.
        return web.json_response({**_agent_view(view), "outbound": engine.acd.agent_contact(agent_id)})

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
    async def queues(request: web.Request) -> web.Response:
        return web.json_response(
            [{"name": q.name, "waiting": q.waiting} for q in engine.acd.views.queues() if sees_queue(request, q.name)]
        )

    def sees_queue(request: web.Request, queue: str) -> bool:
        """A supervisor sees its teams' queues; an agent the queues its agent serves."""
        principal = request.get(PRINCIPAL)
        if isinstance(principal, Principal) and principal.role is Role.AGENT:
            view = engine.acd.views.agent(principal.agent or "")
            return view is not None and queue in view.queues
        return reaches_queue(request, queue)

    @routes.get("/wallboard")
    async def wallboard(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "wallboard.html")

    @routes.get("/signin")
    async def signin_page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "signin.html")

    @routes.get("/api/openapi.json")
    async def openapi_document(request: web.Request) -> web.Response:
        return web.json_response(openapi(request.app))

    @routes.get("/api/wallboard")
    async def wallboard_data(request: web.Request) -> web.Response:
        snapshot, _ = wallboard_snapshot(request)
        return web.json_response(snapshot)

    @routes.get("/api/wallboard/events")
    async def wallboard_events(request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: a snapshot now, then one at most every WALLBOARD_TICK_S when
        something changed, and a comment every WALLBOARD_HEARTBEAT_S so that proxies keep an
        idle stream open. The stream ends after WALLBOARD_STREAM_S (EventSource reconnects)
        or when the server stops. While it streams, the request is in progress: aiohttp's
        idle timeout does not apply and the connection cap never evicts it."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        started = last_write = loop.time()
        last_key: Any = None
        try:
            while not stopping.is_set() and loop.time() - started < WALLBOARD_STREAM_S:
                snapshot, key = wallboard_snapshot(request)
                if key != last_key:
                    await response.write(b"data: " + json.dumps(snapshot, separators=(",", ":")).encode() + b"\n\n")
                    last_key, last_write = key, loop.time()
                elif loop.time() - last_write >= WALLBOARD_HEARTBEAT_S:
                    await response.write(b": heartbeat\n\n")
                    last_write = loop.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), WALLBOARD_TICK_S)
        except (ConnectionResetError, ConnectionError):  # the page went away
            return response
        return response

    stopping = asyncio.Event()

    async def _stop_streams(_app: web.Application) -> None:
        stopping.set()

    app.on_shutdown.append(_stop_streams)

    def wallboard_snapshot(request: web.Request) -> tuple[dict[str, Any], Any]:
        """The wallboard's figures for the queues the caller reaches, and a key that changes
        only when something shown changes (not with the clock alone: the page counts waits
        and times in state up itself)."""
        views, now = engine.acd.views, time.time()
        period = metrics.period if metrics is not None else None
        queues = []
        for q in views.queues():
            if not reaches_queue(request, q.name):
                continue
            figures = metrics.window(q.name, WALLBOARD_WINDOW_S, now) if metrics is not None else None
            counts = period.queue(q.name, now) if period is not None else None
            objective = metrics.objective(q.name) if metrics is not None else None
            queues.append(
                {
                    "name": q.name,
                    "waiting": q.waiting,
                    "oldest_arrival": q.oldest_arrival,
                    # Waits run from joining the queue (IVR time excluded), as in the reports.
                    "oldest_queued_at": q.oldest_queued_at,
                    "longest_wait_s": round(max(0.0, now - q.oldest_queued_at) if q.oldest_queued_at is not None else 0.0, 1),
                    "callbacks": q.callbacks_open,  # open: waiting for their turn or being made
                    # Over the wallboard's period (below), as the reports count them.
                    "offered": counts.offered if counts else 0,
                    "answered": counts.answered if counts else 0,
                    "abandoned": counts.abandoned if counts else 0,
                    "short_abandoned": counts.short_abandoned if counts else 0,
                    "service_level_period": _rounded(counts.service_level, 4) if counts else None,
                    "window_s": WALLBOARD_WINDOW_S,
                    "service_level": _rounded(figures.service_level, 4) if figures else None,
                    "target": objective.target if objective else None,
                    "answer_within_s": objective.answer_within_s if objective else None,
                    "sl_colour": _sl_colour(figures.service_level if figures else None, objective.target if objective else None),
                    "asa_s": _rounded(figures.asa_s, 1) if figures else None,
                    "abandon_share": _rounded(figures.abandon_share, 4) if figures else None,
                    "answered_window": figures.answered if figures else 0,
                    "abandoned_window": figures.abandoned if figures else 0,
                }
            )
        callers = [
            {
                "position": position,
                "queue": c.queue,
                "caller": mask_number(c.caller),
                "state": c.state.value,
                "arrived_at": c.arrived_at,
                "queued_at": c.queued_at,
                "wait_s": round(max(0.0, now - (c.queued_at if c.queued_at is not None else c.arrived_at)), 1),
                "estimate_s": round(c.ewt_at_entry.seconds) if c.ewt_at_entry is not None else None,
            }
            for queue in views.queue_names()
            if reaches_queue(request, queue)
            for position, c in enumerate(views.waiting_callers(queue), start=1)
        ]
        on_calls = views.agents_calls()
        agents = []
        for a in views.agents():
            if not reaches_agent(request, a):
                continue
            call = on_calls.get(a.agent_id)
            agents.append(
                {
                    **_agent_view(a),
                    "in_state_s": round(max(0.0, now - a.since), 1),
                    "handled_today": metrics.handled_today(a.agent_id, now) if metrics is not None else None,
                    "call": None if call is None else {"caller": mask_number(call.caller), "queue": call.queue},
                }
            )
        snapshot = {
            "now": now,
            "health": health(),
            # complete: false until the period's part before start-up is read from PostgreSQL.
            "period": None
            if period is None
            else {"label": period.label, "since": period.start, "complete": not period.seed_needed},
            "queues": queues,
            "callers": callers,
            "agents": agents,
        }
        # Everything but what the clock alone moves.
        key = (
            snapshot["health"],
            snapshot["period"],
            [{k: v for k, v in q.items() if k != "longest_wait_s"} for q in queues],
            [{k: v for k, v in c.items() if k != "wait_s"} for c in callers],
            [{k: v for k, v in a.items() if k != "in_state_s"} for a in agents],
        )
        return snapshot, key

    app.add_routes(routes)
    app.add_routes(auth.routes())
    app.add_routes(callback_routes(engine=engine, callbacks_config=callbacks_config))
    app.add_routes(campaign_routes(engine, import_contacts=import_contacts, add_do_not_call=add_do_not_call))
    app.add_routes(supervisor_routes(engine, users=users, spy=spy))
    agent_routes, stop_agent_streams = workspace_routes(
        agent_view=lambda agent_id: engine.acd.views.agent(agent_id),
        pops=workspace if workspace is not None else Workspace(),
        config=config,
        store=workspace_store,
        static=STATIC,
    )
    app.add_routes(agent_routes)
    app.on_shutdown.append(stop_agent_streams)
    app.add_routes(recording_routes(engine=engine, fetch_recording=fetch_recording, directory=recordings_directory, erase=erase))
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
