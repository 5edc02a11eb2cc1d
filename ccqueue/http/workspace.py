"""The agent's page: its screen-pop stream, the customer history, the call's wrap-up.

Rules kept here:

1. An agent acts on itself only; supervisors and admins may watch the agents they reach
   (the guard checks ``agent_id`` against ``access.ROUTES``). The history of a number is
   a supervisor's, or the agent's whose current or last call is from that number.
2. The stream (Server-Sent Events) opens with a ``hello``: the agent's state, the
   disposition codes of each of its queues, the configured pause reasons, the page's
   language, and the latest pop (a page reloaded mid-call shows it). Then ``pop`` when
   the phone rings, ``history`` when the history comes after the ring, ``ended`` when the
   call ends, ``state`` when the agent's state changes, and a heartbeat comment.
3. A wrap-up is a disposition code from the call's queue's list (any well-formed code
   when none is configured) and a note; it is stored whole or refused whole, and only
   by the call's own agent (or a supervisor or admin reaching that agent).
4. Everything here answers JSON or the stream; the page shows every value as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import asyncpg
from aiohttp import web

from ccqueue.config.models import Config
from ccqueue.config.users import Role
from ccqueue.core.errors import ExternalError, RequestError, UnknownAgent
from ccqueue.core.views import AgentView
from ccqueue.http.auth import Forbidden, principal_of

__all__ = ["CallUnknown", "DispositionRefused", "Pops", "WorkspaceStore", "workspace_routes"]

STATIC_PAGE = "agent.html"
# A stream checks the agent's state this often, sends a heartbeat comment when it was
# quiet this long (nginx's proxy_read_timeout is 60 s), and ends after this (EventSource
# reconnects at once).
TICK_S = 1.0
HEARTBEAT_S = 15.0
STREAM_S = 3600.0
MAX_NOTE_CHARS = 4000  # as call_notes' CHECK says
_CODE = re.compile(r"[a-z0-9_-]{1,64}")
_LANGUAGES = ("en", "ru")


class CallUnknown(RequestError):
    """No call by that id is known (neither live nor recorded)."""

    error_id = "call-unknown"


class DispositionRefused(RequestError):
    """A disposition code that is not one of the call's queue's."""

    error_id = "disposition-unknown"


class HistoryUnavailable(ExternalError):
    """The history store cannot be read now (no database, or it is away)."""

    error_id = "history-unavailable"


class Pops(Protocol):
    """What the routes read of ``ccqueue.workspace.Workspace``."""

    def subscribe(self, agent: str) -> asyncio.Queue[dict[str, Any]]: ...
    def unsubscribe(self, agent: str, page: asyncio.Queue[dict[str, Any]]) -> None: ...
    def latest(self, agent: str) -> dict[str, Any] | None: ...
    def call_of(self, call_id: str) -> tuple[str | None, str | None] | None: ...


class WorkspaceStore(Protocol):
    """The history and wrap-up storage (``ccqueue.store.history``), bound to a pool."""

    async def history(self, number: str, limit: int) -> list[dict[str, Any]]: ...
    async def recorded_call(self, call_id: str) -> tuple[str | None, str | None] | None:
        """(agent, queue) of a recorded call; None: no such call."""

    async def save_wrapup(
        self, *, call_id: str, agent: str, disposition: str, note: str, saved_by: str, at: float
    ) -> dict[str, Any]: ...


def page_language(accept_language: str, default: str) -> str:
    """en or ru: the first of them the browser lists (q-values honoured), else ``default``."""
    ranked: list[tuple[float, int, str]] = []
    for n, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            with contextlib.suppress(ValueError):
                q = float(params.strip()[2:])
        language = tag.strip().lower().split("-")[0]
        if language in _LANGUAGES and q > 0:
            ranked.append((-q, n, language))
    return min(ranked)[2] if ranked else default


def _state(view: AgentView) -> dict[str, Any]:
    return {
        "id": view.agent_id,
        "name": view.name,
        "state": view.state.value,
        "since": view.since,
        "reason": view.reason,
        "pending": view.pending_action,
        "queues": list(view.queues),
    }


def _sse(kind: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {kind}\ndata: ".encode() + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def workspace_routes(
    *,
    agent_view: Callable[[str], AgentView | None],
    pops: Pops,
    config: Callable[[], Config | None],
    store: WorkspaceStore | None,
    static: Any,
    clock: Callable[[], float] = time.time,
) -> tuple[web.RouteTableDef, Callable[[web.Application], Awaitable[None]]]:
    """The routes, and the shutdown hook that ends the open streams."""
    routes = web.RouteTableDef()
    stopping = asyncio.Event()

    def _hello(request: web.Request, view: AgentView) -> dict[str, Any]:
        cfg = config()
        default = cfg.workspace.language if cfg is not None else "en"
        return {
            "agent": _state(view),
            "user": principal_of(request).name,
            "role": principal_of(request).role.value,
            "dispositions": {q: list(cfg.dispositions(q)) for q in view.queues} if cfg is not None else {},
            "default_dispositions": list(cfg.workspace.dispositions) if cfg is not None else [],
            "pause_reasons": list(cfg.workspace.pause_reasons) if cfg is not None else [],
            "language": page_language(request.headers.get("Accept-Language", ""), default),
            "pop": pops.latest(view.agent_id),
        }

    def _view(agent_id: str) -> AgentView:
        view = agent_view(agent_id)
        if view is None:
            raise UnknownAgent(f"no agent {agent_id!r} is configured")
        return view

    @routes.get("/agent")
    async def page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(static / STATIC_PAGE, headers={"Cache-Control": "no-store"})

    @routes.get("/api/agents/{agent_id}/events")
    async def events(request: web.Request) -> web.StreamResponse:
        agent_id = request.match_info["agent_id"]
        view = _view(agent_id)
        page = pops.subscribe(agent_id)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        try:
            await response.prepare(request)
            await response.write(_sse("hello", _hello(request, view)))
            loop = asyncio.get_running_loop()
            started = last_write = loop.time()
            shown = _state(view)
            while not stopping.is_set() and loop.time() - started < STREAM_S:
                message: dict[str, Any] | None = None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(TICK_S):
                        message = await page.get()
                if message is not None:
                    await response.write(_sse(str(message.get("type", "message")), {**message, "sent_at": clock()}))
                    last_write = loop.time()
                now_view = agent_view(agent_id)
                if now_view is not None and (state := _state(now_view)) != shown:
                    shown = state
                    await response.write(_sse("state", state))
                    last_write = loop.time()
                elif loop.time() - last_write >= HEARTBEAT_S:
                    await response.write(b": heartbeat\n\n")
                    last_write = loop.time()
        except (ConnectionResetError, ConnectionError):  # the page went away
            pass
        finally:
            pops.unsubscribe(agent_id, page)
        return response

    @routes.get("/api/history")
    async def history(request: web.Request) -> web.Response:
        number = request.query.get("number", "").strip()
        if not number or len(number) > 32:
            raise RequestError("give ?number= (the customer's number, as the call records hold it)")
        principal = principal_of(request)
        if principal.role is Role.AGENT:
            latest = pops.latest(principal.agent or "")
            if latest is None or latest.get("caller") != number:
                raise Forbidden("an agent reads the history of its current or last caller only")
        if store is None:
            raise HistoryUnavailable("no database is configured")
        try:
            items = await store.history(number, 200)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise HistoryUnavailable(f"the history cannot be read now: {exc}") from None
        return web.json_response({"number": number, "items": items})

    @routes.post("/api/agents/{agent_id}/calls/{call_id}/wrapup")
    async def wrapup(request: web.Request) -> web.Response:
        agent_id, call_id = request.match_info["agent_id"], request.match_info["call_id"]
        _view(agent_id)
        disposition, note = await _wrapup_body(request)
        if store is None:
            raise HistoryUnavailable("no database is configured: a wrap-up cannot be stored")
        found = pops.call_of(call_id)
        if found is None or found[0] is None:
            found = await store.recorded_call(call_id)
            if found is None:
                raise CallUnknown(f"no call {call_id!r} is known")
        call_agent, queue = found
        if call_agent != agent_id:
            raise Forbidden(f"call {call_id!r} was not agent {agent_id!r}'s")
        cfg = config()
        allowed = cfg.dispositions(queue) if cfg is not None else ()
        if allowed and disposition not in allowed:
            raise DispositionRefused(f"{disposition!r} is not a disposition of this call's queue: {', '.join(allowed)}")
        saved = await store.save_wrapup(
            call_id=call_id, agent=agent_id, disposition=disposition, note=note, saved_by=principal_of(request).name, at=clock()
        )
        return web.json_response(saved)

    async def _stop(_app: web.Application) -> None:
        stopping.set()

    return routes, _stop


async def _wrapup_body(request: web.Request) -> tuple[str, str]:
    example = '{"disposition": "resolved", "note": "..."}'
    try:
        body = await request.json()
    except (ValueError, RecursionError):
        raise RequestError(f"the body must be JSON, e.g. {example}") from None
    if not isinstance(body, dict) or set(body) - {"disposition", "note"}:
        raise RequestError(f"the body must be {example}")
    disposition, note = body.get("disposition"), body.get("note", "")
    if not isinstance(disposition, str) or not _CODE.fullmatch(disposition):
        raise RequestError("'disposition' must be a code of a-z, 0-9, '_' and '-' (at most 64)")
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise RequestError(f"'note' must be a string of at most {MAX_NOTE_CHARS} characters")
    return disposition, note.strip()
