"""Outbound campaigns: what one campaign is set to do, and the contacts it calls.

Rules kept here:

1. Settings are frozen values that check themselves: a value no campaign can run with
   (a ring shorter than the legal minimum, a ceiling outside (0, 1), a broadcast with no
   message) raises ``CampaignInvalid`` naming every field at fault, and nothing is built.
2. Legal minimums are settings too, but lowering one is an explicit act: unanswered
   calls ring at least ``min_ring_s`` (15 s, Ofcom's persistent-misuse policy), and a
   ``ring_timeout_s`` under it is refused unless ``min_ring_s`` is lowered with it.
3. The pacing settings follow the campaign: mode, ceiling, ring timeout, connect
   deadline, line cap and whether AMD false positives count are the campaign's, so the
   two can never disagree. The pacer's safety margin and aim keep the same shares of the
   ceiling as the pacer's own defaults (1/6 and 4/5 of what is left).
4. Times are seconds, and calling windows are in the callee's local time: whether a
   moment falls in one is asked with the callee's zone (``window_open``). Nothing here
   reads a clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ccqueue.core.errors import InputError
from ccqueue.core.pacing import Mode, PacingSettings

__all__ = [
    "DEFAULT_RETRY",
    "RETRYABLE",
    "AttemptOutcome",
    "CallingWindow",
    "CampaignInvalid",
    "CampaignMode",
    "CampaignSettings",
    "Contact",
    "RetryRule",
    "window_open",
]

DAY_S = 24 * 3600
# E.164: a '+', a country code that does not start with 0, at most 15 digits in all.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
DTMF_KEYS = frozenset("0123456789*#")
ON_MACHINE = frozenset({"hangup", "leave_message"})


class CampaignInvalid(InputError):
    """A campaign's settings cannot be run: ``details['fields']`` names each one at fault."""

    error_id = "campaign-invalid"


class CampaignMode(enum.Enum):
    PREVIEW = "preview"  # the agent sees the contact first, then dials or skips
    PROGRESSIVE = "progressive"  # one dial per free agent, held before the dial
    PREDICTIVE = "predictive"  # paced from live measures (ccqueue.core.pacing)
    BROADCAST = "broadcast"  # a message; a key for an operator, another to opt out


class AttemptOutcome(enum.Enum):
    """The final outcome of one dial."""

    CONNECTED = "connected"  # a person talked to an agent
    ABANDONED = "abandoned"  # a person answered, no agent within the deadline: safe harbour played
    MACHINE = "machine"  # AMD said machine (whether a message was left is recorded apart)
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"  # trunk or dial failure, congestion
    OPTED_OUT = "opted_out"  # broadcast: the callee pressed the opt-out key
    BROADCAST_HEARD = "broadcast_heard"  # broadcast: message played, no key
    SKIPPED = "skipped"  # preview: the agent skipped the contact


# The outcomes after which a contact may be dialled again; the others end it.
RETRYABLE = frozenset(
    {AttemptOutcome.BUSY, AttemptOutcome.NO_ANSWER, AttemptOutcome.MACHINE, AttemptOutcome.FAILED, AttemptOutcome.ABANDONED}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryRule:
    """After an outcome, dial again ``after_s`` later, until it happened ``max_tries`` times."""

    after_s: float
    max_tries: int

    def __post_init__(self) -> None:
        bad = [name for name, wrong in (("after_s", self.after_s < 0), ("max_tries", self.max_tries < 1)) if wrong]
        if bad:
            raise CampaignInvalid(f"retry rule out of range: {', '.join(bad)}", fields=bad)


# Busy lines free up soon; an unanswered phone is worth trying an hour later; a machine
# means nobody is home for a while. VICIdial's default recycle delays are of the same
# order (busy and no-answer recycled after 5-30 min, answering machines after hours).
DEFAULT_RETRY: Mapping[AttemptOutcome, RetryRule] = MappingProxyType(
    {
        AttemptOutcome.BUSY: RetryRule(after_s=600.0, max_tries=3),
        AttemptOutcome.NO_ANSWER: RetryRule(after_s=3600.0, max_tries=3),
        AttemptOutcome.MACHINE: RetryRule(after_s=7200.0, max_tries=2),
        AttemptOutcome.FAILED: RetryRule(after_s=900.0, max_tries=2),
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallingWindow:
    """When a callee may be called, in the callee's local time: ``[start_s, end_s)``
    seconds after local midnight, on ``days`` (0 = Monday), never on ``holidays``."""

    # 09:00-21:00: within the US TSR's 8:00-21:00 and most national rules.
    start_s: int = 9 * 3600
    end_s: int = 21 * 3600
    days: frozenset[int] = frozenset(range(7))
    holidays: frozenset[dt.date] = frozenset()

    def __post_init__(self) -> None:
        bad = [
            name
            for name, wrong in (
                ("start_s", not 0 <= self.start_s < DAY_S),
                ("end_s", not self.start_s < self.end_s <= DAY_S),
                ("days", not self.days or not self.days <= frozenset(range(7))),
            )
            if wrong
        ]
        if bad:
            raise CampaignInvalid(f"calling window out of range: {', '.join(bad)}", fields=bad)


def window_open(window: CallingWindow, at: float, zone: dt.tzinfo) -> bool:
    """Whether epoch second ``at`` falls in ``window`` for a callee living in ``zone``."""
    local = dt.datetime.fromtimestamp(at, zone)
    if local.date() in window.holidays or local.weekday() not in window.days:
        return False
    second = local.hour * 3600 + local.minute * 60 + local.second
    return window.start_s <= second < window.end_s


# The pacer's own defaults: the model's tunables a campaign starts from (rule 3).
_PACING_MODEL = PacingSettings()


def _default_retry() -> Mapping[AttemptOutcome, RetryRule]:
    return DEFAULT_RETRY


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignSettings:
    """One campaign, as configured. ``pacing`` takes the campaign's own values (rule 3);
    only its model's tunables are read from the one given."""

    name: str
    mode: CampaignMode
    queues: tuple[str, ...]  # agents of these queues work the campaign (the same as inbound)
    caller_id: str  # E.164 shown to the callee
    max_lines: int = 10  # concurrent outbound channels of this campaign
    ring_timeout_s: float = 25.0
    min_ring_s: float = 15.0  # rule 2
    max_attempts: int = 3  # per contact, all outcomes
    retry: Mapping[AttemptOutcome, RetryRule] = field(default_factory=_default_retry)
    window: CallingWindow = CallingWindow()
    zone: dt.tzinfo = dt.UTC  # the campaign's zone: a contact's when neither list nor number tells
    amd: bool = True
    on_machine: str = "hangup"  # "hangup" | "leave_message"
    machine_message: str | None = None  # sound name, for leave_message (and broadcast)
    # 3 % of live answers, in every rolling 24 h (Ofcom) and 30 days (US TSR).
    abandon_ceiling: float = 0.03
    connect_deadline_s: float = 2.0
    abandon_lock_s: float = 72 * 3600.0  # an abandoned number is not dialled again unless progressive
    count_amd_false_positives: bool = False
    safe_harbour: str = "ccqueue/safe-harbour"  # sound naming the company and a number to call back
    broadcast_message: str | None = None  # sound, broadcast mode
    operator_key: str = "1"
    opt_out_key: str = "9"
    inbound_first: bool = True  # blending: dial only for agents inbound does not need
    pacing: PacingSettings = _PACING_MODEL  # aligned with the campaign by __post_init__ (rule 3)

    def __post_init__(self) -> None:
        object.__setattr__(self, "queues", tuple(self.queues))
        object.__setattr__(self, "retry", MappingProxyType(dict(self.retry)))
        bad = self._problems()
        if bad:
            raise CampaignInvalid(
                f"campaign {self.name!r} cannot run: {', '.join(bad)} out of range", campaign=self.name, fields=bad
            )
        object.__setattr__(self, "pacing", self._pacing(self.pacing))

    def _problems(self) -> list[str]:
        broadcast = self.mode is CampaignMode.BROADCAST
        return [
            name
            for name, wrong in (
                ("name", not self.name or not self.name.strip()),
                # A broadcast may run with no agents at all (no operator key then).
                ("queues", not self.queues and not broadcast),
                ("caller_id", not E164.fullmatch(self.caller_id)),
                ("max_lines", self.max_lines < 1),
                ("min_ring_s", self.min_ring_s < 0),
                ("ring_timeout_s", self.ring_timeout_s < self.min_ring_s or self.ring_timeout_s <= 0),
                ("max_attempts", self.max_attempts < 1),
                ("retry", not set(self.retry) <= RETRYABLE),
                ("on_machine", self.on_machine not in ON_MACHINE),
                ("machine_message", self.on_machine == "leave_message" and not self.machine_message),
                ("abandon_ceiling", not 0.0 < self.abandon_ceiling < 1.0),
                ("connect_deadline_s", self.connect_deadline_s <= 0),
                ("abandon_lock_s", self.abandon_lock_s < 0),
                ("safe_harbour", not self.safe_harbour),
                ("broadcast_message", broadcast and not self.broadcast_message),
                ("operator_key", self.operator_key not in DTMF_KEYS),
                ("opt_out_key", self.opt_out_key not in DTMF_KEYS or self.opt_out_key == self.operator_key),
            )
            if wrong
        ]

    def _pacing(self, base: PacingSettings) -> PacingSettings:
        margin = self.abandon_ceiling / 6
        return dataclasses.replace(
            base,
            mode=Mode.PREDICTIVE if self.mode is CampaignMode.PREDICTIVE else Mode.PROGRESSIVE,
            ceiling=self.abandon_ceiling,
            safety_margin=margin,
            aim=0.8 * (self.abandon_ceiling - margin),
            connect_deadline_s=self.connect_deadline_s,
            min_ring_s=self.min_ring_s,
            ring_timeout_s=self.ring_timeout_s,
            max_lines=self.max_lines,
            count_amd_false_positives=self.count_amd_false_positives,
        )

    def retry_rule(self, outcome: AttemptOutcome) -> RetryRule | None:
        """The rule for dialling again after ``outcome``; None: the contact is done."""
        return self.retry.get(outcome)


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    """One number of a campaign's list, as the store hands it to the core."""

    contact_id: int
    campaign: str
    number: str  # E.164, with the '+'
    name: str
    # The contact's own zone, else its number's (phonenumbers), else the campaign's.
    zone: dt.tzinfo
    fields: Mapping[str, str] = field(default_factory=dict)  # extra CSV columns, shown to the agent
    attempts: int = 0  # tries so far
    next_at: float = 0.0  # not before this epoch second
    locked_until: float = 0.0  # abandon lock
    # How often each outcome (by its value) ended an attempt: a retry rule's max_tries
    # counts these, not all tries.
    outcome_counts: Mapping[str, int] = field(default_factory=dict)
