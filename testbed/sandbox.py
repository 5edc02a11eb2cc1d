"""A Python handle on the Asterisk sandbox (``deploy/asterisk/sandbox.sh``).

For tests and demos: builds (or reuses) the Debian sid root, writes an
instance's Asterisk config from a ccqueue configuration folder, starts and stops
Asterisk, and runs CLI commands. Plain ``subprocess``; no asyncio.

    sbx = AsteriskSandbox("demo", Path("config"), ami_port=15038, sip_port=15060,
                          agi_port=14573)
    sbx.build(); sbx.configure(); sbx.start()
    print(sbx.channels())
    sbx.stop()

Every instance has the stand-in public telephone network of
``dialplan/standin-pstn.conf``: a trunk whose dial string is
``Local/{digits}@standin-pstn`` reaches test lines that each behave one way, by number
(``+1 202 555 0TNN``, T the kind): 1NN a person answering after NN s who says "hello",
2NN busy, 3NN never answers, 4NN an answering machine (15 s greeting, beep, silence),
5NN hangs up 1 s into its greeting, 6ND a person pressing D. ``testbed.pstn`` builds
the numbers and describes each line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SANDBOX_SCRIPT", "AsteriskSandbox", "Contact", "SandboxError"]

REPO_DIR = Path(__file__).resolve().parents[1]
SANDBOX_SCRIPT = REPO_DIR / "deploy" / "asterisk" / "sandbox.sh"


class SandboxError(RuntimeError):
    """A sandbox.sh command failed; the message carries its output."""


@dataclass(frozen=True)
class Contact:
    """One line of ``pjsip show contacts``."""

    aor: str
    uri: str
    status: str  # Avail, Unavail, NonQual, Unknown, Created, Removed


_CONTACT_LINE = re.compile(r"^\s*Contact:\s+(?P<aor>[^/\s]+)/(?P<uri>\S+)\s+\S+\s+(?P<status>\w+)")


class AsteriskSandbox:
    """One Asterisk instance in the sandbox root.

    ``instance`` is a short name; its files are ``<root>/srv/ccqueue/<instance>``.
    ``config_dir`` is the ccqueue configuration folder the PJSIP endpoints and
    the AMI user are generated from. Ports default to the configuration's
    (AMI, AGI) and 5060 (SIP).
    """

    def __init__(
        self,
        instance: str,
        config_dir: Path | str,
        *,
        ami_port: int | None = None,
        sip_port: int | None = None,
        agi_port: int | None = None,
        rtp_ports: tuple[int, int] | None = None,
        script: Path | str = SANDBOX_SCRIPT,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.instance = instance
        self.config_dir = Path(config_dir)
        self.ami_port = ami_port
        self.sip_port = sip_port
        self.agi_port = agi_port
        self.rtp_ports = rtp_ports
        self.script = Path(script)
        # the render step runs in this interpreter (it has the project's dependencies)
        self._env = {"PYTHON": sys.executable, **os.environ, **(env or {})}
        self._paths: dict[str, str] | None = None

    # ---- plumbing -------------------------------------------------------------

    def _run(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["bash", str(self.script), *args]
        try:
            proc = subprocess.run(
                cmd,
                env=self._env,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(f"{' '.join(args)}: timed out after {timeout} s") from exc
        if check and proc.returncode != 0:
            raise SandboxError(f"sandbox.sh {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
        return proc

    def _inst(self, command: str, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run(command, "--instance", self.instance, *args, timeout=timeout, check=check)

    @staticmethod
    def _parse_paths(text: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.isupper():
                out[key] = value
        return out

    @property
    def paths(self) -> dict[str, str]:
        """ROOT, INSTANCE, ETC, FULL_LOG, OUT_LOG, PIDFILE, SOUNDS, ... (host paths)."""
        if self._paths is None:
            self._paths = self._parse_paths(self._inst("paths").stdout)
        return self._paths

    # ---- lifecycle ------------------------------------------------------------

    def build(self, timeout: float = 1800.0) -> Path:
        """Build the root, or reuse the cached one; returns its path."""
        out = self._run("build", timeout=timeout).stdout.strip().splitlines()
        return Path(out[-1])

    def configure(self) -> dict[str, str]:
        args = ["--config", str(self.config_dir.resolve())]
        if self.sip_port is not None:
            args += ["--sip-port", str(self.sip_port)]
        if self.ami_port is not None:
            args += ["--ami-port", str(self.ami_port)]
        if self.agi_port is not None:
            args += ["--agi-port", str(self.agi_port)]
        if self.rtp_ports is not None:
            args += ["--rtp-ports", f"{self.rtp_ports[0]}-{self.rtp_ports[1]}"]
        self._paths = self._parse_paths(self._inst("configure", *args).stdout)
        return self._paths

    def start(self, timeout: float = 60.0, *, wait: bool = True) -> int:
        """Start Asterisk and wait until it is fully booted; returns its pid.

        ``wait=False`` returns as soon as the process runs (call ``wait_booted`` later):
        the wait polls Asterisk's CLI, which would load the machine while Asterisk boots.
        """
        pid = int(self._inst("start").stdout.strip().splitlines()[-1])
        if wait:
            self.wait_booted(timeout)
        return pid

    def wait_booted(self, timeout: float = 60.0) -> None:
        """Wait until Asterisk is fully booted; stop it if it does not get there."""
        try:
            self._inst("wait", "--timeout", str(int(timeout)), timeout=timeout + 15)
        except SandboxError:
            self.stop()
            raise

    def stop(self, timeout: float = 15.0) -> None:
        self._inst("stop", "--timeout", str(int(timeout)), timeout=timeout + 15)

    def destroy(self, timeout: float = 15.0) -> None:
        """Stop the instance and delete its folder (config, logs, spool)."""
        self._inst("destroy", timeout=timeout + 15)
        self._paths = None

    @property
    def pid(self) -> int | None:
        proc = self._inst("status", check=False)
        parts = proc.stdout.split()
        return int(parts[1]) if proc.returncode == 0 and len(parts) == 2 else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def __enter__(self) -> AsteriskSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- inspection -----------------------------------------------------------

    def rx(self, command: str, timeout: float = 30.0) -> str:
        """Run one CLI command (``asterisk -rx``) and return its output."""
        return self._inst("rx", command, timeout=timeout).stdout

    def channels(self) -> list[str]:
        """Names of the live channels (``core show channels concise``)."""
        out = self.rx("core show channels concise")
        return [line.split("!", 1)[0] for line in out.splitlines() if "!" in line]

    def contacts(self) -> list[Contact]:
        """Registered PJSIP contacts (``pjsip show contacts``)."""
        out = self.rx("pjsip show contacts")
        found = []
        for line in out.splitlines():
            m = _CONTACT_LINE.match(line)
            if m and not m["aor"].startswith("<"):
                found.append(Contact(m["aor"], m["uri"], m["status"]))
        return found

    def is_registered(self, endpoint: str) -> bool:
        """Whether ``endpoint`` (an agent id) has a reachable contact."""
        return any(c.aor == endpoint and c.status in ("Avail", "NonQual") for c in self.contacts())

    @property
    def log_path(self) -> Path:
        """Asterisk's ``full`` log of this instance."""
        return Path(self.paths["FULL_LOG"])

    @property
    def root(self) -> Path:
        return Path(self.paths["ROOT"])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, timeout: float = 10.0, *, start: int = 0) -> re.Match[str]:
        """Wait until the full log (from byte ``start``) matches ``pattern``."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()[start:]
            m = rx.search(text)
            if m:
                return m
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{pattern!r} not in {self.log_path} after {timeout} s")
            time.sleep(0.1)
