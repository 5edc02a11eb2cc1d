"""A recording's file is found only inside the recordings folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccqueue.core.errors import RecordingUnknown
from ccqueue.recording_files import delete_files, recording_path


def test_a_name_ccqueue_makes_resolves_inside_the_folder(tmp_path: Path) -> None:
    assert recording_path(tmp_path, "2026-01-02/abc-1.2.wav") == tmp_path.resolve() / "2026-01-02" / "abc-1.2.wav"


@pytest.mark.parametrize(
    "file",
    [
        "../secret.wav",
        "2026-01-02/../../etc/passwd",
        "/etc/passwd",
        "2026-01-02/../x.wav",
        "2026-01-02/abc.wav/..",
        "2026-01-02/.wav",
        "2026-01-02/abc.mp3",
        "2026-01-02/a b.wav",
        "..%2Fx.wav",
        "",
    ],
)
def test_anything_else_is_unknown_and_never_opened(tmp_path: Path, file: str) -> None:
    with pytest.raises(RecordingUnknown):
        recording_path(tmp_path, file)


def test_a_symbolic_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "abc.1.wav").write_bytes(b"RIFF")
    root.mkdir()
    (root / "2026-01-02").symlink_to(outside)
    with pytest.raises(RecordingUnknown, match="outside"):
        recording_path(root, "2026-01-02/abc.1.wav")
    deleted, failed = delete_files(root, ["2026-01-02/abc.1.wav"])
    assert deleted == 0 and len(failed) == 1 and (outside / "abc.1.wav").exists()
