"""Recording policy, file names and the recorder's transitions, in the pure core."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from ccqueue.core import commands as cmd
from ccqueue.core.recording import (
    RECORDING_NOTICE,
    RecordingMode,
    RecordingPolicy,
    recording_file,
    records_call,
    share_draw,
)

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
