"""The callbacks API over a real aiohttp server, with a stand-in engine that answers the
way the core does (one open callback per number and queue, cancelling closes it)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from ccqueue.config.callbacks import Callbacks
from ccqueue.core import events as ev
from ccqueue.core.errors import CallbackRefused, UnknownCallback
from ccqueue.core.records import CallbackRecord, CallbackStatus
from ccqueue.core.replies import CallbackBooked, CallbackClosed, Reply
from ccqueue.http.app import _errors, build_app
from ccqueue.http.callbacks import MAX_AHEAD_S, callback_routes
from ccqueue.http.errors import STATUS_BY_ERROR
from tests.support.auth import ADMIN, USERS

NOW = 1_760_000_000.0
CONFIG = Callbacks(
    dial="PJSIP/{digits}@trunk", caller_id="+15550100", region="US", allowed=(r"\+1([2-8]\d{2}|9[1-9]\d|90[1-9])[2-9]\d{6}",)
)  # not 900


class FakeEngine:
    """Keeps open callbacks as the core does and records every event it is asked."""

    def __init__(self, queues: tuple[str, ...] = ("support", "sales")) -> None:
        self.queues = queues
        self.asked: list[Any] = []
        self.open: dict[str, CallbackRecord] = {}  # as the core's callback desk keeps them
        self.acd = SimpleNamespace(
            views=SimpleNamespace(
                callbacks=lambda queue=None: [r for r in self.open.values() if queue is None or r.queue == queue],
                callback=self.open.get,
            )
        )

    async def ask(self, event: Any) -> Reply:
        self.asked.append(event)
        if isinstance(event, ev.CallbackRequested):
            return self._requested(event)
        if isinstance(event, ev.CallbackCancelled):
            return self._cancelled(event)
        raise AssertionError(f"unexpected {event!r}")

    def _requested(self, event: ev.CallbackRequested) -> Reply:
        if event.queue not in self.queues:
            raise CallbackRefused(f"no queue {event.queue!r}", queue=event.queue)
        for record in self.open.values():
            if (record.queue, record.number) == (event.queue, event.number):
                return CallbackBooked(callback=record, duplicate=True)
        assert event.queue is not None
        record = CallbackRecord(
            callback_id=event.callback_id,
            version=1,
            queue=event.queue,
            number=event.number,
            status=CallbackStatus.PENDING,
            requested_at=NOW,
            place_at=event.not_before or NOW,
            not_before=event.not_before,
            expires_at=event.not_after or NOW + 14400,
            attempts=0,
            next_attempt_at=None,
            call_id=None,
            agent=None,
            result=None,
        )
        self.open[record.callback_id] = record
        return CallbackBooked(callback=record, duplicate=False)

    def _cancelled(self, event: ev.CallbackCancelled) -> Reply:
        record = self.open.pop(event.callback_id, None)
        if record is None:
            raise UnknownCallback(event.callback_id)
        closed = dataclasses.replace(record, version=record.version + 1, status=CallbackStatus.CANCELLED)
        return CallbackClosed(callback=closed)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def config() -> dict[str, Callbacks | None]:
    return {"current": CONFIG}


@pytest.fixture
async def client(engine: FakeEngine, config: dict[str, Callbacks | None]) -> AsyncIterator[TestClient]:
    app = web.Application(middlewares=[_errors])
    app.add_routes(callback_routes(engine=engine, callbacks_config=lambda: config["current"], clock=lambda: NOW))
    async with TestClient(TestServer(app)) as c:
        yield c


def requested(engine: FakeEngine) -> list[ev.CallbackRequested]:
    return [e for e in engine.asked if isinstance(e, ev.CallbackRequested)]


async def test_a_request_is_normalised_queued_and_answered_201(client: TestClient, engine: FakeEngine) -> None:
    r = await client.post("/api/callbacks", json={"number": "(650) 253-0000", "queue": "support"})
    body = await r.json()
    assert r.status == 201
    assert (body["number"], body["queue"], body["status"], body["duplicate"]) == ("+16502530000", "support", "pending", False)
    assert r.headers["Location"] == f"/api/callbacks/{body['id']}"
    [event] = requested(engine)
    assert (event.number, event.queue, event.call_id, event.not_before, event.not_after) == (
        "+16502530000",
        "support",
        None,
        None,
        None,
    )
    assert len(event.callback_id) == 32


async def test_a_second_request_for_the_same_number_is_the_same_callback(client: TestClient) -> None:
    first = await (await client.post("/api/callbacks", json={"number": "+1 650 253 0000", "queue": "support"})).json()
    r = await client.post("/api/callbacks", json={"number": "650-253-0000", "queue": "support"})
    again = await r.json()
    assert (r.status, again["duplicate"], again["id"]) == (200, True, first["id"])
    other_queue = await client.post("/api/callbacks", json={"number": "650-253-0000", "queue": "sales"})
    assert other_queue.status == 201


@pytest.mark.parametrize(
    ("window", "not_before", "not_after"),
    [
        ({"not_before": NOW + 600}, NOW + 600, None),
        ({"not_before": int(NOW) + 600, "not_after": NOW + 7200}, NOW + 600, NOW + 7200),
        ({"not_before": datetime.fromtimestamp(NOW + 3600, UTC).isoformat()}, NOW + 3600, None),
        ({"not_after": datetime.fromtimestamp(NOW + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}, None, NOW + 3600),
        ({"not_before": "2025-10-09T11:53:20+02:00"}, 1_760_003_600.0, None),
        ({"not_before": NOW - 60}, NOW - 60, None),  # a start already passed: at once
    ],
)
async def test_a_window_is_read_as_iso_8601_or_epoch_seconds(
    client: TestClient, engine: FakeEngine, window: dict[str, Any], not_before: float | None, not_after: float | None
) -> None:
    r = await client.post("/api/callbacks", json={"number": "+16502530000", "queue": "support", **window})
    assert r.status == 201, await r.text()
    [event] = requested(engine)
    assert (event.not_before, event.not_after) == (not_before, not_after)


BAD_REQUESTS = [
    ("not json", 400, "bad-request"),
    ([1, 2], 400, "bad-request"),
    ({"queue": "support"}, 400, "bad-request"),
    ({"number": "+16502530000"}, 400, "bad-request"),
    ({"number": 16502530000, "queue": "support"}, 400, "bad-request"),
    ({"number": "+16502530000", "queue": ""}, 400, "bad-request"),
    ({"number": "+16502530000", "queue": "q" * 65}, 400, "bad-request"),
    ({"number": "+16502530000", "queue": "support", "when": "now"}, 400, "bad-request"),
    ({"number": "+16502530000", "queue": "support", "not_before": "tomorrow"}, 400, "bad-request"),
    ({"number": "+16502530000", "queue": "support", "not_before": "2030-01-01T10:00:00"}, 400, "bad-request"),
    ({"number": "+16502530000", "queue": "support", "not_before": True}, 400, "bad-request"),
    ({"number": "+16502530000", "queue": "support", "not_before": -5}, 400, "bad-request"),
    ({"number": "+16502530000", "queue": "support", "not_after": NOW - 1}, 400, "bad-request"),
    ({"number": "+16502530000", "queue": "support", "not_before": NOW + 99, "not_after": NOW + 60}, 400, "bad-request"),
    ({"number": "+16502530000", "queue": "support", "not_before": NOW + MAX_AHEAD_S + 1}, 400, "bad-request"),
    ({"number": "call me", "queue": "support"}, 422, "callback-number-invalid"),
    ({"number": "+1 650 253 000", "queue": "support"}, 422, "callback-number-invalid"),
    ({"number": "+44 20 7946 0018", "queue": "support"}, 403, "callback-number-not-allowed"),
    ({"number": "+1 900 253 0000", "queue": "support"}, 403, "callback-number-not-allowed"),
    ({"number": "+16502530000", "queue": "billing"}, 409, "callback-refused"),
]


@pytest.mark.parametrize(("body", "status", "error"), BAD_REQUESTS)
async def test_a_bad_request_gets_a_clear_error_and_queues_nothing(
    client: TestClient, engine: FakeEngine, body: Any, status: int, error: str
) -> None:
    if isinstance(body, str):
        r = await client.post("/api/callbacks", data=body, headers={"Content-Type": "application/json"})
    else:
        r = await client.post("/api/callbacks", json=body)
    answer = await r.json()
    assert (r.status, answer["error"]) == (status, error), answer
    assert answer["message"]
    assert engine.open == {}
    if error != "callback-refused":  # refused by the core itself
        assert requested(engine) == []


async def test_an_empty_body_is_a_bad_request(client: TestClient, engine: FakeEngine) -> None:
    r = await client.post("/api/callbacks")
    assert (r.status, (await r.json())["error"]) == (400, "bad-request")


async def test_without_the_section_every_request_is_refused(
    client: TestClient, engine: FakeEngine, config: dict[str, Callbacks | None]
) -> None:
    config["current"] = None
    r = await client.post("/api/callbacks", json={"number": "+16502530000", "queue": "support"})
    assert (r.status, (await r.json())["error"]) == (409, "callback-refused")
    assert engine.asked == []


async def test_a_reloaded_configuration_applies_to_the_next_request(
    client: TestClient, config: dict[str, Callbacks | None]
) -> None:
    body = {"number": "+44 20 7946 0018", "queue": "support"}
    assert (await client.post("/api/callbacks", json=body)).status == 403
    config["current"] = CONFIG.model_copy(update={"allowed": (r"\+44\d{10}",)})
    assert (await client.post("/api/callbacks", json=body)).status == 201


async def test_listing_shows_open_callbacks_by_place_and_filters_by_queue(client: TestClient) -> None:
    for number, queue, not_before in [
        ("+16502530001", "sales", NOW + 20),
        ("+16502530002", "support", NOW + 10),
        ("+16502530003", "support", NOW + 30),
    ]:
        r = await client.post("/api/callbacks", json={"number": number, "queue": queue, "not_before": not_before})
        assert r.status == 201
    everything = await (await client.get("/api/callbacks")).json()
    assert [c["number"] for c in everything] == ["+16502530002", "+16502530001", "+16502530003"]
    support = await (await client.get("/api/callbacks?queue=support")).json()
    assert [c["number"] for c in support] == ["+16502530002", "+16502530003"]
    assert await (await client.get("/api/callbacks?queue=none")).json() == []
    one = await (await client.get(f"/api/callbacks/{support[0]['id']}")).json()
    assert one == support[0]
    assert set(one) == {
        "id",
        "version",
        "queue",
        "number",
        "status",
        "requested_at",
        "place_at",
        "not_before",
        "expires_at",
        "attempts",
        "next_attempt_at",
        "call_id",
        "agent",
        "result",
    }


async def test_cancelling_answers_the_cancelled_record(client: TestClient, engine: FakeEngine) -> None:
    created = await (await client.post("/api/callbacks", json={"number": "+16502530000", "queue": "support"})).json()
    r = await client.delete(f"/api/callbacks/{created['id']}")
    cancelled = await r.json()
    assert (r.status, cancelled["id"], cancelled["status"], cancelled["version"]) == (
        200,
        created["id"],
        "cancelled",
        created["version"] + 1,
    )
    assert engine.asked[-1] == ev.CallbackCancelled(callback_id=created["id"])
    assert await (await client.get("/api/callbacks")).json() == []
    for request in (client.delete, client.get):
        r = await request(f"/api/callbacks/{created['id']}")
        assert (r.status, (await r.json())["error"]) == (404, "callback-unknown")


def test_the_error_ids_have_their_statuses() -> None:
    assert {k: v for k, v in STATUS_BY_ERROR.items() if k.startswith("callback-")} == {
        "callback-number-invalid": 422,
        "callback-number-not-allowed": 403,
        "callback-unknown": 404,
        "callback-refused": 409,
    }


async def test_build_app_serves_the_callbacks_api_with_its_configuration(engine: FakeEngine) -> None:
    app = build_app(
        engine=engine,
        registry=CollectorRegistry(),
        health=dict,  # type: ignore[arg-type]
        callbacks_config=lambda: CONFIG,
        users=lambda: USERS,
    )
    async with TestClient(TestServer(app), headers=ADMIN) as c:
        r = await c.post("/api/callbacks", json={"number": "+16502530000", "queue": "support"})
        assert r.status == 201
        assert (await c.get("/api/callbacks/nope")).status == 404
    unconfigured = build_app(engine=FakeEngine(), registry=CollectorRegistry(), health=dict, users=lambda: USERS)  # type: ignore[arg-type]
    async with TestClient(TestServer(unconfigured), headers=ADMIN) as c:
        r = await c.post("/api/callbacks", json={"number": "+16502530000", "queue": "support"})
        assert (r.status, (await r.json())["error"]) == (409, "callback-refused")
