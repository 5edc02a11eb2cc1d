"""The command line's own options: a version, and a clear refusal of a bad log level."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccqueue.cli import main, version

CONFIG = str(Path(__file__).resolve().parents[2] / "config")


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"ccqueue {version()}"
    assert version() != "unknown"  # the package is installed: its metadata has a version


@pytest.mark.parametrize("argv", [["--log-level", "loud", "check"], ["--log-level", "", "check"]])
def test_a_bad_log_level_is_an_error_message_not_a_traceback(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "Traceback" not in err


def test_a_bad_log_level_from_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CCQUEUE_LOG_LEVEL", "shout")
    with pytest.raises(SystemExit) as done:
        main(["check", "-c", CONFIG])
    assert done.value.code == 2
    assert "CCQUEUE_LOG_LEVEL: 'shout'" in capsys.readouterr().err


def test_the_log_level_is_read_whatever_its_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-level", "WARNING", "check", "-c", CONFIG]) == 0
