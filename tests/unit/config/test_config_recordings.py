"""The recording policy and the recordings section: validated, with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccqueue.config import load_config
from ccqueue.config.to_core import acd_settings
from ccqueue.core.recording import RecordingMode, RecordingPolicy
from tests.unit.config.test_config import BASE, only_problem, write

QUEUES = BASE["queues.yaml"]


def with_recording(recording: str) -> dict[str, str]:
    return {
        **BASE,
        "queues.yaml": QUEUES.replace("    ring_timeout_s: 20\n", f"    ring_timeout_s: 20\n    recording: {recording}\n"),
    }


@pytest.mark.parametrize(
    ("recording", "policy"),
    [
        (
            "{policy: all, notice: true, retention_days: 90}",
            RecordingPolicy(mode=RecordingMode.ALL, notice=True, retention_days=90),
        ),
        ("{share: 0.2}", RecordingPolicy(mode=RecordingMode.SHARE, share=0.2)),
        ("{policy: share, share: 0.5}", RecordingPolicy(mode=RecordingMode.SHARE, share=0.5)),
        ("{policy: on_demand}", RecordingPolicy(mode=RecordingMode.ON_DEMAND)),
        ("{}", RecordingPolicy()),
    ],
)
def test_a_queue_recording_becomes_the_cores_policy(tmp_path: Path, recording: str, policy: RecordingPolicy) -> None:
    config = load_config(write(tmp_path, with_recording(recording)), env={})
    assert acd_settings(config).queues["support"].recording == policy
    assert acd_settings(config).queues["sales"].recording == RecordingPolicy()


@pytest.mark.parametrize(
    ("recording", "says"),
    [
        ("{policy: share}", "needs a share"),
        ("{policy: all, share: 0.2}", "share goes with policy share"),
        ("{share: 1.5}", "at most 1.0"),
        ("{policy: sometimes}", "all"),
        ("{retention_days: 0}", "at least 1"),
        ("{polcy: all}", "polcy"),
    ],
)
def test_a_bad_recording_is_refused_on_its_line(tmp_path: Path, recording: str, says: str) -> None:
    problem = only_problem(tmp_path, with_recording(recording))
    assert problem.file.endswith("queues.yaml") and problem.line == 4
    assert problem.key.startswith("queues.support.recording")
    assert says in problem.message


def test_the_recordings_folder_must_be_absolute(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, {**BASE, "recordings.yaml": "recordings:\n  purge_every_s: 600\n  directory: rec\n"})
    assert (problem.file.endswith("recordings.yaml"), problem.line, problem.key) == (True, 3, "recordings.directory")
    assert "absolute" in problem.message


def test_asterisk_may_see_the_folder_under_another_path(tmp_path: Path) -> None:
    files = {**BASE, "recordings.yaml": "recordings:\n  directory: /srv/root/rec\n  asterisk_directory: /rec\n"}
    config = load_config(write(tmp_path, files), env={})
    assert config.recordings.in_asterisk("2026-01-02/c.1.wav") == "/rec/2026-01-02/c.1.wav"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert load_config(write(plain, BASE), env={}).recordings.in_asterisk("x") == "/var/spool/asterisk/monitor/ccqueue/x"
