"""Values from outside are stored as data in a real PostgreSQL, whatever characters they
hold: a NUL (which PostgreSQL's text and jsonb refuse) is stored as U+FFFD instead of the
whole record being refused, and a literal backslash-u0000 stays what it was."""

from __future__ import annotations

import json

import asyncpg
import pytest

from ccqueue.core.records import AuditRecord, CallEventRecord
from ccqueue.store import migrate
from ccqueue.store.tables import write_records

pytestmark = pytest.mark.integration


async def test_a_nul_in_a_path_or_a_timeline_value_is_stored_not_refused(pg_dsn: str) -> None:
    await migrate(pg_dsn)
    audit = AuditRecord(
        audit_id="a1", at=1_765_000_000.0, actor=None, role=None, via="none", method="POST",
        path="/api/agents/a1/\x00x", route=None, remote="127.0.0.1", status=404, outcome="refused", error="not-found",
    )  # fmt: skip
    event = CallEventRecord(
        event_id="c1:0", call_id="c1", seq=0, at=1_765_000_000.0, kind="call_arrived",
        data={"caller": "55\x0001", "name": "x)\nHangup(", "literal": "\\u0000"},
    )  # fmt: skip
    conn = await asyncpg.connect(pg_dsn)
    try:
        await write_records(conn, [audit, event])
        path = await conn.fetchval("SELECT path FROM audit_log WHERE audit_id = 'a1'")
        data = json.loads(await conn.fetchval("SELECT data::text FROM call_events WHERE event_id = 'c1:0'"))
    finally:
        await conn.close()
    assert path == "/api/agents/a1/\ufffdx"
    assert data == {"caller": "55\ufffd01", "name": "x)\nHangup(", "literal": "\\u0000"}
