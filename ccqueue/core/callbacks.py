"""Callbacks: a caller's place in line, kept without the caller on the line.

Rules kept here:

1. One open callback per number and queue. A second request for the same pair returns
   the open one; it takes the earlier of the two places in line.
2. A callback's place is the arrival time of the call it came from (an API request:
   the start of its window, else the moment it was made). In line it is ordered by that
   time like any caller, so it never jumps ahead of callers who came before it nor falls
   behind those who came after.
3. Only numbers matching one of the configured patterns are ever dialled; the core
   checks again at the moment it hands out the dial string.
4. An attempt that the customer does not answer (busy, no answer, congestion) is
   retried after ``retry_delay_s``, keeping the place, until ``max_attempts`` have been
   made or the callback expires. An agent who does not answer is not an attempt: the
   callback goes back in line at once.
5. Every change is a new ``CallbackRecord`` version: the database row follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ccqueue.core.records import CallbackRecord, CallbackStatus

ROUTER_PREFIX = "cb:"  # a callback's id in the router: never clashes with a call id


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackPolicy:
    dial: str  # e.g. "PJSIP/{digits}@trunk" or "Local/{number}@outbound"
    allowed: tuple[str, ...]  # regular expressions over the E.164 number
    caller_id: str = ""
    max_attempts: int = 3
    # Five minutes between attempts, four hours to live: a customer who asked in the
    # afternoon is not rung in the evening. Genesys' and Avaya's callback defaults are
    # of the same order (retries minutes apart, a same-day expiry).
    retry_delay_s: float = 300.0
    expire_s: float = 4 * 3600.0
    ring_timeout_s: float = 30.0  # how long the customer's phone rings
    key: str = "1"  # pressed while waiting: "call me back instead"
    offer_after_s: float | None = None  # offered to every caller still waiting this long

    def allows(self, number: str) -> bool:
        return any(re.fullmatch(pattern, number) for pattern in self.allowed)

    def dial_string(self, number: str) -> str:
        """Dial()'s arguments for ``number``: the trunk's dial string and the ring timeout."""
        target = self.dial.replace("{number}", number).replace("{digits}", number.lstrip("+"))
        return f"{target},{int(self.ring_timeout_s)}"


def router_id(callback_id: str) -> str:
    return ROUTER_PREFIX + callback_id


def new_callback(
    *,
    callback_id: str,
    queue: str,
    number: str,
    now: float,
    place_at: float,
    not_before: float | None,
    expires_at: float,
    call_id: str | None,
) -> CallbackRecord:
    return CallbackRecord(
        callback_id=callback_id,
        version=1,
        queue=queue,
        number=number,
        status=CallbackStatus.PENDING,
        requested_at=now,
        place_at=place_at,
        not_before=not_before if not_before is not None and not_before > now else None,
        expires_at=expires_at,
        attempts=0,
        next_attempt_at=None,
        call_id=call_id,
        agent=None,
        result=None,
    )


def revise(record: CallbackRecord, **changes: object) -> CallbackRecord:
    """The next version of ``record`` with ``changes``."""
    return replace(record, version=record.version + 1, **changes)  # type: ignore[arg-type]


def after_attempt(record: CallbackRecord, policy: CallbackPolicy, *, status: str, now: float) -> CallbackRecord:
    """Rule 4: the record once the customer's phone answered ``status``."""
    attempts = record.attempts + 1
    if status == "ANSWER":
        return revise(record, status=CallbackStatus.COMPLETED, attempts=attempts, result=status, next_attempt_at=None)
    retry_at = now + policy.retry_delay_s
    if attempts >= policy.max_attempts or retry_at >= record.expires_at:
        return revise(record, status=CallbackStatus.FAILED, attempts=attempts, result=status, next_attempt_at=None)
    return revise(record, status=CallbackStatus.PENDING, attempts=attempts, result=status, next_attempt_at=retry_at)


def ready_at(record: CallbackRecord) -> float | None:
    """When the callback may next be offered to an agent (None: at once)."""
    later = [t for t in (record.not_before, record.next_attempt_at) if t is not None]
    return max(later) if later else None
