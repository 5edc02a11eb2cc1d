"""Bad input at every door: whatever arrives over FastAGI, AMI or HTTP is data, never
interpreted; it is refused with a stable id or ignored, and never raises past the door.

Each test throws generated input at the real code (hypothesis), on loopback where a
socket is involved.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from types import MappingProxyType

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from ccqueue.asterisk.agi import AgiServer
from ccqueue.asterisk.session_check import ChannelStatus, parse_allow
from ccqueue.asterisk.translate import (
    IncompleteMessage,
    channel_status,
    device_states,
    live_uniqueids,
    ring_failure,
    translate_event,
)
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.engine.engine import Engine
from ccqueue.http.app import build_app
from ccqueue.http.errors import STATUS_BY_ERROR
from ccqueue.metrics import Metrics, StateCollector
from tests.support.auth import ADMIN, USERS
from tests.support.fakes import RecordingCallers, RecordingTelephony, Records, raw_agi_session

# -- AMI: events as Asterisk might send them, with fields missing, empty or odd --------------

AMI_FIELDS = [
    "Event",
    "Uniqueid",
    "Cause-txt",
    "BridgeUniqueid",
    "DialStatus",
    "Device",
    "State",
    "Reason",
    "Channel",
    "Application",
    "Data",
    "Response",
    "Message",
    "EventList",
]
AMI_EVENTS = [
    "Hangup",
    "BridgeEnter",
    "DialEnd",
    "DeviceStateChange",
    "OriginateResponse",
    "Status",
    "CoreShowChannel",
    "Newchannel",
    "",
    "hangup",
    "BRIDGEENTER",
]
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
ami_message = st.dictionaries(st.sampled_from(AMI_FIELDS), text, max_size=8).flatmap(
    lambda m: st.sampled_from(AMI_EVENTS).map(lambda name: {**m, "Event": name})
)


@settings(max_examples=400, deadline=None)
@given(ami_message)
def test_any_ami_event_becomes_a_typed_event_nothing_or_a_refusal(message: dict[str, str]) -> None:
    try:
        event = translate_event(message)
    except IncompleteMessage:
        return
    assert event is None or isinstance(event, (ev.ChannelHungUp, ev.ChannelBridged, ev.DialEnded, ev.DeviceStateChanged))


@settings(max_examples=200, deadline=None)
@given(st.lists(ami_message, max_size=6), text)
def test_lists_and_answers_from_ami_never_raise_but_for_a_missing_field(messages: list[dict[str, str]], uniqueid: str) -> None:
    device_states(messages)
    live_uniqueids(messages)
    status = channel_status(messages, uniqueid)
    assert status is None or status.uniqueid == uniqueid
    for message in messages:
        with contextlib.suppress(IncompleteMessage):
            ring_failure(message)


# -- FastAGI: whatever a peer sends, a session is refused or served, never half-believed ------

header_line = st.one_of(
    st.tuples(
        st.sampled_from(
            ["agi_network_script", "agi_channel", "agi_uniqueid", "agi_extension", "agi_callerid", "agi_arg_1", "agi_request"]
        ),
        text,
    ).map(lambda kv: f"{kv[0]}: {kv[1]}"),
    text,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(header_line, max_size=10), st.booleans())
def test_a_forged_or_garbled_fastagi_session_changes_nothing(lines: list[str], end_headers: bool) -> None:
    asked: list[str] = []
    events: list[ev.Event] = []

    async def nobody_there(uniqueid: str) -> ChannelStatus | None:
        asked.append(uniqueid)
        return None  # Asterisk knows no such channel

    async def ask(event: ev.Event) -> None:
        events.append(event)

    server = AgiServer(ask=ask, post=events.append, channel_status=nobody_there, allowed_peers=parse_allow(["127.0.0.0/8"]))
    raw = "".join(line.replace("\n", " ") + "\n" for line in lines).encode() + (b"\n" if end_headers else b"")
    sent = asyncio.run(raw_agi_session(server.handle_connection, raw, max_commands=5))
    assert sent == [] and events == [] and server.sessions == {}


# -- HTTP: any method, path and body: JSON answers with a stable id, never a 500 --------------

paths = st.sampled_from(
    [
        "/api/agents/a1/login",
        "/api/agents/a1/pause",
        "/api/agents/nobody/logout",
        "/api/agents/a1",
        "/api/queues",
        "/api/callbacks",
        "/api/callbacks/zz",
        "/api/config/reload",
        "/nowhere",
        "/api/agents/a1/%00",
        "/healthz",
    ]
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=10,
)
body = st.one_of(
    json_value.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.just(b"[" * 5000 + b"]" * 5000),
    st.just(b"\xff\xfe{"),
)


def _engine() -> Engine:
    settings_ = AcdSettings(
        queues=MappingProxyType({"support": QueueSettings(name="support")}),
        agents=MappingProxyType({"a1": AgentSettings(agent_id="a1", name="A", endpoint="PJSIP/a1", queues=("support",))}),
        hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support")}),
    )
    return Engine(Acd(settings_), telephony=RecordingTelephony(), callers=RecordingCallers(), records=Records())


async def _requests(requests: list[tuple[str, str, bytes, str]]) -> list[tuple[int, str, bytes]]:
    engine = _engine()
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    registry.register(StateCollector(engine.acd.views, lambda: {"asterisk_ami": True}, lambda: {"records_pending": 0}))
    app = build_app(
        engine=engine,
        registry=registry,
        health=lambda: {"status": "ok"},
        metrics=metrics,
        users=lambda: USERS,
    )
    task = asyncio.create_task(engine.run())
    answers = []
    try:
        async with TestClient(TestServer(app), headers=ADMIN) as client:
            for method, path, data, content_type in requests:
                response = await client.request(method, path, data=data, headers={"Content-Type": content_type})
                answers.append((response.status, response.headers.get("Content-Type", ""), await response.read()))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return answers


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"]),
            paths,
            body,
            st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_request_gets_json_with_a_stable_id_and_never_a_500(requests: list[tuple[str, str, bytes, str]]) -> None:
    for status, content_type, raw in asyncio.run(_requests(requests)):
        assert status < 500, raw[:300]
        if status >= 400:
            assert content_type.startswith("application/json"), (status, raw[:200])
            answer = json.loads(raw)
            assert answer["error"] in STATUS_BY_ERROR and STATUS_BY_ERROR[answer["error"]] == status, answer
