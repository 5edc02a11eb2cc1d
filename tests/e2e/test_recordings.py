"""Call recording through the real Asterisk 22, a baresip agent and PostgreSQL.

A queue with ``recording: {policy: all, notice: true}``: the caller hears the whole
notice before the agent is bridged; the agent context starts MixMonitor before its Bridge; the agent pauses and resumes (AMI MixMonitorMute); after the call the file
is on disk with audio in it and its row in PostgreSQL; a supervisor of the queue and the
agent who took the call can play it, another agent is refused; every playback, allowed
or refused, is a row of ``audit_log``.
"""

from __future__ import annotations

import asyncio
import shutil
import urllib.error
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccqueue.credentials import hash_token
from testbed.baresip import Softphone
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import Daemon, fetch, running_daemon, wait_row
from tests.e2e.test_calls import login, until
from tests.support.probe import AmiProbe, match

pytestmark = pytest.mark.e2e

SUPERVISOR_TOKEN = "ccq_e2e-sam-token"
OWN_AGENT_TOKEN = "ccq_e2e-alice-token"  # agent1
OTHER_AGENT_TOKEN = "ccq_e2e-bob-token"  # agent2
CALLER = "+12025550142"


@pytest.fixture
def recorded(
    request: pytest.FixtureRequest,
    asterisk: AsteriskSandbox,
    phones: dict[str, Softphone],
    e2e_config: Path,
    database: str,
    tmp_path: Path,
) -> Iterator[tuple[Daemon, Path]]:
    """A daemon whose support queue records by the policy the test names (every call by
    default), into a folder of the Asterisk instance (Asterisk runs in a chroot: it sees
    the folder under another path)."""
    policy = getattr(request, "param", "{policy: all, notice: true, retention_days: 30}")
    folder = tmp_path / "config"
    shutil.copytree(e2e_config, folder)
    queues = (folder / "queues.yaml").read_text()
    queues = queues.replace("  support:\n", f"  support:\n    recording: {policy}\n", 1)
    (folder / "queues.yaml").write_text(queues)
    sub = f"recordings-{tmp_path.name}"
    host_dir = Path(asterisk.paths["INSTANCE"]) / sub
    (folder / "recordings.yaml").write_text(
        f"recordings:\n  directory: {host_dir}\n  asterisk_directory: {asterisk.paths['INSTANCE_IN_ROOT']}/{sub}\n"
    )
    users = (folder / "users.yaml").read_text()
    users += (
        f'  sam:\n    role: supervisor\n    queues: [support]\n    tokens: ["{hash_token(SUPERVISOR_TOKEN)}"]\n'
        f'  alice:\n    role: agent\n    agent: agent1\n    tokens: ["{hash_token(OWN_AGENT_TOKEN)}"]\n'
        f'  bob:\n    role: agent\n    agent: agent2\n    tokens: ["{hash_token(OTHER_AGENT_TOKEN)}"]\n'
    )
    (folder / "users.yaml").write_text(users)
    try:
        with running_daemon(asterisk, phones, folder, database, tmp_path) as d:
            yield d, host_dir
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)


def get_bytes(daemon: Daemon, path: str, token: str) -> tuple[int, bytes, str]:
    request = urllib.request.Request(daemon.base_url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def loudest_sample(path: Path, *, upto_s: float | None = None) -> int:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        count = wav.getnframes() if upto_s is None else int(upto_s * wav.getframerate())
        frames = wav.readframes(count)
    return max((abs(int.from_bytes(frames[i : i + 2], "little", signed=True)) for i in range(0, len(frames), 2)), default=0)


async def test_a_recorded_call_is_filed_played_to_its_supervisor_refused_to_another_agent_and_audited(
    recorded: tuple[Daemon, Path], probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    daemon, folder = recorded
    login(daemon, "agent1")
    mark = len(probe.events)
    caller = await probe.call_hotline(caller=CALLER)
    agent_in = await probe.wait_for(
        lambda m: match(Event="BridgeEnter")(m) and (m.get("Channel") or "").startswith("PJSIP/agent1"),
        timeout=20,
        since=mark,
        what="agent1 entering the bridge",
    )
    # MixMonitor ran on the agent's leg, in the agent context, just before its Bridge.
    assert probe.seen(
        lambda m: (
            match(Event="Newexten", Uniqueid=agent_in["Uniqueid"], Context="ccqueue-agent", Priority="9")(m)
            and m.get("Application") == "ExecIf"
            and "MixMonitor(" in (m.get("AppData") or "")
        ),
        since=mark,
    )
    assert agent_in["Priority"] == "10"
    # The caller heard the whole notice ("this call may be recorded", 2.4 s) before the
    # agent's Bridge() pulled it out of its session: the claim waited for it.
    hotline_leg = f"{caller}-hl"
    caller_in = await probe.wait_for(match(Event="BridgeEnter", Uniqueid=hotline_leg), timeout=5, since=mark)
    notice = [
        m
        for m in probe.seen(match(Uniqueid=hotline_leg), since=mark)
        if m.get("Event") in ("AGIExecStart", "AGIExecEnd") and "recording-notice" in (m.get("Command") or "")
    ]
    assert [m["Event"] for m in notice] == ["AGIExecStart", "AGIExecEnd"]
    started, ended = (float(m["Timestamp"]) for m in notice)
    assert ended - started >= 2.0 and float(caller_in["Timestamp"]) >= ended
    await until(lambda: phones["agent1"].call_state == "in_call", what="agent1's phone in the call")

    # The agent pauses (a card number) and resumes: MixMonitorMute both ways, on its leg.
    assert daemon.http("POST", "/api/agents/agent1/recording/pause", token=OWN_AGENT_TOKEN)[0] == 200
    muted = await probe.wait_for(match(Event="MixMonitorMute", State="1"), timeout=5, since=mark, what="recording muted")
    assert muted["Uniqueid"] == agent_in["Uniqueid"] and muted["Direction"] == "both"
    status, body = daemon.http("POST", "/api/agents/agent1/recording/pause", token=OWN_AGENT_TOKEN)
    assert (status, body["error"]) == (409, "recording-refused")
    assert daemon.http("POST", "/api/agents/agent1/recording/resume", token=OWN_AGENT_TOKEN)[0] == 200
    await probe.wait_for(match(Event="MixMonitorMute", State="0"), timeout=5, since=mark, what="recording unmuted")
    # Another agent cannot touch agent1's recording.
    assert daemon.http("POST", "/api/agents/agent1/recording/pause", token=OTHER_AGENT_TOKEN)[0] == 403

    # Two seconds of conversation (the softphone plays its tone), then the caller hangs up.
    await asyncio.sleep(2.0)
    await probe.hangup(caller)
    row = await wait_row(
        daemon.dsn, "select * from recordings where agent_id = 'agent1'", check=lambda r: r["ended_at"] is not None
    )
    call = await wait_row(daemon.dsn, "select * from calls where call_id = $1", row["call_id"])
    assert call["caller"] == CALLER and call["queue"] == "support" and row["queue"] == "support"
    assert row["started_at"] >= call["answered_at"] and row["ended_at"] <= call["ended_at"]
    kinds = [
        r["kind"] for r in await fetch(daemon.dsn, "select kind from call_events where call_id = $1 order by seq", row["call_id"])
    ]
    assert [k for k in kinds if k.startswith("recording_")] == [
        "recording_started",
        "recording_paused",
        "recording_resumed",
        "recording_ended",
    ]

    # The file: where the row says, with audio in it (the agent's tone, not silence).
    path = folder / row["file"]
    await until(lambda: path.is_file() and path.stat().st_size > 8000, timeout=10, what="the recording's file")
    assert loudest_sample(path) > 500

    rid = row["recording_id"]
    status, audio, kind = get_bytes(daemon, f"/api/recordings/{rid}/audio", SUPERVISOR_TOKEN)
    assert (status, kind) == (200, "audio/wav") and audio[:4] == b"RIFF" and audio == path.read_bytes()
    assert get_bytes(daemon, f"/api/recordings/{rid}/audio", OWN_AGENT_TOKEN)[0] == 200
    status, body, _ = get_bytes(daemon, f"/api/recordings/{rid}/audio", OTHER_AGENT_TOKEN)
    assert status == 403 and b'"forbidden"' in body
    status, meta = daemon.http("GET", f"/api/recordings/{rid}", token=SUPERVISOR_TOKEN)
    assert status == 200 and meta["call_id"] == row["call_id"] and "file" not in meta and meta["duration_s"] >= 1.5

    audit = await wait_row(
        daemon.dsn,
        "select array_agg(actor || ' ' || status || ' ' || outcome order by at) as seen from audit_log where path = $1",
        f"/api/recordings/{rid}/audio",
        check=lambda r: r["seen"] is not None and len(r["seen"]) == 3,
    )
    assert audit["seen"] == ["sam 200 accepted", "alice 200 accepted", "bob 403 refused"]


@pytest.mark.parametrize("recorded", ["{policy: on_demand}"], indirect=True)
async def test_on_demand_the_recording_is_held_muted_until_the_agent_starts_it(
    recorded: tuple[Daemon, Path], probe: AmiProbe, phones: dict[str, Softphone]
) -> None:
    daemon, folder = recorded
    login(daemon, "agent1")
    mark = len(probe.events)
    caller = await probe.call_hotline(caller=CALLER)
    agent_in = await probe.wait_for(
        lambda m: match(Event="BridgeEnter")(m) and (m.get("Channel") or "").startswith("PJSIP/agent1"),
        timeout=20,
        since=mark,
        what="agent1 entering the bridge",
    )
    # MixMonitor started by the claim, muted before the Bridge: no row, nothing heard yet.
    held = await probe.wait_for(match(Event="MixMonitorMute", State="1"), timeout=5, since=mark, what="recording held")
    assert held["Uniqueid"] == agent_in["Uniqueid"] and probe.events.index(held) < probe.events.index(agent_in)
    await until(lambda: phones["agent1"].call_state == "in_call", what="agent1's phone in the call")
    await asyncio.sleep(1.0)
    assert await fetch(daemon.dsn, "select 1 from recordings") == []  # nothing until asked
    assert daemon.http("POST", "/api/agents/agent1/recording/start", token=OWN_AGENT_TOKEN)[0] == 200
    await probe.wait_for(match(Event="MixMonitorMute", State="0"), timeout=5, since=mark, what="recording started")
    status, body = daemon.http("POST", "/api/agents/agent1/recording/start", token=OWN_AGENT_TOKEN)
    assert (status, body["error"]) == (409, "recording-refused")
    await asyncio.sleep(1.5)
    await probe.hangup(caller)
    row = await wait_row(daemon.dsn, "select * from recordings", check=lambda r: r["ended_at"] is not None)
    assert row["recording_id"] == agent_in["Uniqueid"]
    path = folder / row["file"]
    await until(lambda: path.is_file() and path.stat().st_size > 4000, timeout=10, what="the recording's file")
    # Silence while held (the first second after the bridge), the agent's tone once started.
    assert loudest_sample(path, upto_s=0.8) == 0 and loudest_sample(path) > 500
