"""A supervisor listens in, then barges, through the real Asterisk 22, baresip and PostgreSQL.

A caller (a Local channel) is bridged to agent1's baresip phone by the real ``ccqueue
run``; the supervisor ``sup`` (supervisor of ``support``) asks to listen: ccqueue rings
the supervisor's own phone, which answers by itself, and Asterisk reports ChanSpy on
agent1's very channel (AMI ``ChanSpyStart``, and the channel's application and its
arguments). Then barge and whisper: the same supervisor call, moved into ChanSpy's
barge and whisper modes without ringing again.

The supervisor's softphone is the session's third baresip phone (endpoint ``agent3``,
not logged in, so never offered a call): to Asterisk it is one more registered PJSIP
phone, which is all a supervisor's desk phone is.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest

from ccqueue.credentials import hash_token
from testbed.baresip import Softphone
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import fetch, running_daemon, wait_row
from tests.e2e.test_calls import login, until
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e

SUP_TOKEN = "ccq_e2e-supervisor-token"
SUP_PHONE = "agent3"  # the endpoint the supervisor's softphone registers as


def _config_with_supervisor(e2e_config: Path, folder: Path) -> Path:
    shutil.copytree(e2e_config, folder)
    users = (folder / "users.yaml").read_text()
    users += f'  sup:\n    role: supervisor\n    queues: [support]\n    phone: PJSIP/{SUP_PHONE}\n    tokens: ["{hash_token(SUP_TOKEN)}"]\n'
    (folder / "users.yaml").write_text(users)
    return folder


def _spy_application(asterisk: AsteriskSandbox, spyer_uid: str) -> tuple[str, str]:
    """The application and arguments the supervisor's channel runs now (CoreShowChannels, via the CLI)."""
    for line in asterisk.rx("core show channels concise").splitlines():
        fields = line.split("!")
        # Channel!Context!Exten!Priority!State!Application!Data!CallerID!...!Uniqueid!...
        if len(fields) > 13 and fields[13] == spyer_uid:
            return fields[5], fields[6]
    return "", ""


async def test_a_supervisor_listens_then_barges_into_an_agents_call(
    asterisk: AsteriskSandbox,
    phones: dict[str, Softphone],
    e2e_config: Path,
    database: str,
    tmp_path: Path,
    probe: AmiProbe,
) -> None:
    config = _config_with_supervisor(e2e_config, tmp_path / "config")
    with running_daemon(asterisk, phones, config, database, tmp_path) as daemon:

        async def spy(agent: str, mode: str) -> tuple[int, dict]:
            return await asyncio.to_thread(daemon.http, "POST", f"/api/agents/{agent}/spy", {"mode": mode}, token=SUP_TOKEN)

        login(daemon, "agent1")
        # Nobody to listen to yet.
        assert await spy("agent1", "listen") == (
            409,
            {
                "error": "agent-not-on-call",
                "message": "agent 'agent1' is available, not on a call: there is nothing to listen to",
            },
        )
        mark = len(probe.events)
        caller = await probe.call_hotline(caller="+15550177")
        agent_enter = await probe.wait_for(
            lambda m: match(Event="BridgeEnter")(m) and (m.get("Channel") or "").startswith("PJSIP/agent1-"),
            timeout=20,
            since=mark,
            what="agent1 bridged to the caller",
        )
        agent_channel = agent_enter["Channel"]

        # Listen: the supervisor's phone rings, answers by itself, and spies on agent1's channel.
        status, body = await spy("agent1", "listen")
        assert status == 200, body
        assert (body["mode"], body["rang"]) == ("listen", True)
        spyer_uid = body["spy_id"]
        start = await probe.wait_for(
            match(Event="ChanSpyStart", SpyerUniqueid=spyer_uid), timeout=10, since=mark, what="ChanSpyStart"
        )
        assert start["SpyeeChannel"] == agent_channel
        assert start["SpyerChannel"].startswith(f"PJSIP/{SUP_PHONE}-")
        await until(lambda: phones[SUP_PHONE].call_state == "in_call", what="the supervisor's phone in the call")
        assert _spy_application(asterisk, spyer_uid) == ("ChanSpy", f"{agent_channel},uqES")

        # Barge: the same call moves into ChanSpy's barge mode; the phone does not ring again.
        rung = len([e for e in phones[SUP_PHONE].events if e.type == "CALL_INCOMING"])
        since_listen = len(probe.events)
        status, body = await spy("agent1", "barge")
        assert status == 200, body
        assert (body["mode"], body["rang"], body["spy_id"]) == ("barge", False, spyer_uid)
        await probe.wait_for(match(Event="ChanSpyStop", SpyerUniqueid=spyer_uid), timeout=10, since=since_listen)
        again = await probe.wait_for(
            match(Event="ChanSpyStart", SpyerUniqueid=spyer_uid), timeout=10, since=since_listen, what="ChanSpyStart (barge)"
        )
        assert again["SpyeeChannel"] == agent_channel
        await until(lambda: _spy_application(asterisk, spyer_uid) == ("ChanSpy", f"{agent_channel},uqESB"), what="barge")
        # Whisper, likewise.
        status, body = await spy("agent1", "whisper")
        assert status == 200 and (body["mode"], body["rang"]) == ("whisper", False), body
        await until(lambda: _spy_application(asterisk, spyer_uid) == ("ChanSpy", f"{agent_channel},uqESw"), what="whisper")
        assert len([e for e in phones[SUP_PHONE].events if e.type == "CALL_INCOMING"]) == rung
        assert phones["agent1"].call_state == "in_call"

        # The call ends: the supervisor's leg ends with the agent's (ChanSpy's E option).
        await probe.hangup(caller)
        await probe.wait_for(match(Event="Hangup", Uniqueid=spyer_uid), timeout=15, since=since_listen, what="spy leg hung up")

        # Every request, the refused one too, is in the audit log.
        audited = "select actor, outcome, error from audit_log where path = '/api/agents/agent1/spy' order by at"
        await wait_row(database, audited + " offset 3")
        assert [tuple(r) for r in await fetch(database, audited)] == [
            ("sup", "refused", "agent-not-on-call"),
            ("sup", "accepted", None),
            ("sup", "accepted", None),
            ("sup", "accepted", None),
        ]


async def test_the_spy_context_takes_exactly_the_channel_named_and_nothing_when_none_is(
    asterisk: AsteriskSandbox, probe: AmiProbe
) -> None:
    """[ccqueue-spy] alone, as Asterisk runs it: the target ``<t>.1`` is spied on while
    ``<t>.10`` (a uniqueid it is a prefix of) is up too; an empty target spies on nothing."""
    tag = f"spytest-{time.monotonic_ns()}"

    async def originate(channel_id: str, *, context: str, exten: str, variables: list[str] | None = None) -> None:
        action = {
            "Action": "Originate",
            "Channel": "Local/wait@ccqueue-test-caller",
            "Context": context,
            "Exten": exten,
            "Priority": "1",
            "ChannelId": channel_id,
            "OtherChannelId": f"{channel_id}-other",
            "Async": "true",
            "Timeout": "10000",
        }
        if variables:
            action["Variable"] = variables
        answer = await probe.client.send(action, timeout=15)
        messages = answer if isinstance(answer, list) else [answer]
        assert any((m.get("Event") or "") == "OriginateResponse" and m.get("Response") == "Success" for m in messages), messages

    mark = len(probe.events)
    try:
        # In the order offers are made (Asterisk refuses a ChannelId that is a prefix of a
        # live uniqueid, so ".1" cannot come after ".10").
        await originate(f"{tag}.1", context="ccqueue-test-caller", exten="wait")
        await originate(f"{tag}.10", context="ccqueue-test-caller", exten="wait")
        await originate(f"{tag}-spyer", context="ccqueue-spy", exten="listen", variables=[f"CCQ_SPY_TARGET={tag}.1"])
        start = await probe.wait_for(
            match(Event="ChanSpyStart", SpyerUniqueid=f"{tag}-spyer"), timeout=10, since=mark, what="ChanSpyStart"
        )
        assert start["SpyeeUniqueid"] == f"{tag}.1"
        # No target (the agent's call ended before the phone was answered): hang up, spy on nothing.
        await originate(f"{tag}-none", context="ccqueue-spy", exten="barge")
        await probe.wait_for(match(Event="Hangup", Uniqueid=f"{tag}-none"), timeout=10, since=mark, what="the empty spy hung up")
        assert not probe.seen(match(Event="ChanSpyStart", SpyerUniqueid=f"{tag}-none"), since=mark)
    finally:
        for uid in (f"{tag}-spyer", f"{tag}.1", f"{tag}.10"):
            await probe.hangup(uid)
