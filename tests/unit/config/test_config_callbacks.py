"""The ``callbacks:`` section: loaded frozen with its defaults, and every mistake reported
with its file, line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from ccqueue.config import ConfigError, Problem, load_config
from ccqueue.config.callbacks import Callbacks

BASE = """\
asterisk:
  ami: {username: ccqueue, secret: s3cret}
queues:
  support:
"""

GOOD = """\
callbacks:
  dial: PJSIP/{digits}@trunk
  caller_id: '"Support" <+15550100>'
  region: US
  allowed:
    - '\\+1[2-9]\\d{2}[2-9]\\d{6}'
"""


def load(tmp_path: Path, text: str) -> object:
    (tmp_path / "ccqueue.yaml").write_text(BASE + textwrap.dedent(text), encoding="utf-8")
    return load_config(tmp_path, env={})


def problems(tmp_path: Path, text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return list(caught.value.problems)


def only_problem(tmp_path: Path, text: str) -> Problem:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


def test_the_section_loads_frozen_with_its_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, GOOD)
    callbacks = config.callbacks  # type: ignore[attr-defined]
    assert callbacks == Callbacks(
        dial="PJSIP/{digits}@trunk",
        caller_id='"Support" <+15550100>',
        region="US",
        allowed=(r"\+1[2-9]\d{2}[2-9]\d{6}",),
    )
    assert (callbacks.max_attempts, callbacks.retry_delay_s, callbacks.expire_s) == (3, 300.0, 14400.0)
    assert (callbacks.ring_timeout_s, callbacks.key, callbacks.offer_after_s) == (30.0, "1", None)
    with pytest.raises(ValidationError):
        callbacks.max_attempts = 5


def test_no_section_or_an_empty_one_means_no_callbacks(tmp_path: Path) -> None:
    assert load(tmp_path, "").callbacks is None  # type: ignore[attr-defined]
    assert load(tmp_path, "callbacks:\n").callbacks is None  # type: ignore[attr-defined]


def test_every_setting_can_be_given(tmp_path: Path) -> None:
    settings = ("max_attempts: 5", "retry_delay_s: 60", "expire_s: 7200", "ring_timeout_s: 25", "key: '*'", "offer_after_s: 90")
    text = GOOD + "".join(f"  {line}\n" for line in settings)
    callbacks = load(tmp_path, text).callbacks  # type: ignore[attr-defined]
    assert (callbacks.max_attempts, callbacks.retry_delay_s, callbacks.expire_s) == (5, 60.0, 7200.0)
    assert (callbacks.ring_timeout_s, callbacks.key, callbacks.offer_after_s) == (25.0, "*", 90.0)


@pytest.mark.parametrize(
    ("dial", "e164", "expected"),
    [
        ("PJSIP/{digits}@trunk", "+15550100", "PJSIP/15550100@trunk"),
        ("Local/{number}@outbound", "+15550100", "Local/+15550100@outbound"),
        ("SIP/trunk/00{digits}", "+4930123", "SIP/trunk/004930123"),
    ],
)
def test_the_dial_string_takes_the_number(dial: str, e164: str, expected: str) -> None:
    callbacks = Callbacks(dial=dial, caller_id="x", region="US", allowed=(".*",))
    assert callbacks.dial_string(e164) == expected


# (what is changed, the line it is reported on, the key, words of the message)
BAD = [
    ("  dial: PJSIP/trunk\n", 6, "callbacks.dial", "{number} or {digits}"),
    ("  dial: PJSIP/{digits}@trunk,30\n", 6, "callbacks.dial", "no ',' or '&'"),
    ("  dial: PJSIP/{digits}@a&PJSIP/{digits}@b\n", 6, "callbacks.dial", "no ',' or '&'"),
    ("  dial: PJSIP/{digits}@{trunk}\n", 6, "callbacks.dial", "only the placeholders"),
    ("  dial: '{digits}'\n", 6, "callbacks.dial", "technology/resource"),
    ("  dial: PJSIP/{digits}@trunk;x\n", 6, "callbacks.dial", "may not contain ';'"),
    ("  dial: PJSIP/${digits}@trunk\n", 6, "callbacks.dial", "may not contain '$'"),
    ("  dial: Local/{number}@ccqueue-callback-out\n", 6, "callbacks.dial", "already dials through"),
    ("  region: us\n", 6, "callbacks.region", "did you mean 'US'?"),
    ("  region: XX\n", 6, "callbacks.region", "not a region code"),
    ('  caller_id: "a\\nb"\n', 6, "callbacks.caller_id", "control characters"),
    ("  allowed: []\n", 6, "callbacks.allowed", "at least 1"),
    ("  key: 1\n", 6, "callbacks.key", "'1'"),
    ("  key: '10'\n", 6, "callbacks.key", "'#'"),
    ("  max_attempts: 0\n", 6, "callbacks.max_attempts", "at least 1"),
    ("  retry_delay_s: -1\n", 6, "callbacks.retry_delay_s", "at least 0"),
    ("  expire_s: 0\n", 6, "callbacks.expire_s", "more than 0"),
    ("  offer_after_s: '30'\n", 6, "callbacks.offer_after_s", "number"),
    ("  retry_delay: 60\n", 6, "callbacks.retry_delay", "did you mean 'retry_delay_s'?"),
]


@pytest.mark.parametrize(("line", "at", "key", "words"), BAD)
def test_mistakes_are_reported_at_their_line(tmp_path: Path, line: str, at: int, key: str, words: str) -> None:
    # The changed key goes first in the section (line 6); a repeated key would be a YAML error,
    # so the key it replaces is dropped from GOOD.
    name = line.split(":")[0].strip()
    rest = "".join(row + "\n" for row in GOOD.splitlines()[1:] if not row.strip().startswith(f"{name}:"))
    if name == "allowed":
        rest = "".join(row + "\n" for row in rest.splitlines() if not row.strip().startswith("- "))
    problem = only_problem(tmp_path, "callbacks:\n" + line + rest)
    assert (Path(problem.file).name, problem.line, problem.key) == ("ccqueue.yaml", at, key)
    assert words in problem.message


def test_a_pattern_that_does_not_compile_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD + "    - '\\+44(7'\n    - '[0-9'\n"
    found = problems(tmp_path, text)
    assert [(p.line, p.key) for p in found] == [(11, "callbacks.allowed.1"), (12, "callbacks.allowed.2")]
    assert all("not a regular expression" in p.message for p in found)
    assert "missing )" in found[0].message


def test_required_keys_are_named(tmp_path: Path) -> None:
    found = problems(tmp_path, "callbacks:\n  key: '2'\n")
    assert sorted(p.key for p in found) == ["callbacks.allowed", "callbacks.caller_id", "callbacks.dial", "callbacks.region"]
    assert {p.line for p in found} == {5}
