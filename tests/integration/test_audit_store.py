"""The audit trail in a real PostgreSQL: every state-changing request, accepted or
refused, is a row of ``audit_log``, written through the record writer; while the
database is away the rows wait in the spool and arrive once, later."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from types import MappingProxyType

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.engine.engine import Engine
from ccqueue.http.app import build_app
from ccqueue.http.auth import CSRF_HEADER
from ccqueue.store import RecordWriter, migrate
from tests.integration.test_store import FAST_BACKOFF, eventually, running
from tests.support.auth import AGENT, SUPERVISOR_PASSWORD, USERS
from tests.support.fakes import RecordingCallers, RecordingTelephony, Records
from tests.support.postgres import free_port

pytestmark = pytest.mark.integration


def _engine() -> Engine:
    agents = {
        a: AgentSettings(agent_id=a, name=a.title(), endpoint=f"PJSIP/{a}", queues=("support",)) for a in ("agent1", "agent2")
    }
    settings = AcdSettings(
        queues=MappingProxyType({"support": QueueSettings(name="support")}),
        agents=MappingProxyType(agents),
        hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support")}),
    )
    return Engine(Acd(settings), telephony=RecordingTelephony(), callers=RecordingCallers(), records=Records())


async def _site(writer: RecordWriter) -> AsyncIterator[TestClient]:
    engine = _engine()
    app = build_app(engine=engine, registry=CollectorRegistry(), health=dict, users=lambda: USERS, audit=writer.submit)  # type: ignore[arg-type]
    task = asyncio.create_task(engine.run())
    async with TestClient(TestServer(app)) as client:
        yield client
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _requests(client: TestClient) -> None:
    """Two accepted changes, three refused, and reads (never audited)."""
    assert (await client.post("/api/agents/agent1/login", headers=AGENT)).status == 200
    assert (await client.post("/api/agents/agent2/login", headers=AGENT)).status == 403
    assert (await client.post("/api/config/reload")).status == 401
    assert (await client.post("/api/session", json={"user": "sam", "password": "not-it-at-all"})).status == 401
    r = await client.post("/api/session", json={"user": "sam", "password": SUPERVISOR_PASSWORD})
    csrf = (await r.json())["csrf_token"]
    assert (await client.post("/api/agents/agent2/login", data=b"{}", headers={"Content-Type": "text/plain"})).status == 403
    assert (await client.delete("/api/session", headers={CSRF_HEADER: csrf})).status == 200
    assert (await client.get("/api/agents", headers=AGENT)).status == 200


EXPECTED = [
    ("alice", "agent", "token", "POST", "/api/agents/agent1/login", 200, "accepted", None),
    ("alice", "agent", "token", "POST", "/api/agents/agent2/login", 403, "refused", "forbidden"),
    (None, None, "none", "POST", "/api/config/reload", 401, "refused", "not-signed-in"),
    ("sam", None, "none", "POST", "/api/session", 401, "refused", "sign-in-refused"),
    ("sam", "supervisor", "session", "POST", "/api/session", 200, "accepted", None),
    ("sam", "supervisor", "session", "POST", "/api/agents/agent2/login", 403, "refused", "csrf-refused"),
    ("sam", "supervisor", "session", "DELETE", "/api/session", 200, "accepted", None),
]


async def _rows(dsn: str) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT actor, role, via, method, path, status, outcome, error, remote, at FROM audit_log ORDER BY at, audit_id"
        )
    finally:
        await conn.close()
    assert all(row["remote"] == "127.0.0.1" and row["at"] is not None for row in rows)
    return [tuple(row.values())[:8] for row in rows]


async def test_accepted_and_refused_changes_are_rows_of_the_audit_log(pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    writer = RecordWriter(pg_dsn, spool_dir=tmp_path / "spool")
    async with running(writer):
        async for client in _site(writer):
            await _requests(client)
        await writer.flush(timeout=5)
    assert await _rows(pg_dsn) == EXPECTED


async def test_audit_rows_wait_in_the_spool_while_the_database_is_away(pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    spool_dir = tmp_path / "spool"
    away = RecordWriter(f"postgresql://postgres@127.0.0.1:{free_port()}/none", spool_dir=spool_dir, **FAST_BACKOFF)
    async with running(away):
        async for client in _site(away):
            await _requests(client)
        await away.flush(timeout=5)
    assert (away.records_spooled, away.records_written) == (len(EXPECTED), 0)

    copy = tmp_path / "copy"  # the same segments, for a second replay
    shutil.copytree(spool_dir, copy, ignore=shutil.ignore_patterns("*.lock"))

    back = RecordWriter(pg_dsn, spool_dir=spool_dir)
    async with running(back):
        await eventually(lambda: back.records_replayed == len(EXPECTED))
    assert await _rows(pg_dsn) == EXPECTED
    # Replayed again (a write whose answer was lost), nothing is counted twice.
    again = RecordWriter(pg_dsn, spool_dir=copy)
    async with running(again):
        await eventually(lambda: again.records_replayed == len(EXPECTED))
    assert await _rows(pg_dsn) == EXPECTED
