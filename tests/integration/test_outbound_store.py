"""Outbound lists and attempts in a real PostgreSQL: the schema, CSV imports (all or
nothing, every problem by line), the dialler's queries, do-not-call, and the commands."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from ccqueue.contacts import ContactsInvalid, import_contacts, import_do_not_call
from ccqueue.core.campaigns import AttemptOutcome, CampaignMode, CampaignSettings
from ccqueue.core.records import (
    AttemptEvent,
    AttemptRecord,
    CampaignRunRecord,
    ContactProgress,
    DoNotCallRecord,
    Record,
)
from ccqueue.store import migrate, tables, write_records
from ccqueue.store.outbound import (
    AbandonCounts,
    CampaignContacts,
    ContactMark,
    LiveAnswer,
    abandon_counts,
    abandon_history,
    add_do_not_call,
    campaign_states,
    contact_history,
    contact_row,
    due_contacts,
    fetch_attempt,
    fetch_attempt_events,
    is_do_not_call,
    live_answers,
    mark_contacts,
    set_campaign_state,
    write_attempt_events,
    write_attempts,
)
from ccqueue.store.spool import decode_record, encode_record

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
T0 = 1_780_000_000.0  # 2026-05-28


@pytest.fixture
async def conn(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate(pg_dsn)
    connection = await asyncpg.connect(pg_dsn)
    try:
        yield connection
    finally:
        await connection.close()


def csv_bytes(text: str) -> bytes:
    return textwrap.dedent(text).encode("utf-8")


async def run_import(conn: asyncpg.Connection, data: bytes, *, campaign: str = "reminders", **options: Any) -> Any:
    options.setdefault("region", "US")
    return await import_contacts(conn, campaign, io.BytesIO(data), now=T0, **options)


async def refused(conn: asyncpg.Connection, data: bytes, **options: Any) -> list[str]:
    with pytest.raises(ContactsInvalid) as caught:
        await run_import(conn, data, **options)
    assert caught.value.error_id == "contacts-invalid"
    assert caught.value.report.committed is False
    # The message (an API client's) names every problem, one a line, after the summary.
    assert str(caught.value).splitlines()[1:] == [str(p) for p in caught.value.report.problems]
    return [str(p) for p in caught.value.report.problems]


async def count(conn: asyncpg.Connection, sql: str = "SELECT count(*) FROM contacts") -> int:
    return int(await conn.fetchval(sql))


# --- the schema ---------------------------------------------------------------------------


async def test_the_tables_refuse_what_is_not_e164_and_a_second_row_of_a_number(conn: asyncpg.Connection) -> None:
    await conn.execute("INSERT INTO contacts (campaign, number) VALUES ('c', '+12125550101')")
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute("INSERT INTO contacts (campaign, number) VALUES ('c', '+12125550101')")
    await conn.execute("INSERT INTO contacts (campaign, number) VALUES ('other', '+12125550101')")
    for bad in ("12125550101", "+0123", "+1 212 555 0101", "+1234567890123456"):
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO do_not_call (number, source) VALUES ($1, 'api')", bad)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("INSERT INTO do_not_call (number, source) VALUES ('+12125550101', 'guess')")
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("INSERT INTO campaign_runs (campaign, state) VALUES ('c', 'dialling')")


async def test_attempt_events_are_append_only(conn: asyncpg.Connection) -> None:
    await write_attempt_events(conn, [Event("a1:0", "a1", 0, T0, "dial_started")])
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("UPDATE attempt_events SET kind = 'x'")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("DELETE FROM attempt_events")


# --- importing a contact list ---------------------------------------------------------------

GOOD = """\
    number,name,tz,account,balance
    (212) 555-0101,Ann Smith,America/Chicago,A-1,10.50
    +1 212 555 0102,"Bob, Jr.",,B-2,0
    212.555.0103,Cy,,C-3,
    """


async def test_a_good_file_becomes_contacts_with_their_extra_columns(conn: asyncpg.Connection) -> None:
    report = await run_import(conn, csv_bytes(GOOD))
    assert report.committed and (report.rows, report.imported, report.skipped, report.problems) == (3, 3, 0, [])
    ann = await contact_row(conn, "reminders", "+12125550101")
    assert ann is not None
    assert (ann["name"], ann["tz"], ann["source_line"], ann["attempts"], ann["done"]) == (
        "Ann Smith",
        "America/Chicago",
        2,
        0,
        False,
    )
    assert ann["fields"] == {"account": "A-1", "balance": "10.50"}
    assert ann["imported_at"] == T0 and ann["next_at"] == T0
    bob = await contact_row(conn, "reminders", "+12125550102")
    assert bob is not None and bob["name"] == "Bob, Jr." and bob["tz"] is None


async def test_a_byte_order_mark_is_accepted_silently(conn: asyncpg.Connection) -> None:
    report = await run_import(conn, b"\xef\xbb\xbf" + csv_bytes(GOOD))
    assert (report.imported, report.problems) == (3, [])
    # The mark is not part of the first column's name: 'number' was found.
    assert await count(conn) == 3


async def test_every_problem_is_reported_by_line_and_nothing_is_imported(conn: asyncpg.Connection) -> None:
    data = (
        csv_bytes("""\
        number,name,tz
        +12125550101,Ann,
        555,Short,
        ,No number,
        +12125550102,Zoned,Mars/Olympus
        +12125550101,Ann again,
        +12125550103,Too,many,values
        +12125550104,Fine,
        """)
        + b"+12125550105,Ren\xe9,\n"
    )
    problems = await refused(conn, data)
    assert problems == [
        "line 3: '555' is not a valid phone number (wrong length, or a range not in use)",
        "line 4: no number",
        "line 5: unknown time zone 'Mars/Olympus'; write an IANA name such as 'America/New_York', or leave it empty",
        "line 6: +12125550101 is already on line 2 of this file",
        "line 7: 4 value(s), but the header has 3 column(s)",
        "line 9: not UTF-8 text (byte 0xE9 at column 17); save the file as 'CSV UTF-8'",
    ]
    assert await count(conn) == 0  # all or nothing


async def test_with_skip_invalid_the_good_rows_are_imported_and_the_others_reported(conn: asyncpg.Connection) -> None:
    data = csv_bytes("""\
        number,name
        +12125550101,Ann
        not a number,X
        +12125550101,Ann twice
        +12125550102,Bob
        """)
    report = await run_import(conn, data, skip_invalid=True)
    assert report.committed and (report.rows, report.imported, report.skipped, report.problems_total) == (4, 2, 2, 2)
    assert [p.line for p in report.problems] == [3, 4]
    assert await count(conn) == 2
    ann = await contact_row(conn, "reminders", "+12125550101")
    assert ann is not None and ann["name"] == "Ann" and ann["source_line"] == 2  # the first row of a number


async def test_numbers_already_in_the_list_are_reported_and_never_a_second_row(conn: asyncpg.Connection) -> None:
    await run_import(conn, csv_bytes(GOOD))
    again = csv_bytes("""\
        number,name
        +12125550104,New
        2125550102,Bob again
        """)
    assert await refused(conn, again) == ["line 3: +12125550102 is already in the list of campaign 'reminders'"]
    report = await run_import(conn, again, skip_invalid=True)
    assert (report.imported, report.skipped) == (1, 1)
    assert await count(conn) == 4
    # Another campaign's list is its own.
    assert (await run_import(conn, again, campaign="survey")).imported == 2


async def test_a_file_that_cannot_be_read_as_a_list_is_refused_whole(conn: asyncpg.Connection) -> None:
    assert await refused(conn, csv_bytes("phone,name\n+12125550101,Ann\n")) == [
        "line 1: the header has no 'number' column (it has 'phone', 'name'); the first line names the columns"
    ]
    assert await refused(conn, b"") == ["the file is empty: the first line must be a header with a 'number' column"]
    assert await refused(conn, "number,name\n+12125550101,Ann\n".encode("utf-16")) == [
        "the file is UTF-16 text; save it as 'CSV UTF-8' (UTF-8 text)"
    ]
    assert await refused(conn, csv_bytes("number,name,Name\n+12125550101,a,b\n")) == [
        "line 1: column 'Name' is named twice (columns 2 and 3)"
    ]
    assert await count(conn) == 0


async def test_numbers_not_allowed_by_the_trunk_are_reported(conn: asyncpg.Connection) -> None:
    data = csv_bytes("number\n+12125550101\n+442079460000\n")
    assert await refused(conn, data, allowed=[r"\+1\d{10}"]) == [
        "line 3: +442079460000 is not allowed by outbound.allowed: it would never be dialled"
    ]


async def test_semicolons_quoted_line_breaks_and_blank_rows(conn: asyncpg.Connection) -> None:
    data = b'Number;Name;Note\r\n+12125550101;"Ann\r\nSmith";"says ""hi"""\r\n;;\r\n+12125550102;Bob;x\r\n'
    report = await run_import(conn, data)
    assert (report.rows, report.imported) == (2, 2)
    ann = await contact_row(conn, "reminders", "+12125550101")
    assert ann is not None and ann["name"] == "Ann\r\nSmith" and ann["fields"] == {"Note": 'says "hi"'}
    bob = await contact_row(conn, "reminders", "+12125550102")
    assert bob is not None and bob["source_line"] == 5  # lines counted as the file has them


async def test_a_stream_in_small_pieces_reads_the_same(conn: asyncpg.Connection) -> None:
    data = b"\xef\xbb\xbf" + csv_bytes(GOOD)

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 3):
            yield data[start : start + 3]

    report = await import_contacts(conn, "reminders", pieces(), region="US", now=T0)
    assert (report.imported, report.problems) == (3, [])


async def test_a_large_file_imports_in_batches(conn: asyncpg.Connection) -> None:
    lines = ["number,name,account"] + [f"+1212{5550000 + i % 10000 + (i // 10000) * 10000:07d},N{i},{i}" for i in range(12_000)]
    report = await run_import(conn, ("\n".join(lines) + "\n").encode())
    assert (report.rows, report.imported, report.problems_total) == (12_000, 12_000, 0)


# --- the dialler's queries ------------------------------------------------------------------


async def test_due_contacts_leave_out_done_do_not_call_not_yet_due_and_exhausted(conn: asyncpg.Connection) -> None:
    data = csv_bytes("""\
        number,name,tz
        +12125550101,due,
        +12125550102,done,
        +12125550103,dnc,
        +12125550104,later,
        +12125550105,tried out,
        +12125550106,in flight,
        +442079460000,london,
        +12125550107,own zone,Asia/Tokyo
        """)
    await run_import(conn, data)
    ids = {r["name"]: r["contact_id"] for r in await conn.fetch("SELECT name, contact_id FROM contacts")}
    await mark_contacts(
        conn,
        [
            ContactMark(contact_id=ids["done"], attempts=1, next_at=T0, done=True, outcome="connected"),
            ContactMark(contact_id=ids["later"], attempts=1, next_at=T0 + 600, outcome="busy"),
            ContactMark(contact_id=ids["tried out"], attempts=3, next_at=T0, outcome="no_answer"),
        ],
    )
    assert await add_do_not_call(conn, "+12125550103", "opt_out")
    due = await due_contacts(
        conn, "reminders", T0 + 1, 10, max_attempts=3, zone=ZoneInfo("Europe/Paris"), exclude=[ids["in flight"]]
    )
    assert [c.name for c in due] == ["due", "london", "own zone"]
    zones = {c.name: str(c.zone) for c in due}
    # The list's zone, else the number's, else the campaign's (+1 212: New York).
    assert zones == {"due": "America/New_York", "london": "Europe/London", "own zone": "Asia/Tokyo"}
    assert due[0].number == "+12125550101" and due[0].attempts == 0 and due[0].next_at == T0
    later = await due_contacts(conn, "reminders", T0 + 600, 10, max_attempts=3)
    assert "later" in [c.name for c in later]
    assert len(await due_contacts(conn, "reminders", T0 + 600, 2, max_attempts=3)) == 2


async def test_a_number_without_a_zone_of_its_own_takes_the_campaigns(conn: asyncpg.Connection) -> None:
    # +1 800 is toll-free: no one zone.
    await run_import(conn, csv_bytes("number\n+18005550100\n"))
    (contact,) = await due_contacts(conn, "reminders", T0, 10, max_attempts=3, zone=ZoneInfo("America/Denver"))
    assert str(contact.zone) == "America/Denver"


async def test_the_engines_contact_source_gives_the_campaigns_zone_cap_and_leaves_out_dials_in_progress(
    conn: asyncpg.Connection, pg_dsn: str
) -> None:
    # What the daemon fetches with: a toll-free number (no zone of its own) is in the
    # campaign's zone, not UTC; contacts over the cap or being dialled are not handed over.
    await run_import(conn, csv_bytes("number\n+18005550100\n+12125550101\n+12125550102\n"))
    ids = {r["number"]: r["contact_id"] for r in await conn.fetch("SELECT number, contact_id FROM contacts")}
    await mark_contacts(conn, [ContactMark(contact_id=ids["+12125550102"], attempts=2, next_at=T0)])
    settings = CampaignSettings(
        name="reminders",
        mode=CampaignMode.PROGRESSIVE,
        queues=("sales",),
        caller_id="+12125550199",
        max_attempts=2,
        zone=ZoneInfo("America/Denver"),
    )
    source = CampaignContacts(
        pg_dsn,
        settings={"reminders": settings}.get,
        dialling=lambda name: [ids["+12125550101"]] if name == "reminders" else [],
    )
    (contact,) = await source.due("reminders", T0, 10)
    assert contact.number == "+18005550100" and str(contact.zone) == "America/Denver"


async def test_a_contact_mark_never_goes_back(conn: asyncpg.Connection) -> None:
    await run_import(conn, csv_bytes("number\n+12125550101\n"))
    cid = await conn.fetchval("SELECT contact_id FROM contacts")
    lock = T0 + 72 * 3600
    second = ContactMark(contact_id=cid, attempts=2, next_at=T0 + 900, locked_until=lock, outcome="abandoned")
    first = ContactMark(contact_id=cid, attempts=1, next_at=T0 + 600, outcome="busy")
    assert await mark_contacts(conn, [second]) == 1
    assert await mark_contacts(conn, [first]) == 0  # a late replay of an older mark
    assert await mark_contacts(conn, [second]) == 1  # the same again: same row, same values
    row = await contact_row(conn, "reminders", "+12125550101")
    assert row is not None
    assert (row["attempts"], row["next_at"], row["locked_until"], row["outcome"]) == (2, T0 + 900, lock, "abandoned")
    (contact,) = await due_contacts(conn, "reminders", T0 + 900, 1, max_attempts=3)
    assert contact.locked_until == lock


@dataclass(frozen=True)
class Attempt:
    attempt_id: str
    version: int
    campaign: str = "reminders"
    contact_id: int | None = None
    number: str = "+12125550101"
    started_at: float = T0
    answered_at: float | None = None
    connected_at: float | None = None
    ended_at: float | None = None
    amd: str | None = None
    agent_id: str | None = None
    outcome: str | None = None
    abandoned: bool = False
    safe_harbour: bool = False
    message_left: bool = False
    hangup_cause: str | None = None


@dataclass(frozen=True)
class Event:
    event_id: str
    attempt_id: str
    seq: int
    at: float
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


async def test_attempts_are_written_once_and_the_newest_version_wins(conn: asyncpg.Connection) -> None:
    ringing = Attempt("a1", 1)
    answered = Attempt("a1", 2, answered_at=T0 + 8, amd="HUMAN")
    ended = Attempt(
        "a1", 3, answered_at=T0 + 8, connected_at=T0 + 9, ended_at=T0 + 200, amd="HUMAN", agent_id="alice", outcome="connected"
    )
    await write_attempts(conn, [ringing, ended, answered])
    await write_attempts(conn, [answered, ringing])  # a replay of older versions
    row = await fetch_attempt(conn, "a1")
    assert row is not None
    assert (row["version"], row["outcome"], row["agent_id"], row["connected_at"], row["ended_at"]) == (
        3,
        "connected",
        "alice",
        T0 + 9,
        T0 + 200,
    )
    events = [Event("a1:0", "a1", 0, T0, "dial_started", {"trunk": "t"}), Event("a1:1", "a1", 1, T0 + 8, "answered")]
    await write_attempt_events(conn, events)
    await write_attempt_events(conn, events)
    assert [(e["seq"], e["kind"], e["detail"]) for e in await fetch_attempt_events(conn, "a1")] == [
        (0, "dial_started", {"trunk": "t"}),
        (1, "answered", {}),
    ]
    cid = (await run_import(conn, csv_bytes("number\n+12125550109\n"))).imported
    assert cid == 1
    contact_id = await conn.fetchval("SELECT contact_id FROM contacts")
    await write_attempts(conn, [Attempt("a2", 1, contact_id=contact_id, outcome="busy", ended_at=T0 + 5)])
    assert [a["attempt_id"] for a in await contact_history(conn, contact_id)] == ["a2"]


async def test_abandon_counts_and_live_answers_restore_the_pacers_windows(conn: asyncpg.Connection) -> None:
    day = 86_400.0
    attempts = [
        Attempt("old", 1, answered_at=T0 - 2 * day, outcome="abandoned", abandoned=True),
        Attempt("p1", 1, answered_at=T0 + 10, outcome="connected", amd="HUMAN"),
        Attempt("p2", 1, answered_at=T0 + 20, outcome="abandoned", abandoned=True, safe_harbour=True),
        Attempt("m1", 1, answered_at=T0 + 30, outcome="machine", amd="MACHINE"),
        # A person AMD took for a machine, counted as abandoned by the campaign's rule.
        Attempt("m2", 1, answered_at=T0 + 40, outcome="machine", amd="MACHINE", abandoned=True),
        Attempt("busy", 1, outcome="busy"),
        Attempt("ringing", 1),
        Attempt("live", 1, answered_at=T0 + 50),  # answered, still going
        Attempt("elsewhere", 1, campaign="survey", answered_at=T0 + 60, abandoned=True),
    ]
    await write_attempts(conn, attempts)
    assert await abandon_counts(conn, "reminders", T0) == AbandonCounts(live_answers=4, abandons=2)
    assert (await abandon_counts(conn, "reminders", T0 - 30 * day)).abandons == 3
    assert await abandon_counts(conn, "nobody", T0) == AbandonCounts(live_answers=0, abandons=0)
    assert await live_answers(conn, "reminders", T0) == [
        LiveAnswer(at=T0 + 10, abandoned=False),
        LiveAnswer(at=T0 + 20, abandoned=True),
        LiveAnswer(at=T0 + 40, abandoned=True),
        LiveAnswer(at=T0 + 50, abandoned=False),
    ]


async def test_campaign_states_and_do_not_call(conn: asyncpg.Connection) -> None:
    assert await campaign_states(conn) == {}
    await set_campaign_state(conn, "reminders", "running", at=T0)
    await set_campaign_state(conn, "reminders", "paused", at=T0 + 1)
    await set_campaign_state(conn, "survey", "stopped", at=T0)
    assert await campaign_states(conn) == {"reminders": "paused", "survey": "stopped"}
    assert not await is_do_not_call(conn, "+12125550101")
    assert await add_do_not_call(conn, "+12125550101", "api")
    assert not await add_do_not_call(conn, "+12125550101", "opt_out")  # already there
    assert await is_do_not_call(conn, "+12125550101")


async def test_do_not_call_import_takes_a_plain_list_or_a_csv(conn: asyncpg.Connection) -> None:
    await add_do_not_call(conn, "+12125550101", "api")
    plain = b"\xef\xbb\xbf(212) 555-0101\n212-555-0102\n+12125550102\n\n+442079460000\n"
    report = await import_do_not_call(conn, io.BytesIO(plain), region="US")
    assert (report.rows, report.added) == (4, 2)
    csv_file = csv_bytes("name,Number\nx,+12125550103\ny,oops\n")
    with pytest.raises(ContactsInvalid) as caught:
        await import_do_not_call(conn, io.BytesIO(csv_file), region="US")
    assert [str(p) for p in caught.value.report.problems] == [
        "line 3: 'oops' is not a phone number: it does not look like a phone number"
    ]
    assert await count(conn, "SELECT count(*) FROM do_not_call") == 3
    report = await import_do_not_call(conn, io.BytesIO(csv_file), region="US", skip_invalid=True)
    assert report.added == 1 and await is_do_not_call(conn, "+12125550103")


# --- the commands ---------------------------------------------------------------------------

CONFIG = """\
asterisk:
  ami: {username: ccqueue, secret: s3cret}
queues:
  sales:
outbound:
  dial: PJSIP/{digits}@trunk
  region: US
  allowed: ['\\+1\\d{10}']
campaigns:
  reminders:
    mode: progressive
    queues: [sales]
    caller_id: "+12125550100"
"""


def ccqueue(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ccqueue.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


async def test_the_commands(conn: asyncpg.Connection, pg_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "ccqueue.yaml").write_text(CONFIG, encoding="utf-8")
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(b"\xef\xbb\xbf" + csv_bytes(GOOD))
    bad.write_bytes(csv_bytes("number,name\n+12125550104,A\n12,B\n+12125550104,C\n"))
    common = ("-c", str(tmp_path), "--dsn", pg_dsn)

    result = ccqueue("contacts", "import", "reminders", str(bad), *common)
    assert result.returncode == 2
    assert f"{bad}:3: '12' is not a valid phone number" in result.stderr
    assert f"{bad}:4: +12125550104 is already on line 2 of this file" in result.stderr
    assert "nothing was imported" in result.stderr
    assert await count(conn) == 0

    result = ccqueue("contacts", "import", "reminders", str(good), *common)
    assert result.returncode == 0, result.stderr
    assert "imported 3 of 3 row(s) into 'reminders'" in result.stdout

    result = ccqueue("contacts", "import", "reminders", str(bad), *common, "--skip-invalid", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["imported"], report["skipped"], [p["line"] for p in report["problems"]]) == (1, 2, [3, 4])

    result = ccqueue("contacts", "import", "nosuch", str(good), *common)
    assert result.returncode == 2 and "no campaign 'nosuch'" in result.stderr

    result = ccqueue("dnc", "add", "(212) 555-0109", *common)
    assert result.returncode == 0 and "+12125550109 added" in result.stdout
    result = ccqueue("dnc", "add", "12", *common)
    assert result.returncode == 2
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+12125550110\n2125550109\n", encoding="utf-8")
    result = ccqueue("dnc", "import", str(dnc), *common)
    assert result.returncode == 0 and "1 number(s) added" in result.stdout
    assert await count(conn, "SELECT count(*) FROM do_not_call") == 2


async def test_the_dialers_start_up_reads_take_a_dsn(conn: asyncpg.Connection, pg_dsn: str) -> None:
    await run_import(conn, csv_bytes("number\n+12125550101\n"))
    await write_attempts(
        conn,
        [
            Attempt("p1", 1, answered_at=T0 + 10, outcome="connected"),
            Attempt("p2", 1, answered_at=T0 + 20, outcome="abandoned", abandoned=True),
        ],
    )
    await set_campaign_state(pg_dsn, "reminders", "running", at=T0)
    assert await campaign_states(pg_dsn) == {"reminders": "running"}
    assert [c.number for c in await due_contacts(pg_dsn, "reminders", T0, 5)] == ["+12125550101"]
    assert await abandon_history(pg_dsn, "reminders", T0) == ([T0 + 10, T0 + 20], [T0 + 20])
    assert await add_do_not_call(pg_dsn, "+12125550101", "opt_out")
    assert await is_do_not_call(pg_dsn, "+12125550101")
    assert await due_contacts(pg_dsn, "reminders", T0, 5) == []


@dataclass(frozen=True)
class Progress:
    contact_id: int
    campaign: str
    attempts: int
    next_at: float
    locked_until: float | None
    done: bool
    outcome: str | None


@dataclass(frozen=True)
class Run:
    campaign: str
    state: str
    changed_at: float


@dataclass(frozen=True)
class Dnc:
    number: str
    source: str
    at: float


async def test_the_writers_statements_for_progress_run_states_and_do_not_call(conn: asyncpg.Connection) -> None:
    # The statements ccqueue.store.tables runs for the engine's records, replayed twice
    # and out of order: the result is the same.
    await run_import(conn, csv_bytes("number\n+12125550101\n"))
    cid = await conn.fetchval("SELECT contact_id FROM contacts")
    newer = Progress(cid, "reminders", 2, T0 + 900, None, True, "connected")
    older = Progress(cid, "reminders", 1, T0 + 600, None, False, "busy")
    runs = [Run("reminders", "paused", T0 + 5), Run("reminders", "running", T0)]
    for _ in range(2):
        await conn.execute(tables.UPDATE_CONTACT_PROGRESS, *columns([tables.contact_progress_row(newer)]))
        await conn.execute(tables.UPDATE_CONTACT_PROGRESS, *columns([tables.contact_progress_row(older)]))
        for run in runs:
            await conn.execute(tables.UPSERT_CAMPAIGN_RUNS, *columns([tables.campaign_run_row(run)]))
        await conn.execute(tables.INSERT_DO_NOT_CALL, *columns([tables.do_not_call_row(Dnc("+12125550109", "opt_out", T0))]))
    row = await contact_row(conn, "reminders", "+12125550101")
    assert row is not None and (row["attempts"], row["done"], row["outcome"]) == (2, True, "connected")
    assert await campaign_states(conn) == {"reminders": "paused"}
    assert await is_do_not_call(conn, "+12125550109")
    for bad in (Dnc("2125550109", "opt_out", T0), Dnc("+12125550109", "guess", T0)):
        with pytest.raises(tables.InvalidRecord):
            tables.do_not_call_row(bad)
    with pytest.raises(tables.InvalidRecord):
        tables.campaign_run_row(Run("reminders", "dialling", T0))
    with pytest.raises(tables.InvalidRecord):
        tables.contact_progress_row(Progress(cid, "reminders", 1, T0, None, False, "maybe"))


def columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


async def test_imports_take_a_pool_as_the_daemon_has(conn: asyncpg.Connection, pg_dsn: str) -> None:
    pool = await asyncpg.create_pool(pg_dsn, min_size=1, max_size=2)
    try:
        report = await import_contacts(pool, "reminders", [csv_bytes(GOOD)], region="US", now=T0)
        assert report.imported == 3
        dnc = await import_do_not_call(pool, [b"+12125550101\n"], region="US")
        assert dnc.added == 1
        assert [c.name for c in await due_contacts(pool, "reminders", T0, 10, max_attempts=3)] == ["Bob, Jr.", "Cy"]
    finally:
        await pool.close()


async def test_the_engines_outbound_records_through_the_writer_and_the_spool(conn: asyncpg.Connection) -> None:
    # As the engine hands them over: a batch, then the same batch replayed from the
    # spool (encoded and decoded), then an older part of it again. Nothing moves back.
    await run_import(conn, csv_bytes("number\n+12125550101\n"))
    cid = await conn.fetchval("SELECT contact_id FROM contacts")
    common = {"attempt_id": "a1", "campaign": "reminders", "contact_id": cid, "number": "+12125550101", "started_at": T0}
    batch: list[Record] = [
        CampaignRunRecord(campaign="reminders", state="running", changed_at=T0 - 5),
        AttemptRecord(version=1, **common),
        AttemptEvent(event_id="a1:0", attempt_id="a1", seq=0, at=T0, kind="dial_started", detail={"line": 1}),
        AttemptRecord(version=2, answered_at=T0 + 7, amd="HUMAN", **common),
        AttemptRecord(
            version=3,
            answered_at=T0 + 7,
            ended_at=T0 + 9.5,
            amd="HUMAN",
            outcome=AttemptOutcome.ABANDONED,
            abandoned=True,
            safe_harbour=True,
            **common,
        ),
        AttemptEvent(event_id="a1:1", attempt_id="a1", seq=1, at=T0 + 9.5, kind="safe_harbour_played"),
        ContactProgress(
            contact_id=cid, campaign="reminders", attempts=1, next_at=T0 + 600, locked_until=None, done=False, outcome=None
        ),
        ContactProgress(
            contact_id=cid,
            campaign="reminders",
            attempts=1,
            next_at=T0 + 3600,
            locked_until=T0 + 72 * 3600,
            done=False,
            outcome=AttemptOutcome.ABANDONED,
        ),
        DoNotCallRecord(number="+12125550199", source="opt_out", at=T0 + 30),
        CampaignRunRecord(campaign="reminders", state="paused", changed_at=T0 + 60),
    ]
    await write_records(conn, batch)
    await write_records(conn, [decode_record(encode_record(r)) for r in batch])
    await write_records(conn, batch[:4])
    attempt = await fetch_attempt(conn, "a1")
    assert attempt is not None
    assert (attempt["version"], attempt["outcome"], attempt["abandoned"], attempt["safe_harbour"], attempt["ended_at"]) == (
        3,
        "abandoned",
        True,
        True,
        T0 + 9.5,
    )
    assert [(e["seq"], e["kind"], e["detail"]) for e in await fetch_attempt_events(conn, "a1")] == [
        (0, "dial_started", {"line": 1}),
        (1, "safe_harbour_played", {}),
    ]
    row = await contact_row(conn, "reminders", "+12125550101")
    assert row is not None
    assert (row["attempts"], row["next_at"], row["locked_until"], row["outcome"]) == (1, T0 + 3600, T0 + 72 * 3600, "abandoned")
    assert await campaign_states(conn) == {"reminders": "paused"}
    assert await is_do_not_call(conn, "+12125550199")
    assert await abandon_counts(conn, "reminders", T0) == AbandonCounts(live_answers=1, abandons=1)


async def test_outcome_counts_go_round_the_writer_the_spool_and_due_contacts(conn: asyncpg.Connection) -> None:
    # A contact busy once then unanswered once: the counts come back with it, a replay
    # (or an older mark, or one from before the counts were kept) changes nothing.
    await run_import(conn, csv_bytes("number\n+12125550101\n"))
    cid = await conn.fetchval("SELECT contact_id FROM contacts")
    (fresh,) = await due_contacts(conn, "reminders", T0, 10, max_attempts=5)
    assert fresh.outcome_counts == {}

    def progress(attempts: int, outcome: AttemptOutcome, counts: dict[str, int] | None) -> ContactProgress:
        return ContactProgress(
            contact_id=cid,
            campaign="reminders",
            attempts=attempts,
            next_at=T0 + 60 * attempts,
            locked_until=None,
            done=False,
            outcome=outcome,
            outcome_counts=counts,
        )

    busy = progress(1, AttemptOutcome.BUSY, {"busy": 1})
    unanswered = progress(2, AttemptOutcome.NO_ANSWER, {"busy": 1, "no_answer": 1})
    await write_records(conn, [busy, unanswered])
    await write_records(conn, [decode_record(encode_record(r)) for r in (unanswered, busy)])
    await write_records(conn, [busy])  # an older mark replayed late
    await write_records(conn, [progress(2, AttemptOutcome.NO_ANSWER, None)])  # spooled before the counts were kept
    row = await contact_row(conn, "reminders", "+12125550101")
    assert row is not None and row["outcome_counts"] == {"busy": 1, "no_answer": 1}
    (contact,) = await due_contacts(conn, "reminders", T0 + 600, 10, max_attempts=5)
    assert contact.attempts == 2 and contact.outcome_counts == {"busy": 1, "no_answer": 1}

    assert (
        await mark_contacts(
            conn, [ContactMark(contact_id=cid, attempts=3, next_at=T0, outcome_counts={"busy": 2, "no_answer": 1})]
        )
        == 1
    )
    assert await mark_contacts(conn, [ContactMark(contact_id=cid, attempts=2, next_at=T0, outcome_counts={"busy": 1})]) == 0
    (contact,) = await due_contacts(conn, "reminders", T0 + 600, 10, max_attempts=5)
    assert contact.outcome_counts == {"busy": 2, "no_answer": 1}
    with pytest.raises(tables.InvalidRecord):
        tables.contact_progress_row(progress(3, AttemptOutcome.BUSY, {"maybe": 1}))


async def test_the_outcome_counts_migration_counts_the_attempts_already_made(pg_dsn: str) -> None:
    # A database dialled before 0010: its contacts get their counts from their attempts.
    await migrate(pg_dsn, directory=_migrations_up_to("0009"))
    connection = await asyncpg.connect(pg_dsn)
    try:
        await run_import(connection, csv_bytes("number\n+12125550101\n+12125550102\n"))
        ids = [r["contact_id"] for r in await connection.fetch("SELECT contact_id FROM contacts ORDER BY number")]
        for n, outcome in enumerate(["busy", "busy", "no_answer", None]):
            await connection.execute(
                "INSERT INTO attempts (attempt_id, campaign, contact_id, number, started_at, outcome, version)"
                " VALUES ($1, 'reminders', $2, '+12125550101', now(), $3, 1)",
                f"a{n}",
                ids[0],
                outcome,
            )
        await migrate(pg_dsn)
        counts = [
            json.loads(r["c"]) for r in await connection.fetch("SELECT outcome_counts::text AS c FROM contacts ORDER BY number")
        ]
        assert counts == [{"busy": 2, "no_answer": 1}, {}]
    finally:
        await connection.close()


def _migrations_up_to(last: str) -> Path:
    import shutil
    import tempfile

    source = REPO / "ccqueue" / "store" / "migrations"
    target = Path(tempfile.mkdtemp(prefix="migrations-"))
    for path in source.glob("*.sql"):
        if path.name[:4] <= last:
            shutil.copy(path, target / path.name)
    return target
