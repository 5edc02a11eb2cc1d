"""The code is linted and formatted as part of the suite: ruff's rules and its format
(pyproject ``[tool.ruff]``), and the architecture contracts (``[tool.importlinter]``: the core imports nothing outside
itself and the standard library, the adapters do not import each other, no cycles)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def test_ruff_finds_nothing() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_import_contracts_are_kept() -> None:
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = _run(lint_imports, "--no-cache")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert "BROKEN" not in result.stdout and "Contracts: 4 kept, 0 broken." in result.stdout


def test_the_code_is_formatted() -> None:
    result = _run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr
