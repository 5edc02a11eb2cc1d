"""Recordings and erasure over HTTP.

- ``GET /api/recordings/{recording_id}`` (metadata) and ``.../audio`` (the WAV file):
  an admin, a supervisor whose teams include the recording's queue, or the agent who
  took the call; anyone else gets 403. Every playback, allowed or refused, is audited
  (the route rows say ``audited``; ccqueue.http.auth). The file is found only through
  its row (ccqueue.store.recordings rule 1): an id or a stored name that would resolve
  outside the recordings folder is 404, and nothing is opened.
- ``POST /api/agents/{agent_id}/recording/{start|pause|resume}``: the agent's call's
  recording (ccqueue.core.recorder); 409 when it does not fit.
- ``POST /api/erasures`` (admin): erase a number's personal data
  (ccqueue.store.erasure); the answer lists what went, and any file that could not be
  deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from ccqueue.config.users import Role
from ccqueue.core import events as ev
from ccqueue.core.errors import ErasureRefused, RecordingUnknown
from ccqueue.http.access import Principal
from ccqueue.http.auth import PRINCIPAL, Forbidden
from ccqueue.recording_files import recording_path

__all__ = ["recording_routes"]

log = structlog.get_logger("ccqueue.http")

FetchRecording = Callable[[str], Awaitable[dict[str, Any]]]
Erase = Callable[[str, str | None, str], Awaitable[dict[str, Any]]]


def may_play(principal: Principal, recording: dict[str, Any]) -> bool:
    """Who may hear a recording: an admin; a supervisor of its queue's team; its own agent."""
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.SUPERVISOR:
        return recording["queue"] is not None and principal.reaches_queue(recording["queue"])
    return principal.agent is not None and principal.agent == recording["agent_id"]


def recording_routes(
    *,
    engine: Any,
    fetch_recording: FetchRecording | None,
    directory: Callable[[], str],
    erase: Erase | None,
) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    async def permitted(request: web.Request) -> dict[str, Any]:
        if fetch_recording is None:
            raise RecordingUnknown("recordings need the database")
        recording = await fetch_recording(request.match_info["recording_id"])
        principal = request[PRINCIPAL]
        if not may_play(principal, recording):
            raise Forbidden(f"{principal.name} ({principal.role.value}) may not play recording {recording['id']!r}")
        return recording

    @routes.get("/api/recordings/{recording_id}")
    async def recording(request: web.Request) -> web.Response:
        found = await permitted(request)
        return web.json_response({k: v for k, v in found.items() if k != "file"})

    @routes.get("/api/recordings/{recording_id}/audio")
    async def audio(request: web.Request) -> web.StreamResponse:
        found = await permitted(request)
        path: Path = recording_path(directory(), found["file"])
        if not path.is_file():
            raise RecordingUnknown(f"the file of recording {found['id']!r} is not there (not ended yet, or deleted)")
        log.info("recording_played", recording_id=found["id"], user=request[PRINCIPAL].name)
        return web.FileResponse(path, headers={"Content-Type": "audio/wav", "Cache-Control": "no-store"})

    @routes.post("/api/agents/{agent_id}/recording/{action:start|pause|resume}")
    async def control(request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        action = ev.RecordingAction(request.match_info["action"])
        await engine.ask(ev.RecordingRequested(agent_id=agent_id, action=action))
        return web.json_response({"agent_id": agent_id, "recording": action.value})

    @routes.post("/api/erasures")
    async def erasure(request: web.Request) -> web.Response:
        if erase is None:
            raise ErasureRefused("erasure needs the database")
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            raise ErasureRefused('the body must be JSON: {"number": "+E164"}') from None
        number = body.get("number") if isinstance(body, dict) else None
        if not isinstance(number, str):
            raise ErasureRefused('the body must be JSON: {"number": "+E164"}')
        principal = request[PRINCIPAL]
        report = await erase(number, principal.name, principal.via)
        return web.json_response({**report, "complete": not report["files_failed"]})

    return routes
