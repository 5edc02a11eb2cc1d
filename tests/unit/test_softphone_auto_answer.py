"""The test softphone's reading of auto-answer headers from baresip's SIP trace (the
softphone answering by them on real Asterisk: tests/integration/test_outbound_dialplan.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.baresip import _AUTO_ANSWER, Softphone


def invite(call_id: str, *extra: str) -> str:
    lines = [
        "INVITE sip:agent1@127.0.0.1:15070 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bK1",
        "From: <sip:+12025550100@127.0.0.1>;tag=1",
        "To: <sip:agent1@127.0.0.1>",
        f"Call-ID: {call_id}",
        "CSeq: 1 INVITE",
        *extra,
        "Content-Length: 0",
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


@pytest.fixture
def phone(tmp_path: Path) -> Softphone:
    audio = Path(__file__).resolve().parents[2] / "sounds" / "en" / "agent-silence.wav"
    return Softphone(
        "agent1",
        "pw",
        sip_server_port=5060,
        listen_port=15070,
        ctrl_port=14444,
        audio_file=audio,
        workdir=tmp_path,
        auto_answer_header=True,
    )


def test_the_invite_of_a_call_is_found_by_its_call_id(phone: Softphone) -> None:
    trace = (
        "baresip is ready.\n"
        + invite("first", "Call-Info: <sip:127.0.0.1>;answer-after=0")
        + "SIP/2.0 100 Trying\r\nCall-ID: second\r\n\r\n"
        + invite("second")
    )
    phone.log_path.write_text(trace)
    assert "answer-after=0" in phone.invite_of("first", timeout=0)
    # the second call's INVITE has no header, though the first's trace comes before it
    second = phone.invite_of("second", timeout=0)
    assert second.startswith("INVITE sip:") and "Call-ID: second" in second
    assert not _AUTO_ANSWER.search(second)
    assert phone.invite_of("third", timeout=0) == ""


@pytest.mark.parametrize(
    ("header", "auto"),
    [
        ("Call-Info: <sip:127.0.0.1>;answer-after=0", True),
        ("call-info: <sip:x>; answer-after=0", True),
        ("Call-Info: <sip:127.0.0.1>;answer-after=05", False),
        ("Alert-Info: <http://127.0.0.1/>;info=alert-autoanswer;delay=0", True),
        ("Alert-Info: <http://www.notused.com>;info=auto-answer", True),
        ("Call-Info: <sip:127.0.0.1>;answer-after=10", False),
        ("Alert-Info: <http://127.0.0.1/ring.wav>", False),
        ("Subject: answer-after=0", False),
    ],
)
def test_auto_answer_headers(header: str, auto: bool) -> None:
    assert bool(_AUTO_ANSWER.search(invite("x", header))) is auto
