"""Survey answers in a real PostgreSQL: one row per call, written once however often sent."""

from __future__ import annotations

import asyncpg
import pytest

from ccqueue.core.records import CallEventRecord, SurveyRecord
from ccqueue.store import InvalidRecord, fetch_survey, migrate, write_records
from ccqueue.store.spool import decode_record, encode_record

pytestmark = pytest.mark.integration

T0 = 1_760_000_000.0


async def connected(dsn: str) -> asyncpg.Connection:
    await migrate(dsn)
    return await asyncpg.connect(dsn)


async def test_a_survey_is_stored_once(pg_dsn: str) -> None:
    conn = await connected(pg_dsn)
    try:
        first = SurveyRecord(call_id="c1", rating=4, recommend=9, at=T0)
        await write_records(conn, [first, SurveyRecord(call_id="c2", rating=None, recommend=None, at=T0 + 1)])
        # A replay, and a different answer for the same call: the first one stays.
        await write_records(conn, [first, SurveyRecord(call_id="c1", rating=1, recommend=0, at=T0 + 5)])
        assert await fetch_survey(conn, "c1") == {"call_id": "c1", "rating": 4, "recommend": 9, "answered_at": T0}
        assert await fetch_survey(conn, "c2") == {"call_id": "c2", "rating": None, "recommend": None,
                                                  "answered_at": T0 + 1}  # fmt: skip
        assert await fetch_survey(conn, "c3") is None
        assert await conn.fetchval("SELECT count(*) FROM surveys") == 2
    finally:
        await conn.close()


async def test_a_survey_in_a_batch_with_its_timeline(pg_dsn: str) -> None:
    conn = await connected(pg_dsn)
    try:
        event = CallEventRecord(event_id="c1:0", call_id="c1", seq=0, at=T0, kind="ivr_node", data={"node": "menu"})
        survey = SurveyRecord(call_id="c1", rating=5, recommend=10, at=T0 + 60)
        await write_records(conn, [event, survey, survey])
        assert await conn.fetchval("SELECT count(*) FROM call_events") == 1
        assert (await fetch_survey(conn, "c1") or {})["rating"] == 5
    finally:
        await conn.close()


@pytest.mark.parametrize(("rating", "recommend"), [(0, 5), (6, 5), (3, 11), (3, -1), (True, 5)])
async def test_answers_out_of_range_are_refused_before_anything_is_sent(pg_dsn: str, rating: int, recommend: int) -> None:
    conn = await connected(pg_dsn)
    try:
        good = SurveyRecord(call_id="ok", rating=3, recommend=3, at=T0)
        with pytest.raises(InvalidRecord):
            await write_records(conn, [good, SurveyRecord(call_id="bad", rating=rating, recommend=recommend, at=T0)])
        assert await conn.fetchval("SELECT count(*) FROM surveys") == 0
    finally:
        await conn.close()


async def test_the_table_itself_refuses_answers_out_of_range(pg_dsn: str) -> None:
    conn = await connected(pg_dsn)
    try:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO surveys VALUES ('x', 6, NULL, now())")
    finally:
        await conn.close()


def test_a_survey_survives_the_outage_spool() -> None:
    survey = SurveyRecord(call_id="c1", rating=None, recommend=7, at=T0)
    assert decode_record(encode_record(survey)) == survey
