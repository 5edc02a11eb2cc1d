"""The spool's line format: every record type the core writes comes back equal, enums
included, and a line that is not a record is refused rather than half-read."""

from __future__ import annotations

import json
import typing

import pytest

from ccqueue.core.campaigns import AttemptOutcome
from ccqueue.core.records import (
    AgentPresenceRecord,
    AgentStateRecord,
    AttemptEvent,
    AttemptRecord,
    AuditRecord,
    CallbackRecord,
    CallbackStatus,
    CallEventRecord,
    CallOutcome,
    CallRecord,
    CampaignRunRecord,
    ContactProgress,
    DoNotCallRecord,
    Record,
    RecordingRecord,
    SurveyRecord,
)
from ccqueue.store.spool import decode_record, encode_record
from ccqueue.store.tables import InvalidRecord

T0 = 1_760_000_000.0

EXAMPLES: list[Record] = [
    CallEventRecord(event_id="c1:0", call_id="c1", seq=0, at=T0, kind="call_arrived", data={"caller": "+1"}),
    CallRecord(
        call_id="c1",
        version=2,
        caller="+1",
        hotline="100",
        queue=None,
        agent=None,
        arrived_at=T0,
        answered_at=None,
        ended_at=T0 + 3,
        outcome=CallOutcome.CALLBACK,
        channel="PJSIP/t-1",
    ),
    AgentStateRecord(interval_id="a1:0", agent_id="a1", state="ready", reason=None, started_at=T0, ended_at=T0 + 1),
    CallbackRecord(
        callback_id="cb1",
        version=3,
        queue="support",
        number="+16502530000",
        status=CallbackStatus.DIALING,
        requested_at=T0,
        place_at=T0 - 5,
        not_before=None,
        expires_at=T0 + 600,
        attempts=1,
        next_attempt_at=T0 + 300,
        call_id="c1",
        agent="a1",
        result="BUSY",
    ),
    SurveyRecord(call_id="c1", rating=4, recommend=None, at=T0 + 9),
    AuditRecord(
        audit_id="a1",
        at=T0 + 10,
        actor="sam",
        role="supervisor",
        via="session",
        method="POST",
        path="/api/agents/agent1/pause",
        route="POST /api/agents/{agent_id}/{action}",
        remote="127.0.0.1",
        status=403,
        outcome="refused",
        error="forbidden",
    ),
    AttemptRecord(
        attempt_id="out-x-1",
        version=3,
        campaign="renewals",
        contact_id=7,
        number="+15550001001",
        started_at=T0,
        answered_at=T0 + 4,
        ended_at=T0 + 9,
        amd="HUMAN",
        outcome=AttemptOutcome.ABANDONED,
        abandoned=True,
        safe_harbour=True,
    ),
    AttemptEvent(event_id="out-x-1:0", attempt_id="out-x-1", seq=0, at=T0, kind="dialed", detail={"number": "+15550001001"}),
    ContactProgress(
        contact_id=7,
        campaign="renewals",
        attempts=1,
        next_at=T0 + 60,
        locked_until=T0 + 3600,
        done=False,
        outcome=AttemptOutcome.ABANDONED,
    ),
    CampaignRunRecord(campaign="renewals", state="running", changed_at=T0),
    DoNotCallRecord(number="+15550001001", source="opt_out", at=T0),
    AgentPresenceRecord(agent_id="a1", presence="paused", reason="lunch", since=T0, at=T0 + 1),
    RecordingRecord(
        recording_id="c1.1",
        version=2,
        call_id="c1",
        queue="q",
        agent_id="a1",
        file="2025-10-09/c1.1.wav",
        started_at=T0,
        ended_at=T0 + 30,
    ),
]


def test_every_record_type_is_spoolable() -> None:
    assert {type(r) for r in EXAMPLES} == set(typing.get_args(Record))


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda r: type(r).__name__)
def test_a_record_comes_back_equal(record: Record) -> None:
    line = encode_record(record)
    assert "\n" not in line
    assert decode_record(line) == record


def test_enums_are_written_as_their_values() -> None:
    assert json.loads(encode_record(EXAMPLES[1]))["outcome"] == "callback"
    assert json.loads(encode_record(EXAMPLES[3]))["status"] == "dialing"


@pytest.mark.parametrize(
    "line",
    [
        '{"type": "callback", "callback_id": "x"}',  # fields missing
        encode_record(EXAMPLES[3]).replace('"dialing"', '"lost"'),  # not a status
        encode_record(EXAMPLES[1]).replace('"callback"', '"gone"'),
        '{"type": "lead"}',
        "[1, 2]",
        "not json",
    ],
)
def test_a_line_that_is_not_a_record_is_refused(line: str) -> None:
    with pytest.raises((ValueError, KeyError, TypeError, AttributeError)):
        decode_record(line)


def test_something_that_is_not_a_record_cannot_be_spooled() -> None:
    with pytest.raises(InvalidRecord):
        encode_record("call c1")  # type: ignore[arg-type]


NEW_FIELDS: list[Record] = [
    CallRecord(
        call_id="c2",
        version=4,
        caller="+1",
        hotline="200",
        queue="support",
        agent="a1",
        arrived_at=T0,
        queued_at=T0 + 30,
        answered_at=T0 + 45,
        ended_at=T0 + 100,
        outcome=CallOutcome.ANSWERED,
    ),
    AgentStateRecord(
        interval_id="a1:7", agent_id="a1", state="wrap_up", reason=None, started_at=T0, ended_at=T0 + 5, call_id="c2"
    ),
]


@pytest.mark.parametrize("record", NEW_FIELDS, ids=lambda r: type(r).__name__)
def test_the_queue_time_and_the_interval_s_call_come_back(record: Record) -> None:
    assert decode_record(encode_record(record)) == record


# Lines as the version before queued_at and the intervals' call_id wrote them.
OLD_LINES = {
    "call": (
        '{"type":"call","call_id":"c1","version":2,"caller":"+1","hotline":"100","queue":"support",'
        f'"agent":null,"arrived_at":{T0},"answered_at":null,"ended_at":{T0 + 3},"outcome":"abandoned","channel":""}}'
    ),
    "agent_state": (
        '{"type":"agent_state","interval_id":"a1:0","agent_id":"a1","state":"on_call","reason":null,'
        f'"started_at":{T0},"ended_at":{T0 + 1}}}'
    ),
}


def test_lines_of_the_previous_version_still_read_with_the_new_fields_empty() -> None:
    call = decode_record(OLD_LINES["call"])
    assert isinstance(call, CallRecord) and call.queued_at is None
    assert (call.call_id, call.outcome, call.ended_at) == ("c1", CallOutcome.ABANDONED, T0 + 3)
    interval = decode_record(OLD_LINES["agent_state"])
    assert isinstance(interval, AgentStateRecord) and interval.call_id is None and interval.state == "on_call"
