"""The wallboard's figures and its event stream, over a real aiohttp server and a running
engine (Asterisk replaced by the recording stand-ins; tests/integration drives a browser)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import MappingProxyType

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.engine.engine import Engine
from ccqueue.http import app as http_app
from ccqueue.http.app import build_app, mask_number
from ccqueue.metrics import Metrics
from tests.support.auth import ADMIN, USERS
from tests.support.fakes import RecordingCallers, RecordingTelephony, Records

SCRIPT_CALLER = "<script>alert(1)</script>"


@dataclass
class Board:
    client: TestClient
    engine: Engine
    telephony: RecordingTelephony
    clock: list[float]  # [offset]: the engine's clock is the real one plus this

    def at(self, offset: float) -> None:
        self.clock[0] = offset


def _settings() -> AcdSettings:
    # A long ring timeout: the tests move the engine's clock on by tens of seconds at once.
    support = QueueSettings(name="support", ring_timeout_s=600.0)
    return AcdSettings(
        queues=MappingProxyType({"support": support}),
        agents=MappingProxyType(
            {
                a: AgentSettings(agent_id=a, name=n, endpoint=f"PJSIP/{a}", queues=("support",))
                for a, n in (("agent1", "Alice"), ("agent2", "Bob"))
            }
        ),
        hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support")}),
    )


async def _board(*, headers: dict[str, str] | None = None, **server_args: float) -> AsyncIterator[Board]:
    """A running app with the wallboard; the client sends ``headers`` (an admin's token
    unless told otherwise: ``{}`` for a browser-like client that signs in)."""
    base, offset = time.time(), [0.0]
    registry = CollectorRegistry()
    metrics = Metrics(registry, clock=lambda: base + offset[0])
    telephony = RecordingTelephony()
    engine = Engine(
        Acd(_settings()),
        telephony=telephony,
        callers=RecordingCallers(),
        records=Records(),
        on_record=metrics.on_record,
        clock=lambda: base + offset[0],
    )
    app = build_app(
        engine=engine,
        registry=registry,
        health=lambda: {"status": "ok", "ami": "ready", "database": "ready"},
        metrics=metrics,
        users=lambda: USERS,
    )
    task = asyncio.create_task(engine.run())
    async with TestClient(TestServer(app, **server_args), headers=ADMIN if headers is None else headers) as c:
        yield Board(c, engine, telephony, offset)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def board() -> AsyncIterator[Board]:
    async for b in _board():
        yield b


async def until(check: Callable[[], bool], *, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the engine did not get there in time"
        await asyncio.sleep(0.01)


def arrival(n: int, caller: str) -> ev.CallArrived:
    return ev.CallArrived(call_id=f"c{n}", hotline="100", caller=caller, channel=f"Local/100-{n};2", uniqueid=f"u{n}")


async def _busy_monday(b: Board) -> None:
    """c1 answered in 5 s, c2 in 30 s (late), c3 waiting, c4 hung up after 40 s."""
    e = b.engine
    for agent in ("agent1", "agent2"):
        await e.ask(ev.AgentRequested(agent_id=agent, action=ev.AgentAction.LOGIN))
    e.post(arrival(1, "+15550100100"))
    e.post(arrival(2, "+15550100200"))
    await until(lambda: len(b.telephony.originated) == 2)
    offers = {o.call_id: o.offer_id for o in b.telephony.originated}
    b.at(5.0)
    await e.ask(ev.OfferClaimed(offer_id=offers["c1"]))
    b.at(30.0)
    await e.ask(ev.OfferClaimed(offer_id=offers["c2"]))
    await e.ask(arrival(3, SCRIPT_CALLER))
    await e.ask(arrival(4, "+15550100400"))
    b.at(70.0)
    await e.ask(ev.ChannelHungUp(uniqueid="u4", cause="caller hung up"))


async def test_figures_after_a_few_calls(board: Board) -> None:
    await _busy_monday(board)
    data = await (await board.client.get("/api/wallboard")).json()
    (q,) = data["queues"]
    # SL counts the two answered and the one abandoned: 1 of 3 in 20 s, against 80 %: red.
    assert (q["waiting"], q["answered_window"], q["abandoned_window"]) == (1, 2, 1)
    assert (q["service_level"], q["target"], q["answer_within_s"], q["sl_colour"]) == (0.3333, 0.8, 20.0, "red")
    assert (q["asa_s"], q["abandon_share"], q["window_s"]) == (17.5, 0.3333, 900.0)
    assert q["longest_wait_s"] >= 0 and q["oldest_arrival"] is not None
    (caller,) = data["callers"]
    assert (caller["position"], caller["queue"], caller["state"]) == (1, "support", "waiting")
    assert caller["caller"] == mask_number(SCRIPT_CALLER) == "<scri\u2022\u2022\u2022ipt>"
    agents = {a["id"]: a for a in data["agents"]}
    assert agents["agent1"]["state"] == "on_call" and agents["agent1"]["handled_today"] == 1
    assert agents["agent1"]["call"] == {"caller": "+1555\u2022\u2022\u20220100", "queue": "support"}
    assert agents["agent2"]["call"] == {"caller": "+1555\u2022\u2022\u20220200", "queue": "support"}
    assert agents["agent2"]["handled_today"] == 1 and agents["agent2"]["in_state_s"] >= 0
    # The period ("Today"): no database here, so only the calls since start-up, and it says so.
    assert data["period"]["label"] == "Today" and data["period"]["complete"] is False
    assert (q["offered"], q["answered"], q["abandoned"], q["short_abandoned"], q["service_level_period"]) == (4, 2, 1, 0, 0.3333)


@pytest.mark.parametrize(
    ("level", "target", "colour"),
    [
        (0.8, 0.8, "green"),
        (0.9, 0.8, "green"),
        (0.76, 0.8, "amber"),
        (0.75, 0.8, "amber"),
        (0.74, 0.8, "red"),
        (None, 0.8, "none"),
    ],
)
def test_sl_colour_thresholds(level: float | None, target: float, colour: str) -> None:
    assert http_app._sl_colour(level, target) == colour


@pytest.mark.parametrize(("number", "shown"), [("+15550100100", "+1555\u2022\u2022\u20220100"), ("2001", "2001"), ("", "")])
def test_caller_numbers_are_masked(number: str, shown: str) -> None:
    assert mask_number(number) == shown


async def test_the_page_renders_values_as_text_only(board: Board) -> None:
    page = await (await board.client.get("/wallboard")).text()
    assert "textContent" in page and "EventSource" in page
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in page


async def _next_event(content: asyncio.StreamReader, timeout: float = 5.0) -> tuple[str, dict | None]:
    """The next SSE block: ('data', the snapshot) or ('comment', None)."""
    lines = []
    async with asyncio.timeout(timeout):
        while True:
            line = (await content.readline()).decode()
            assert line, "the stream ended"
            if line == "\n":
                break
            lines.append(line.rstrip("\n"))
    if lines[0].startswith(":"):
        return "comment", None
    return "data", json.loads("".join(line.removeprefix("data: ") for line in lines))


async def test_the_stream_sends_a_snapshot_then_an_update_after_an_event(board: Board) -> None:
    async with board.client.get("/api/wallboard/events") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        kind, first = await _next_event(r.content)
        assert kind == "data" and first is not None
        assert {a["id"]: a["state"] for a in first["agents"]} == {"agent1": "logged_out", "agent2": "logged_out"}
        await board.engine.ask(ev.AgentRequested(agent_id="agent1", action=ev.AgentAction.LOGIN))
        started = time.monotonic()
        kind, update = await _next_event(r.content)
        assert kind == "data" and update is not None
        assert {a["id"]: a["state"] for a in update["agents"]}["agent1"] == "available"
        assert time.monotonic() - started <= http_app.WALLBOARD_TICK_S + 0.5


async def test_an_idle_stream_gets_heartbeats_and_outlives_the_idle_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_app, "WALLBOARD_TICK_S", 0.1)
    monkeypatch.setattr(http_app, "WALLBOARD_HEARTBEAT_S", 0.3)
    async for b in _board(keepalive_timeout=0.2):
        async with b.client.get("/api/wallboard/events") as r:
            assert (await _next_event(r.content))[0] == "data"
            started = time.monotonic()
            kinds = [(await _next_event(r.content))[0] for _ in range(4)]
            # Nothing changed: only heartbeats, and the stream is still open well past the idle timeout.
            assert kinds == ["comment"] * 4 and time.monotonic() - started >= 1.0


async def test_streams_end_when_the_server_shuts_down(board: Board) -> None:
    # Otherwise aiohttp's shutdown would wait for every open wallboard before ccqueue stops.
    async with board.client.get("/api/wallboard/events") as r:
        assert (await _next_event(r.content))[0] == "data"
        await board.client.server.app.shutdown()
        async with asyncio.timeout(2.0):
            assert await r.content.read() == b""
