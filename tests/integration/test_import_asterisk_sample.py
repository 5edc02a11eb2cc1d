"""ccqueue import-asterisk on the queues.conf files Asterisk itself ships.

They come from the Asterisk sandbox root (``deploy/asterisk/sandbox.sh``), whose
asterisk-config package installs them:

- ``usr/share/asterisk/conf/samples/queues.conf.sample``: the documented sample,
  also installed as ``etc/asterisk/queues.conf``. Every queue in it is commented
  out; only ``[general]`` is live. It is converted as shipped, and once more with
  its ``[markq]`` example and every documented option line switched on.
- ``usr/share/asterisk/conf/basic-pbx/queues.conf``: the "basic PBX" example with
  two ring-all queues of three PJSIP members each.

The root is built by ``deploy/install-deps.sh``; without it these tests skip, and
where skips are forbidden (``CCQUEUE_FORBID_SKIPS=1``, as in CI) that fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccqueue.config import load_config
from ccqueue.config.import_asterisk import QUEUES_FILE, ImportResult, convert

REPO = Path(__file__).resolve().parents[2]
SAMPLE = Path("usr/share/asterisk/conf/samples/queues.conf.sample")
INSTALLED_SAMPLE = Path("etc/asterisk/queues.conf")
BASIC_PBX = Path("usr/share/asterisk/conf/basic-pbx/queues.conf")
MINIMAL_CCQUEUE_YAML = "asterisk:\n  ami:\n    username: ccqueue\n    secret: s3cret\n"

# Settings of the sample's [markq] that ccqueue carries over, and those whose
# sample value is what ccqueue does anyway; every other one must be in the notes.
CARRIED = {"musicclass", "strategy", "timeout", "wrapuptime", "autopause", "member", "weight", "servicelevel"}
SAME_AS_CCQUEUE = {
    "maxlen",  # 0: no limit
    "autofill",  # yes
    "autopausebusy",
    "autopauseunavail",
    "setinterfacevar",
    "setqueueentryvar",
    "setqueuevar",
    "reportholdtime",
    "ringinuse",
    "memberdelay",  # 0
}


@pytest.fixture(scope="module")
def root() -> Path:
    found = subprocess.run(
        ["bash", str(REPO / "deploy/asterisk/sandbox.sh"), "root"], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        pytest.skip(f"no Asterisk sandbox root (bash deploy/asterisk/sandbox.sh build): {found.stderr.strip()}")
    return Path(found.stdout.strip())


def load(result: ImportResult, directory: Path) -> Any:
    for name, text in result.yaml_files.items():
        (directory / name).write_text(text, encoding="utf-8")
    (directory / "ccqueue.yaml").write_text(MINIMAL_CCQUEUE_YAML, encoding="utf-8")
    return load_config(directory, env={name: "secret-" + name for name in result.password_variables})


def switched_on(sample: str) -> str:
    """The sample with ``;[markq]`` and every ``;option = value`` line uncommented.

    At most one blank may follow the ``;``: prose in the sample's comments is
    indented further (``;    monitor-type = MixMonitor is the only ...``).
    """
    lines = []
    for line in sample.splitlines():
        match = re.fullmatch(r";\s?(\[markq\]|[a-z][a-z0-9_-]*\s*=>?.*)", line)
        lines.append(match[1] if match else line)
    return "\n".join(lines) + "\n"


def test_the_installed_queues_conf_is_the_sample(root: Path) -> None:
    installed = root / INSTALLED_SAMPLE
    assert installed.read_bytes() == (root / SAMPLE).read_bytes()


def test_the_sample_as_shipped(root: Path, tmp_path: Path) -> None:
    result = convert(root / SAMPLE)
    assert (result.queues, result.agents) == ([], [])
    assert result.notes == [
        (
            "queues.conf.sample:10: [general]: persistentmembers = yes: not carried over: members added at run "
            "time (AddQueueMember) are not in queues.conf; add them to agents.yaml"
        ),
        "queues.conf.sample:35: [general]: monitor-type = MixMonitor: not carried over: ccqueue does not record calls",
    ]
    config = load(result, tmp_path)
    assert (dict(config.queues), dict(config.agents)) == ({}, {})


def test_the_basic_pbx_example(root: Path, tmp_path: Path) -> None:
    result = convert(root / BASIC_PBX)
    assert result.queues == ["sales", "customer_advocate"]
    assert result.agents == ["1109", "1105", "1112", "1101", "1115", "1102"]
    config = load(result, tmp_path)
    assert {name: q.strategy.value for name, q in config.queues.items()} == {
        "sales": "ring_all",
        "customer_advocate": "ring_all",
    }
    assert config.agents["1109"].queues == ("sales",)
    assert config.agents["1109"].endpoint is None  # PJSIP/1109, ccqueue's default dial string
    assert config.agents["1101"].password.get_secret_value() == "secret-CCQUEUE_SIP_1101"
    assert [n.split(": ")[1] for n in result.notes] == ["[general]", "hotlines"]


def test_the_sample_with_its_markq_example_switched_on(root: Path, tmp_path: Path) -> None:
    text = switched_on((root / SAMPLE).read_text(encoding="utf-8"))
    result = convert(text, origin="queues.conf")
    assert result.queues == ["markq"]
    assert result.agents == ["1", "2", "3", "1001_agents", "1002_agents", "1000_default", "2000_default"]

    markq = yaml.safe_load(result.yaml_files[QUEUES_FILE])["queues"]["markq"]
    assert markq == {
        "strategy": "ring_all",
        "ring_timeout_s": 15,
        "wrapup_s": 15,
        "moh_class": "default",
        "auto_pause": {"after_misses": 1},
        "service_level": {"answer_within_s": 60},  # servicelevel = 60
        "steps": [{"require": {"markq": 2}, "duration_s": 15}, {}],  # penalty 0 first, then 10
    }
    config = load(result, tmp_path)
    assert config.agents["3"].name == "Bob Johnson"
    assert config.agents["1001_agents"].endpoint == "Local/1001@agents"
    assert {a: config.agents[a].skills["markq"] for a in ("1", "2", "1000_default")} == {
        "1": 2,
        "2": 1,
        "1000_default": 2,
    }

    # Every option of [markq] is carried over, the same as ccqueue's behaviour, or noted.
    in_markq = text[text.index("\n[markq]") :]
    options = {m[1].lower() for m in re.finditer(r"^([a-z][a-z0-9_-]*)\s*=", in_markq, re.MULTILINE)}
    unaccounted = {
        option
        for option in options - CARRIED - SAME_AS_CCQUEUE
        if not any(f"queue markq: {option} = " in note for note in result.notes)
    }
    assert unaccounted == set()
    assert any("queue markq: autopause = yes" in note for note in result.notes)
    assert any("member penalties carried over" in note for note in result.notes)


def test_the_command_on_the_sample(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "imported"
    done = subprocess.run(
        [sys.executable, "-m", "ccqueue.config.import_asterisk", str(root / BASIC_PBX), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "2 queue(s)" in done.stdout and "6 agent(s)" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == ["agents.yaml", "queues.yaml"]
