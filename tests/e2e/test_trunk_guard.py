"""The trunk's own guard, with real Asterisk: whoever holds ccqueue's AMI secret cannot
use what ccqueue dials, nor the guard context, to call a number callbacks may not call.

The suite's callbacks allow ``+1202555XXXX`` and reach the stand-in trunk
(``ccqueue-test-trunk``, which rings agent3's softphone). Each attempt is an AMI
Originate with ccqueue's own credentials; the trunk is reached when a channel to
``PJSIP/agent3`` is created. No ccqueue process runs: the dialplan alone must refuse.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ccqueue.config import load_config
from ccqueue.config.callbacks import GUARD_CONTEXT
from ccqueue.devtools.baresip import Softphone
from ccqueue.devtools.sandbox import AsteriskSandbox
from ccqueue.engine.settings import acd_settings
from tests.support.probe import AmiProbe

pytestmark = pytest.mark.e2e

NOT_ALLOWED = "+19005551234"  # a premium-rate number
ALLOWED = "+12025550188"
# How long a refused attempt is watched for a channel to the trunk. A dial through the
# guard reaches PJSIP/agent3 within about 50 ms here.
WATCH_S = 2.0


def dialled_by_ccqueue(config: Path, number: str) -> str:
    """The channel ccqueue's agent leg dials to call ``number`` back (Dial()'s first argument)."""
    policy = acd_settings(load_config(config)).callbacks
    assert policy is not None
    return policy.dial_string(number).rsplit(",", 1)[0]


def trunk_channel(message: dict[str, str]) -> bool:
    return message.get("Event") == "Newchannel" and message.get("Channel", "").startswith("PJSIP/agent3-")


async def originate(probe: AmiProbe, **fields: str) -> None:
    """An async Originate whose own side (the ``;1`` half of a Local channel) just waits."""
    action = {"Action": "Originate", "Async": "true", "Timeout": "10000", "CallerID": '"AMI" <100>', **fields}
    if "Application" not in action and "Context" not in action:
        action.update(Context="ccqueue-test-caller", Exten="wait", Priority="1")
    response = await probe.client.send(action, timeout=15)
    messages = response if isinstance(response, list) else [response]
    assert any((m.get("Response") or "") == "Success" for m in messages), messages


async def assert_trunk_untouched(probe: AmiProbe, asterisk: AsteriskSandbox, since: int, what: str) -> None:
    deadline = time.monotonic() + WATCH_S
    while time.monotonic() < deadline:
        assert not probe.seen(trunk_channel, since=since), f"{what} reached the trunk: {probe.seen(trunk_channel, since=since)}"
        await asyncio.sleep(0.05)
    asterisk.rx("channel request hangup all")


@pytest.fixture
def agent3(phones: dict[str, Softphone]) -> Softphone:
    phone = phones["agent3"]
    phone.set_answermode("manual")  # it rings and stays ringing: the Newchannel is what counts
    return phone


async def test_what_ccqueue_dials_for_a_number_not_allowed_never_reaches_the_trunk(
    asterisk: AsteriskSandbox, agent3: Softphone, probe: AmiProbe, e2e_config: Path
) -> None:
    channel = dialled_by_ccqueue(e2e_config, NOT_ALLOWED)
    assert channel == f"Local/{NOT_ALLOWED}@{GUARD_CONTEXT}"
    log_start = len(asterisk.log_text())
    mark = len(probe.events)
    await originate(probe, Channel=channel)
    await assert_trunk_untouched(probe, asterisk, mark, f"an Originate of {channel}")
    asterisk.wait_for_log(rf"callback to \{NOT_ALLOWED} refused", start=log_start)


@pytest.mark.parametrize(
    "exten",
    [
        NOT_ALLOWED,
        f"{ALLOWED}&PJSIP/agent3",  # an allowed number with a second destination after it
        f"{ALLOWED},,",  # an allowed number with Dial() options after it
        "+1202555018",  # one digit short of an allowed number
    ],
)
async def test_an_originate_into_the_guard_at_any_priority_never_reaches_the_trunk(
    asterisk: AsteriskSandbox, agent3: Softphone, probe: AmiProbe, exten: str
) -> None:
    # A channel that answers at once (the test caller's "wait") started in the guard's
    # extension at each of its priorities: the one that dials must refuse on its own.
    priorities = int(asterisk.rx(f"dialplan show {exten}@{GUARD_CONTEXT}").count("\n     ") or 1)
    for priority in range(1, max(priorities, 5) + 1):
        mark = len(probe.events)
        await originate(probe, Channel="Local/wait@ccqueue-test-caller", Context=GUARD_CONTEXT, Exten=exten,
                        Priority=str(priority))
        await assert_trunk_untouched(probe, asterisk, mark, f"{exten} at priority {priority}")


async def test_an_allowed_number_goes_through_the_guard_to_the_trunk(
    asterisk: AsteriskSandbox, agent3: Softphone, probe: AmiProbe, e2e_config: Path
) -> None:
    channel = dialled_by_ccqueue(e2e_config, ALLOWED)
    mark = len(probe.events)
    started = time.monotonic()
    await originate(probe, Channel=channel)
    try:
        rang = await probe.wait_for(trunk_channel, timeout=10, since=mark, what="a channel to the stand-in trunk")
        print(f"through the guard to the trunk in {(time.monotonic() - started) * 1000:.0f} ms: {rang['Channel']}")
        dial = await probe.wait_for(
            lambda m: m.get("Event") == "DialBegin" and m.get("DestChannel") == rang["Channel"],
            timeout=5, since=mark, what="the trunk's Dial()",
        )
        # The stand-in trunk was dialled with the number's digits, from the guard.
        assert dial.get("Context") == "ccqueue-test-trunk" and dial.get("Exten") == ALLOWED.lstrip("+"), dial
    finally:
        asterisk.rx("channel request hangup all")
