"""A ``ccqueue run`` process for tests and benchmarks: start it, talk to its HTTP API,
stop it by its pid.

Every configuration the testbed writes carries one admin user (``write_users``), and
``CcqueueProcess.http`` sends that admin's token: tests of a feature are not tests of
who may use it (tests/unit/http/test_auth.py is).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ccqueue.credentials import hash_token

REPO = Path(__file__).resolve().parents[1]

# The testbed's admin; its token is known to every test, so it is no secret.
ADMIN_USER = "testbed"
ADMIN_TOKEN = "ccq_testbed-admin-token-known-to-every-test"


def write_users(folder: Path) -> None:
    """``users.yaml`` in a configuration folder: the testbed's admin, by token."""
    (folder / "users.yaml").write_text(f'users:\n  {ADMIN_USER}:\n    role: admin\n    tokens: ["{hash_token(ADMIN_TOKEN)}"]\n')


class CcqueueProcess:
    def __init__(
        self,
        *,
        config: Path,
        dsn: str,
        http_port: int,
        log_path: Path,
        spool_dir: Path,
        log_args: tuple[str, ...] = (),
        open_files: int | None = None,
        run_args: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.dsn = dsn
        self.base_url = f"http://127.0.0.1:{http_port}"
        self.log_path = log_path
        self.spool_dir = spool_dir
        self.log_args = log_args
        self.open_files = open_files  # RLIMIT_NOFILE (soft and hard) of the process, if given
        self.run_args = run_args  # more options of `ccqueue run` (a pair member's ports)
        self.proc: subprocess.Popen[bytes] | None = None

    def http(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, token: str | None = ADMIN_TOKEN
    ) -> tuple[int, Any]:
        """A JSON request, as the testbed's admin (``token=None``: as nobody)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def text(self, path: str) -> str:
        with urllib.request.urlopen(self.base_url + path, timeout=5) as response:
            return str(response.read().decode())

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 20.0, *, ready: Any = None) -> None:
        """Start ``ccqueue run`` and wait until it is healthy (its AMI link is up), or
        until ``ready(health body)`` says so (a pair's standby has no AMI link)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        limit = self.open_files

        def limit_open_files() -> None:  # runs in the child, before ccqueue starts
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ccqueue.cli",
                    *self.log_args,
                    "run",
                    "-c",
                    str(self.config),
                    "--dsn",
                    self.dsn,
                    "--spool-dir",
                    str(self.spool_dir),
                    *self.run_args,
                ],
                cwd=REPO,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=limit_open_files if limit is not None else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ccqueue exited with {self.proc.returncode}:\n{self.log_text()[-4000:]}")
            with contextlib.suppress(OSError, ValueError):
                status, body = self.http("GET", "/healthz")
                if status == 200 and (ready(body) if ready is not None else body.get("ami") == "ready"):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"ccqueue not healthy within {timeout} s:\n{self.log_text()[-4000:]}")

    def stop(self) -> None:
        """SIGTERM (ccqueue flushes its records), then SIGKILL after 15 s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
