"""Erasing a customer's personal data on request (right to erasure).

Rules kept here:

1. Everything is keyed by the number (E.164) as asked, and by the same number written
   without its '+' (the form Asterisk may give as caller id). Every table holding a
   number or a personal field is in ``STATEMENTS``, one line each: a table added later
   is one more line. An agent's notes are free text and are emptied; the disposition
   code stays (it says what the call was, not who).
2. Rows are removed where they describe only the person (outbound contacts, surveys,
   recordings), and pseudonymised where the row also counts for the business (calls,
   attempts, callbacks, their timelines keep their times and outcomes): the number
   becomes ``erased:<hash>``, a keyed hash (``ccqueue_number_hash``, migration 0012).
   The same number always gives the same hash, so an erasure repeated, or asked twice,
   changes nothing more, and reports still count distinct callers.
3. The do-not-call list keeps the person uncalled: its entry, and an entry for every
   erased number, is kept as the hash alone (``do_not_call_erased``). A regulator
   expects both that the data go and that a person who objected is not called again
   (GDPR art. 17(3) and 21(3); the UK ICO's guidance keeps a suppression list for
   exactly this); a hash that the dialer compares with each contact's number does both
   without holding the number.
4. One transaction for every row; the recordings' files are deleted after it commits,
   and a file that could not be deleted is reported and recorded with the erasure, not
   silently kept. The erasure itself is recorded with the hash, never the number.
5. Refused while the number has a callback open or a call in progress (the running
   daemon would write its number back with the next version of that record): cancel the
   callback or wait for the call to end first.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from ccqueue.core.errors import ErasureRefused
from ccqueue.recording_files import delete_files, files_of_calls
from ccqueue.store.tables import E164

__all__ = ["STATEMENTS", "ErasureReport", "erase_number"]

# A call with no end this recent is taken to be in progress (older: its process died).
IN_PROGRESS_S = 4 * 3600

# The keys of a call event's data that hold the person rather than the call: the name the
# network gave, and the CRM card the IVR fetched (carried on the queue join). Dropped whole.
PERSONAL_KEYS = ("caller_name", "attributes", "fields")

# One line per table (rule 1), in this order: the table, the statement, and what its
# parameters are: "forms" (the number's forms, text[]), "pseudonym", "personal"
# (PERSONAL_KEYS, text[]), "calls" (the person's
# call ids, text[]), "attempts" (the person's campaign attempts, text[]).
STATEMENTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("surveys", "DELETE FROM surveys WHERE call_id = ANY($1::text[])", ("calls",)),
    ("call_events",
     "UPDATE call_events SET data = pg_temp.erase_json(data, $1, $2) - $3::text[] WHERE call_id = ANY($4::text[])",
     ("forms", "pseudonym", "personal", "calls")),
    ("call_notes", "UPDATE call_notes SET note = '' WHERE call_id = ANY($1::text[]) AND note <> ''", ("calls",)),
    ("calls", "UPDATE calls SET caller = $1 WHERE call_id = ANY($2::text[])", ("pseudonym", "calls")),
    ("callbacks", "UPDATE callbacks SET number = $1 WHERE number = ANY($2::text[])", ("pseudonym", "forms")),
    ("attempt_events",
     "UPDATE attempt_events SET detail = pg_temp.erase_json(detail, $1, $2) WHERE attempt_id = ANY($3::text[])",
     ("forms", "pseudonym", "attempts")),
    ("attempts", "UPDATE attempts SET number = $1, contact_id = NULL WHERE attempt_id = ANY($2::text[])",
     ("pseudonym", "attempts")),
    ("contacts", "DELETE FROM contacts WHERE number = ANY($1::text[])", ("forms",)),
    ("do_not_call", "DELETE FROM do_not_call WHERE number = ANY($1::text[])", ("forms",)),
)  # fmt: skip

# A JSON value with every occurrence of the number's forms replaced by the pseudonym
# (numbers are digits and '+': nothing in them needs escaping in JSON text).
_ERASE_FUNCTION = """
CREATE OR REPLACE FUNCTION pg_temp.erase_json(value jsonb, forms text[], pseudonym text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    txt text := value::text;
    f text;
BEGIN
    FOREACH f IN ARRAY forms LOOP
        txt := replace(txt, f, pseudonym);
    END LOOP;
    RETURN txt::jsonb;
END
$$
"""


@dataclass(slots=True)
class ErasureReport:
    erasure_id: str
    number_hash: str
    rows: dict[str, int] = field(default_factory=dict)
    files_deleted: int = 0
    files_failed: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "erasure_id": self.erasure_id,
            "number_hash": self.number_hash,
            "rows": self.rows,
            "files_deleted": self.files_deleted,
            "files_failed": self.files_failed,
        }


def _forms(number: str) -> list[str]:
    if not E164.fullmatch(number):
        raise ErasureRefused(f"{number!r} is not an E.164 number (+ and 2 to 15 digits)")
    return [number, number[1:]]


async def erase_number(
    conn: asyncpg.Connection,
    number: str,
    *,
    directory: str | Path,
    actor: str | None,
    via: str,
    now: dt.datetime | None = None,
) -> ErasureReport:
    """Erase ``number``'s personal data (rules 2-5); raises ErasureRefused."""
    forms = _forms(number)
    now = now or dt.datetime.now(dt.UTC)
    files: list[str] = []
    async with conn.transaction():
        await conn.execute("SET LOCAL ccqueue.rewrite = 'erasure'")
        number_hash = await conn.fetchval("SELECT ccqueue_number_hash($1)", number)
        pseudonym = f"erased:{number_hash[:16]}"
        await _check_nothing_open(conn, forms, now)
        await conn.execute(_ERASE_FUNCTION)
        calls = [r["call_id"] for r in await conn.fetch("SELECT call_id FROM calls WHERE caller = ANY($1::text[])", forms)]
        attempts = [
            r["attempt_id"] for r in await conn.fetch("SELECT attempt_id FROM attempts WHERE number = ANY($1::text[])", forms)
        ]
        report = ErasureReport(erasure_id=uuid.uuid4().hex, number_hash=number_hash)
        gone = await conn.fetch("DELETE FROM recordings WHERE call_id = ANY($1::text[]) RETURNING recording_id, file", calls)
        if gone:
            await conn.execute(
                "INSERT INTO recordings_gone (recording_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                [r["recording_id"] for r in gone],
            )
        files = [r["file"] for r in gone]
        report.rows["recordings"] = len(gone)
        values: dict[str, Any] = {
            "forms": forms,
            "pseudonym": pseudonym,
            "personal": list(PERSONAL_KEYS),
            "calls": calls,
            "attempts": attempts,
        }
        for table, statement, names in STATEMENTS:
            status = await conn.execute(statement, *(values[name] for name in names))
            report.rows[table] = int(status.rsplit(" ", 1)[-1])
        # Rule 3: still not to be called, by hash alone.
        await conn.execute(
            """INSERT INTO do_not_call_erased (number_hash, added_at, source) VALUES ($1, $2, 'erasure')
               ON CONFLICT (number_hash) DO NOTHING""",
            number_hash,
            now,
        )
        await conn.execute(
            """INSERT INTO erasures (erasure_id, at, number_hash, actor, via, rows)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb)""",
            report.erasure_id,
            now,
            number_hash,
            actor,
            via,
            json.dumps(report.rows, sort_keys=True),
        )
    # Rule 4: files once the rows are gone for good; failures are reported and kept on record.
    # With the files of the person's calls that have no row (held on demand, never started).
    files = sorted(set(files) | set(files_of_calls(directory, calls)))
    report.files_deleted, report.files_failed = delete_files(directory, files)
    await conn.execute(
        "UPDATE erasures SET files_deleted = $2, files_failed = $3::jsonb WHERE erasure_id = $1",
        report.erasure_id,
        report.files_deleted,
        json.dumps(report.files_failed),
    )
    return report


async def _check_nothing_open(conn: asyncpg.Connection, forms: list[str], now: dt.datetime) -> None:
    open_callbacks = await conn.fetchval(
        "SELECT count(*) FROM callbacks WHERE number = ANY($1::text[]) AND status IN ('pending', 'dialing')", forms
    )
    if open_callbacks:
        raise ErasureRefused("the number has a callback open: cancel it (DELETE /api/callbacks/{id}) and erase again")
    live = await conn.fetchval(
        """SELECT count(*) FROM calls WHERE caller = ANY($1::text[]) AND ended_at IS NULL AND arrived_at > $2""",
        forms,
        now - dt.timedelta(seconds=IN_PROGRESS_S),
    )
    if live:
        raise ErasureRefused("the number has a call in progress: erase it once the call has ended")
