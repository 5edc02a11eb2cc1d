"""Contact lists from CSV files: read as a stream, checked row by row, imported whole.

Rules kept here:

1. The file is UTF-8 text (what spreadsheets call "CSV UTF-8"). A byte-order mark at
   its start is accepted silently: Excel writes one, and it carries no meaning in UTF-8.
   A UTF-16 file, or one with NUL bytes from the first line on, is refused whole; a line
   that is not UTF-8 is a problem of the row it belongs to, named by its line.
2. The first line is the header. Column names are matched without case or surrounding
   spaces: ``number`` is required, ``name`` and ``tz`` (an IANA zone) are optional, and
   every other column is kept in the contact's ``fields`` under its header as written
   (shown to the agent, usable in routing). Comma, semicolon or tab: the header's most
   frequent one is the delimiter (European spreadsheets write semicolons).
3. Every row is checked and every problem reported with the line the row starts on
   (a quoted value may span lines): a number that is missing, not a valid phone number
   (``ccqueue.numbers.normalize``, read in the outbound ``region`` when it has no '+'),
   or not allowed by ``outbound.allowed``; an unknown time zone; a row with more or
   fewer values than the header has columns; a line that is not UTF-8. A row whose
   values are all blank is skipped silently (spreadsheets leave them at the end).
4. Duplicates are found by the database, not in memory: a number a row repeats from an
   earlier row of the file, or one the campaign's list already holds, is reported with
   its line (and the first line). Only one row per number is ever a contact.
5. All or nothing: by default a file with any problem imports nothing, and says why,
   every problem at once. With ``skip_invalid`` the rows without problems are imported
   and the others reported as skipped. Either way the import is one transaction:
   nothing is ever half-written, and no row with a problem is ever dialled.
6. Memory stays flat whatever the file's size: the file is read in blocks, rows are
   copied to PostgreSQL in batches (COPY), and at most ``max_problems`` problems are
   kept in detail (the total is always counted). Each block is checked in a worker
   thread: an import through the API never holds the daemon's event loop.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import re
import time
import zoneinfo
from collections.abc import AsyncIterable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import asyncpg

from ccqueue.core.errors import InputError
from ccqueue.numbers import NumberRejected, normalize
from ccqueue.store.outbound import (
    add_do_not_call_many,
    json_fields,
    merge_contacts,
    stage_contacts,
    staged_duplicates,
)

__all__ = [
    "ContactReader",
    "ContactRow",
    "ContactsInvalid",
    "DncReport",
    "ImportProblem",
    "ImportReport",
    "import_contacts",
    "import_do_not_call",
]

BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
BLOCK_BYTES = 64 * 1024
# Rows per COPY: big enough that round trips do not count, small enough to stay flat.
BATCH_ROWS = 5_000
MAX_PROBLEMS = 1_000
# A quoted value that never closes would otherwise swallow the rest of the file.
MAX_ROW_LINES = 20
REQUIRED, KNOWN = "number", ("number", "name", "tz")


class ContactsInvalid(InputError):
    """A contact or do-not-call list that was not imported; ``report`` says why, by line."""

    error_id = "contacts-invalid"

    def __init__(self, report: ImportReport | DncReport) -> None:
        super().__init__(report.summary(), problems=[str(p) for p in report.problems])
        self.report = report

    def __str__(self) -> str:
        # The summary, then every problem kept, one a line: what an API client shows.
        more = self.report.problems_total - len(self.report.problems)
        lines = [self.report.summary(), *(str(p) for p in self.report.problems)]
        return "\n".join(lines + ([f"... and {more} more problem(s)"] if more > 0 else []))


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One thing wrong with the file: at a line (1-based) or, with ``line`` None, the whole file."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactRow:
    line: int  # where the row starts in the file
    number: str  # E.164
    name: str = ""
    tz: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def staged(self) -> tuple[int, str, str, str | None, str]:
        return (self.line, self.number, self.name, self.tz, json_fields(self.fields))


@functools.lru_cache(maxsize=1024)
def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class ContactReader:
    """Reads a CSV file fed to it in blocks of bytes into checked ``ContactRow``s.

    ``feed`` and ``close`` return the rows completed so far; ``problems`` collects the
    rest (rules 1-3). ``fatal`` is set when the file as a whole cannot be read: the
    rows returned until then must not be used. With ``header_optional`` (do-not-call
    lists), a first line without a ``number`` column is a row: the numbers are then the
    first column of every line.
    """

    def __init__(
        self,
        *,
        region: str,
        allowed: Sequence[str] = (),
        max_problems: int = MAX_PROBLEMS,
        header_optional: bool = False,
    ) -> None:
        self._region = region
        self._allowed = [re.compile(p) for p in allowed]
        self._max_problems = max_problems
        self._header_optional = header_optional
        self.problems: list[ImportProblem] = []
        self.problems_total = 0
        self.bad_rows = 0  # rows with at least one problem
        self.rows_read = 0  # data rows, blank ones apart
        self.fatal = False
        self._line = 0  # physical lines read
        self._tail = b""  # a line not yet ended
        self._record: list[str] = []  # the lines of a row whose quotes are still open
        self._record_start = 0
        self._record_bad: list[str] = []
        self._header: list[str] | None = None
        self._columns: dict[str, int] = {}
        self._delimiter = ","

    # -- problems ---------------------------------------------------------------------

    def _problem(self, line: int | None, message: str) -> None:
        self.problems_total += 1
        if len(self.problems) < self._max_problems:
            self.problems.append(ImportProblem(line, message))

    def _refuse(self, line: int | None, message: str) -> list[ContactRow]:
        self._problem(line, message)
        self.fatal = True
        return []

    # -- bytes to lines to records ----------------------------------------------------

    def feed(self, block: bytes) -> list[ContactRow]:
        if self.fatal or not block:
            return []
        data = self._tail + block
        lines = data.split(b"\n")
        self._tail = lines.pop()
        rows: list[ContactRow] = []
        for raw in lines:
            rows.extend(self._physical_line(raw + b"\n"))
            if self.fatal:
                return []
        return rows

    def close(self) -> list[ContactRow]:
        rows: list[ContactRow] = []
        if self._tail and not self.fatal:
            rows.extend(self._physical_line(self._tail))
            self._tail = b""
        if self._record and not self.fatal:
            self._record = []
            if self._header is None:
                return self._refuse(self._record_start, "a quoted value in the header is never closed (an odd number of '\"')")
            self._problem(self._record_start, "a quoted value is never closed (an odd number of '\"')")
            self.rows_read += 1
            self.bad_rows += 1
        if self._header is None and not self.fatal:
            self._refuse(None, "the file is empty: the first line must be a header with a 'number' column")
        return [] if self.fatal else rows

    def _physical_line(self, raw: bytes) -> list[ContactRow]:
        self._line += 1
        if self._line == 1:
            if raw.startswith(_UTF16_BOMS):
                return self._refuse(None, "the file is UTF-16 text; save it as 'CSV UTF-8' (UTF-8 text)")
            raw = raw.removeprefix(BOM)  # rule 1: Excel's mark, accepted silently
        if b"\x00" in raw:
            if self._header is None:
                return self._refuse(1, "the file holds NUL bytes: it is not a CSV text file (or it is UTF-16)")
            bad = "it holds a NUL byte"
            text = raw.replace(b"\x00", b"").decode("utf-8", "replace")
        else:
            bad = ""
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = raw[exc.start]
                bad = f"not UTF-8 text (byte 0x{byte:02X} at column {exc.start + 1}); save the file as 'CSV UTF-8'"
                text = raw.decode("utf-8", "replace")
        if not self._record:
            self._record_start = self._line
            self._record_bad = []
        self._record.append(text)
        if bad:
            self._record_bad.append(f"line {self._line} is {bad}" if self._line != self._record_start else bad)
        # A record is complete when its quotes are balanced (RFC 4180: '""' inside a
        # quoted value counts twice, so parity still tells).
        if sum(part.count('"') for part in self._record) % 2:
            if len(self._record) < MAX_ROW_LINES:
                return []
            self._record = []
            if self._header is None:
                return self._refuse(
                    self._record_start, f"a quoted value in the header is not closed within {MAX_ROW_LINES} lines"
                )
            self.rows_read += 1
            self.bad_rows += 1
            self._problem(self._record_start, f"a quoted value opened on this line is not closed within {MAX_ROW_LINES} lines")
            return []
        record, self._record = "".join(self._record), []
        return self._record_done(record)

    def _record_done(self, record: str) -> list[ContactRow]:
        line = self._record_start
        if self._header is None:
            return self._read_header(record, line)
        if self._record_bad:
            if record.strip(" \r\n\t" + self._delimiter):
                self.rows_read += 1
                self.bad_rows += 1
                for message in self._record_bad:
                    self._problem(line, message)
            return []
        try:
            values = next(csv.reader([record], delimiter=self._delimiter, strict=True), [])
        except csv.Error as exc:
            self.rows_read += 1
            self.bad_rows += 1
            self._problem(line, f"not a CSV row: {exc}")
            return []
        row = self._row(values, line)
        return [] if row is None else [row]

    # -- header and rows --------------------------------------------------------------

    def _read_header(self, record: str, line: int) -> list[ContactRow]:
        if self._record_bad:
            return self._refuse(line, f"the header is {self._record_bad[0]}")
        self._delimiter = _delimiter(record)
        try:
            header = next(csv.reader([record], delimiter=self._delimiter, strict=True), [])
        except csv.Error as exc:
            return self._refuse(line, f"the header is not a CSV line: {exc}")
        names = [cell.strip() for cell in header]
        keys = [name.lower() for name in names]
        if REQUIRED not in keys:
            if self._header_optional:
                self._header = ["number"]
                self._columns = {"number": 0}
                row = self._row(header, line)
                return [] if row is None else [row]
            shown = ", ".join(repr(n) for n in names) or "nothing"
            return self._refuse(line, f"the header has no 'number' column (it has {shown}); the first line names the columns")
        for index, key in enumerate(keys):
            if not key:
                return self._refuse(line, f"column {index + 1} of the header has no name")
            first = keys.index(key)
            if first != index:
                return self._refuse(line, f"column '{names[index]}' is named twice (columns {first + 1} and {index + 1})")
        self._header = names
        self._columns = {key: index for index, key in enumerate(keys)}
        return []

    def _row(self, values: list[str], line: int) -> ContactRow | None:
        if not any(value.strip() for value in values):
            return None  # rule 3: a blank row
        self.rows_read += 1
        assert self._header is not None
        width = len(self._header)
        if len(values) > width and not any(v.strip() for v in values[width:]):
            values = values[:width]  # trailing empty cells, as spreadsheets write them
        if len(values) != width and not self._header_optional:
            # The values are not where the header says: checking them would mislead.
            self.bad_rows += 1
            self._problem(line, f"{len(values)} value(s), but the header has {width} column(s)")
            return None
        problems: list[str] = []
        cell = {key: values[index].strip() if index < len(values) else "" for key, index in self._columns.items()}
        number = ""
        raw = cell.get("number", "")
        if not raw:
            problems.append("no number")
        else:
            try:
                number = normalize(raw, region=self._region)
            except NumberRejected as exc:
                problems.append(str(exc))
            else:
                if self._allowed and not any(p.fullmatch(number) for p in self._allowed):
                    problems.append(f"{number} is not allowed by outbound.allowed: it would never be dialled")
        tz = cell.get("tz") or None
        if tz is not None and not _known_zone(tz):
            problems.append(f"unknown time zone {tz!r}; write an IANA name such as 'America/New_York', or leave it empty")
        if problems:
            self.bad_rows += 1
            for message in problems:
                self._problem(line, message)
            return None
        extra = {
            name: values[index] if index < len(values) else ""
            for index, name in enumerate(self._header)
            if name.lower() not in KNOWN
        }
        return ContactRow(line=line, number=number, name=cell.get("name", ""), tz=tz, fields=extra)

    def read(self, blocks: Iterable[bytes]) -> Iterator[ContactRow]:
        """Every checked row of ``blocks`` (for files already in memory and for tests)."""
        for block in blocks:
            yield from self.feed(block)
        yield from self.close()


# --- reports ------------------------------------------------------------------------------


@dataclass(kw_only=True)
class ImportReport:
    """What an import did: rows read, imported and skipped, and the problems, by line."""

    campaign: str
    source: str  # the file's name, in messages
    rows: int = 0  # data rows read (blank ones apart)
    imported: int = 0
    skipped: int = 0  # rows with a problem, or duplicates: never contacts
    problems: list[ImportProblem] = field(default_factory=list)  # at most max_problems, by line
    problems_total: int = 0
    committed: bool = False
    skip_invalid: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        if not self.committed:
            what = "problem" if self.problems_total == 1 else "problems"
            hint = "" if self.skip_invalid else " (fix them, or import with skip_invalid to leave those rows out)"
            return f"{self.source}: {self.problems_total} {what}; nothing was imported into '{self.campaign}'{hint}"
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        return f"{self.source}: imported {self.imported} of {self.rows} row(s) into '{self.campaign}'{skipped}"

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "source": self.source,
            "committed": self.committed,
            "rows": self.rows,
            "imported": self.imported,
            "skipped": self.skipped,
            "problems_total": self.problems_total,
            "problems": [{"line": p.line, "message": p.message} for p in self.problems],
        }


@dataclass(kw_only=True)
class DncReport:
    """What a do-not-call import did."""

    source: str
    rows: int = 0
    added: int = 0  # numbers new to the list
    problems: list[ImportProblem] = field(default_factory=list)
    problems_total: int = 0
    committed: bool = False
    skip_invalid: bool = False

    def summary(self) -> str:
        if not self.committed:
            what = "problem" if self.problems_total == 1 else "problems"
            return f"{self.source}: {self.problems_total} {what}; nothing was added to the do-not-call list"
        return f"{self.source}: {self.added} number(s) added to the do-not-call list ({self.rows} row(s) read)"

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "committed": self.committed,
            "rows": self.rows,
            "added": self.added,
            "problems_total": self.problems_total,
            "problems": [{"line": p.line, "message": p.message} for p in self.problems],
        }


# --- importing -----------------------------------------------------------------------------

Stream = BinaryIO | AsyncIterable[bytes] | Iterable[bytes]


async def _blocks(stream: Stream) -> AsyncIterable[bytes]:
    """The stream's bytes in blocks: a file read ``BLOCK_BYTES`` at a time, or an async
    or plain iterable of bytes (an HTTP body) as it comes."""
    if hasattr(stream, "read"):
        while block := stream.read(BLOCK_BYTES):
            yield block
    elif hasattr(stream, "__aiter__"):
        async for block in stream:
            yield block
    else:
        for block in stream:
            yield block


def _merged(first: list[ImportProblem], second: list[ImportProblem], limit: int) -> list[ImportProblem]:
    return sorted(first + second, key=lambda p: p.line or 0)[:limit]


async def import_contacts(
    pool: asyncpg.Pool | asyncpg.Connection,
    campaign: str,
    stream: Stream,
    *,
    region: str,
    allowed: Sequence[str] = (),
    skip_invalid: bool = False,
    source: str = "contacts.csv",
    now: float | None = None,
    max_problems: int = MAX_PROBLEMS,
) -> ImportReport:
    """Import a CSV contact list into ``campaign`` (rules 1-6); returns the report.

    Raises ``ContactsInvalid`` (with the report) when nothing was imported because of
    problems. ``region`` and ``allowed`` are the ``outbound`` section's; the caller has
    checked that the campaign is configured.
    """
    started = time.perf_counter()
    reader = ContactReader(region=region, allowed=allowed, max_problems=max_problems)
    report = ImportReport(campaign=campaign, source=source, skip_invalid=skip_invalid)
    at = time.time() if now is None else now
    if isinstance(pool, asyncpg.Pool):
        async with pool.acquire() as conn:
            return await _import(conn, reader, report, stream, at=at, started=started, max_problems=max_problems)
    return await _import(pool, reader, report, stream, at=at, started=started, max_problems=max_problems)


async def _import(
    conn: asyncpg.Connection,
    reader: ContactReader,
    report: ImportReport,
    stream: Stream,
    *,
    at: float,
    started: float,
    max_problems: int,
) -> ImportReport:
    try:
        async with conn.transaction():
            # One import per campaign at a time, so that "already in the list" is exact.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"ccqueue.contacts:{report.campaign}")
            batch: list[tuple[int, str, str, str | None, str]] = []
            async for block in _blocks(stream):
                # Checking numbers is CPU work (about 0.1 ms a row): in a thread, so
                # that the event loop serving calls is never held for long.
                batch.extend(row.staged() for row in await asyncio.to_thread(reader.feed, block))
                if len(batch) >= BATCH_ROWS:
                    await stage_contacts(conn, batch)
                    batch = []
            batch.extend(row.staged() for row in reader.close())
            if reader.fatal:
                report.rows, report.problems, report.problems_total = reader.rows_read, reader.problems, reader.problems_total
                raise ContactsInvalid(report)
            await stage_contacts(conn, batch)
            duplicates, duplicates_total = await staged_duplicates(conn, report.campaign, limit=max_problems)
            found = [
                ImportProblem(line, f"{number} is already on line {first} of this file")
                for line, number, first in duplicates.in_file
            ] + [
                ImportProblem(line, f"{number} is already in the list of campaign '{report.campaign}'")
                for line, number in duplicates.in_list
            ]
            report.rows = reader.rows_read
            report.problems = _merged(reader.problems, found, max_problems)
            report.problems_total = reader.problems_total + duplicates_total
            report.skipped = reader.bad_rows + duplicates_total
            if report.problems_total and not report.skip_invalid:
                raise ContactsInvalid(report)  # rolls the transaction back: nothing is written
            report.imported = await merge_contacts(conn, report.campaign, at=at)
    finally:
        report.seconds = time.perf_counter() - started
    report.committed = True
    return report


async def import_do_not_call(
    pool: asyncpg.Pool | asyncpg.Connection,
    stream: Stream,
    *,
    region: str,
    skip_invalid: bool = False,
    source: str = "do-not-call.csv",
    max_problems: int = MAX_PROBLEMS,
) -> DncReport:
    """Add a file's numbers to the do-not-call list: a CSV with a ``number`` column, or
    one number a line. All or nothing as for contacts (rule 5); a number already on the
    list, or twice in the file, is not a problem. Raises ``ContactsInvalid``."""
    reader = ContactReader(region=region, max_problems=max_problems, header_optional=True)
    report = DncReport(source=source, skip_invalid=skip_invalid)
    if isinstance(pool, asyncpg.Pool):
        async with pool.acquire() as conn:
            return await _import_dnc(conn, reader, report, stream)
    return await _import_dnc(pool, reader, report, stream)


async def _import_dnc(conn: asyncpg.Connection, reader: ContactReader, report: DncReport, stream: Stream) -> DncReport:
    async with conn.transaction():
        added = 0
        batch: list[str] = []
        async for block in _blocks(stream):
            batch.extend(row.number for row in await asyncio.to_thread(reader.feed, block))
            if len(batch) >= BATCH_ROWS:
                added += await add_do_not_call_many(conn, batch, "import")
                batch = []
        batch.extend(row.number for row in reader.close())
        report.rows, report.problems, report.problems_total = reader.rows_read, reader.problems, reader.problems_total
        if reader.fatal or (reader.problems_total and not report.skip_invalid):
            raise ContactsInvalid(report)
        added += await add_do_not_call_many(conn, batch, "import")
    report.added = added
    report.committed = True
    return report
