"""The outage spool: records that could not reach PostgreSQL, kept on disk until they can.

Rules kept here:

1. The spool is a folder of segments ``segment-NNNNNNNNNNNN.jsonl``, one JSON object
   per line, one record per object. Segments are replayed in number order (oldest
   first) and deleted only after every record in them is in PostgreSQL.
2. An append is durable when ``append`` returns: the lines are written and the file
   fsync'd (and the folder, when the segment is new).
3. Crash safety: a crash can leave the last line of a segment half-written. Reading
   ignores such a torn last line; no complete line is ever lost. A segment is never
   appended to after a failed write or after it is sealed, so a torn line stays last.
4. A line that cannot be decoded anywhere else, and a record that cannot be encoded,
   goes to ``rejected.jsonl`` in the same folder (for a human to look at) instead of
   blocking the spool forever.
   A record is its dataclass's fields plus a ``type`` name (``_TYPES``); an enum field
   is written as its value and read back through the field's annotation, so a new
   record type needs only its name added there.
5. One writer per folder: ``open`` takes an exclusive ``flock`` on ``.lock``.
6. All methods block (file I/O and fsync); the async writer calls them in a thread.
   A lock serialises them, so a cancelled writer that spools its last records from
   the event loop's thread never interleaves with an append still running.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import functools
import json
import os
import re
import threading
import time
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any, TypeVar

from ccqueue.core.errors import ExternalError
from ccqueue.core.records import (
    AgentPresenceRecord,
    AgentStateRecord,
    AttemptEvent,
    AttemptRecord,
    AuditRecord,
    CallbackRecord,
    CallEventRecord,
    CallRecord,
    CampaignRunRecord,
    ContactProgress,
    DoNotCallRecord,
    Record,
    RecordingRecord,
    SurveyRecord,
)
from ccqueue.store.tables import InvalidRecord

# A segment is sealed after this many records so a long outage leaves files of a size
# that replays in a few round trips; replay reads one whole segment into memory.
SEGMENT_MAX_RECORDS = 10_000

_SEGMENT_NAME = re.compile(r"^segment-(\d{12})\.jsonl$")
_TYPES: dict[str, type[Any]] = {
    "call_event": CallEventRecord,
    "call": CallRecord,
    "agent_state": AgentStateRecord,
    "callback": CallbackRecord,
    "survey": SurveyRecord,
    "audit": AuditRecord,
    "attempt": AttemptRecord,
    "attempt_event": AttemptEvent,
    "contact_progress": ContactProgress,
    "campaign_run": CampaignRunRecord,
    "do_not_call": DoNotCallRecord,
    "agent_presence": AgentPresenceRecord,
    "recording": RecordingRecord,
}
_TYPE_NAMES = {cls: name for name, cls in _TYPES.items()}
_MALFORMED = (ValueError, KeyError, TypeError, AttributeError)

_Method = TypeVar("_Method", bound=Callable[..., Any])


def _serialised(method: _Method) -> _Method:
    @functools.wraps(method)
    def locked(self: Spool, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


class SpoolBusy(ExternalError, RuntimeError):
    """Another writer holds this spool folder."""

    error_id = "spool-busy"


def encode_record(record: Record) -> str:
    """One JSON line (without the newline); raises InvalidRecord."""
    type_name = _TYPE_NAMES.get(type(record))
    if type_name is None:
        raise InvalidRecord(f"not a record: {type(record).__name__}")
    body: dict[str, Any] = {"type": type_name}
    for field in fields(record):
        value = getattr(record, field.name)
        body[field.name] = value.value if isinstance(value, enum.Enum) else value
    try:
        return json.dumps(body, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidRecord(f"record cannot be spooled: {exc}") from exc


def decode_record(line: str) -> Record:
    """The record of one line; raises one of ``_MALFORMED`` if the line is not one."""
    body = json.loads(line)
    record_type = _TYPES[body.pop("type")]
    for name, enum_type in _ENUM_FIELDS[record_type].items():
        if body.get(name) is not None:
            body[name] = enum_type(body[name])
    record: Record = record_type(**body)
    return record


def _enum_fields(record_type: type[Any]) -> dict[str, type[enum.Enum]]:
    """The fields of ``record_type`` annotated with an enum (or an enum or None)."""
    hints = typing.get_type_hints(record_type)
    found: dict[str, type[enum.Enum]] = {}
    for field in fields(record_type):
        hint = hints[field.name]
        for candidate in (hint, *typing.get_args(hint)):
            if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
                found[field.name] = candidate
    return found


_ENUM_FIELDS = {record_type: _enum_fields(record_type) for record_type in _TYPES.values()}


@dataclass(frozen=True, slots=True)
class Segment:
    path: Path
    records: list[Record]
    torn_tail: bool  # the last line was half-written and was ignored
    rejected_lines: int


class Spool:
    def __init__(self, directory: Path, *, segment_max_records: int = SEGMENT_MAX_RECORDS):
        self.directory = directory
        self.segment_max_records = segment_max_records
        self.rejected_path = directory / "rejected.jsonl"
        self._lock_file: IO[str] | None = None
        self._next_number = 1
        self._current: IO[bytes] | None = None
        self._current_records = 0
        self._lock = threading.RLock()

    @property
    def is_open(self) -> bool:
        return self._lock_file is not None

    # -- ownership -----------------------------------------------------------------

    @_serialised
    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        lock_file = (self.directory / ".lock").open("a")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            lock_file.close()
            raise SpoolBusy(f"spool folder {self.directory} is used by another writer") from exc
        self._lock_file = lock_file
        numbers = [self._number(path) for path in self.pending()]
        self._next_number = max(numbers, default=0) + 1

    @_serialised
    def close(self) -> None:
        self.seal()
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None

    # -- writing -----------------------------------------------------------------------

    @_serialised
    def append(self, records: Iterable[Record]) -> int:
        """Append durably; return how many were spooled (the others were rejected)."""
        lines: list[bytes] = []
        for record in records:
            try:
                lines.append(encode_record(record).encode() + b"\n")
            except InvalidRecord as exc:
                self.reject(str(exc), raw=repr(record))
        if not lines:
            return 0
        if self._current is None or self._current_records >= self.segment_max_records:
            self._start_segment()
        assert self._current is not None
        try:
            self._current.write(b"".join(lines))
            self._current.flush()
            os.fsync(self._current.fileno())
        except OSError:
            self.seal()  # never append behind a possibly torn line
            raise
        self._current_records += len(lines)
        return len(lines)

    @_serialised
    def seal(self) -> None:
        """Close the current segment; the next append starts a new one."""
        if self._current is not None:
            current, self._current = self._current, None
            with contextlib.suppress(OSError):  # its complete lines are on disk already (fsync'd)
                current.close()

    @_serialised
    def reject(self, reason: str, *, raw: str) -> None:
        entry = json.dumps({"rejected_at": time.time(), "reason": reason, "raw": raw})
        with self.rejected_path.open("a", encoding="utf-8") as file:
            file.write(entry + "\n")
            file.flush()
            os.fsync(file.fileno())

    # -- replaying ---------------------------------------------------------------------

    @_serialised
    def pending(self) -> list[Path]:
        """Sealed segments, oldest first (the current segment is sealed first)."""
        self.seal()
        if not self.directory.exists():
            return []
        paths = [p for p in self.directory.iterdir() if _SEGMENT_NAME.match(p.name)]
        return sorted(paths, key=self._number)

    @_serialised
    def load(self, path: Path) -> Segment:
        content = path.read_bytes()
        lines = content.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        records: list[Record] = []
        rejected = 0
        for line in lines:
            if not line.strip():
                continue
            try:
                records.append(decode_record(line.decode()))
            except _MALFORMED as exc:
                rejected += 1
                self.reject(f"{path.name}: undecodable line: {exc}", raw=line.decode(errors="replace"))
        torn = False
        if tail.strip():
            # An unterminated last line: a whole object that lost only its newline
            # still counts; anything else was cut short by a crash.
            try:
                records.append(decode_record(tail.decode()))
            except _MALFORMED:
                torn = True
        return Segment(path=path, records=records, torn_tail=torn, rejected_lines=rejected)

    @_serialised
    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._fsync_directory()

    # -- helpers -------------------------------------------------------------------------

    def _start_segment(self) -> None:
        self.seal()
        path = self.directory / f"segment-{self._next_number:012d}.jsonl"
        self._next_number += 1
        self._current = path.open("xb")
        self._current_records = 0
        self._fsync_directory()

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @staticmethod
    def _number(path: Path) -> int:
        match = _SEGMENT_NAME.match(path.name)
        return int(match[1]) if match else 0
