"""Outbound campaign calls through the real Asterisk and the sandbox's stand-in network.

An Asterisk instance is configured from ``config/`` plus an ``outbound`` section whose
trunk is the stand-in public network (``testbed.pstn``). Each test originates a call
the way ccqueue does (``Local/<number>@ccqueue-outbound-dial/n`` into
``ccqueue-outbound``) and a small FastAGI server stands in for ccqueue's ``outbound``
session, recording what the session sees (CCQ_ATTEMPT, CCQ_CAMPAIGN, AMDSTATUS,
AMDCAUSE) and when. The figures the tests measure (AMD's decision time, ring time,
safe-harbour delay) are printed; run with ``-s`` to see them.

    python -m pytest -p no:cacheprovider -q -s tests/integration/test_outbound_dialplan.py
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ccqueue.asterisk.outbound import auto_answer_variables, originate_action
from testbed import pstn
from tests.integration.test_sandbox import Ami, connected_ami, e2e_prerequisites, free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "config"
# Only numbers under the valid prefix: +1555000TNN reaches the same lines in the
# stand-in network, but the guard must refuse it; +12025550[07-9]NN are allowed and
# not in service there.
OUTBOUND_YAML = """\
outbound:
  dial: "Local/{digits}@standin-pstn"
  allowed: ['\\+12025550\\d{3}']
  region: US
  max_channels: 10
"""


@pytest.fixture(scope="module")
def ports() -> SimpleNamespace:
    return SimpleNamespace(ami=free_port(), sip=free_port(), agi=free_port(), phone_sip=free_port(), phone_ctrl=free_port())


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("outbound-config")
    for path in CONFIG_DIR.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    (folder / "outbound.yaml").write_text(OUTBOUND_YAML)
    return folder


@pytest.fixture(scope="module")
def project_config(config_dir: Path) -> Any:
    from ccqueue.config import load_config

    return load_config(config_dir)


@pytest.fixture(scope="module")
def sandbox(ports: SimpleNamespace, config_dir: Path) -> Any:
    reason = e2e_prerequisites()
    if reason:
        pytest.skip(reason)
    from testbed.sandbox import AsteriskSandbox

    sbx = AsteriskSandbox(
        f"pytest-out-{ports.sip}",
        config_dir,
        ami_port=ports.ami,
        sip_port=ports.sip,
        agi_port=ports.agi,
        rtp_ports=(13400, 13599),
    )
    sbx.build()
    sbx.configure()
    sbx.start()
    try:
        yield sbx
    finally:
        sbx.destroy()


class TimedAmi(Ami):
    """An AMI connection that notes when each event arrived (``_seen``, time.monotonic())."""

    def record(self, _manager: Any, message: Any) -> None:
        self.events.append({**dict(message.items()), "_seen": time.monotonic()})


@pytest.fixture
async def ami(sandbox: Any, project_config: Any, ports: SimpleNamespace) -> AsyncIterator[Any]:
    async with connected_ami(sandbox, project_config, ports, TimedAmi) as conn:
        yield conn


@dataclass
class Session:
    """What one ``outbound`` FastAGI session saw."""

    at: float  # time.monotonic() when it started
    uniqueid: str
    variables: dict[str, str] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)


Then = Callable[[Any, Session], Awaitable[None]]
WATCHED = ("CCQ_ATTEMPT", "CCQ_CAMPAIGN", "AMDSTATUS", "AMDCAUSE")


class OutboundStub:
    """A FastAGI server standing in for ccqueue's ``outbound`` session: records what it
    sees, then runs ``then`` (what the test wants the session to do)."""

    def __init__(self) -> None:
        self.sessions: list[Session] = []
        self.then: Then | None = None
        self.claim_uid: str = ""

    async def outbound(self, request: Any) -> None:
        session = Session(at=time.monotonic(), uniqueid=request.headers.get("agi_uniqueid", ""))
        for name in WATCHED:
            result = await request.send_command(f"GET VARIABLE {name}")
            answer = result.get("result")
            session.variables[name] = str(answer[1]) if isinstance(answer, tuple) and answer[0] == "1" else ""
        # Seen by the test only once its variables are read (a busy machine is slow to).
        self.sessions.append(session)
        if self.then is not None:
            await self.then(request, session)

    async def claim(self, request: Any) -> None:
        await request.send_command(f"SET VARIABLE CCQ_CALLER_UID {self.claim_uid}")

    async def wait_session(self, timeout: float = 15.0) -> Session:
        deadline = time.monotonic() + timeout
        while not self.sessions:
            if time.monotonic() > deadline:
                raise AssertionError(f"no outbound FastAGI session within {timeout} s")
            await asyncio.sleep(0.02)
        return self.sessions[0]


@pytest.fixture
async def agi(ports: SimpleNamespace) -> Any:
    from panoramisk.fast_agi import Application

    stub = OutboundStub()
    app = Application(loop=asyncio.get_running_loop())
    app.add_route("outbound", stub.outbound)
    app.add_route("claim", stub.claim)
    app.add_route("outbound?key=", stub.outbound)  # no ccqueue here sets the session key
    app.add_route("claim?key=", stub.claim)
    server = await asyncio.start_server(app.handler, "127.0.0.1", ports.agi)
    try:
        yield stub
    finally:
        server.close()
        await server.wait_closed()


async def dial(
    ami: Ami, number: str, attempt: str, *, timeout_ms: int = 25000, amd: bool = True, plain: bool = False, **variables: str
) -> dict[str, Any]:
    """Originate a campaign call as ccqueue does (``originate_action``); returns the
    OriginateResponse. ``plain``: without the OtherChannelId."""
    action = originate_action(
        attempt_id=attempt,
        number=number,
        campaign="reminders",
        caller_id='"Reminders" <+12025550100>',
        ring_timeout_s=timeout_ms / 1000,
        amd=amd,
    )
    action["Variable"] = [*action["Variable"], *(f"{k}={v}" for k, v in variables.items())]
    if plain:
        del action["OtherChannelId"]
    del action["Action"], action["Async"], action["Priority"]
    return await ami.originate(**action)


def answered_at(ami: Ami, attempt: str) -> float:
    """When the attempt's channel went up (its Newstate Up event), as time.monotonic()."""
    (event,) = [e for e in ami.find(Event="Newstate", Uniqueid=attempt) if e.get("ChannelStateDesc") == "Up"][:1]
    return float(event["_seen"])


def standin_channels(ami: Ami, number: str) -> list[dict[str, Any]]:
    digits = number.lstrip("+")
    return [e for e in ami.find(Event="Newchannel") if e.get("Channel", "").startswith(f"Local/{digits}@standin-pstn-")]


# ---- the tests ---------------------------------------------------------------------


async def test_a_person_is_human_to_amd_and_the_session_sees_the_attempt(sandbox: Any, ami: Ami, agi: OutboundStub) -> None:
    number = pstn.person(1)
    t0 = time.monotonic()
    resp = await dial(ami, number, "att-person")
    assert (resp["Response"], resp["Reason"], resp["Uniqueid"]) == ("Success", "4", "att-person")
    session = await agi.wait_session()
    assert session.uniqueid == "att-person"
    assert session.variables == {
        "CCQ_ATTEMPT": "att-person",
        "CCQ_CAMPAIGN": "reminders",
        "AMDSTATUS": "HUMAN",
        "AMDCAUSE": session.variables["AMDCAUSE"],
    }
    assert session.variables["AMDCAUSE"].startswith("HUMAN")
    up = answered_at(ami, "att-person")
    ring_s, amd_s = up - t0, session.at - up
    print(f"\nperson: rang {ring_s:.2f} s, AMD said HUMAN ({session.variables['AMDCAUSE']}) {amd_s:.2f} s after the answer")
    assert 0.8 <= ring_s <= 3.0
    # "hello" is 0.5 s of voice from 0.1 s; AMD waits for 0.8 s of silence after it.
    assert amd_s < 2.5


async def test_a_machine_is_machine_to_amd(sandbox: Any, ami: Ami, agi: OutboundStub) -> None:
    resp = await dial(ami, pstn.machine(0), "att-machine")
    assert resp["Reason"] == "4"
    session = await agi.wait_session()
    assert session.variables["AMDSTATUS"] == "MACHINE"
    amd_s = session.at - answered_at(ami, "att-machine")
    print(f"\nmachine: AMD said MACHINE ({session.variables['AMDCAUSE']}) {amd_s:.2f} s after the answer")
    assert amd_s < 5.0


async def test_amd_tells_people_from_machines_every_time_with_calls_at_once(sandbox: Any, ami: Ami, agi: OutboundStub) -> None:
    # Four people and four machines dialled together, on a machine shared with others:
    # AMD's parameters must hold with the load, not only for one quiet call.
    calls = {f"att-many-p{i}": pstn.person(i % 3) for i in range(4)} | {f"att-many-m{i}": pstn.machine(i % 3) for i in range(4)}
    answers = await asyncio.gather(*(dial(ami, number, attempt) for attempt, number in calls.items()))
    assert [a["Reason"] for a in answers] == ["4"] * len(calls)
    deadline = time.monotonic() + 15
    while len(agi.sessions) < len(calls) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    seen = {s.uniqueid: s.variables["AMDSTATUS"] for s in agi.sessions}
    assert seen == {attempt: "HUMAN" if "-p" in attempt else "MACHINE" for attempt in calls}
    timings = sorted(round(s.at - answered_at(ami, s.uniqueid), 2) for s in agi.sessions)
    print(f"\n8 calls at once: AMD decided {timings} s after each answer")


async def test_busy_is_reason_5(sandbox: Any, ami: Ami, agi: OutboundStub) -> None:
    t0 = time.monotonic()
    resp = await dial(ami, pstn.busy(1), "att-busy")
    elapsed = time.monotonic() - t0
    assert (resp["Response"], resp["Reason"]) == ("Failure", "5")
    print(f"\nbusy: OriginateResponse Reason 5 after {elapsed:.2f} s")
    assert 0.8 <= elapsed < 5
    assert not agi.sessions


async def test_a_number_not_in_service_is_congestion_reason_8(sandbox: Any, ami: Ami, agi: OutboundStub) -> None:
    resp = await dial(ami, "+12025550799", "att-congestion")
    print(f"\nnot in service: OriginateResponse {resp['Response']} Reason {resp['Reason']}")
    assert (resp["Response"], resp["Reason"]) == ("Failure", "8")
    assert not agi.sessions


async def test_no_answer_rings_the_whole_timeout_and_is_reason_3(sandbox: Any, ami: Ami, agi: OutboundStub) -> None:
    number = pstn.no_answer()
    t0 = time.monotonic()
    resp = await dial(ami, number, "att-noanswer", timeout_ms=15000)
    elapsed = time.monotonic() - t0
    print(f"\nno answer: OriginateResponse Reason {resp['Reason']} after {elapsed:.2f} s (Timeout 15 s)")
    assert (resp["Response"], resp["Reason"]) == ("Failure", "3")
    assert 15.0 <= elapsed < 17.0
    # It did ring at the stand-in network all that time.
    assert standin_channels(ami, number)
    assert not agi.sessions


async def test_a_number_outbound_allowed_refuses_never_reaches_the_network(sandbox: Any, ami: Ami, agi: OutboundStub) -> None:
    # The same person line under the prefix the configuration does not allow.
    refused = "+15550001" + pstn.person(0)[-2:]
    start = len(sandbox.log_text())
    resp = await dial(ami, refused, "att-refused")
    print(f"\nrefused: OriginateResponse {resp['Response']} Reason {resp['Reason']}")
    assert resp["Response"] == "Failure"
    assert resp["Reason"] != "4"
    hangup = await ami.wait_for(Event="Hangup", Uniqueid="att-refused")
    assert hangup["ChannelStateDesc"] != "Up"
    sandbox.wait_for_log(r"outbound call to \+15550001\d\d refused: not a number outbound.allowed allows", 5, start=start)
    assert not standin_channels(ami, refused)
    assert not [e for e in ami.find(Event="Newchannel") if "standin-pstn" in e.get("Channel", "")]
    assert not agi.sessions


async def test_a_callee_hanging_up_during_the_greeting_is_amd_hangup_and_never_reaches_the_session(
    sandbox: Any, ami: Ami, agi: OutboundStub
) -> None:
    resp = await dial(ami, pstn.hangs_up_in_greeting(0), "att-hangsup")
    assert resp["Reason"] == "4"
    await ami.wait_for(10, Event="Hangup", Uniqueid="att-hangsup")
    await ami.wait_for(1, Event="VarSet", Uniqueid="att-hangsup", Variable="AMDSTATUS", Value="HANGUP")
    await asyncio.sleep(0.5)
    assert not agi.sessions


async def test_a_person_pressing_a_key_reaches_the_session(sandbox: Any, ami: Ami, agi: OutboundStub) -> None:
    keys: list[str] = []

    async def read_key(request: Any, session: Session) -> None:
        # what a voice broadcast does: the message plays, and a key may come
        result = await request.send_command("GET DATA ccqueue/broadcast-sample 8000 1")
        answer = result.get("result")
        keys.append(str(answer[0]) if isinstance(answer, tuple) else str(answer))

    agi.then = read_key
    resp = await dial(ami, pstn.presses("9", ring_s=0), "att-key")
    assert resp["Reason"] == "4"
    session = await agi.wait_session()
    assert session.variables["AMDSTATUS"] == "HUMAN"
    for _ in range(100):
        if keys:
            break
        await asyncio.sleep(0.1)
    assert keys == ["9"]


async def test_the_safe_harbour_plays_at_once_when_the_session_releases_the_callee(
    sandbox: Any, ami: Ami, agi: OutboundStub
) -> None:
    async def release(request: Any, session: Session) -> None:
        await request.send_command("SET VARIABLE CCQ_NEXT safe-harbour")

    agi.then = release
    start = len(sandbox.log_text())
    resp = await dial(ami, pstn.person(0), "att-harbour")
    assert resp["Reason"] == "4"
    session = await agi.wait_session()
    playback = await ami.wait_for(5, Event="Newexten", Uniqueid="att-harbour", Application="Playback")
    assert playback["AppData"] == "ccqueue/safe-harbour"
    up = answered_at(ami, "att-harbour")
    amd_end = session.at  # the session starts as AMD returns
    delay = float(playback["_seen"]) - amd_end
    print(f"\nsafe harbour: playing {delay:.3f} s after AMD's HUMAN, {float(playback['_seen']) - up:.2f} s after the answer")
    assert delay < 2.0
    done = await ami.wait_for(20, Event="UserEvent", UserEvent="CcqOutbound", Uniqueid="att-harbour")
    assert (done["Step"], done["Status"]) == ("safe-harbour", "SUCCESS")
    played = float(done["_seen"]) - float(playback["_seen"])
    assert 11.0 < played < 14.0  # the whole 12 s message
    assert "Playing 'ccqueue/safe-harbour.slin' (language 'en')" in sandbox.log_text()[start:]


async def test_the_safe_harbour_is_in_russian_for_a_russian_callee(sandbox: Any, ami: Ami, agi: OutboundStub) -> None:
    async def release(request: Any, session: Session) -> None:
        await request.send_command("SET VARIABLE CCQ_NEXT safe-harbour")

    agi.then = release
    start = len(sandbox.log_text())
    resp = await dial(ami, pstn.person(0), "att-harbour-ru", **{"CHANNEL(language)": "ru"})
    assert resp["Reason"] == "4"
    await ami.wait_for(15, Event="Newexten", Uniqueid="att-harbour-ru", Application="Playback")
    sandbox.wait_for_log(r"Playing 'ccqueue/safe-harbour\.slin' \(language 'ru'\)", 5, start=start)
    sandbox.rx("channel request hangup all")


async def test_with_ccqueue_unreachable_an_answered_callee_hears_the_safe_harbour(sandbox: Any, ami: Ami) -> None:
    # no FastAGI server listens: AGISTATUS=FAILURE
    resp = await dial(ami, pstn.person(0), "att-noccqueue", amd=False)
    assert resp["Reason"] == "4"
    await ami.wait_for(5, Event="VarSet", Uniqueid="att-noccqueue", Variable="AGISTATUS", Value="FAILURE")
    playback = await ami.wait_for(2, Event="Newexten", Uniqueid="att-noccqueue", Application="Playback")
    assert playback["AppData"] == "ccqueue/safe-harbour"
    # without AMD the call reaches the session as soon as it is answered
    assert not ami.find(Event="Newexten", Uniqueid="att-noccqueue", Application="AMD")
    sandbox.rx("channel request hangup all")


async def test_a_message_is_left_on_the_machine_after_its_beep(sandbox: Any, ami: Ami, agi: OutboundStub) -> None:
    async def leave_message(request: Any, session: Session) -> None:
        await request.send_command("SET VARIABLE CCQ_NEXT leave-message")

    agi.then = leave_message
    resp = await dial(
        ami, pstn.machine(0), "att-message", CCQ_ON_MACHINE="leave_message", CCQ_MACHINE_MSG="ccqueue/machine-message"
    )
    assert resp["Reason"] == "4"
    session = await agi.wait_session()
    assert session.variables["AMDSTATUS"] == "MACHINE"
    up = answered_at(ami, "att-message")
    playback = await ami.wait_for(40, Event="Newexten", Uniqueid="att-message", Application="Playback")
    assert playback["AppData"] == "ccqueue/machine-message"
    waited = await ami.wait_for(1, Event="VarSet", Uniqueid="att-message", Variable="WAITSTATUS")
    assert waited["Value"] == "SILENCE"
    # the machine's greeting is 15 s and its beep 0.3 s: the message starts after them
    started = float(playback["_seen"]) - up
    print(f"\nleave message: the message started {started:.2f} s after the answer (greeting 15 s, beep, 2 s of silence)")
    assert 16.0 < started < 20.0
    # the machine heard it: its WaitForNoise() ended on noise
    heard = await ami.wait_for(5, Event="VarSet", Variable="WAITSTATUS", Value="NOISE")
    assert "standin-pstn" in heard["Channel"]
    done = await ami.wait_for(20, Event="UserEvent", UserEvent="CcqOutbound", Uniqueid="att-message")
    assert (done["Step"], done["Status"]) == ("message", "SUCCESS")


@pytest.fixture(scope="module")
def phone(sandbox: Any, ports: SimpleNamespace, project_config: Any) -> Any:
    """agent1's softphone: rings until answered, except when the INVITE asks it to answer."""
    from testbed.baresip import Softphone

    agent = project_config.agents["agent1"]
    ph = Softphone(
        agent.id,
        agent.password.get_secret_value(),
        sip_server_port=ports.sip,
        listen_port=ports.phone_sip,
        ctrl_port=ports.phone_ctrl,
        answermode="manual",
        auto_answer_header=True,
        audio_file=REPO / "sounds" / "en" / "agent-silence.wav",
    )
    ph.start()
    try:
        ph.wait_registered(15, check=lambda: sandbox.is_registered(agent.id))
        yield ph
    finally:
        ph.cleanup()


async def hold(request: Any, session: Session) -> None:
    """Hold the callee until an agent's Bridge() takes it (the hold command then fails)."""
    for _ in range(10):
        if "error" in await request.send_command("EXEC MusicOnHold default,20"):
            return


async def test_the_agent_leg_answers_by_itself_and_the_callee_stays_the_attempts_channel(
    sandbox: Any, ami: Ami, agi: OutboundStub, phone: Any
) -> None:
    agi.then = hold
    agi.claim_uid = "att-agent"
    resp = await dial(ami, pstn.person(0), "att-agent")
    assert resp["Reason"] == "4"
    session = await agi.wait_session()
    assert session.variables["AMDSTATUS"] == "HUMAN"
    t0 = time.monotonic()
    resp = await ami.originate(
        Channel="PJSIP/agent1",
        Context="ccqueue-agent",
        Exten="s",
        Timeout="10000",
        ChannelId="att-agent-leg",
        Variable=",".join(auto_answer_variables()),
    )
    answered = time.monotonic() - t0
    assert (resp["Response"], resp["Reason"]) == ("Success", "4")
    print(f"\nagent leg: answered by itself {answered:.3f} s after the Originate")
    assert answered < 1.5  # rang in manual mode: only the header made it answer
    assert len(phone.auto_answered) == 1
    invite = phone.invite_of(phone.auto_answered[0], timeout=0)
    assert "answer-after=0" in invite and "info=alert-autoanswer" in invite
    callee_in = await ami.wait_for(5, Event="BridgeEnter", Uniqueid="att-agent")
    agent_in = await ami.wait_for(5, Event="BridgeEnter", Uniqueid="att-agent-leg")
    assert callee_in["BridgeUniqueid"] == agent_in["BridgeUniqueid"]
    assert callee_in["Channel"].startswith("Local/+12025550100@ccqueue-outbound-dial-") and callee_in["Channel"].endswith(";1")
    # the guard's half stays in its bridge with the callee's line
    assert not ami.find(Event="BridgeLeave", Uniqueid="dial-att-agent")
    # /n: the Local channel is not optimised away once bridged; the attempt's channel
    # (its uniqueid the attempt id) is the callee's for the whole call.
    await asyncio.sleep(2)
    assert not ami.find(Event="Hangup", Uniqueid="att-agent")
    assert not ami.find(Event="LocalOptimizationBegin")
    phone.hangup()
    await ami.wait_for(10, Event="Hangup", Uniqueid="att-agent")


async def test_without_the_headers_the_agent_phone_rings_on(sandbox: Any, ami: Ami, agi: OutboundStub, phone: Any) -> None:
    t0 = time.monotonic()
    resp = await ami.originate(Channel="PJSIP/agent1", Context="ccqueue-agent", Exten="s", Timeout="3000", ChannelId="att-ring")
    assert (resp["Response"], resp["Reason"]) == ("Failure", "3")
    assert time.monotonic() - t0 >= 2.9
    assert phone.wait_event("CALL_INCOMING", 1, after=t0)


def uniqueids_starting_with(ami: Ami, prefix: str) -> set[str]:
    return {e["Uniqueid"] for e in ami.find(Event="Newchannel") if e["Uniqueid"].startswith(prefix)}


async def test_only_the_callees_channel_has_a_uniqueid_starting_with_the_attempt_id(
    sandbox: Any, ami: Ami, agi: OutboundStub
) -> None:
    # Bridge() finds a channel by uniqueid *prefix* (seen: Bridge(<attempt id>) took the
    # guard's half, "<attempt id>;2", out of the callee's call). originate_action names
    # that half dial-<attempt id>, so the attempt id is no other channel's prefix.
    agi.then = hold
    assert (await dial(ami, pstn.person(0), "att-uid"))["Reason"] == "4"
    await agi.wait_session()
    assert uniqueids_starting_with(ami, "att-uid") == {"att-uid"}
    assert uniqueids_starting_with(ami, "dial-att-uid") == {"dial-att-uid"}
    sandbox.rx("channel request hangup all")
    await ami.wait_for(5, Event="Hangup", Uniqueid="att-uid")
    # without OtherChannelId: two channels answer to the prefix
    assert (await dial(ami, pstn.person(0), "att-plain", plain=True))["Reason"] == "4"
    assert uniqueids_starting_with(ami, "att-plain") == {"att-plain", "att-plain;2"}
    sandbox.rx("channel request hangup all")
