"""The ``campaigns:`` section: outbound campaigns by name.

Rules kept here:

- Keys mirror the core's ``CampaignSettings`` (``ccqueue.core.campaigns``), whose
  defaults are the models' defaults: a key left out means what the core does when not
  told. ``ccqueue.config.to_core.campaign_settings`` maps one onto the other.
- A campaign's name is its key (a-z, 0-9, '_', '-': it appears in metrics and URLs).
- What one campaign needs of the rest of the configuration is checked where file and
  line are known (``check_campaigns``, run by the loader before the models): its queues
  exist, its holidays schedule exists, and the ``outbound:`` section is there.
- Values that depend on each other are checked on the later key of the two, so the
  problem is reported on a line that was written: a ``ring_timeout_s`` under ``min_ring_s`` (unanswered calls
  ring at least 15 s unless the minimum is lowered explicitly), an ``on_machine:
  leave_message`` with no ``machine_message``, a broadcast with no
  ``broadcast_message``, an opt-out key equal to the operator key.
- ``retry`` gives a rule per outcome (busy, no_answer, machine, failed, abandoned); an
  outcome left out keeps the core's rule, and ``null`` means never retried after it.
- ``window``: ``hours`` is one ``HH:MM-HH:MM`` range in the callee's local time (not
  past midnight), ``days`` the weekdays, ``holidays`` the name of a schedule whose
  holiday dates are not called at all, whatever hours the schedule opens on them.
- ``caller_id`` is a number in E.164 form ('+' and digits) that phonenumbers calls
  valid: what the callee's phone shows, and what they call back.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from typing import Annotated, Literal, cast

import phonenumbers
from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from ccqueue.config.base import Frozen, name_rule, read_only
from ccqueue.config.ivr import Sound, TimeZone
from ccqueue.config.problems import Collector, did_you_mean
from ccqueue.core.campaigns import (
    DEFAULT_RETRY,
    AttemptOutcome,
    CallingWindow,
    CampaignInvalid,
    CampaignMode,
    CampaignSettings,
)
from ccqueue.core.campaigns import RetryRule as CoreRetryRule
from ccqueue.core.schedule import parse_range

__all__ = ["DAY_NAMES", "DESCRIPTIONS", "SECTION_DESCRIPTIONS", "Campaign", "CampaignName", "Campaigns", "check_campaigns"]

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CampaignName = Annotated[str, name_rule(r"[a-z0-9_-]+", "a campaign name uses only a-z, 0-9, '_' and '-'")]
# The core's settings as they are when not told otherwise: the defaults below are theirs.
_CORE = CampaignSettings(name="-", mode=CampaignMode.PROGRESSIVE, queues=("-",), caller_id="+10000000000")
DtmfKey = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]


def _check_hours(text: str) -> str:
    span = parse_range(text)  # its ValueError says what is wrong
    if span.overnight:
        raise ValueError(f"a calling window lies within one day: {text!r} runs past midnight")
    return text


def _check_caller_id(value: str) -> str:
    if not value.startswith("+"):
        raise ValueError(f"write the caller id in E.164 form, '+' and the country code first (e.g. +12125550100), got {value!r}")
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{value!r} is not a phone number") from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{value!r} is not a valid phone number (phonenumbers knows no such number in its country)")
    if e164 != value:
        raise ValueError(f"write the caller id in E.164 form, '+' and digits only: {e164!r}")
    return value


def _unique_days(days: tuple[str, ...]) -> tuple[str, ...]:
    if not days:
        raise ValueError("give at least one day (mon ... sun)")
    repeated = sorted({day for day in days if days.count(day) > 1})
    if repeated:
        raise ValueError(f"day {repeated[0]!r} is listed twice")
    return days


Seconds = Annotated[float, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]


class RetryRule(Frozen):
    """After an outcome, call again ``after_s`` later, until it happened ``max_tries`` times."""

    after_s: Seconds
    max_tries: Annotated[int, Field(ge=1)]


def _rule(outcome: AttemptOutcome) -> RetryRule | None:
    core = DEFAULT_RETRY.get(outcome)
    return None if core is None else RetryRule(after_s=core.after_s, max_tries=core.max_tries)


class Retry(Frozen):
    """A rule per outcome; null: never retried after it."""

    busy: RetryRule | None = _rule(AttemptOutcome.BUSY)
    no_answer: RetryRule | None = _rule(AttemptOutcome.NO_ANSWER)
    machine: RetryRule | None = _rule(AttemptOutcome.MACHINE)
    failed: RetryRule | None = _rule(AttemptOutcome.FAILED)
    abandoned: RetryRule | None = _rule(AttemptOutcome.ABANDONED)

    def rules(self) -> dict[AttemptOutcome, CoreRetryRule]:
        return {
            AttemptOutcome(name): CoreRetryRule(after_s=rule.after_s, max_tries=rule.max_tries)
            for name in type(self).model_fields
            if (rule := getattr(self, name)) is not None
        }


def _clock(second: int) -> str:
    return f"{second // 3600:02d}:{second % 3600 // 60:02d}"


def _default_hours() -> str:
    return f"{_clock(_CORE.window.start_s)}-{_clock(_CORE.window.end_s)}"


class Window(Frozen):
    """When callees may be called, in their own local time."""

    hours: Annotated[str, AfterValidator(_check_hours)] = _default_hours()
    days: Annotated[tuple[Day, ...], Field(strict=False), AfterValidator(_unique_days)] = DAY_NAMES
    holidays: str | None = None  # a schedule's name: its holiday dates are not called


class Campaign(Frozen):
    """One outbound campaign (fields in the order their checks need: see the module rules)."""

    # An enum takes its value from YAML's plain string, so this field is not strict.
    mode: CampaignMode = Field(strict=False)
    queues: tuple[str, ...] = Field(default=(), strict=False)
    caller_id: Annotated[str, AfterValidator(_check_caller_id)]
    time_zone: TimeZone | None = None  # None: the core's (UTC)
    max_lines: Annotated[int, Field(ge=1)] = _CORE.max_lines
    min_ring_s: Seconds = _CORE.min_ring_s
    ring_timeout_s: PositiveSeconds = _CORE.ring_timeout_s
    max_attempts: Annotated[int, Field(ge=1)] = _CORE.max_attempts
    retry: Retry = Retry()
    window: Window = Window()
    amd: bool = _CORE.amd
    machine_message: Sound | None = _CORE.machine_message
    on_machine: Literal["hangup", "leave_message"] = cast(Literal["hangup", "leave_message"], _CORE.on_machine)
    abandon_ceiling: Annotated[float, Field(gt=0, lt=1)] = _CORE.abandon_ceiling
    connect_deadline_s: PositiveSeconds = _CORE.connect_deadline_s
    abandon_lock_s: Seconds = _CORE.abandon_lock_s
    count_amd_false_positives: bool = _CORE.count_amd_false_positives
    safe_harbour: Sound = _CORE.safe_harbour
    broadcast_message: Sound | None = Field(default=_CORE.broadcast_message, validate_default=True)
    operator_key: DtmfKey = cast(DtmfKey, _CORE.operator_key)
    opt_out_key: DtmfKey = cast(DtmfKey, _CORE.opt_out_key)
    inbound_first: bool = _CORE.inbound_first

    @field_validator("queues")
    @classmethod
    def _queues_once(cls, queues: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({q for q in queues if queues.count(q) > 1})
        if repeated:
            raise ValueError(f"queue {repeated[0]!r} is listed twice")
        return queues

    @field_validator("ring_timeout_s")
    @classmethod
    def _rings_long_enough(cls, value: float, info: ValidationInfo) -> float:
        minimum = info.data.get("min_ring_s")
        if minimum is not None and value < minimum:
            raise ValueError(
                f"unanswered calls ring at least min_ring_s ({minimum:g} s), got {value:g}; "
                "lower min_ring_s too if the law where you call allows it"
            )
        return value

    @field_validator("on_machine")
    @classmethod
    def _message_to_leave(cls, value: str, info: ValidationInfo) -> str:
        if value == "leave_message" and info.data.get("machine_message") is None and "machine_message" in info.data:
            raise ValueError("leave_message needs the sound to leave: give machine_message")
        return value

    @field_validator("broadcast_message")
    @classmethod
    def _message_to_broadcast(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("mode") is CampaignMode.BROADCAST:
            raise ValueError("a broadcast campaign needs its message (broadcast_message)")
        return value

    @field_validator("opt_out_key")
    @classmethod
    def _keys_differ(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("operator_key"):
            raise ValueError(f"the opt-out key must differ from the operator key ({value!r})")
        return value

    @model_validator(mode="after")
    def _runs_in_the_core(self) -> Campaign:
        # A safety net: whatever the core would refuse, the file is refused for.
        if not self.queues and self.mode is not CampaignMode.BROADCAST:
            raise ValueError("a campaign needs at least one queue whose agents work it (queues)")
        try:
            self.to_core("-", holidays=frozenset())
        except CampaignInvalid as exc:
            raise ValueError(str(exc)) from None
        return self

    def to_core(self, name: str, *, holidays: frozenset[dt.date]) -> CampaignSettings:
        """The core's settings for this campaign, named ``name``, not called on ``holidays``."""
        span = parse_range(self.window.hours)
        return CampaignSettings(
            name=name,
            mode=self.mode,
            queues=self.queues,
            caller_id=self.caller_id,
            max_lines=self.max_lines,
            ring_timeout_s=self.ring_timeout_s,
            min_ring_s=self.min_ring_s,
            max_attempts=self.max_attempts,
            retry=self.retry.rules(),
            window=CallingWindow(
                start_s=span.start_s,
                end_s=span.end_s,
                days=frozenset(DAY_NAMES.index(day) for day in self.window.days),
                holidays=holidays,
            ),
            zone=_CORE.zone if self.time_zone is None else zoneinfo.ZoneInfo(self.time_zone),
            amd=self.amd,
            on_machine=self.on_machine,
            machine_message=self.machine_message,
            abandon_ceiling=self.abandon_ceiling,
            connect_deadline_s=self.connect_deadline_s,
            abandon_lock_s=self.abandon_lock_s,
            count_amd_false_positives=self.count_amd_false_positives,
            safe_harbour=self.safe_harbour,
            broadcast_message=self.broadcast_message,
            operator_key=self.operator_key,
            opt_out_key=self.opt_out_key,
            inbound_first=self.inbound_first,
        )


Campaigns = Annotated[Mapping[CampaignName, Campaign], AfterValidator(read_only)]


def check_campaigns(data: Mapping[str, object], collector: Collector, *, complete: bool = True) -> None:
    """What campaigns need of the other sections: queues, schedules, ``outbound:``.

    ``complete`` is false when a file could not be read: a section that seems missing
    may be in it, so references are not checked then.
    """
    campaigns = data.get("campaigns")
    if not isinstance(campaigns, dict) or not campaigns or not complete:
        return
    if data.get("outbound") is None:
        collector.add(
            ("campaigns",),
            "campaigns dial through the outbound trunk: add an 'outbound:' section (dial, region, allowed)",
            at_key=True,
        )
    queues = data.get("queues")
    known_queues = sorted(queues) if isinstance(queues, dict) else []
    schedules = data.get("schedules")
    known_schedules = sorted(schedules) if isinstance(schedules, dict) else []
    for name, campaign in campaigns.items():
        if not isinstance(campaign, dict):
            continue  # the models report the type
        listed = campaign.get("queues")
        for index, queue in enumerate(listed if isinstance(listed, list) else ()):
            if isinstance(queue, str) and queue not in known_queues:
                collector.add(("campaigns", name, "queues", index), f"unknown queue '{queue}'{did_you_mean(queue, known_queues)}")
        window = campaign.get("window")
        holidays = window.get("holidays") if isinstance(window, dict) else None
        if isinstance(holidays, str) and holidays not in known_schedules:
            collector.add(
                ("campaigns", name, "window", "holidays"),
                f"unknown schedule '{holidays}'{did_you_mean(holidays, known_schedules)}",
            )


# Hover text for the JSON Schema (`ccqueue.config.schema`), by model and field.
SECTION_DESCRIPTIONS: dict[str, str] = {
    "campaigns": "Outbound campaigns by name (a-z, 0-9, '_', '-'): how they dial, when, and what the callee "
    "hears. Contacts are imported with `ccqueue contacts import`. Needs the outbound section.",
    "outbound": "The trunk outbound campaigns dial through, the numbers they may call, and the region "
    "numbers without '+' are read in.",
}

DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Outbound": {
        "dial": "Dial string of the trunk with the callee's number in it: {number} (E.164, with '+') or "
        "{digits} (without '+'), e.g. PJSIP/{digits}@trunk. No ',' or '&'.",
        "region": "Region code (ISO 3166, e.g. US, DE, RU) in which a list's number written without '+' is read.",
        "allowed": "Regular expressions over the whole E.164 number; only numbers matching one are ever "
        "dialled (toll-fraud protection). At least one.",
        "max_channels": "Outbound channels of all campaigns together, at most.",
        "campaign_share": "Of the agents that waiting callbacks and running campaigns both want, the campaigns' "
        "share, 0 to 1 (0.5: turn about; 0: callbacks always first). Callers on the line always come first.",
    },
    "Campaign": {
        "mode": "preview: the agent sees the contact, then dials or skips; progressive: one dial per free "
        "agent, held first (never an abandon); predictive: paced from live measures under the abandon "
        "ceiling; broadcast: a message, a key for an operator and one to opt out.",
        "queues": "Queues (keys under queues) whose agents work the campaign, beside their inbound calls.",
        "caller_id": "Number the callee's phone shows, in E.164 form (e.g. +12125550100).",
        "time_zone": "IANA zone of a contact whose list gives none and whose number does not tell; left out: UTC.",
        "max_lines": "Outbound channels of this campaign at once, at most.",
        "min_ring_s": "Unanswered calls ring at least this long (15 s by rule); lower it only where the law allows.",
        "ring_timeout_s": "Seconds an unanswered call rings before it counts as no answer (at least min_ring_s).",
        "max_attempts": "Calls to one contact, whatever their outcomes, at most.",
        "retry": "When to call again after busy, no_answer, machine, failed or abandoned; null: never.",
        "window": "When callees may be called, in their own local time.",
        "amd": "Detect answering machines with Asterisk's AMD().",
        "on_machine": "What a detected machine gets: hangup, or leave_message (machine_message after the beep).",
        "machine_message": "Sound left on answering machines (as Playback() names it).",
        "abandon_ceiling": "Abandoned calls, as a share of live answers, in every rolling 24 h and over 30 days "
        "(0.03 = 3 %, the usual legal ceiling).",
        "connect_deadline_s": "A person who answered must hear an agent within this many seconds, or the call "
        "is abandoned and the safe-harbour message plays.",
        "abandon_lock_s": "A number whose call was abandoned is not dialled again for this long, unless an "
        "agent is held first (progressive).",
        "count_amd_false_positives": "Count persons whom AMD took for machines as answered and abandoned.",
        "safe_harbour": "Sound played at once to an abandoned callee: who called and a number to call back.",
        "broadcast_message": "Sound a broadcast plays (broadcast mode).",
        "operator_key": 'Broadcast: the key that puts the callee through to an agent (quote it: "1").',
        "opt_out_key": 'Broadcast: the key that puts the number on the do-not-call list (quote it: "9").',
        "inbound_first": "Dial only for agents the inbound queues do not need.",
    },
    "Retry": {
        outcome: f"After {text}: when to call again and how often; null: never again."
        for outcome, text in (
            ("busy", "a busy line"),
            ("no_answer", "no answer"),
            ("machine", "an answering machine"),
            ("failed", "a failed dial (congestion, trunk error)"),
            ("abandoned", "an abandoned call (not before abandon_lock_s either)"),
        )
    },
    "RetryRule": {
        "after_s": "Seconds before the next call.",
        "max_tries": "After this many of this outcome, the contact is not called again.",
    },
    "Window": {
        "hours": "One HH:MM-HH:MM range, in the callee's local time, within one day.",
        "days": "Weekdays calls may be made (mon ... sun).",
        "holidays": "A schedule (a key under schedules) whose holiday dates are not called.",
    },
}
