"""The whole HTTP API driven from its own OpenAPI description (``GET /api/openapi.json``).

schemathesis reads the description the app serves and generates requests for every
operation — valid ones and ones that break the description (wrong types, missing
fields, values out of range) — and each is sent, over loopback, to the real aiohttp app
with its real handlers, guard and error middleware, as every role and with no sign-in at
all. Whatever is sent:

- no answer is a 5xx;
- every answer's status is one the description declares for that operation, its media
  type is the declared one, and an error's body is ``{"error", "message"}``;
- every error's id is in ``ccqueue.http.errors.STATUS_BY_ERROR`` with that very status;
- no traceback reaches the log without its error id.

The run is bounded and repeatable: a fixed number of examples per operation, derandomized,
no example database. The engine is the real one over the real core; only Asterisk and the
record store are the unit tests' stand-ins (tests/support/fakes.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from prometheus_client import CollectorRegistry
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from ccqueue.config.callbacks import Callbacks
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.engine.engine import Engine
from ccqueue.http.app import build_app
from ccqueue.http.errors import STATUS_BY_ERROR
from ccqueue.http.openapi import openapi
from ccqueue.metrics import Metrics, StateCollector
from ccqueue.reload import ReloadResult
from tests.support.auth import ADMIN, AGENT, SUPERVISOR, SUPERVISOR_PASSWORD, USERS
from tests.support.fakes import MemoryStore, RecordingCallers, RecordingTelephony, Records
from tests.unit.core.test_dialer import campaign
from tests.unit.fuzz.conftest import ProductLog, capture_product_log

# Examples per operation (each sent once per identity): ~25 operations x 5 identities.
EXAMPLES = 12
# The wallboard's event stream answers for an hour: its own tests read it (test_wallboard).
STREAMS = ("/api/wallboard/events", "/api/agents/{agent_id}/events")


def _engine() -> Engine:
    agents = {
        a: AgentSettings(agent_id=a, name=a.title(), endpoint=f"PJSIP/{a}", queues=("support",)) for a in ("agent1", "agent2")
    }
    settings_ = AcdSettings(
        queues=MappingProxyType({"support": QueueSettings(name="support")}),
        agents=MappingProxyType(agents),
        hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support")}),
        campaigns=MappingProxyType({"renewals": campaign(queues=("support",))}),
    )
    return Engine(Acd(settings_), telephony=RecordingTelephony(), callers=RecordingCallers(), records=Records())


CALLBACKS = Callbacks(dial="PJSIP/{digits}@trunk", caller_id="+15550100", region="US", allowed=(r"\+1[2-9]\d{9}",))


def _app(engine: Engine) -> web.Application:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    registry.register(StateCollector(engine.acd.views, lambda: {"asterisk_ami": True}, lambda: {"records_pending": 0}))

    async def reload() -> ReloadResult:
        return ReloadResult(
            applied=False, problems=("queues.yaml:3: queues.support.wrapup_s: not a number",), error_id="config-invalid"
        )

    async def import_contacts(campaign: str, raw: bytes, *, skip_invalid: bool) -> Any:
        raise AssertionError("not reached: no contact list is imported here")

    async def add_do_not_call(raw: str) -> str:
        digits = "".join(ch for ch in raw if ch.isdigit())
        return "+" + digits

    return build_app(
        engine=engine,
        registry=registry,
        health=lambda: {"status": "ok"},
        metrics=metrics,
        users=lambda: USERS,
        reload=reload,
        callbacks_config=lambda: CALLBACKS,
        add_do_not_call=add_do_not_call,
        workspace_store=MemoryStore(),
    )


# The description, made from the app's own routes (no server needed to read it).
DESCRIPTION = openapi(_app(_engine()))
SCHEMA = schemathesis.openapi.from_dict(DESCRIPTION).exclude(path=list(STREAMS))


class LiveApi:
    """The app on 127.0.0.1 in an event loop of its own thread, so that schemathesis'
    synchronous client can call it; stopped (engine included) when the module is done."""

    def __init__(self, log: ProductLog) -> None:
        self.log = log  # what the app logged while it ran
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-api", daemon=True)
        self.base_url = ""
        self.session_cookies: dict[str, str] = {}

    def start(self) -> None:
        self.thread.start()
        port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(20)
        self.base_url = f"http://127.0.0.1:{port}"
        signed_in = requests.post(
            f"{self.base_url}/api/session", json={"user": "sam", "password": SUPERVISOR_PASSWORD}, timeout=10
        )
        assert signed_in.status_code == 200, signed_in.text
        self.session_cookies = dict(signed_in.cookies)

    async def _start(self) -> int:
        self.engine = _engine()
        self.engine_task = asyncio.create_task(self.engine.run())
        self.runner = web.AppRunner(_app(self.engine), handle_signals=False, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return int(self.runner.addresses[0][1])

    def stop(self) -> None:
        async def _stop() -> None:
            await self.runner.cleanup()
            self.engine_task.cancel()
            await asyncio.gather(self.engine_task, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def live_api() -> Iterator[LiveApi]:
    with capture_product_log() as log:
        api = LiveApi(log)
        api.start()
        try:
            yield api
        finally:
            api.stop()


IDENTITIES: dict[str, dict[str, Any]] = {
    "admin": {"headers": ADMIN},
    "supervisor": {"headers": SUPERVISOR},
    "agent": {"headers": AGENT},
    "supervisor-session": {"session": True},  # a browser's cookie, without the CSRF header
    "nobody": {},
}


def _stable_error(response: Any, status: int) -> None:
    """An error answer is JSON with an id of the table, whose status is this one."""
    if status < 400:
        return
    content_type = response.headers.get("content-type") or ""
    if isinstance(content_type, list):  # schemathesis keeps every value of a header
        content_type = content_type[0]
    assert content_type.startswith("application/json"), (status, response.text[:200])
    answer = json.loads(response.text)
    assert answer["error"] in STATUS_BY_ERROR, answer
    assert STATUS_BY_ERROR[answer["error"]] == status, (status, answer)


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_described_to_every_role(case: schemathesis.Case, live_api: LiveApi) -> None:
    for identity in IDENTITIES.values():
        headers = {**(case.headers or {}), **identity.get("headers", {})}
        cookies = live_api.session_cookies if identity.get("session") else None
        response = case.call(base_url=live_api.base_url, headers=headers, cookies=cookies, timeout=10)
        case.validate_response(
            response,
            checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
        )
        _stable_error(response, response.status_code)


def test_the_run_left_no_traceback_without_its_error_id(live_api: LiveApi) -> None:
    # Runs after the operations above (file order), on the log of the same server.
    assert live_api.log.records(), "the run logged nothing: the capture is not wired"
    assert live_api.log.tracebacks_without_id() == []


def test_a_refused_reload_is_an_error_answer_with_its_id_and_a_message(live_api: LiveApi) -> None:
    answer = requests.post(f"{live_api.base_url}/api/config/reload", headers=ADMIN, timeout=10)
    body = answer.json()
    assert answer.status_code == 422 and body["error"] == "config-invalid"
    assert body["message"].startswith("the configuration was not reloaded: queues.yaml:3")
    assert body["problems"] == ["queues.yaml:3: queues.support.wrapup_s: not a number"]


def test_the_description_declares_what_the_guard_and_the_body_checks_answer() -> None:
    for path, operations in DESCRIPTION["paths"].items():
        for method, operation in operations.items():
            declared = set(operation["responses"])
            if operation["security"]:  # needs a user
                assert {"401", "403"} <= declared, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= declared, (method, path)


def test_aiohttps_own_refusals_are_json_with_a_stable_id_too(live_api: LiveApi) -> None:
    base = live_api.base_url
    for identity in IDENTITIES.values():
        headers = identity.get("headers", {})
        cookies = live_api.session_cookies if identity.get("session") else None
        nowhere = requests.get(f"{base}/nowhere/%00", headers=headers, cookies=cookies, timeout=10)
        wrong_method = requests.put(f"{base}/api/queues", headers=headers, cookies=cookies, timeout=10)
        too_large = requests.post(
            f"{base}/api/callbacks",
            data=b'{"number": "' + b"1" * 100_000 + b'"}',
            headers={**headers, "Content-Type": "application/json"},
            cookies=cookies,
            timeout=10,
        )
        for response, status in ((nowhere, 404), (wrong_method, 405)):
            assert response.status_code == status, response.text
            _stable_error(response, status)
        # Too large is said before anything else, or (no sign-in) the guard refuses first.
        assert too_large.status_code in (401, 403, 413), too_large.text
        _stable_error(too_large, too_large.status_code)
        if headers == ADMIN:
            assert too_large.status_code == 413 and too_large.json()["error"] == "body-too-large"
