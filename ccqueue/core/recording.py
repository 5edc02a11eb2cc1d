"""Call recording: which calls are recorded, and under which file name.

Rules kept here:

1. A queue's policy decides at the moment its caller is bridged to an agent: ``all``
   records every call, ``none`` none, ``share`` a fraction of them, ``on_demand`` none
   until the agent asks (``POST /api/agents/{agent_id}/recording/start``).
2. A share is decided per call, deterministically: the call's id (a random token made
   by the adapter that opened the call) is hashed to a number in [0, 1) that is compared
   with the share. The same call always gets the same answer (a restart, a replayed
   event), the core reads no clock and no random source, and over many calls the
   fraction recorded converges on the share.
3. The file name is made here, from ids ccqueue made itself and the day of ``now``:
   ``YYYY-MM-DD/<recording id>.wav``, relative to the recordings folder. Nothing a
   caller, an agent or a request sent becomes part of it.
4. One recording per answered offer: its id is the offer's (``{call_id}.{n}``).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
from dataclasses import dataclass

__all__ = [
    "RECORDING_ID",
    "RECORDING_NOTICE",
    "RecordingMode",
    "RecordingPolicy",
    "recording_file",
    "records_call",
    "share_draw",
]

# What a caller hears on joining a queue that may record the call (sounds/*/recording-notice.wav).
RECORDING_NOTICE = "ccqueue/recording-notice"

# What a recording id may look like: the offer ids ccqueue makes ({call_id}.{n}).
# Anything else (a slash, "..", a blank) is refused before it nears a path.
RECORDING_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}(\.[0-9]{1,6})?")


class RecordingMode(enum.Enum):
    ALL = "all"
    NONE = "none"
    SHARE = "share"
    ON_DEMAND = "on_demand"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingPolicy:
    """A queue's recording policy (rule 1)."""

    mode: RecordingMode = RecordingMode.NONE
    share: float = 0.0  # with SHARE: the fraction of calls recorded, 0..1
    notice: bool = False  # the caller hears "this call may be recorded" on joining the queue
    retention_days: int | None = None  # None: kept until erased

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"a recording share is between 0 and 1, got {self.share}")
        if self.retention_days is not None and self.retention_days < 1:
            raise ValueError(f"retention_days is at least 1, got {self.retention_days}")

    @property
    def may_record(self) -> bool:
        """Whether any call of the queue can be recorded (what the notice is about)."""
        return self.mode is not RecordingMode.NONE and not (self.mode is RecordingMode.SHARE and self.share == 0.0)


def share_draw(call_id: str) -> float:
    """The call's number in [0, 1) (rule 2): the first 8 bytes of SHA-256 of its id."""
    digest = hashlib.sha256(call_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def records_call(policy: RecordingPolicy, call_id: str) -> bool:
    """Whether the call is recorded from its bridge on (rule 1; on_demand: not yet)."""
    match policy.mode:
        case RecordingMode.ALL:
            return True
        case RecordingMode.SHARE:
            return share_draw(call_id) < policy.share
        case _:
            return False


def recording_file(recording_id: str, now: float) -> str:
    """The recording's file, relative to the recordings folder (rule 3)."""
    if not RECORDING_ID.fullmatch(recording_id):
        raise ValueError(f"not a recording id: {recording_id!r}")
    day = dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()
    return f"{day}/{recording_id}.wav"
