"""A campaign's dial over AMI: the Originate sent, and its OriginateResponse read."""

from __future__ import annotations

from typing import Any

import pytest

from ccqueue.asterisk.telephony import AsteriskTelephony
from ccqueue.asterisk.translate import IncompleteMessage, dial_failure
from ccqueue.core import commands as cmd
from ccqueue.core import events as ev


@pytest.mark.parametrize(
    ("reason", "failure"),
    [
        ("4", None),
        ("5", ev.DialFailure.BUSY),
        ("3", ev.DialFailure.NO_ANSWER),
        ("1", ev.DialFailure.NO_ANSWER),
        ("8", ev.DialFailure.FAILED),
        ("0", ev.DialFailure.FAILED),
        ("42", ev.DialFailure.FAILED),
    ],
)
def test_originate_response_reasons(reason: str, failure: ev.DialFailure | None) -> None:
    assert dial_failure({"Event": "OriginateResponse", "Reason": reason}) is failure


def test_an_originate_response_without_reason_is_refused() -> None:
    with pytest.raises(IncompleteMessage):
        dial_failure({"Event": "OriginateResponse"})


class FakeAmi:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.sent: list[dict[str, Any]] = []

    async def send(self, action: dict[str, Any], *, timeout: float) -> Any:
        self.sent.append(action)
        return self.answer


DIAL = cmd.DialContact(
    attempt_id="out-renewals-7-1",
    campaign="renewals",
    number="+12025550101",
    caller_id="+12025550199",
    ring_timeout_s=20,
    amd=True,
    on_machine="leave_message",
    machine_message="ccqueue/machine-message",
)


def telephony(answer: Any) -> tuple[AsteriskTelephony, FakeAmi]:
    t = AsteriskTelephony(host="127.0.0.1", port=1, username="u", secret="s", agent_context="ccqueue-agent", post=lambda e: None)
    fake = FakeAmi(answer)
    t.ami = fake  # type: ignore[assignment]
    return t, fake


async def test_a_campaign_dial_is_an_originate_named_by_its_attempt() -> None:
    t, ami = telephony([{"Response": "Success"}, {"Event": "OriginateResponse", "Reason": "5"}])
    assert await t.originate_contact(DIAL) == (ev.DialFailure.BUSY, "reason 5")
    (action,) = ami.sent
    assert action["Channel"] == "Local/+12025550101@ccqueue-outbound-dial/n"
    assert (action["Context"], action["Exten"], action["ChannelId"]) == ("ccqueue-outbound", "s", "out-renewals-7-1")
    assert not action["OtherChannelId"].startswith("out-renewals-7-1")  # Bridge() matches uniqueid prefixes
    assert action["Timeout"] == "20000"
    assert "CCQ_ATTEMPT=out-renewals-7-1" in action["Variable"] and "CCQ_AMD=1" in action["Variable"]


async def test_an_answered_dial_is_left_to_its_fastagi_session() -> None:
    t, _ = telephony([{"Response": "Success"}, {"Event": "OriginateResponse", "Reason": "4"}])
    assert (await t.originate_contact(DIAL))[0] is None


async def test_a_refused_originate_is_a_failed_dial() -> None:
    t, _ = telephony({"Response": "Error", "Message": "Originate failed"})
    failure, said = await t.originate_contact(DIAL)
    assert failure is ev.DialFailure.FAILED and "Originate failed" in said


async def test_an_agent_leg_of_a_campaign_call_asks_for_auto_answer() -> None:
    t, ami = telephony([{"Response": "Success"}, {"Event": "OriginateResponse", "Reason": "4"}])
    offer = cmd.OriginateAgent(
        offer_id="agent1-out-renewals-7-1", call_id="out-renewals-7-1", agent_id="a1", endpoint="PJSIP/a1",
        ring_timeout_s=5, caller_id="renewals: Ann", auto_answer=True,
    )  # fmt: skip
    assert await t.originate_agent(offer) is None
    variables = ami.sent[0]["Variable"]
    assert "CCQ_AUTOANSWER=1" in variables and any(v.startswith("PJSIP_HEADER(add,Call-Info)") for v in variables)
