"""Listening in, the Asterisk side: the generated ``[ccqueue-spy]`` context and the AMI
actions ``SpyDesk`` sends (AMI replaced by a recording stand-in; the real thing is
tests/e2e/test_spy.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ccqueue.asterisk.render import render_asterisk_config
from ccqueue.asterisk.spy import SPY_CONTEXT, SPY_FILE, SPY_OPTIONS, SpyDesk, spy_conf
from ccqueue.config import load_config
from ccqueue.config.users import Role, User
from ccqueue.core.errors import RequestError, SpyNotAnswered


class Ami:
    """AMI as SpyDesk sees it: each action kept; an Originate is answered unless told otherwise."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.originate_reason = "4"  # answered
        self.setvar_ok = True

    async def send(self, action: dict[str, Any], *, timeout: float) -> Any:
        self.sent.append(dict(action))
        name = action["Action"]
        if name == "Originate":
            ok = self.originate_reason == "4"
            return [
                {"Response": "Success", "Message": "Originate successfully queued"},
                {"Event": "OriginateResponse", "Response": "Success" if ok else "Failure", "Reason": self.originate_reason},
            ]
        if name == "Setvar" and not self.setvar_ok:
            return {"Response": "Error", "Message": "No such channel"}
        return {"Response": "Success"}

    def actions(self) -> list[str]:
        return [a["Action"] for a in self.sent]


def _desk() -> tuple[SpyDesk, Ami]:
    ami = Ami()
    return SpyDesk(ami), ami  # type: ignore[arg-type]


# -- the dialplan --------------------------------------------------------------------------------


def test_each_mode_spies_on_the_one_channel_with_its_options() -> None:
    text = spy_conf()
    assert f"[{SPY_CONTEXT}]" in text
    calls = dict(re.findall(r"exten => (\w+),1,.*\n same => n,GotoIf.*\n same => n,ChanSpy\(\$\{CCQ_SPY_CHAN\},(\w+)\)", text))
    assert calls == {"listen": "uqES", "whisper": "uqESw", "barge": "uqESB"} == dict(SPY_OPTIONS)
    assert not any("d" in options for options in calls.values())  # modes change through the API only
    # The target's exact name first (IMPORT matches a uniqueid exactly); none: hang up, never spy on "any channel".
    assert text.count("Set(CCQ_SPY_CHAN=${IMPORT(${CCQ_SPY_TARGET},CHANNEL(name))})") == 3
    assert text.count('GotoIf($["${CCQ_SPY_CHAN}" = ""]?gone)') == 3
    assert text.count("same => n(gone),Hangup()") == 3


def test_the_context_is_rendered_with_the_others_and_included(tmp_path: Path) -> None:
    (tmp_path / "ccqueue.yaml").write_text(
        "asterisk:\n  ami: {username: ccqueue, secret: s3cret}\nqueues:\n  support:\n", encoding="utf-8"
    )
    files = render_asterisk_config(load_config(tmp_path, env={}))
    assert files[SPY_FILE] == spy_conf()
    text = (Path(__file__).resolve().parents[3] / "dialplan" / "extensions.conf").read_text()
    assert f'#tryinclude "{SPY_FILE}"' in text.splitlines()


# -- the AMI actions -----------------------------------------------------------------------------


async def test_the_first_request_rings_the_supervisors_phone_into_the_mode() -> None:
    desk, ami = _desk()
    answer = await desk.spy(supervisor="sam", phone="PJSIP/sup1", agent_id="agent1", target="c1.1", mode="listen")
    (originate,) = ami.sent
    assert originate["Channel"] == "PJSIP/sup1"
    assert (originate["Context"], originate["Exten"], originate["Priority"]) == (SPY_CONTEXT, "listen", "1")
    assert originate["Variable"][0] == "CCQ_SPY_TARGET=c1.1"
    assert originate["ChannelId"] == answer["spy_id"] and answer["spy_id"].startswith("spy-")
    assert (answer["mode"], answer["rang"]) == ("listen", True)


async def test_a_new_mode_moves_the_live_spy_call_without_ringing_again() -> None:
    desk, ami = _desk()
    first = await desk.spy(supervisor="sam", phone="PJSIP/sup1", agent_id="agent1", target="c1.1", mode="listen")
    second = await desk.spy(supervisor="sam", phone="PJSIP/sup1", agent_id="agent1", target="c1.1", mode="barge")
    assert ami.actions() == ["Originate", "Setvar", "Redirect"]
    setvar, redirect = ami.sent[1:]
    assert (setvar["Channel"], setvar["Variable"], setvar["Value"]) == (first["spy_id"], "CCQ_SPY_TARGET", "c1.1")
    assert (redirect["Channel"], redirect["Context"], redirect["Exten"]) == (first["spy_id"], SPY_CONTEXT, "barge")
    assert (second["spy_id"], second["rang"], second["mode"]) == (first["spy_id"], False, "barge")


async def test_after_the_supervisor_hung_up_the_phone_rings_anew() -> None:
    desk, ami = _desk()
    await desk.spy(supervisor="sam", phone="PJSIP/sup1", agent_id="agent1", target="c1.1", mode="listen")
    ami.setvar_ok = False  # the spy call has ended
    answer = await desk.spy(supervisor="sam", phone="PJSIP/sup1", agent_id="agent2", target="c2.1", mode="whisper")
    assert ami.actions() == ["Originate", "Setvar", "Originate"]
    assert answer["rang"] is True and ami.sent[-1]["Exten"] == "whisper"


async def test_an_unanswered_phone_is_an_error_and_leaves_no_spy_call() -> None:
    desk, ami = _desk()
    ami.originate_reason = "3"  # no answer
    with pytest.raises(SpyNotAnswered):
        await desk.spy(supervisor="sam", phone="PJSIP/sup1", agent_id="agent1", target="c1.1", mode="listen")
    ami.originate_reason = "4"
    await desk.spy(supervisor="sam", phone="PJSIP/sup1", agent_id="agent1", target="c1.1", mode="listen")
    assert ami.actions() == ["Originate", "Originate"]  # nothing to move: rung again


@pytest.mark.parametrize(
    ("target", "mode"),
    [("c1.1,qB", "listen"), ("c1.1", "spy"), ("", "listen"), ("c1 1", "listen"), ("c1.1|x", "listen")],
)
async def test_nothing_is_sent_for_a_target_or_mode_it_cannot_hand_over(target: str, mode: str) -> None:
    desk, ami = _desk()
    with pytest.raises(RequestError):
        await desk.spy(supervisor="sam", phone="PJSIP/sup1", agent_id="agent1", target=target, mode=mode)
    assert ami.sent == []


# -- the phone in the configuration --------------------------------------------------------------


@pytest.mark.parametrize("phone", ["PJSIP/sup1", "SIP/sam@pbx", "Local/201@desk-phones", "PJSIP/+15550100"])
def test_a_supervisor_names_its_phone(phone: str) -> None:
    user = User(role=Role.SUPERVISOR, queues=("support",), tokens=(), password_hash="$argon2id$x", phone=phone)
    assert user.phone == phone


@pytest.mark.parametrize("phone", ["PJSIP/sup1,q", "PJSIP/sup1&PJSIP/x", "sup1", "PJSIP/ sup1", "PJSIP/sup1;x", "PJSIP/"])
def test_a_phone_that_is_no_plain_dial_string_is_refused(phone: str) -> None:
    with pytest.raises(ValueError, match="dial string"):
        User(role=Role.SUPERVISOR, queues=("support",), password_hash="$argon2id$x", phone=phone)


def test_an_agent_user_has_no_phone() -> None:
    with pytest.raises(ValueError, match="no phone"):
        User(role=Role.AGENT, agent="agent1", password_hash="$argon2id$x", phone="PJSIP/agent1")
