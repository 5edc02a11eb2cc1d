"""The ``callbacks:`` section: how customers are called back, and which numbers may be.

Rules kept here:

- Without the section there are no callbacks: no key to press while waiting, no
  offer, and the HTTP API refuses every request (``callback-refused``).
- ``dial`` is the trunk's dial string with the customer's number in it: ``{number}``
  (E.164, with '+') or ``{digits}`` (the same without '+'). It is the technology and
  resource only, as Dial() takes them ("PJSIP/{digits}@trunk"); the ring timeout is
  ``ring_timeout_s``, so a ',' (Dial's argument separator) or '&' (ring several at
  once) is refused, as is any other ``{placeholder}``, and any character the dialplan
  would read as syntax ('$', ';', quotes, brackets, backslashes).
- ccqueue never dials ``dial`` itself: it dials ``GUARD_DIAL``, the dialplan guard
  generated from this section (``ccqueue.asterisk.guard``), which checks the number
  against ``allowed`` once more and only then dials ``dial``. So ``dial`` may not
  lead into the guard.
- ``allowed`` lists regular expressions, each over the whole E.164 number
  (``re.fullmatch``): only numbers matching one are ever dialled. There is no
  "allow everything" default: the administrator writes at least one. A pattern that
  does not compile, or that the guard could not check with the same meaning
  (``ccqueue.number_patterns``), is reported with its file and line.
- ``region`` is where a number written without '+' is read (an ISO 3166 code that
  phonenumbers knows: "US", "DE", "RU").
- Retry, expiry and ring times are in seconds.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Literal, cast

import phonenumbers
from pydantic import AfterValidator, Field

from ccqueue.config.base import Frozen
from ccqueue.config.problems import did_you_mean
from ccqueue.core.callbacks import CallbackPolicy
from ccqueue.number_patterns import PatternNotPortable, to_posix

__all__ = ["DIAL_PLACEHOLDERS", "GUARD_CONTEXT", "GUARD_DIAL", "Callbacks"]

DIAL_PLACEHOLDERS = ("{number}", "{digits}")
_DIAL_SHAPE = re.compile(r"[A-Za-z0-9_-]+/\S+")  # TECH/resource, as Dial() takes it
# What a dial string may hold besides its placeholders: enough for PJSIP/SIP/IAX2/Local
# resources (user@host:port, /options), nothing the dialplan reads as syntax.
_DIAL_CHARS = re.compile(r"[A-Za-z0-9_.@/:+=%~!*#-]+")
# The dialplan context that checks a callback number again and dials the trunk, and
# what ccqueue dials to reach it (deploy: ccqueue.asterisk.guard writes the context).
GUARD_CONTEXT = "ccqueue-callback-out"
GUARD_DIAL = f"Local/{{number}}@{GUARD_CONTEXT}"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_dial(template: str) -> str:
    if not any(placeholder in template for placeholder in DIAL_PLACEHOLDERS):
        raise ValueError("the dial string must contain {number} or {digits}, where the customer's number goes")
    if "," in template or "&" in template:
        raise ValueError("the dial string is one destination without options: no ',' or '&' (the ring time is ring_timeout_s)")
    sample = template.replace("{number}", "+15550100").replace("{digits}", "15550100")
    others = [field for _, field, _, _ in string.Formatter().parse(sample.replace("}}", "")) if field]
    if "{" in sample or "}" in sample or others:
        raise ValueError("the dial string takes only the placeholders {number} and {digits}")
    if not _DIAL_SHAPE.fullmatch(sample):
        raise ValueError("expected a dial string like 'PJSIP/{digits}@trunk' (technology/resource, no spaces)")
    if not _DIAL_CHARS.fullmatch(sample):
        odd = sorted(set(re.sub(_DIAL_CHARS, "", sample)))
        raise ValueError(
            f"the dial string may not contain {' '.join(repr(c) for c in odd)}: the dialplan guard "
            "writes it into the dialplan, which would read it as syntax"
        )
    if f"@{GUARD_CONTEXT}" in sample:
        raise ValueError(f"the dial string is the trunk: ccqueue already dials through {GUARD_CONTEXT}, which dials this string")
    return template


def _check_pattern(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    try:
        to_posix(pattern)
    except PatternNotPortable as exc:
        raise ValueError(str(exc)) from None
    return pattern


def _check_region(region: str) -> str:
    if region not in phonenumbers.SUPPORTED_REGIONS:
        hint = did_you_mean(region.upper(), phonenumbers.SUPPORTED_REGIONS)
        if region.upper() in phonenumbers.SUPPORTED_REGIONS:
            hint = f"; did you mean '{region.upper()}'?"
        raise ValueError(f"'{region}' is not a region code phonenumbers knows (two capital letters, e.g. 'US'){hint}")
    return region


def _check_caller_id(caller_id: str) -> str:
    if _CONTROL.search(caller_id):
        raise ValueError("the caller id must not contain control characters (a line break, a tab)")
    return caller_id


NonEmpty = Annotated[str, Field(min_length=1)]
Seconds = Annotated[float, Field(ge=0)]
Pattern = Annotated[str, Field(min_length=1), AfterValidator(_check_pattern)]
PositiveSeconds = Annotated[float, Field(gt=0)]
# A key on the phone's keypad (DTMF); '*' and '#' included.
DtmfKey = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]
# The core's policy as it is when not told otherwise: the defaults below are its own.
_POLICY = CallbackPolicy(dial="-", allowed=())


class Callbacks(Frozen):
    """Callbacks: the trunk that calls customers back, which numbers it may call, and how often."""

    dial: Annotated[NonEmpty, AfterValidator(_check_dial)]
    caller_id: Annotated[NonEmpty, AfterValidator(_check_caller_id)]  # what the customer's phone shows
    region: Annotated[str, AfterValidator(_check_region)]
    # YAML gives a list; the tuple keeps the section frozen.
    allowed: tuple[Pattern, ...] = Field(strict=False, min_length=1)
    max_attempts: Annotated[int, Field(ge=1)] = _POLICY.max_attempts
    retry_delay_s: Seconds = _POLICY.retry_delay_s
    expire_s: PositiveSeconds = _POLICY.expire_s
    ring_timeout_s: PositiveSeconds = _POLICY.ring_timeout_s  # how long the customer's phone rings
    key: DtmfKey = cast(DtmfKey, _POLICY.key)  # pressed while waiting: "call me back instead"
    offer_after_s: PositiveSeconds | None = _POLICY.offer_after_s  # offer a callback after this wait; None: only the key

    def dial_string(self, e164: str) -> str:
        """The trunk's dial string for ``e164`` (no ring timeout: Dial() takes that apart)."""
        return self.dial.replace("{number}", e164).replace("{digits}", e164.lstrip("+"))
