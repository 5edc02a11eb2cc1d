"""The Asterisk sandbox, its configuration from the project's files, and baresip agents.

The render and dialplan checks run anywhere. The tests marked ``e2e`` build (or
reuse) the Debian sid root with Asterisk 22, boot an instance configured from
``config/`` on free loopback ports, register a baresip softphone as agent1, and
drive calls over AMI with a small panoramisk FastAGI app standing in for the
ccqueue daemon. They pin down the Asterisk behaviour the engine is built on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr

from ccqueue.asterisk.render import AMI_READ, AMI_WRITE, render_asterisk_config
from ccqueue.asterisk.render import main as render_main

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "config"


# ---- render ------------------------------------------------------------------------


def stand_in_config(**agents: tuple[str, str]) -> Any:
    """An object shaped like ccqueue.config.Config, as far as render needs it."""
    return SimpleNamespace(
        asterisk=SimpleNamespace(
            ami=SimpleNamespace(host="127.0.0.1", port=5038, username="ccqueue", secret=SecretStr("s3cret")),
            agi=SimpleNamespace(host="127.0.0.1", port=4573, away_hold_s=120.0, away_retry_s=2.0),
            agent_context="ccqueue-agent",
        ),
        agents={
            aid: SimpleNamespace(id=aid, name=name, password=SecretStr(pw), queues=("support",))
            for aid, (name, pw) in agents.items()
        },
    )


def parse_conf(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    """Asterisk-style sections in order (names may repeat), values unescaped."""
    sections: list[tuple[str, dict[str, list[str]]]] = []
    for raw in text.splitlines():
        line = raw.replace(r"\;", "\0").split(";", 1)[0].replace("\0", ";").strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append((line[1 : line.index("]")], {}))
            continue
        key, _, value = line.partition("=")
        sections[-1][1].setdefault(key.strip().rstrip(">").strip(), []).append(value.lstrip(">").strip())
    return sections


def test_render_manager_conf_gives_ccqueue_only_what_it_needs() -> None:
    files = render_asterisk_config(stand_in_config(agent1=("Alice", "pw1")), ami_port=15038)
    sections = dict(parse_conf(files["manager.conf"]))
    general, user = sections["general"], sections["ccqueue"]
    assert general["enabled"] == ["yes"]
    assert general["bindaddr"] == ["127.0.0.1"]
    assert general["port"] == ["15038"]
    assert user["secret"] == ["s3cret"]
    read = set(user["read"][0].split(","))
    write = set(user["write"][0].split(","))
    assert read == set(AMI_READ) == {"call", "dialplan", "agent", "user", "reporting", "agi"}
    assert write == set(AMI_WRITE) == {"call", "originate", "agent", "user", "reporting", "dialplan"}
    assert not (read | write) & {"system", "command", "config", "all"}
    assert user["writetimeout"] == ["1000"]
    assert user["deny"] == ["0.0.0.0/0.0.0.0"]
    assert user["permit"] == ["127.0.0.1/255.255.255.255"]


def test_render_pjsip_one_endpoint_aor_auth_per_agent() -> None:
    cfg = stand_in_config(agent1=("Alice", "pw1"), agent2=("Boris", "pw;2"))
    files = render_asterisk_config(cfg, sip_port=15060)
    sections = parse_conf(files["pjsip.conf"])
    transport = dict(sections)["transport-udp"]
    assert transport["protocol"] == ["udp"]
    assert transport["bind"] == ["127.0.0.1:15060"]
    by_type: dict[tuple[str, str], dict[str, list[str]]] = {}
    for name, values in sections:
        if name in ("agent1", "agent2"):
            by_type[(name, values["type"][0])] = values
    assert set(by_type) == {(a, t) for a in ("agent1", "agent2") for t in ("endpoint", "aor", "auth")}
    ep = by_type[("agent1", "endpoint")]
    assert ep["context"] == ["agents"]
    assert ep["allow"] == ["ulaw,alaw"]
    assert ep["direct_media"] == ["no"]
    assert ep["media_address"] == ["127.0.0.1"]
    assert ep["bind_rtp_to_media_address"] == ["yes"]
    assert ep["aors"] == ["agent1"] and ep["auth"] == ["agent1"]
    aor = by_type[("agent1", "aor")]
    assert (aor["max_contacts"], aor["remove_existing"], aor["qualify_frequency"]) == (["1"], ["yes"], ["5"])
    assert by_type[("agent1", "auth")]["password"] == ["pw1"]
    # a ';' in a secret is escaped, not taken for a comment
    assert r"password = pw\;2" in files["pjsip.conf"]
    assert by_type[("agent2", "auth")]["password"] == ["pw;2"]


def test_render_ports_default_to_the_config_and_can_be_overridden() -> None:
    cfg = stand_in_config(agent1=("Alice", "pw1"))
    files = render_asterisk_config(cfg)
    assert "port = 5038" in files["manager.conf"]
    assert "bind = 127.0.0.1:5060" in files["pjsip.conf"]
    assert "CCQ_AGI = agi://127.0.0.1:4573" in files["ccqueue-globals.conf"]
    assert "rtpstart = 10000" in files["rtp.conf"] and "rtpend = 10999" in files["rtp.conf"]
    files = render_asterisk_config(cfg, ami_port=1, sip_port=2, agi_port=3, rtp_ports=(4000, 4100))
    assert "port = 1" in files["manager.conf"]
    assert "bind = 127.0.0.1:2" in files["pjsip.conf"]
    assert "CCQ_AGI = agi://127.0.0.1:3" in files["ccqueue-globals.conf"]
    assert "rtpstart = 4000" in files["rtp.conf"]


@pytest.mark.parametrize(
    ("agents", "message"),
    [
        ({"bad]id": ("X", "pw")}, "cannot name an Asterisk section"),
        ({"agent1": ("X", "pw\nx")}, "line break"),
        ({"agent1": ("X", " pw")}, "blanks"),
        ({"agent1": ("X", "")}, "empty"),
    ],
)
def test_render_rejects_what_asterisk_would_misread(agents: dict[str, tuple[str, str]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_asterisk_config(stand_in_config(**agents))


def test_render_rejects_bad_ports() -> None:
    with pytest.raises(ValueError, match="port"):
        render_asterisk_config(stand_in_config(agent1=("A", "p")), sip_port=70000)


def test_render_main_writes_the_files_from_the_project_config(tmp_path: Path) -> None:
    assert (
        render_main(
            [
                "--config",
                str(CONFIG_DIR),
                "--out",
                str(tmp_path),
                "--sip-port",
                "15060",
                "--agi-port",
                "14573",
                "--rtp-ports",
                "11000-11099",
            ]
        )
        == 0
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "ccqueue-callback-out.conf",
        "ccqueue-globals.conf",
        "ccqueue-outbound.conf",
        "ccqueue-spy.conf",
        "manager.conf",
        "pjsip.conf",
        "rtp.conf",
    ]
    pjsip = (tmp_path / "pjsip.conf").read_text()
    assert "[agent1]" in pjsip and "bind = 127.0.0.1:15060" in pjsip
    assert "CCQ_AGI = agi://127.0.0.1:14573" in (tmp_path / "ccqueue-globals.conf").read_text()


def test_dialplan_has_exactly_the_ccqueue_contexts() -> None:
    text = (REPO / "dialplan" / "extensions.conf").read_text()
    names = [name for name, _ in parse_conf(text)]
    assert names == [
        "general",
        "globals",
        "hotline",
        "ccqueue-away",
        "ccqueue-ended",
        "ccqueue-agent",
        "ccqueue-transfer",
        "ccqueue-survey",
        "ccqueue-agi-any",
        "agents",
        "ccqueue-test-caller",
        "ccqueue-test-flood",
        "ccqueue-test-trunk",
        "ccqueue-demo-trunk",
    ]
    globals_ = dict(parse_conf(text))["globals"]
    assert globals_["CCQ_AGI"] == ["agi://127.0.0.1:4573"]
    assert (globals_["CCQ_AGIS"], globals_["CCQ_AGI_COUNT"]) == (["agi://127.0.0.1:4573"], ["1"])
    assert '#tryinclude "ccqueue-globals.conf"' in text
    key = "?key=${CCQ_AGI_KEY}"  # every FastAGI address presents the session key
    assert f"AGI(${{CUT(CCQ_AGIS,^,${{CCQ_AGI_TRY}})}}/inbound{key})" in text and f"AGI(${{CCQ_AGI}}/claim{key})" in text
    assert "Playback(ccqueue/unavailable)" in text and "Bridge(${CCQ_CALLER_CHAN},F(ccqueue-survey^s^1))" in text
    assert "Set(CCQ_CALLER_CHAN=${IMPORT(${CCQ_CALLER_UID},CHANNEL(name))})" in text
    assert f"AGI(${{CUT(CCQ_AGIS,^,${{CCQ_AGI_TRY}})}}/survey{key})" in text and "Dial(${CCQ_DIAL})" in text
    assert "Gosub(ccqueue-agi-any,s,1(feature,login))" in text
    # A caller's hang-up handler is in place before the door for load (which refuses
    # before answering) and Answer() (which waits for media), and the hotline's AGI() is
    # the eighth priority (a bridged caller is seen at the ninth).
    sections = dict(parse_conf(text))
    steps = sections["hotline"]["exten"] + sections["hotline"]["same"]
    assert (
        steps[0] == "_X.,1,Set(CCQ_HOTLINE=${EXTEN})"
        and steps[3] == "n,Set(CHANNEL(hangup_handler_push)=ccqueue-away,s,1)"
        and steps[4].startswith("n,GotoIf($[${EPOCH} < 0${CUT(CCQ_DOOR,^,1)}")
        and steps[4].endswith("?door)")
        and steps[5] == "n,Answer()"
    )
    assert steps[7].startswith("n(try),AGI(")
    # An agent leg's conversation end is left in the same family, keyed by the leg.
    ended = sections["ccqueue-ended"]["same"]
    assert ended[0].startswith("n,Set(DB(ccqueue-away/${UNIQUEID})=${CCQ_CALL}|${CCQ_CALLER_UID}|")


def test_render_lists_every_address_of_a_pair_in_the_order_given() -> None:
    cfg = stand_in_config(agent1=("Alice", "pw1"))
    agi = SimpleNamespace(**{**vars(cfg.asterisk.agi), "addresses": ("127.0.0.1:4574", "127.0.0.1:4573")})
    pair = SimpleNamespace(**{**vars(cfg), "asterisk": SimpleNamespace(**{**vars(cfg.asterisk), "agi": agi})})
    globals_ = render_asterisk_config(pair)["ccqueue-globals.conf"]
    assert "CCQ_AGI = agi://127.0.0.1:4574" in globals_
    assert "CCQ_AGIS = agi://127.0.0.1:4574^agi://127.0.0.1:4573" in globals_
    assert "CCQ_AGI_COUNT = 2" in globals_
    # a lone process: its own address, once
    lone = render_asterisk_config(cfg, agi_port=3)["ccqueue-globals.conf"]
    assert "CCQ_AGIS = agi://127.0.0.1:3" in lone and "CCQ_AGI_COUNT = 1" in lone


@pytest.mark.parametrize("bad", ["127.0.0.1:4573^x", "127.0.0.1:1,2", " 127.0.0.1:4573"])
def test_render_refuses_an_address_the_dialplan_would_split(bad: str) -> None:
    cfg = stand_in_config(agent1=("Alice", "pw1"))
    agi = SimpleNamespace(**{**vars(cfg.asterisk.agi), "addresses": (bad,)})
    pair = SimpleNamespace(**{**vars(cfg), "asterisk": SimpleNamespace(**{**vars(cfg.asterisk), "agi": agi})})
    with pytest.raises(ValueError, match="addresses"):
        render_asterisk_config(pair)


def test_sounds_are_8khz_mono_16bit_wav() -> None:
    import wave

    for name in ("welcome", "unavailable", "agent-silence"):
        with wave.open(str(REPO / "sounds" / "en" / f"{name}.wav"), "rb") as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2), name
            assert 1.0 <= w.getnframes() / 8000 <= 10.0, name


def test_static_templates_parse() -> None:
    for path in sorted((REPO / "deploy" / "asterisk" / "etc").glob("*.conf")):
        parse_conf(path.read_text())
    modules = dict(parse_conf((REPO / "deploy" / "asterisk" / "etc" / "modules.conf").read_text()))["modules"]
    assert modules["autoload"] == ["yes"]
    for needed in (
        "pbx_config.so",
        "res_agi.so",
        "chan_pjsip.so",
        "res_pjsip.so",
        "app_bridgewait.so",
        "res_musiconhold.so",
        "app_queue.so",
        "app_amd.so",
    ):
        assert needed not in modules["noload"]
    # noload lines for modules that listen on the network beyond SIP/AMI
    for off in ("chan_iax2.so", "pbx_dundi.so", "res_ari.so", "chan_unistim.so"):
        assert off in modules["noload"]


# ---- e2e: the real Asterisk --------------------------------------------------------


def free_port() -> int:
    """A loopback port free for both TCP and UDP (SIP listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def e2e_prerequisites() -> str | None:
    if os.geteuid() != 0:
        return "the Asterisk sandbox needs root (debootstrap, chroot)"
    if not shutil.which("apt-get") and not shutil.which("debootstrap"):
        return "not a Debian machine"
    return None


@pytest.fixture(scope="module")
def ports() -> SimpleNamespace:
    return SimpleNamespace(ami=free_port(), sip=free_port(), agi=free_port(), phone_sip=free_port(), phone_ctrl=free_port())


@pytest.fixture(scope="module")
def project_config() -> Any:
    from ccqueue.config import load_config

    return load_config(CONFIG_DIR)


@pytest.fixture(scope="module")
def sandbox(ports: SimpleNamespace) -> Any:
    reason = e2e_prerequisites()
    if reason:
        pytest.skip(reason)
    from testbed.sandbox import AsteriskSandbox

    sbx = AsteriskSandbox(
        f"pytest-{ports.sip}", CONFIG_DIR, ami_port=ports.ami, sip_port=ports.sip, agi_port=ports.agi, rtp_ports=(13000, 13199)
    )
    sbx.build()
    sbx.configure()
    t0 = time.monotonic()
    sbx.start()
    sbx.boot_seconds = time.monotonic() - t0
    # No ccqueue runs here: callers hear the apology at once rather than being held for
    # ccqueue's return (the hold is checked in test_unreachable_ccqueue_plays_unavailable).
    sbx.rx("dialplan set global CCQ_AWAY_HOLD_S 0")
    try:
        yield sbx
    finally:
        sbx.destroy()


@pytest.fixture(scope="module")
def phone(sandbox: Any, ports: SimpleNamespace, project_config: Any) -> Any:
    from testbed.baresip import Softphone

    agent = project_config.agents["agent1"]
    ph = Softphone(
        agent.id,
        agent.password.get_secret_value(),
        sip_server_port=ports.sip,
        listen_port=ports.phone_sip,
        ctrl_port=ports.phone_ctrl,
        answermode="auto",
        audio_file=REPO / "sounds" / "en" / "agent-silence.wav",
    )
    ph.start()
    try:
        ph.wait_registered(15, check=lambda: sandbox.is_registered(agent.id))
        yield ph
    finally:
        ph.cleanup()


class Ami:
    """A panoramisk connection that keeps every event it sees."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager
        self.events: list[dict[str, Any]] = []

    def record(self, _manager: Any, message: Any) -> None:
        self.events.append(dict(message.items()))

    async def action(self, fields: dict[str, str]) -> Any:
        return await asyncio.wait_for(self.manager.send_action(fields), 30)

    async def originate(self, **fields: str) -> dict[str, Any]:
        """Async Originate; returns its OriginateResponse event."""
        result = await self.action({"Action": "Originate", "Async": "true", "Priority": "1", **fields})
        messages = result if isinstance(result, list) else [result]
        for msg in messages:
            if msg.get("Event") == "OriginateResponse":
                return dict(msg.items())
        raise AssertionError(f"no OriginateResponse: {[dict(m.items()) for m in messages]}")

    def find(self, **match: str) -> list[dict[str, Any]]:
        return [e for e in self.events if all(e.get(k) == v for k, v in match.items())]

    async def wait_for(self, timeout: float = 10.0, **match: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(**match)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no event {match} within {timeout} s")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def connected_ami(sandbox: Any, project_config: Any, ports: SimpleNamespace, kind: type[Ami] = Ami) -> AsyncIterator[Any]:
    """A raw AMI login to the sandbox that notes every event; at the end it waits for the
    test's calls to end (and hangs up what is left), so the next test starts clean."""
    from panoramisk import Manager

    ami_cfg = project_config.asterisk.ami
    manager = Manager(
        loop=asyncio.get_running_loop(),
        host="127.0.0.1",
        port=ports.ami,
        username=ami_cfg.username,
        secret=ami_cfg.secret.get_secret_value(),
        ping_delay=0,
    )
    conn = kind(manager)
    manager.register_event("*", conn.record)
    await asyncio.wait_for(manager.connect(), 10)
    login = getattr(manager, "authenticated_future", None)
    if login is not None:
        await asyncio.wait_for(login, 10)
    try:
        yield conn
    finally:
        manager.close()
        deadline = time.monotonic() + 10
        while sandbox.channels() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        if sandbox.channels():
            sandbox.rx("channel request hangup all")


@pytest.fixture
async def ami(sandbox: Any, project_config: Any, ports: SimpleNamespace) -> AsyncIterator[Any]:
    async with connected_ami(sandbox, project_config, ports) as conn:
        yield conn


Handler = Callable[[Any], Awaitable[None]]


@pytest.fixture
async def agi(ports: SimpleNamespace) -> Any:
    """A FastAGI server on the instance's AGI port; tests set ``routes[name]``."""
    from panoramisk.fast_agi import Application

    routes: dict[str, Handler] = {}

    def route(name: str) -> Handler:
        async def dispatch(request: Any) -> None:
            handler = routes.get(name)
            if handler is not None:
                await handler(request)

        return dispatch

    app = Application(loop=asyncio.get_running_loop())
    for name in ("inbound", "claim"):
        app.add_route(name, route(name))
        app.add_route(f"{name}?key=", route(name))  # no ccqueue here sets the session key
    server = await asyncio.start_server(app.handler, "127.0.0.1", ports.agi)
    try:
        yield routes
    finally:
        server.close()
        await server.wait_closed()


async def in_thread(fn: Callable[[], Any]) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn)


def reset_phone(phone: Any) -> None:
    deadline = time.monotonic() + 10
    while phone.call_state != "idle" and time.monotonic() < deadline:
        time.sleep(0.1)
    if phone.answermode != "auto":
        phone.set_answermode("auto")


@pytest.mark.e2e
def test_sandbox_boots_and_reports(sandbox: Any) -> None:
    assert sandbox.running and sandbox.pid
    assert sandbox.boot_seconds < 30
    assert "Asterisk 22" in sandbox.rx("core show version")
    assert "CCQ_AGI=agi://127.0.0.1:" in sandbox.rx("dialplan show globals")
    assert Path(sandbox.paths["SOUNDS"], "welcome.wav").is_file()
    assert sandbox.log_path.is_file()
    assert sandbox.channels() == []


@pytest.mark.e2e
async def test_unreachable_ccqueue_holds_the_caller_with_music_then_plays_unavailable(sandbox: Any, ami: Ami) -> None:
    # nothing listens on the AGI port: music on hold, the AGI tried again, then after the
    # hold (3 s here) the apology
    sandbox.rx("dialplan set global CCQ_AWAY_HOLD_S 3")
    try:
        resp = await ami.originate(
            Channel="Local/100@hotline",
            Context="ccqueue-test-caller",
            Exten="wait",
            Timeout="10000",
            ChannelId="t-m-caller",
            OtherChannelId="t-m-hotline",
        )
        assert resp["Response"] == "Success"
        await ami.wait_for(Event="Newexten", Uniqueid="t-m-hotline", Application="MusicOnHold")
        started = time.monotonic()
        await ami.wait_for(15, Event="Newexten", Uniqueid="t-m-hotline", Application="Playback", AppData="ccqueue/unavailable")
        assert 1.5 < time.monotonic() - started < 6
        tries = ami.find(Event="Newexten", Uniqueid="t-m-hotline", Application="AGI")
        assert len(tries) >= 2  # tried again while holding
        await ami.wait_for(15, Event="Hangup", Uniqueid="t-m-hotline")
    finally:
        sandbox.rx("dialplan set global CCQ_AWAY_HOLD_S 0")


@pytest.mark.e2e
async def test_unreachable_ccqueue_plays_unavailable(sandbox: Any, ami: Ami) -> None:
    # nothing listens on the AGI port
    resp = await ami.originate(
        Channel="Local/100@hotline",
        Context="ccqueue-test-caller",
        Exten="wait",
        Timeout="10000",
        ChannelId="t-a-caller",
        OtherChannelId="t-a-hotline",
    )
    assert resp["Response"] == "Success" and resp["Reason"] == "4"
    await ami.wait_for(Event="VarSet", Uniqueid="t-a-hotline", Variable="AGISTATUS", Value="FAILURE")
    await ami.wait_for(Event="Newexten", Uniqueid="t-a-hotline", Application="Playback", AppData="ccqueue/unavailable")
    hangup = await ami.wait_for(15, Event="Hangup", Uniqueid="t-a-hotline")
    assert hangup["Cause"] == "16"
    # the message was played, not skipped: no "file does not exist" warning
    assert "ccqueue/unavailable" not in "".join(line for line in sandbox.log_text().splitlines() if "WARNING" in line)


@pytest.mark.e2e
async def test_answered_agent_pulls_caller_out_of_agi_into_bridge(
    sandbox: Any, ami: Ami, agi: dict[str, Handler], phone: Any
) -> None:
    await in_thread(lambda: reset_phone(phone))
    caller_chan: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    caller_uid: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    results: list[dict[str, Any]] = []

    async def inbound(request: Any) -> None:
        caller_chan.set_result(request.headers["agi_channel"])
        caller_uid.set_result(request.headers["agi_uniqueid"])
        for _ in range(10):
            r = await request.send_command("EXEC MusicOnHold default,20")
            results.append(r)
            if "error" in r:
                results.append(await request.send_command("GET VARIABLE CCQ_HOTLINE"))
                return

    async def claim(request: Any) -> None:
        offer = await request.send_command("GET VARIABLE CCQ_OFFER")
        assert offer["result"] == ("1", "x")
        # The agent leg is bridged to the caller's uniqueid, never to its channel name.
        await request.send_command(f"SET VARIABLE CCQ_CALLER_UID {await caller_uid}")

    agi.update(inbound=inbound, claim=claim)
    resp = await ami.originate(
        Channel="Local/100@hotline",
        Context="ccqueue-test-caller",
        Exten="wait",
        Timeout="10000",
        ChannelId="t-b-caller",
        OtherChannelId="t-b-hotline",
        CallerID='"Test" <5551234>',
    )
    assert resp["Reason"] == "4"
    chan = await asyncio.wait_for(caller_chan, 10)
    assert chan.startswith("Local/100@hotline-") and chan.endswith(";2")

    resp = await ami.originate(
        Channel="PJSIP/agent1", Context="ccqueue-agent", Exten="s", Timeout="10000", ChannelId="t-b-agent", Variable="CCQ_OFFER=x"
    )
    assert (resp["Response"], resp["Reason"], resp["Uniqueid"]) == ("Success", "4", "t-b-agent")
    caller_in = await ami.wait_for(Event="BridgeEnter", Uniqueid="t-b-hotline")
    agent_in = await ami.wait_for(Event="BridgeEnter", Uniqueid="t-b-agent")
    assert caller_in["BridgeUniqueid"] == agent_in["BridgeUniqueid"]
    assert caller_in["Channel"] == chan
    # the caller is in the bridge at the priority after AGI()
    assert (caller_in["Context"], caller_in["Priority"]) == ("hotline", "9")  # the priority after AGI()
    await in_thread(lambda: phone.wait_event("CALL_ESTABLISHED", 5))
    assert phone.in_call
    assert any(name.startswith("PJSIP/agent1-") for name in sandbox.channels())

    # the hold loop's AGI command failed, the next one saw the hangup
    for _ in range(50):
        if len(results) >= 2:
            break
        await asyncio.sleep(0.1)
    assert results[-2]["error"] == "AGIAppError"
    assert results[-1]["error"] == "AGIResultHangup"
    # the pulled channel gets no AGISTATUS (the AGI ended on a surrogate)
    getvar = await ami.action({"Action": "Getvar", "Channel": "t-b-hotline", "Variable": "AGISTATUS"})
    assert getvar.get("Response") == "Success" and getvar.get("Value", "") == ""

    # the agent hangs up: the caller leaves the bridge
    phone.hangup()
    await ami.wait_for(Event="BridgeLeave", Uniqueid="t-b-hotline")
    # The agent hung up first: Bridge's F option sends the caller on to the survey, which
    # a call without one (no CCQ_SURVEY on the channel) skips with no FastAGI session.
    await ami.wait_for(Event="Newexten", Uniqueid="t-b-hotline", Context="ccqueue-survey", Priority="1", Application="GotoIf")
    await ami.wait_for(Event="Newexten", Uniqueid="t-b-hotline", Context="ccqueue-survey", Priority="5", Application="Hangup")
    await ami.wait_for(Event="Hangup", Uniqueid="t-b-hotline", Cause="16")
    await ami.wait_for(Event="VarSet", Uniqueid="t-b-agent", Variable="BRIDGERESULT", Value="SUCCESS")
    await ami.wait_for(Event="Hangup", Uniqueid="t-b-agent")


@pytest.mark.e2e
async def test_caller_hangup_in_bridge_ends_agent_leg(sandbox: Any, ami: Ami, agi: dict[str, Handler], phone: Any) -> None:
    await in_thread(lambda: reset_phone(phone))
    caller_chan: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def inbound(request: Any) -> None:
        caller_chan.set_result(request.headers["agi_uniqueid"])
        while "error" not in await request.send_command("EXEC MusicOnHold default,20"):
            pass

    async def claim(request: Any) -> None:
        await request.send_command(f'SET VARIABLE CCQ_CALLER_UID "{await caller_chan}"')

    agi.update(inbound=inbound, claim=claim)
    t0 = time.monotonic()
    # this caller hangs up 5 s after answering
    await ami.originate(
        Channel="Local/100@hotline",
        Context="ccqueue-test-caller",
        Exten="hangup5",
        Timeout="10000",
        ChannelId="t-c-caller",
        OtherChannelId="t-c-hotline",
    )
    await asyncio.wait_for(caller_chan, 10)
    resp = await ami.originate(
        Channel="PJSIP/agent1", Context="ccqueue-agent", Exten="s", Timeout="10000", ChannelId="t-c-agent", Variable="CCQ_OFFER=y"
    )
    assert resp["Reason"] == "4"
    await ami.wait_for(Event="BridgeEnter", Uniqueid="t-c-agent")
    await ami.wait_for(10, Event="Hangup", Uniqueid="t-c-caller")
    await ami.wait_for(Event="BridgeLeave", Uniqueid="t-c-agent")
    await ami.wait_for(Event="VarSet", Uniqueid="t-c-agent", Variable="BRIDGERESULT", Value="SUCCESS")
    await ami.wait_for(Event="Newexten", Uniqueid="t-c-agent", Context="ccqueue-agent", Priority="11", Application="Hangup")
    await ami.wait_for(Event="Hangup", Uniqueid="t-c-agent")
    await in_thread(lambda: phone.wait_event("CALL_CLOSED", 5, after=t0))


@pytest.mark.e2e
async def test_lost_claim_beeps_and_hangs_up(sandbox: Any, ami: Ami, agi: dict[str, Handler], phone: Any) -> None:
    await in_thread(lambda: reset_phone(phone))

    async def claim(request: Any) -> None:
        await request.send_command("SET VARIABLE CCQ_CLAIM lost")

    agi.update(claim=claim)
    resp = await ami.originate(Channel="PJSIP/agent1", Context="ccqueue-agent", Exten="s", Timeout="10000", ChannelId="t-d-agent")
    assert resp["Reason"] == "4"
    await ami.wait_for(Event="Newexten", Uniqueid="t-d-agent", Application="Playback", AppData="beep")
    await ami.wait_for(Event="Hangup", Uniqueid="t-d-agent")
    assert not ami.find(Event="BridgeEnter", Uniqueid="t-d-agent")


@pytest.mark.e2e
async def test_agent_no_answer_is_reason_3(sandbox: Any, ami: Ami, phone: Any) -> None:
    await in_thread(lambda: reset_phone(phone))
    phone.set_answermode("manual")
    try:
        t0 = time.monotonic()
        resp = await ami.originate(
            Channel="PJSIP/agent1", Context="ccqueue-agent", Exten="s", Timeout="3000", ChannelId="t-e-agent"
        )
        elapsed = time.monotonic() - t0
        assert (resp["Response"], resp["Reason"], resp["Uniqueid"]) == ("Failure", "3", "t-e-agent")
        assert resp["Channel"] == "PJSIP/agent1"  # the dial string, not a channel name
        assert 2.5 < elapsed < 6
        hangup = await ami.wait_for(Event="Hangup", Uniqueid="t-e-agent")
        assert (hangup["Cause"], hangup["ChannelStateDesc"]) == ("19", "Ringing")
        assert phone.wait_event("CALL_INCOMING", 1, after=t0)
    finally:
        phone.set_answermode("auto")


@pytest.mark.e2e
async def test_agent_rejecting_is_reason_0_cause_17(sandbox: Any, ami: Ami, phone: Any) -> None:
    await in_thread(lambda: reset_phone(phone))
    phone.set_answermode("manual")
    try:
        t0 = time.monotonic()
        pending = asyncio.ensure_future(
            ami.originate(Channel="PJSIP/agent1", Context="ccqueue-agent", Exten="s", Timeout="5000", ChannelId="t-f-agent")
        )
        await in_thread(lambda: phone.wait_event("CALL_INCOMING", 5, after=t0))
        assert phone.ringing
        phone.hangup()
        resp = await pending
        assert (resp["Response"], resp["Reason"]) == ("Failure", "0")
        hangup = await ami.wait_for(Event="Hangup", Uniqueid="t-f-agent")
        assert hangup["Cause"] == "17"
    finally:
        phone.set_answermode("auto")


@pytest.mark.e2e
async def test_unregistered_agent_is_reason_0_without_a_channel(sandbox: Any, ami: Ami) -> None:
    assert not sandbox.is_registered("agent2")
    resp = await ami.originate(Channel="PJSIP/agent2", Context="ccqueue-agent", Exten="s", Timeout="3000", ChannelId="t-g-agent")
    assert (resp["Response"], resp["Reason"], resp["Channel"]) == ("Failure", "0", "PJSIP/agent2")
    await asyncio.sleep(0.5)
    assert not ami.find(Uniqueid="t-g-agent", Event="Newchannel")


@pytest.mark.e2e
async def test_hangup_action_takes_the_uniqueid(sandbox: Any, ami: Ami) -> None:
    # no AGI server: the hotline side plays the 6 s "unavailable" message
    await ami.originate(
        Channel="Local/100@hotline",
        Context="ccqueue-test-caller",
        Exten="wait",
        Timeout="10000",
        ChannelId="t-h-caller",
        OtherChannelId="t-h-hotline",
    )
    await ami.wait_for(Event="Newexten", Uniqueid="t-h-hotline", Application="Playback")
    resp = await ami.action({"Action": "Hangup", "Channel": "t-h-hotline", "Cause": "16"})
    assert (resp.get("Response"), resp.get("Message")) == ("Success", "Channel Hungup")
    hangup = await ami.wait_for(Event="Hangup", Uniqueid="t-h-hotline")
    assert hangup["Channel"].startswith("Local/100@hotline-")
    await ami.wait_for(Event="Hangup", Uniqueid="t-h-caller")
    resp = await ami.action({"Action": "Hangup", "Channel": "t-h-no-such-id"})
    assert (resp.get("Response"), resp.get("Message")) == ("Error", "No such channel")


@pytest.mark.e2e
async def test_a_gone_caller_is_not_replaced_by_a_channel_whose_uniqueid_extends_its_own(
    sandbox: Any, ami: Ami, agi: dict[str, Handler], phone: Any
) -> None:
    # Asterisk's Bridge() looks its channel up by name, then by uniqueid, both by prefix:
    # Bridge(1765000000.4) would take 1765000000.45 when .4 has hung up. The agent leg
    # must find exactly the caller it was granted, or nobody.
    await in_thread(lambda: reset_phone(phone))

    async def claim(request: Any) -> None:
        await request.send_command("SET VARIABLE CCQ_CALLER_UID t-p-hotline")  # no such channel (any more)

    agi.update(claim=claim)
    # A bystander whose uniqueid starts with the gone caller's.
    await ami.originate(
        Channel="Local/wait@ccqueue-test-caller",
        Context="ccqueue-test-caller",
        Exten="wait",
        Timeout="10000",
        ChannelId="t-p-hotline2",
        OtherChannelId="t-p-hotline2-other",
    )
    resp = await ami.originate(Channel="PJSIP/agent1", Context="ccqueue-agent", Exten="s", Timeout="10000", ChannelId="t-p-agent")
    assert resp["Reason"] == "4"
    await ami.wait_for(Event="Newexten", Uniqueid="t-p-agent", Application="Playback", AppData="beep")
    await ami.wait_for(Event="Hangup", Uniqueid="t-p-agent")
    assert not ami.find(Event="BridgeEnter", Uniqueid="t-p-agent")
    assert not ami.find(Event="BridgeEnter", Uniqueid="t-p-hotline2")
    await ami.action({"Action": "Hangup", "Channel": "t-p-hotline2"})


@pytest.mark.e2e
async def test_the_caller_granted_is_bridged_though_another_uniqueid_extends_its_own(
    sandbox: Any, ami: Ami, agi: dict[str, Handler], phone: Any
) -> None:
    await in_thread(lambda: reset_phone(phone))
    caller_uid: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def inbound(request: Any) -> None:
        caller_uid.set_result(request.headers["agi_uniqueid"])
        while "error" not in await request.send_command("EXEC MusicOnHold default,20"):
            pass

    async def claim(request: Any) -> None:
        await request.send_command(f"SET VARIABLE CCQ_CALLER_UID {await caller_uid}")

    agi.update(inbound=inbound, claim=claim)
    await ami.originate(
        Channel="Local/100@hotline",
        Context="ccqueue-test-caller",
        Exten="wait",
        Timeout="10000",
        ChannelId="t-q-caller",
        OtherChannelId="t-q-hotline",
    )
    assert await asyncio.wait_for(caller_uid, 10) == "t-q-hotline"
    # Bystanders whose uniqueids the caller's is a prefix of (Asterisk refuses to give a
    # new channel an id that is a prefix of a live one's, so they come after it).
    for n in range(8):
        resp = await ami.originate(
            Channel="Local/wait@ccqueue-test-caller",
            Context="ccqueue-test-caller",
            Exten="wait",
            Timeout="10000",
            ChannelId=f"t-q-hotline{n}",
            OtherChannelId=f"t-q-hotline{n}-other",
        )
        assert resp["Reason"] == "4"
    resp = await ami.originate(Channel="PJSIP/agent1", Context="ccqueue-agent", Exten="s", Timeout="10000", ChannelId="t-q-agent")
    assert resp["Reason"] == "4"
    agent_in = await ami.wait_for(Event="BridgeEnter", Uniqueid="t-q-agent")
    caller_in = await ami.wait_for(Event="BridgeEnter", Uniqueid="t-q-hotline")
    assert caller_in["BridgeUniqueid"] == agent_in["BridgeUniqueid"]
    for n in range(8):
        assert not ami.find(Event="BridgeEnter", Uniqueid=f"t-q-hotline{n}")
    for uid in ["t-q-caller", "t-q-agent", *(f"t-q-hotline{n}" for n in range(8))]:
        await ami.action({"Action": "Hangup", "Channel": uid})
