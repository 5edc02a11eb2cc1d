"""The outbound dialplan rendered from the ``outbound`` section: the guard in front of the
trunk and the answered callee's context. (Asterisk running it, with the stand-in
network: tests/integration/test_outbound_dialplan.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from ccqueue.asterisk.guard import REFUSED_TECH
from ccqueue.asterisk.outbound import (
    AMD_PARAMETERS,
    OUTBOUND_FILE,
    SAFE_HARBOUR,
    auto_answer_variables,
    originate_action,
    outbound_conf,
)
from ccqueue.asterisk.render import render_asterisk_config
from ccqueue.config import load_config
from ccqueue.config.outbound import OUTBOUND_CONTEXT, OUTBOUND_DIAL, OUTBOUND_DIAL_CONTEXT, Outbound
from testbed import pstn
from tests.unit.asterisk.test_guard import condition_allows

REPO = Path(__file__).resolve().parents[3]
OUTBOUND = Outbound(dial="PJSIP/{digits}@trunk", allowed=(r"\+1202555\d{4}",), region="US")


def context(text: str, name: str) -> list[str]:
    """The lines of context ``[name]``: each extension's first line and its ``same`` lines."""
    lines = text.splitlines()
    start = lines.index(f"[{name}]") + 1
    out = []
    for line in lines[start:]:
        if line.startswith("["):
            break
        if line.startswith(("exten =>", " same =>")):
            out.append(line)
    return out


def apps(lines: list[str]) -> list[str]:
    """Application and arguments of each line, labels dropped: ``Dial(...)``."""
    out = []
    for line in lines:
        body = line.split(",", 2)[2] if line.startswith("exten") else line.split(",", 1)[1]
        out.append(body)
    return out


def test_the_guard_checks_the_number_with_literal_patterns_and_dials_the_trunk() -> None:
    lines = context(outbound_conf(OUTBOUND), OUTBOUND_DIAL_CONTEXT)
    first = lines[0]
    assert first.startswith("exten => _+X.,1,GotoIf($[") and first.endswith("?dial)")
    assert '${REGEX("^([+]1202555[0-9]{4})$" ${EXTEN})}' in first
    condition = first[len("exten => _+X.,1,GotoIf(") : -len("?dial)")]
    (dial,) = [line for line in lines if "Dial(" in line]
    assert dial == f" same => n(dial),Dial(${{IF({condition}?PJSIP:{REFUSED_TECH})}}/${{FILTER(0-9,${{EXTEN}})}}@trunk)"
    # busy and congestion passed back, so the Originate ends with Reason 5 or 8
    body = apps(lines)
    assert "Busy(5)" in body and "Congestion(5)" in body
    # no ring timeout in the guard: the Originate's Timeout is the ring time
    assert dial.endswith("@trunk)")


@pytest.mark.parametrize(
    ("number", "allowed"),
    [
        ("+12025550188", True),
        ("+12025550", False),
        ("+19005550188", False),
        ("+12025550188&PJSIP/x", False),
        ("12025550188", False),
    ],
)
def test_the_guard_allows_exactly_the_allowed_numbers(number: str, allowed: bool) -> None:
    lines = context(outbound_conf(OUTBOUND), OUTBOUND_DIAL_CONTEXT)
    (dial,) = [line for line in lines if "Dial(" in line]
    assert condition_allows(lines[0], number) is allowed
    assert condition_allows(dial, number) is allowed


def test_without_an_outbound_section_every_number_is_refused() -> None:
    text = outbound_conf(None)
    lines = context(text, OUTBOUND_DIAL_CONTEXT)
    assert not any("Dial(" in line for line in lines)
    assert apps(lines)[-1] == "Hangup(21)"
    # the answered-call context is there all the same (it dials nothing)
    assert context(text, OUTBOUND_CONTEXT)


def test_the_answered_callee_gets_amd_when_asked_then_the_outbound_session() -> None:
    body = apps(context(outbound_conf(OUTBOUND), OUTBOUND_CONTEXT))
    assert body[0] == 'GotoIf($["${FILTER(0-9,${CCQ_AMD})}" != "1"]?session)'
    assert body[1] == "AMD(" + ",".join(str(v) for _, v in AMD_PARAMETERS) + ")"
    assert body[1] == "AMD(2500,1500,800,5000,100,50,2,256,5000)"
    assert body[2] == "AGI(${CCQ_AGI}/outbound?key=${CCQ_AGI_KEY})"
    lines = context(outbound_conf(OUTBOUND), OUTBOUND_CONTEXT)
    assert lines[2].startswith(" same => n(session),")


def test_after_the_session_the_dialplan_plays_the_safe_harbour_or_leaves_the_message() -> None:
    text = outbound_conf(OUTBOUND)
    body = apps(context(text, OUTBOUND_CONTEXT))
    after = body[3:]
    assert after[:4] == [
        'GotoIf($["${FILTER(a-z-,${CCQ_NEXT})}" = "safe-harbour"]?harbour)',
        'GotoIf($["${FILTER(a-z-,${CCQ_NEXT})}" = "leave-message"]?message)',
        'GotoIf($["${AGISTATUS}" = "FAILURE"]?harbour)',
        "Hangup()",
    ]
    assert f"?{SAFE_HARBOUR}:" in text and "Playback(${CCQ_SOUND})" in body
    assert "WaitForSilence(2000,1,30)" in body
    assert "UserEvent(CcqOutbound,Step: safe-harbour,Status: ${PLAYBACKSTATUS})" in body
    assert "UserEvent(CcqOutbound,Step: message,Status: ${PLAYBACKSTATUS})" in body
    # Variables an AMI user may set reach a condition or an application only through
    # FILTER(): every ${CCQ_...} is inside a FILTER() or was filtered into CCQ_SOUND/CCQ_MSG
    # on an earlier line. CCQ_AGI_KEY only proves a FastAGI session (a wrong one costs the
    # session an AMI question, session_check rule 4).
    for line in body:
        for name in re.findall(r"\$\{(CCQ_[A-Z_]+)\}", line):
            assert name in ("CCQ_AGI", "CCQ_AGI_KEY", "CCQ_SOUND", "CCQ_MSG") or f",${{{name}}})" in line, line
    for line in body:
        if line.startswith("Set(CCQ_SOUND=${FILTER") or line.startswith("Set(CCQ_MSG="):
            assert "${FILTER(-/_A-Za-z0-9," in line


def test_filter_character_set_keeps_dashes_and_slashes() -> None:
    # In FILTER() a '-' after a single character starts a range: it must come first.
    assert "${FILTER(-/_A-Za-z0-9,${CCQ_SOUND})}" in outbound_conf(OUTBOUND)


def test_render_writes_the_outbound_file_from_the_configuration(tmp_path: Path) -> None:
    for path in (REPO / "config").glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "outbound.yaml").write_text(
        "outbound:\n  dial: 'Local/{digits}@standin-pstn'\n  allowed: ['\\+12025550[1-6]\\d{2}']\n  region: US\n"
    )
    cfg = load_config(tmp_path)
    assert cfg.outbound is not None and cfg.outbound.max_channels == 30
    files = render_asterisk_config(cfg)
    assert "@standin-pstn)" in files[OUTBOUND_FILE]
    # without the section: the file is still written, refusing everything
    files = render_asterisk_config(load_config(REPO / "config"))
    assert "outbound is not set up" in files[OUTBOUND_FILE]


@pytest.mark.parametrize(
    ("dial", "message"),
    [
        ("Local/{number}@ccqueue-outbound-dial", "already dials through ccqueue-outbound-dial"),
        ("Local/{number}@ccqueue-callback-out", "already dials through ccqueue-callback-out"),
        ("PJSIP/trunk", "must contain {number} or {digits}"),
        ("PJSIP/{digits}@trunk,30", "no ','"),
    ],
)
def test_the_outbound_dial_string_is_checked_as_the_callbacks_one(dial: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Outbound(dial=dial, allowed=(r"\+1\d{10}",), region="US")


def test_the_originate_channel_is_a_local_channel_that_is_never_optimised_away() -> None:
    assert OUTBOUND_DIAL == "Local/{number}@ccqueue-outbound-dial/n"


# ---- the stand-in network's numbers ---------------------------------------------------


def test_the_stand_in_numbers_follow_the_scheme() -> None:
    assert pstn.person(1) == "+12025550101"
    assert pstn.busy() == "+12025550200"
    assert pstn.no_answer() == "+12025550300"
    assert pstn.machine(2) == "+12025550402"
    assert pstn.hangs_up_in_greeting() == "+12025550500"
    assert pstn.presses("9", ring_s=1) == "+12025550619"
    with pytest.raises(ValueError):
        pstn.presses("*")
    with pytest.raises(ValueError):
        pstn.person(100)


def test_the_stand_in_numbers_are_valid_phone_numbers_the_allowed_patterns_take() -> None:
    import phonenumbers

    for number in (pstn.person(5), pstn.busy(), pstn.no_answer(), pstn.machine(), pstn.hangs_up_in_greeting(), pstn.presses("1")):
        assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number
        assert any(re.fullmatch(p, number) for p in pstn.STANDIN_ALLOWED)


def test_the_stand_in_network_answers_every_kind_under_both_prefixes() -> None:
    text = (REPO / "dialplan" / "standin-pstn.conf").read_text()
    assert "exten => _12025550[1-6]XX,1,Goto(standin-pstn-line,${EXTEN:-3},1)" in text
    assert "exten => _1555000[1-6]XX,1,Goto(standin-pstn-line,${EXTEN:-3},1)" in text
    for kind in "123456":
        assert f"exten => _{kind}XX,1," in text
    assert '#tryinclude "standin-pstn.conf"' in (REPO / "dialplan" / "extensions.conf").read_text()
    assert '#tryinclude "ccqueue-outbound.conf"' in (REPO / "dialplan" / "extensions.conf").read_text()


@pytest.mark.parametrize("name", ["safe-harbour", "broadcast-sample", "machine-message"])
@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_outbound_prompts_exist_in_english_and_russian_at_8_khz(name: str, language: str) -> None:
    import wave

    with wave.open(str(REPO / "sounds" / language / f"{name}.wav"), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert 3.0 <= w.getnframes() / 8000 <= 15.0


# ---- the Originate ccqueue sends ---------------------------------------------------------


def test_the_originate_dials_through_the_guard_into_the_outbound_context() -> None:
    action = originate_action(
        attempt_id="0b5c",
        number="+12025550101",
        campaign="reminders",
        caller_id="+12025550100",
        ring_timeout_s=25,
        amd=True,
        on_machine="leave_message",
        machine_message="ccqueue/machine-message",
    )
    assert action == {
        "Action": "Originate",
        "Channel": "Local/+12025550101@ccqueue-outbound-dial/n",
        "Context": "ccqueue-outbound",
        "Exten": "s",
        "Priority": "1",
        "Timeout": "25000",
        "CallerID": "+12025550100",
        "ChannelId": "0b5c",
        "OtherChannelId": "dial-0b5c",
        "Variable": [
            "CCQ_ATTEMPT=0b5c",
            "CCQ_CAMPAIGN=reminders",
            "CCQ_AMD=1",
            "CCQ_ON_MACHINE=leave_message",
            "CCQ_MACHINE_MSG=ccqueue/machine-message",
        ],
        "Async": "true",
    }
    plain = originate_action(attempt_id="x", number="+1", campaign="c", caller_id="1", ring_timeout_s=15.5, amd=False)
    assert plain["Timeout"] == "15500" and "CCQ_AMD=0" in plain["Variable"]
    assert not any(v.startswith("CCQ_MACHINE_MSG") for v in plain["Variable"])


def test_the_agent_leg_rings_with_auto_answer_headers() -> None:
    assert auto_answer_variables() == [
        "PJSIP_HEADER(add,Call-Info)=<sip:127.0.0.1>;answer-after=0",
        "PJSIP_HEADER(add,Alert-Info)=<http://127.0.0.1/>;info=alert-autoanswer;delay=0",
    ]
