"""The installed package is the product: a wheel holds ``ccqueue`` and nothing of the testbed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_wheel_holds_the_product_and_no_testbed(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("ccqueue-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names if not name.startswith("ccqueue-")}
    assert tops == {"ccqueue"}
    assert "ccqueue/store/migrations/0001_init.sql" in names and "ccqueue/http/static/wallboard.html" in names
    assert not [n for n in names if any(word in n for word in ("sandbox", "baresip", "softphone", "demo", "callers"))]
