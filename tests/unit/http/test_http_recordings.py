"""Recordings and erasure over a real aiohttp server: who may play, which paths are
never opened, and that every playback is audited (the store is a stand-in here;
tests/e2e/test_recordings.py plays a real recording)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from ccqueue.core.acd import Acd
from ccqueue.core.errors import RecordingUnknown
from ccqueue.core.records import AuditRecord
from ccqueue.engine.engine import Engine
from ccqueue.http.app import build_app
from tests.support.auth import ADMIN, AGENT, SUPERVISOR, USERS
from tests.support.fakes import RecordingCallers, RecordingTelephony, Records
from tests.unit.http.test_auth import _settings

ROWS = {
    "c1.1": {"id": "c1.1", "call_id": "c1", "queue": "support", "agent_id": "agent1", "file": "2026-01-02/c1.1.wav"},
    "c2.1": {"id": "c2.1", "call_id": "c2", "queue": "support", "agent_id": "agent2", "file": "2026-01-02/c2.1.wav"},
    "c3.1": {"id": "c3.1", "call_id": "c3", "queue": "sales", "agent_id": "agent3", "file": "2026-01-02/c3.1.wav"},
    # A row as a tampered database could hold it: its file points out of the folder.
    "c4.1": {"id": "c4.1", "call_id": "c4", "queue": "support", "agent_id": "agent1", "file": "../secret.wav"},
}


class Site:
    def __init__(self, client: TestClient, audit: list[AuditRecord], erased: list[tuple[str, str | None, str]]) -> None:
        self.client, self.audit, self.erased = client, audit, erased


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    folder = tmp_path / "recordings"
    (folder / "2026-01-02").mkdir(parents=True)
    for row in ROWS.values():
        if row["file"].startswith("2026"):
            (folder / row["file"]).write_bytes(b"RIFF" + row["id"].encode())
    (tmp_path / "secret.wav").write_bytes(b"RIFF-secret")
    engine = Engine(Acd(_settings()), telephony=RecordingTelephony(), callers=RecordingCallers(), records=Records())
    audit: list[AuditRecord] = []
    erased: list[tuple[str, str | None, str]] = []

    async def fetch(recording_id: str) -> dict[str, Any]:
        if recording_id not in ROWS:
            raise RecordingUnknown(f"no recording {recording_id!r}")
        return dict(ROWS[recording_id])

    async def erase(number: str, actor: str | None, via: str) -> dict[str, Any]:
        erased.append((number, actor, via))
        return {"erasure_id": "e1", "number_hash": "ab", "rows": {}, "files_deleted": 0, "files_failed": []}

    app = build_app(
        engine=engine,
        registry=CollectorRegistry(),
        health=lambda: {"status": "ok"},
        users=lambda: USERS,
        audit=audit.append,
        fetch_recording=fetch,
        recordings_directory=lambda: str(folder),
        erase=erase,
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    task = asyncio.create_task(engine.run())
    yield Site(client, audit, erased)
    await client.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize(
    ("recording_id", "headers", "status"),
    [
        ("c1.1", SUPERVISOR, 200),  # sam supervises support
        ("c3.1", SUPERVISOR, 403),  # sales is not sam's team
        ("c1.1", AGENT, 200),  # alice (agent1) took the call
        ("c2.1", AGENT, 403),  # another agent's call
        ("c3.1", ADMIN, 200),
        ("c9.1", ADMIN, 404),
    ],
)
async def test_who_may_play_and_every_playback_is_audited(
    site: Site, recording_id: str, headers: dict[str, str], status: int
) -> None:
    r = await site.client.get(f"/api/recordings/{recording_id}/audio", headers=headers)
    assert r.status == status
    if status == 200:
        assert r.content_type == "audio/wav" and await r.read() == b"RIFF" + recording_id.encode()
    (row,) = site.audit
    assert (row.method, row.path, row.status) == ("GET", f"/api/recordings/{recording_id}/audio", status)
    assert row.outcome == ("accepted" if status == 200 else "refused")


@pytest.mark.parametrize(
    "path",
    [
        "/api/recordings/..%2F..%2Fsecret/audio",
        "/api/recordings/../secret.wav/audio",
        "/api/recordings/%2E%2E/audio",
        "/api/recordings/c1.1%2F..%2F..%2Fsecret/audio",
        "/api/recordings/c4.1/audio",  # a stored name that resolves outside the folder
    ],
)
async def test_nothing_outside_the_recordings_folder_is_ever_served(site: Site, path: str) -> None:
    r = await site.client.get(path, headers=ADMIN)
    assert r.status == 404
    assert b"RIFF-secret" not in await r.read()


async def test_metadata_leaves_the_file_name_out(site: Site) -> None:
    r = await site.client.get("/api/recordings/c1.1", headers=SUPERVISOR)
    assert r.status == 200 and "file" not in await r.json()


async def test_erasure_is_for_admins_and_names_who_asked(site: Site) -> None:
    r = await site.client.post("/api/erasures", json={"number": "+12025550123"}, headers=SUPERVISOR)
    assert r.status == 403 and site.erased == []
    r = await site.client.post("/api/erasures", json={"number": "+12025550123"}, headers=ADMIN)
    assert r.status == 200 and (await r.json())["complete"] is True
    assert site.erased == [("+12025550123", "root", "token")]
    r = await site.client.post("/api/erasures", json={"phone": "+1"}, headers=ADMIN)
    assert (r.status, (await r.json())["error"]) == (422, "erasure-refused")


async def test_recording_control_is_refused_without_a_call(site: Site) -> None:
    r = await site.client.post("/api/agents/agent1/recording/pause", headers=AGENT)
    assert (r.status, (await r.json())["error"]) == (409, "recording-refused")
    r = await site.client.post("/api/agents/agent2/recording/pause", headers=AGENT)
    assert r.status == 403
