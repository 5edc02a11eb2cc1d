"""ccqueue.numbers: every way of writing a number ends in one E.164 form or a clear refusal,
and only numbers the patterns allow get through."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccqueue.core.errors import RequestError
from ccqueue.numbers import (
    MAX_INPUT_CHARS,
    NumberNotAllowed,
    NumberRejected,
    check_allowed,
    normalize,
)

NANP = r"\+1[2-9]\d{2}[2-9]\d{6}"

SAME_NUMBER = [
    ("+1 650 253 0000", "US"),
    ("+16502530000", "US"),
    ("(650) 253-0000", "US"),
    ("650.253.0000", "US"),
    ("1-650-253-0000", "US"),
    ("  +1 (650) 253-0000  ", "DE"),  # a '+' number ignores the region
    ("0016502530000", "DE"),  # Germany's international prefix
    ("011 1 650 253 0000", "US"),
    ("tel:+1-650-253-0000", "US"),
    ("+1 650 253 0000", "us"),  # the region's case does not matter
]


@pytest.mark.parametrize(("raw", "region"), SAME_NUMBER)
def test_ways_of_writing_one_number_give_one_e164(raw: str, region: str) -> None:
    assert normalize(raw, region=region) == "+16502530000"


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("030 12345678", "DE", "+493012345678"),
        ("8 495 123-45-67", "RU", "+74951234567"),
        ("+7 495 123 45 67", "US", "+74951234567"),
        ("020 7946 0018", "GB", "+442079460018"),
    ],
)
def test_national_forms_are_read_in_the_region(raw: str, region: str, e164: str) -> None:
    assert normalize(raw, region=region) == e164


@pytest.mark.parametrize(
    ("raw", "region", "words"),
    [
        ("", "US", "empty"),
        ("   ", "US", "empty"),
        ("call me", "US", "does not look like a phone number"),
        ("+999 123", "US", "country code"),
        ("12", "US", "not a valid phone number"),
        ("+1 650 253 000", "US", "not a valid phone number"),  # a digit short
        ("+1 650 253 0000 ext. 12", "US", "extension"),
        ("030 000000000000", "DE", "15 digits"),
        ("6502530000", "XX", "'XX' is not a region"),
        ("1" * (MAX_INPUT_CHARS + 1), "US", f"at most {MAX_INPUT_CHARS} characters"),
    ],
)
def test_bad_numbers_are_refused_with_a_reason(raw: str, region: str, words: str) -> None:
    with pytest.raises(NumberRejected) as caught:
        normalize(raw, region=region)
    assert caught.value.error_id == "callback-number-invalid"
    assert words in str(caught.value)


def test_a_refusal_is_the_senders_fault_and_names_no_control_characters() -> None:
    with pytest.raises(NumberRejected) as caught:
        normalize("12\x00\n", region="US")
    assert isinstance(caught.value, RequestError)
    assert "\x00" not in str(caught.value) and "\n" not in str(caught.value)


def test_only_a_number_matching_a_whole_pattern_is_allowed() -> None:
    assert check_allowed("+16502530000", [NANP]) == "+16502530000"
    assert check_allowed("+493012345678", [NANP, r"\+49\d+"]) == "+493012345678"
    assert check_allowed("+16502530000", [re.compile(NANP)]) == "+16502530000"
    for number, patterns in [
        ("+493012345678", [NANP]),
        ("+165025300001", [NANP]),  # a prefix match is not enough
        ("+4916502530000", [r"\+1650\d+"]),  # nor is a match inside the number
        ("+16502530000", []),  # no pattern allows nothing
    ]:
        with pytest.raises(NumberNotAllowed) as caught:
            check_allowed(number, patterns)
        assert caught.value.error_id == "callback-number-not-allowed"
        assert number in str(caught.value)


def test_a_pattern_written_with_anchors_still_works() -> None:
    assert check_allowed("+16502530000", [r"^\+1\d{10}$"]) == "+16502530000"


REGIONS = st.sampled_from(["US", "DE", "RU", "GB", "FR", "IN", "BR"])


@given(raw=st.text(max_size=80), region=REGIONS)
def test_no_input_crashes_normalize(raw: str, region: str) -> None:
    try:
        e164 = normalize(raw, region=region)
    except NumberRejected:
        return
    assert re.fullmatch(r"\+[1-9]\d{6,14}", e164)
    assert normalize(e164, region=region) == e164  # normalising again changes nothing


@given(
    raw=st.text(alphabet="0123456789 +-()./", min_size=1, max_size=24) | st.from_regex(r"\+?[0-9]{7,15}", fullmatch=True),
    region=REGIONS,
)
def test_digit_strings_end_valid_or_refused(raw: str, region: str) -> None:
    try:
        e164 = normalize(raw, region=region)
    except NumberRejected as exc:
        assert exc.error_id == "callback-number-invalid"
        return
    assert re.fullmatch(r"\+[1-9]\d{6,14}", e164)


PATTERNS = [NANP, r"\+44(20|7\d)\d{8}"]


@given(raw=st.text(alphabet="0123456789 +-()", max_size=20) | st.text(max_size=20), region=REGIONS)
def test_only_allowed_numbers_pass_both_checks(raw: str, region: str) -> None:
    try:
        number = check_allowed(normalize(raw, region=region), PATTERNS)
    except NumberRejected:  # NumberNotAllowed included
        return
    assert any(re.fullmatch(p, number) for p in PATTERNS)


@given(number=st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True))
def test_check_allowed_agrees_with_fullmatch(number: str) -> None:
    allowed = any(re.fullmatch(p, number) for p in PATTERNS)
    try:
        assert check_allowed(number, PATTERNS) == number
        assert allowed
    except NumberNotAllowed:
        assert not allowed
