"""Customer phone numbers: normalised to E.164, and checked before anything is dialled.

Rules kept here:

1. A number is stored, compared and dialled in E.164 (``+`` and digits only), so that
   "(650) 253-0000" and "+1 650 253 0000" are one number: one pending callback, one
   do-not-call entry.
2. A number written without ``+`` is read as a number of ``region`` (an ISO 3166
   code: "US", "DE", "RU"), the country most of the callers are in. The region's
   own ways of writing it are understood: national prefixes ("030 ...", "8 495 ..."),
   international ones ("011 49 ...", "00 49 ..."), spaces, dashes, dots, brackets.
3. Only a number that phonenumbers (Google's libphonenumber metadata) calls valid
   for its country, and of at most 15 digits (E.164's limit), is accepted: right
   length, a range in use. An extension is refused, since nothing could dial it.
4. Toll-fraud protection: a number is dialled only if it matches one of the
   administrator's patterns, each over the whole E.164 number (``re.fullmatch``), so
   ``\\+1\\d{10}`` cannot be passed by "+1555...#9011..." and an unanchored pattern
   cannot let through more than it says.
5. Any input, however odd, ends in an E.164 number or a ``NumberRejected``; nothing
   else is raised. The error's message is fit to show the person who typed it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers

from ccqueue.core.errors import RequestError

__all__ = ["E164_MAX_DIGITS", "MAX_INPUT_CHARS", "NumberNotAllowed", "NumberRejected", "check_allowed", "normalize"]

# ITU-T E.164: at most 15 digits, country code included. phonenumbers' metadata lets
# a few countries' numbers run longer (German ones to 17); no carrier routes those.
E164_MAX_DIGITS = 15
# Longer than any way of writing a real number (E.164 allows 15 digits; with a
# country's international prefix, spaces and punctuation people type about 30).
# phonenumbers' own limit is 250.
MAX_INPUT_CHARS = 64

_PARSE_PROBLEMS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "its country code is not one in use",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "it does not look like a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short after the international prefix",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "it is too short",
    phonenumbers.NumberParseException.TOO_LONG: "it is too long",
}


class NumberRejected(RequestError):
    """A number that is not a valid phone number (the sender typed it wrong)."""

    error_id = "callback-number-invalid"

    def __init__(self, message: str, *, number: str) -> None:
        super().__init__(message, number=number)
        self.number = number


class NumberNotAllowed(NumberRejected):
    """A valid number that the configured patterns do not allow to be dialled."""

    error_id = "callback-number-not-allowed"


def normalize(raw: str, *, region: str) -> str:
    """``raw`` as an E.164 number, read as a number of ``region`` when it has no ``+``.

    Raises ``NumberRejected`` for anything that is not a valid, dialable number.
    """
    text = _checked_text(raw)
    try:
        parsed = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE and not text.startswith("+"):
            reason = f"it has no '+' and {region!r} is not a region to read it in"
        else:
            reason = _PARSE_PROBLEMS.get(exc.error_type, "it does not look like a phone number")
        raise NumberRejected(f"{_shown(text)} is not a phone number: {reason}", number=text) from None
    if parsed.extension:
        raise NumberRejected(f"{_shown(text)} has an extension, which cannot be dialled", number=text)
    if not phonenumbers.is_valid_number(parsed):
        raise NumberRejected(f"{_shown(text)} is not a valid phone number (wrong length, or a range not in use)", number=text)
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if len(e164) - 1 > E164_MAX_DIGITS:
        raise NumberRejected(f"{_shown(text)} is longer than the {E164_MAX_DIGITS} digits E.164 allows", number=text)
    return e164


def check_allowed(e164: str, patterns: Iterable[str | re.Pattern[str]]) -> str:
    """``e164`` itself when one of ``patterns`` matches it whole; else ``NumberNotAllowed``."""
    for pattern in patterns:
        if re.fullmatch(pattern, e164):
            return e164
    raise NumberNotAllowed(f"{e164} may not be called back from here", number=e164)


def _checked_text(raw: object) -> str:
    if not isinstance(raw, str):
        raise NumberRejected("a phone number must be given as text", number=repr(raw)[:MAX_INPUT_CHARS])
    text = raw.strip()
    if not text:
        raise NumberRejected("the phone number is empty", number="")
    if len(text) > MAX_INPUT_CHARS:
        raise NumberRejected(
            f"a phone number is at most {MAX_INPUT_CHARS} characters, got {len(text)}",
            number=text[:MAX_INPUT_CHARS],
        )
    return text


def _shown(text: str) -> str:
    """The input as quoted in a message: printable characters only."""
    return repr("".join(ch if ch.isprintable() else "?" for ch in text))
