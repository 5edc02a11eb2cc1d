"""The callbacks API: a website's "call me back" form, and listing and cancelling.

Rules kept here:

1. A request goes handler -> checks -> ``engine.ask``: the body is read strictly (an
   unknown field is an error, not ignored), the number is normalised to E.164 and
   checked against the configured patterns, and only then is the core asked. A bad
   number is refused with a 4xx and nothing is queued.
2. The configuration is read through ``callbacks_config`` on every request, so a
   reload takes effect at once; no ``callbacks`` section refuses every request
   (``callback-refused``).
3. Times in a request are ISO 8601 with a UTC offset ("2025-01-31T14:00:00+01:00",
   "...Z") or epoch seconds. A time without an offset is refused: whose 14:00 would it
   be? A window must end in the future and start before it ends; neither end may lie
   more than ``MAX_AHEAD_S`` ahead.
4. Times in answers are epoch seconds, as everywhere in the API.
5. Only open callbacks (pending or dialing) are known here: they are what the engine
   holds. A closed one is in PostgreSQL's ``callbacks`` table.
6. Errors are the core's error tree; ``ccqueue.http.errors.STATUS_BY_ERROR`` maps them.
7. A supervisor reaches the callbacks of its own queues only: asking for one in another
   queue, reading or cancelling one there is ``forbidden``; a listing shows only those
   it reaches (ccqueue.http.access).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from aiohttp import web

from ccqueue.config.callbacks import Callbacks
from ccqueue.core import events as ev
from ccqueue.core.errors import (
    CallbackRefused,
    InternalError,
    RequestError,
    UnknownCallback,
)
from ccqueue.core.records import CallbackRecord
from ccqueue.core.replies import CallbackBooked, CallbackClosed, Reply
from ccqueue.http.auth import Forbidden, reaches_queue
from ccqueue.numbers import check_allowed, normalize

__all__ = ["MAX_AHEAD_S", "callback_routes", "callback_view"]

# A callback is for today or the days ahead, not next year. 90 days covers a
# "call me after my holiday"; further than that is a mistake in the form.
MAX_AHEAD_S = 90 * 86400.0
MAX_QUEUE_CHARS = 64
_FIELDS = frozenset({"number", "queue", "not_before", "not_after"})


class _Engine(Protocol):
    acd: Any  # its ``views``: the open callbacks

    async def ask(self, event: Any) -> Reply | None: ...


def callback_view(record: CallbackRecord) -> dict[str, Any]:
    """A callback as the API shows it."""
    return {
        "id": record.callback_id,
        "version": record.version,
        "queue": record.queue,
        "number": record.number,
        "status": record.status.value,
        "requested_at": record.requested_at,
        "place_at": record.place_at,
        "not_before": record.not_before,
        "expires_at": record.expires_at,
        "attempts": record.attempts,
        "next_attempt_at": record.next_attempt_at,
        "call_id": record.call_id,
        "agent": record.agent,
        "result": record.result,
    }


def callback_routes(
    *,
    engine: _Engine,
    callbacks_config: Callable[[], Callbacks | None],
    clock: Callable[[], float] = time.time,
) -> web.RouteTableDef:
    """The routes of ``/api/callbacks``, bound to ``engine`` and the running configuration."""
    routes = web.RouteTableDef()

    @routes.post("/api/callbacks")
    async def request_callback(request: web.Request) -> web.Response:
        body = _fields(await _json_object(request))
        _check_queue(request, body["queue"])
        config = callbacks_config()
        if config is None:
            raise CallbackRefused("callbacks are not set up on this server")
        number = check_allowed(normalize(body["number"], region=config.region), config.allowed)
        not_before, not_after = _window(body, now=clock())
        reply = await engine.ask(
            _event(callback_id=uuid.uuid4().hex, number=number, queue=body["queue"], not_before=not_before, not_after=not_after)
        )
        queued = _booked(reply)
        view = {**callback_view(queued.callback), "duplicate": queued.duplicate}
        if queued.duplicate:
            return web.json_response(view, status=200)
        location = f"/api/callbacks/{queued.callback.callback_id}"
        return web.json_response(view, status=201, headers={"Location": location})

    @routes.get("/api/callbacks")
    async def list_callbacks(request: web.Request) -> web.Response:
        queue = request.query.get("queue")
        if queue is not None:
            _check_queue(request, queue)
        records = [r for r in engine.acd.views.callbacks(queue) if reaches_queue(request, r.queue)]
        records.sort(key=lambda r: (r.place_at, r.requested_at, r.callback_id))
        return web.json_response([callback_view(r) for r in records])

    @routes.get("/api/callbacks/{callback_id}")
    async def get_callback(request: web.Request) -> web.Response:
        callback_id = request.match_info["callback_id"]
        record = engine.acd.views.callback(callback_id)
        if record is None:
            raise UnknownCallback(callback_id)
        _check_queue(request, record.queue)
        return web.json_response(callback_view(record))

    @routes.delete("/api/callbacks/{callback_id}")
    async def cancel_callback(request: web.Request) -> web.Response:
        callback_id = request.match_info["callback_id"]
        record = engine.acd.views.callback(callback_id)
        if record is not None:  # an unknown one: the core says so
            _check_queue(request, record.queue)
        reply = await engine.ask(ev.CallbackCancelled(callback_id=callback_id))
        return web.json_response(callback_view(_closed(reply, callback_id)))

    return routes


# -- reading the request ---------------------------------------------------------------


def _check_queue(request: web.Request, queue: str) -> None:
    if not reaches_queue(request, queue):
        raise Forbidden(f"the callbacks of queue {queue!r} are not in your teams' queues")


async def _json_object(request: web.Request) -> dict[str, Any]:
    example = '{"number": "+15550100", "queue": "support"}'
    if not request.body_exists:
        raise RequestError(f"the body must be a JSON object, e.g. {example}")
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        raise RequestError(f"the body is not JSON; expected e.g. {example}") from None
    if not isinstance(body, dict):
        raise RequestError(f"the body must be a JSON object, e.g. {example}")
    return body


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise RequestError(f"unknown field(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(_FIELDS))}")
    for name in ("number", "queue"):
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            raise RequestError(f"'{name}' must be a non-empty string")
    if len(body["queue"]) > MAX_QUEUE_CHARS:
        raise RequestError(f"'queue' is at most {MAX_QUEUE_CHARS} characters")
    return body


def _window(body: dict[str, Any], *, now: float) -> tuple[float | None, float | None]:
    not_before = _moment(body.get("not_before"), "not_before")
    not_after = _moment(body.get("not_after"), "not_after")
    for name, moment in (("not_before", not_before), ("not_after", not_after)):
        if moment is not None and moment > now + MAX_AHEAD_S:
            raise RequestError(f"'{name}' is more than {MAX_AHEAD_S / 86400:.0f} days ahead")
    if not_after is not None and not_after <= now:
        raise RequestError("'not_after' has already passed")
    if not_before is not None and not_after is not None and not_after <= not_before:
        raise RequestError("'not_after' must come after 'not_before'")
    return not_before, not_after


def _moment(value: object, name: str) -> float | None:
    """Epoch seconds from an ISO 8601 string with an offset, or from a number (rule 3)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise RequestError(f"'{name}' must be a time: epoch seconds or ISO 8601")
        return float(value)
    if not isinstance(value, str):
        raise RequestError(f"'{name}' must be a time: epoch seconds or ISO 8601")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RequestError(f"'{name}' is not an ISO 8601 time: {value[:40]!r}") from None
    if moment.utcoffset() is None:
        raise RequestError(f"'{name}' needs a UTC offset ('Z' or '+01:00'): {value[:40]!r}")
    return moment.timestamp()


def _event(**fields: Any) -> ev.CallbackRequested:
    try:
        return ev.CallbackRequested(**fields)
    except ValueError as exc:  # the event's own checks; _window keeps them from firing
        raise RequestError(str(exc)) from None


# -- reading the answer ------------------------------------------------------------------


def _booked(reply: Reply | None) -> CallbackBooked:
    if isinstance(reply, CallbackBooked):
        return reply
    raise InternalError("the engine took the callback request without saying where it is queued")


def _closed(reply: Reply | None, callback_id: str) -> CallbackRecord:
    """The last record of the cancelled callback, as the core answered."""
    if isinstance(reply, CallbackClosed) and reply.callback.callback_id == callback_id:
        return reply.callback
    raise InternalError(f"the engine cancelled callback {callback_id!r} without recording it")
