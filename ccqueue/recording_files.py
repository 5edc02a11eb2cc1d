"""Recording files on disk: the one way from a stored name to a path.

A recording's file is found only through its row: the row's ``file`` must be a name
ccqueue makes (``YYYY-MM-DD/<recording id>.wav``, ``ccqueue.core.recording``) and the
resolved path, symbolic links followed, must lie inside the recordings folder. Anything
else is ``RecordingUnknown`` and no path is opened. Shared by the HTTP playback and the
store's purge and erasure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ccqueue.core.errors import RecordingUnknown

__all__ = ["RECORDING_FILE", "delete_files", "files_of_calls", "recording_files", "recording_path"]

RECORDING_FILE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}/[A-Za-z0-9][A-Za-z0-9_-]{0,63}(\.[0-9]{1,6})?\.wav")


def recording_path(directory: str | Path, file: str) -> Path:
    """The absolute path of a recording's ``file`` inside ``directory``."""
    if not isinstance(file, str) or not RECORDING_FILE.fullmatch(file):
        raise RecordingUnknown(f"{file!r} is not a recording file name")
    root = Path(directory).resolve()
    path = (root / file).resolve()
    if not path.is_relative_to(root):
        raise RecordingUnknown(f"{file!r} resolves outside the recordings folder")
    return path


def delete_files(directory: str | Path, files: Sequence[str]) -> tuple[int, list[dict[str, str]]]:
    """Delete recordings' files (after their rows' transaction committed); a file already
    gone counts as deleted. Returns (deleted, failures with the reason of each)."""
    deleted, failed = 0, []
    for file in files:
        try:
            recording_path(directory, file).unlink(missing_ok=True)
            deleted += 1
        except (OSError, RecordingUnknown) as exc:
            failed.append({"file": file, "error": f"{type(exc).__name__}: {exc}"})
    return deleted, failed


def recording_files(directory: str | Path) -> list[str]:
    """Every file in the folder with a name ccqueue makes, relative to it."""
    root = Path(directory)
    if not root.is_dir():
        return []
    names = (f"{p.parent.name}/{p.name}" for p in root.glob("*/*.wav"))
    return sorted(n for n in names if RECORDING_FILE.fullmatch(n))


def files_of_calls(directory: str | Path, call_ids: Sequence[str]) -> list[str]:
    """The files of these calls, with a row or not (a recording held on demand and never
    started has none): a file is named after its call's id (``<call id>.<n>.wav``)."""
    wanted = set(call_ids)
    return [n for n in recording_files(directory) if n.split("/", 1)[1].rsplit(".", 2)[0] in wanted]
