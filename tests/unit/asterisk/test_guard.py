"""The dialplan guard file rendered from the ``callbacks`` section, and ccqueue dialling
through it. (Asterisk running it: tests/e2e/test_trunk_guard.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ccqueue.asterisk.guard import GUARD_FILE, REFUSED_TECH, guard_conf
from ccqueue.asterisk.render import main as render_main
from ccqueue.asterisk.render import render_asterisk_config
from ccqueue.config import load_config
from ccqueue.config.callbacks import GUARD_CONTEXT, Callbacks
from ccqueue.config.to_core import acd_settings
from tests.unit.config.test_number_patterns import posix, posix_matches

CALLBACKS = Callbacks(
    dial="PJSIP/{digits}@trunk", caller_id="400", region="US", allowed=(r"\+1202555\d{4}", r"\+44(?:7\d{9}|20\d{8})")
)


def priorities(text: str) -> list[str]:
    """The ``_+X.`` extension's lines, application and arguments, in order."""
    lines = [line.split(",", 2)[2] for line in text.splitlines() if line.startswith("exten => _+X.,1,")]
    lines += [line.split(",", 1)[1] for line in text.splitlines() if line.startswith(" same => n")]
    return lines


def dial_line(text: str) -> str:
    (line,) = [p for p in priorities(text) if p.startswith("Dial(")]
    return line


def condition_allows(line: str, number: str) -> bool:
    """The guard's condition on ``line`` worked out for ``number`` the way Asterisk does it:
    each REGEX() by glibc's POSIX regexec, then 'shape & (allowed | allowed ...)'."""
    results = []
    for ere in re.findall(r'REGEX\("([^"]*)" \$\{EXTEN\}\)', line):
        with posix(ere) as compiled:
            results.append(posix_matches(compiled, number))
    shape, *allowed = results
    return shape and any(allowed)


def test_the_guard_checks_the_number_with_literal_patterns_and_dials_the_trunk() -> None:
    text = guard_conf(CALLBACKS)
    assert f"[{GUARD_CONTEXT}]" in text.splitlines()
    first, *_ = priorities(text)
    assert first.startswith("GotoIf($[") and first.endswith("?dial)")
    assert '${REGEX("^([+]1202555[0-9]{4})$" ${EXTEN})}' in first
    assert '${REGEX("^([+]44(7[0-9]{9}|20[0-9]{8}))$" ${EXTEN})}' in first
    # The line that dials checks on its own (a channel may be started at any priority).
    condition = first[len("GotoIf(") : -len("?dial)")]
    assert dial_line(text) == f"Dial(${{IF({condition}?PJSIP:{REFUSED_TECH})}}/${{FILTER(0-9,${{EXTEN}})}}@trunk)"
    # Nothing is read from a variable AMI could set: no globals, no channel variables but
    # EXTEN and, after Dial(), DIALSTATUS.
    assert set(re.findall(r"\$\{([A-Z_]+)\b", text)) <= {"EXTEN", "REGEX", "FILTER", "IF", "DIALSTATUS"}


@pytest.mark.parametrize(
    ("number", "allowed"),
    [
        ("+12025550188", True),
        ("+447911123456", True),
        ("+442079460018", True),
        ("+19005551234", False),
        ("+1202555018", False),  # one digit short
        ("+120255501880", False),  # one too many
        ("12025550188", False),  # no '+'
        ("+12025550188&PJSIP/x", False),
        ("+12025550188,,G(x)", False),
        ('+1202555018"8', False),
    ],
)
def test_the_rendered_condition_allows_exactly_the_allowed_numbers(number: str, allowed: bool) -> None:
    text = guard_conf(CALLBACKS)
    assert condition_allows(dial_line(text), number) is allowed
    assert condition_allows(priorities(text)[0], number) is allowed


def test_the_extension_reaches_arguments_only_through_regex_and_filter() -> None:
    # An AMI user chooses the extension freely: quotes, commas and '&' must never reach an
    # application's arguments, so every ${EXTEN} is REGEX()'s last argument or FILTER(0-9,...)'s.
    text = guard_conf(CALLBACKS)
    for line in priorities(text):
        for found in re.finditer(r"\$\{EXTEN\}", line):
            before = line[: found.start()]
            assert before.endswith(('" ', "FILTER(0-9,")), line


def test_number_and_digits_are_filled_in_from_the_filtered_extension() -> None:
    callbacks = CALLBACKS.model_copy(update={"dial": "Local/{number}@outbound/n"})
    assert dial_line(guard_conf(callbacks)).endswith("?Local:CCQUEUE-REFUSED)}/+${FILTER(0-9,${EXTEN})}@outbound/n)")


def test_without_callbacks_every_number_is_refused() -> None:
    text = guard_conf(None)
    assert f"[{GUARD_CONTEXT}]" in text.splitlines()
    assert not [p for p in priorities(text) if p.startswith("Dial(")]
    assert priorities(text)[-1] == "Hangup(21)"


def test_the_guard_is_rendered_with_the_asterisk_config_and_ccqueue_dials_through_it(tmp_path: Path) -> None:
    (tmp_path / "ccqueue.yaml").write_text(
        "asterisk:\n  ami: {username: ccqueue, secret: s3cret}\nqueues:\n  support:\n"
        "callbacks:\n  dial: PJSIP/{digits}@trunk\n  caller_id: '400'\n  region: US\n"
        "  allowed: ['\\+1202555\\d{4}']\n  ring_timeout_s: 25\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path, env={})
    files = render_asterisk_config(config)
    assert files[GUARD_FILE] == guard_conf(config.callbacks)
    policy = acd_settings(config).callbacks
    assert policy is not None
    assert policy.dial_string("+12025550188") == f"Local/+12025550188@{GUARD_CONTEXT},25"


def test_the_dialplan_includes_the_guard() -> None:
    text = (Path(__file__).resolve().parents[3] / "dialplan" / "extensions.conf").read_text()
    assert f'#tryinclude "{GUARD_FILE}"' in text.splitlines()


def test_render_refuses_a_pattern_the_guard_cannot_check_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "ccqueue.yaml").write_text(
        "asterisk:\n  ami: {username: ccqueue, secret: s3cret}\nqueues:\n  support:\n"
        "callbacks:\n  dial: PJSIP/{digits}@trunk\n  caller_id: '400'\n  region: US\n"
        "  allowed:\n    - '\\+1\\d{10}'\n    - '\\+44\\w+'\n",
        encoding="utf-8",
    )
    assert render_main(["--config", str(config), "--out", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists()
    err = capsys.readouterr().err
    assert f"{config / 'ccqueue.yaml'}:11: callbacks.allowed.1: '\\w' (a word character), at character 5" in err
