"""Recording policy, file names and the recorder's transitions, in the pure core."""

from __future__ import annotations

import dataclasses
import uuid
from types import MappingProxyType

import pytest

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.errors import RecordingRefused
from ccqueue.core.recording import (
    RECORDING_NOTICE,
    RecordingMode,
    RecordingPolicy,
    recording_file,
    records_call,
    share_draw,
)
from ccqueue.core.records import CallEventRecord, RecordingRecord
from ccqueue.core.replies import ClaimAnswer

CASES = [
    (RecordingPolicy(mode=RecordingMode.ALL), True),
    (RecordingPolicy(mode=RecordingMode.NONE), False),
    (RecordingPolicy(mode=RecordingMode.ON_DEMAND), False),
    (RecordingPolicy(mode=RecordingMode.SHARE, share=1.0), True),
    (RecordingPolicy(mode=RecordingMode.SHARE, share=0.0), False),
]


@pytest.mark.parametrize(("policy", "recorded"), CASES)
def test_each_policy_records_or_not(policy: RecordingPolicy, recorded: bool) -> None:
    assert records_call(policy, "3f2b8c9e-1d2a-4b5c-9d8e-7f6a5b4c3d2e") is recorded


def test_a_share_is_decided_per_call_the_same_way_every_time_and_near_its_fraction() -> None:
    policy = RecordingPolicy(mode=RecordingMode.SHARE, share=0.2)
    ids = [str(uuid.UUID(int=n * 7919 + 12345)) for n in range(5000)]
    first = [records_call(policy, i) for i in ids]
    assert first == [records_call(policy, i) for i in ids]  # deterministic
    assert 0.18 < sum(first) / len(first) < 0.22
    assert all(0.0 <= share_draw(i) < 1.0 for i in ids[:100])


def test_the_file_name_is_the_day_and_the_id_and_nothing_else() -> None:
    assert recording_file("3f2b8c9e-1d2a.2", 1_760_000_000.0) == "2025-10-09/3f2b8c9e-1d2a.2.wav"
    for bad in ("../etc/passwd", "a/b", "", ".hidden", "x" * 80, "a b", "id.1.2"):
        with pytest.raises(ValueError, match="recording id"):
            recording_file(bad, 0.0)


def test_a_policy_checks_its_share_and_retention() -> None:
    with pytest.raises(ValueError, match="share"):
        RecordingPolicy(mode=RecordingMode.SHARE, share=1.5)
    with pytest.raises(ValueError, match="retention_days"):
        RecordingPolicy(retention_days=0)
    assert not RecordingPolicy(mode=RecordingMode.SHARE, share=0.0).may_record
    assert RecordingPolicy(mode=RecordingMode.ON_DEMAND).may_record


def test_the_notice_is_a_project_prompt() -> None:
    assert RECORDING_NOTICE == "ccqueue/recording-notice"
    assert dataclasses.is_dataclass(cmd.ControlRecording)


# --- the recorder, through the distributor -----------------------------------------------


T0 = 1_760_000_000.0


def acd_with(policy: RecordingPolicy, greeting: str | None = None) -> Acd:
    queue = QueueSettings(name="support", recording=policy)
    return Acd(
        AcdSettings(
            queues=MappingProxyType({"support": queue}),
            agents=MappingProxyType({"a1": AgentSettings(agent_id="a1", name="A1", endpoint="PJSIP/a1", queues=("support",))}),
            hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support", greeting=greeting)}),
        )
    )


def connected(acd: Acd) -> tuple[str, ClaimAnswer, list[cmd.Command]]:
    """A caller answered by a1: the offer id, the claim's answer, the arrival's commands."""
    acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN), T0)
    arrived = acd.handle(ev.CallArrived(call_id="c1", hotline="100", caller="+79001", channel="Local/1;2", uniqueid="u1"), T0)
    (offer,) = [c for c in arrived if isinstance(c, cmd.OriginateAgent)]
    reply = acd.handle_with_reply(ev.OfferClaimed(offer_id=offer.offer_id), T0 + 2).reply
    assert isinstance(reply, ClaimAnswer)
    return offer.offer_id, reply, arrived


def written(kind: type, out: list[cmd.Command]) -> list:
    return [c.record for c in out if isinstance(c, cmd.Write) and isinstance(c.record, kind)]


def ask(acd: Acd, action: ev.RecordingAction, now: float) -> list[cmd.Command]:
    return acd.handle(ev.RecordingRequested(agent_id="a1", action=action), now)


def test_policy_all_gives_the_claim_a_file_and_the_call_end_closes_its_row() -> None:
    acd = acd_with(RecordingPolicy(mode=RecordingMode.ALL))
    offer_id, reply, _ = connected(acd)
    assert reply.recording_file == f"2025-10-09/{offer_id}.wav"
    out = acd.handle(ev.ChannelHungUp(uniqueid="u1"), T0 + 30)
    (row,) = written(RecordingRecord, out)
    assert (row.recording_id, row.version, row.started_at, row.ended_at) == (offer_id, 2, T0 + 2, T0 + 30)
    assert "recording_ended" in [e.kind for e in written(CallEventRecord, out)]


def test_policy_none_gives_no_file_and_pause_is_refused() -> None:
    acd = acd_with(RecordingPolicy())
    _, reply, _ = connected(acd)
    assert reply.recording_file is None
    with pytest.raises(RecordingRefused):
        ask(acd, ev.RecordingAction.PAUSE, T0 + 3)


def test_pause_and_resume_mute_the_agents_leg_and_a_repeat_is_refused() -> None:
    acd = acd_with(RecordingPolicy(mode=RecordingMode.ALL))
    offer_id, _, _ = connected(acd)
    out = ask(acd, ev.RecordingAction.PAUSE, T0 + 3)
    (mute,) = [c for c in out if isinstance(c, cmd.ControlRecording)]
    assert (mute.uniqueid, mute.action) == (offer_id, "pause")
    assert [e.kind for e in written(CallEventRecord, out)] == ["recording_paused"]
    with pytest.raises(RecordingRefused, match="paused already"):
        ask(acd, ev.RecordingAction.PAUSE, T0 + 4)
    out = ask(acd, ev.RecordingAction.RESUME, T0 + 5)
    assert [c.action for c in out if isinstance(c, cmd.ControlRecording)] == ["resume"]
    with pytest.raises(RecordingRefused, match="on demand"):
        ask(acd, ev.RecordingAction.START, T0 + 6)


def test_on_demand_is_held_muted_from_the_bridge_and_started_by_the_agent_once() -> None:
    acd = acd_with(RecordingPolicy(mode=RecordingMode.ON_DEMAND))
    offer_id, reply, _ = connected(acd)
    # The agent context starts MixMonitor held (muted): no row, nothing to pause yet.
    assert (reply.recording_file, reply.recording_held) == (f"2025-10-09/{offer_id}.wav", True)
    with pytest.raises(RecordingRefused, match="not being recorded"):
        ask(acd, ev.RecordingAction.PAUSE, T0 + 5)
    out = ask(acd, ev.RecordingAction.START, T0 + 10)
    (start,) = [c for c in out if isinstance(c, cmd.ControlRecording)]
    assert (start.uniqueid, start.action, start.file) == (offer_id, "start", f"2025-10-09/{offer_id}.wav")
    assert written(RecordingRecord, out)[0].started_at == T0 + 10
    with pytest.raises(RecordingRefused, match="already"):
        ask(acd, ev.RecordingAction.START, T0 + 11)
    assert written(RecordingRecord, acd.handle(ev.ChannelHungUp(uniqueid="u1"), T0 + 20))[0].ended_at == T0 + 20


def test_on_demand_never_started_leaves_no_row() -> None:
    acd = acd_with(RecordingPolicy(mode=RecordingMode.ON_DEMAND))
    connected(acd)
    out = acd.handle(ev.ChannelHungUp(uniqueid="u1"), T0 + 20)
    assert written(RecordingRecord, out) == []
    assert "recording_ended" not in [e.kind for e in written(CallEventRecord, out)]


def test_the_notice_plays_on_joining_a_queue_that_may_record() -> None:
    for policy, told in ((RecordingPolicy(mode=RecordingMode.ALL, notice=True), True),
                         (RecordingPolicy(mode=RecordingMode.ALL), False),
                         (RecordingPolicy(mode=RecordingMode.NONE, notice=True), False)):  # fmt: skip
        acd = acd_with(policy, greeting="ccqueue/welcome")
        out = acd.handle(ev.CallArrived(call_id="c1", hotline="100", caller="+7", channel="L/1;2", uniqueid="u1"), T0)
        plays = [c.sound for c in out if isinstance(c, cmd.PlayToCaller)]
        # The notice first: the agent's claim waits for it, never for the greeting.
        assert plays == ([RECORDING_NOTICE, "ccqueue/welcome"] if told else ["ccqueue/welcome"])


def test_no_agent_on_a_call_means_nothing_to_record() -> None:
    acd = acd_with(RecordingPolicy(mode=RecordingMode.ON_DEMAND))
    with pytest.raises(RecordingRefused, match="not on a call"):
        ask(acd, ev.RecordingAction.START, T0)
