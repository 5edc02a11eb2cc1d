"""A throwaway PostgreSQL cluster for the tests that need the real thing.

Rules kept here:

1. One cluster per test session (``pg_server``), created by ``initdb`` in a fresh
   temporary folder, listening on 127.0.0.1 only (a free port picked at start) and on
   a unix socket inside that folder. It is stopped (``pg_ctl stop -m fast``) and the
   folder removed when the session ends.
2. One fresh, empty database per test (``pg_dsn``), created from ``template0`` and
   dropped afterwards, so no test sees another's rows.
3. As root, every server binary runs as the ``postgres`` OS user (``initdb`` refuses
   root); the folder is handed to that user.
4. Durability is switched off (``fsync=off``, ``synchronous_commit=off``): the
   cluster is thrown away, and crash safety is not what these tests measure.
5. Readiness is polled against a deadline, never assumed after a fixed pause.
6. Binaries come from ``$PG_BINDIR``, else the newest ``/usr/lib/postgresql/*/bin``,
   else ``pg_ctl`` on ``$PATH``. Without them the tests that need PostgreSQL skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

READY_DEADLINE_S = 30.0  # a cold start on a loaded 2-core machine takes ~1 s
POLL_INTERVAL_S = 0.02
_SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
}


def find_bindir() -> Path | None:
    """Where the PostgreSQL server binaries live, or None."""
    if env := os.environ.get("PG_BINDIR"):
        return Path(env)
    versions = []
    for candidate in glob.glob("/usr/lib/postgresql/*/bin"):
        match = re.search(r"/postgresql/(\d+)(?:\.(\d+))?/bin$", candidate)
        if match and Path(candidate, "pg_ctl").exists():
            versions.append(((int(match[1]), int(match[2] or 0)), Path(candidate)))
    if versions:
        return max(versions)[1]
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgServer:
    """A cluster in ``basedir``: ``data/`` holds the cluster, the socket sits beside it."""

    def __init__(self, bindir: Path, basedir: Path) -> None:
        self.bindir = bindir
        self.basedir = basedir
        self.datadir = basedir / "data"
        self.logfile = basedir / "server.log"
        self.port = free_port()
        self.running = False
        self.timings: dict[str, float] = {}
        self._as_postgres = os.geteuid() == 0

    # -- addresses -------------------------------------------------------------

    def dsn_for(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    @property
    def admin_dsn(self) -> str:
        return self.dsn_for("postgres")

    # -- life cycle ------------------------------------------------------------

    def init(self) -> None:
        if self._as_postgres:
            shutil.chown(self.basedir, "postgres", "postgres")
        began = time.monotonic()
        self._run_server_tool(
            "initdb",
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.timings["initdb_s"] = time.monotonic() - began

    def start(self) -> None:
        """Start on ``self.port`` and return once it accepts queries on TCP."""
        if self.running:
            return
        began = time.monotonic()
        options = " ".join(f"-c {key}={value}" for key, value in _SERVER_SETTINGS.items())
        self._run_server_tool(
            "pg_ctl",
            "start",
            "-W",
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-o",
            f"-p {self.port} -k {shlex.quote(str(self.basedir))} {options}",
        )
        self.running = True
        self._wait_ready(time.monotonic() + READY_DEADLINE_S)
        self.timings.setdefault("first_start_s", time.monotonic() - began)
        self.timings["last_start_s"] = time.monotonic() - began

    def stop(self) -> None:
        """Stop fast (open sessions are cut, as in a real outage); data is kept."""
        if not self.running:
            return
        self._run_server_tool("pg_ctl", "stop", "-D", str(self.datadir), "-m", "fast", "-w")
        self.running = False

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.basedir, ignore_errors=True)

    # -- databases ---------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` and return its DSN."""
        self.psql(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.dsn_for(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run one statement as the superuser; return its unaligned output."""
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                dbname,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
            env=self._client_env(),
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout.strip()

    # -- helpers -------------------------------------------------------------------

    def _wait_ready(self, deadline: float) -> None:
        pg_isready = [
            str(self.bindir / "pg_isready"),
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ]
        while True:
            status = subprocess.run(pg_isready, check=False, env=self._client_env())
            if status.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL not ready in time; log:\n{self._log_tail()}")
            time.sleep(POLL_INTERVAL_S)

    def _run_server_tool(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command,
            cwd=self.basedir,
            capture_output=True,
            text=True,
            check=False,
            env=self._client_env(),
        )
        if result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode,
                command,
                output=result.stdout,
                stderr=f"{result.stderr}\n{self._log_tail()}",
            )

    @staticmethod
    def _client_env() -> dict[str, str]:
        # A developer's PG* variables must not steer the throwaway cluster elsewhere.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


_SESSION_SERVERS: list[PgServer] = []


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not found (set PG_BINDIR)")
    server = PgServer(bindir, Path(tempfile.mkdtemp(prefix="ccqueue-pg-")))
    try:
        server.init()
        server.start()
        _SESSION_SERVERS.append(server)
        yield server
    finally:
        server.remove()


@pytest.fixture
def pg_dsn(pg_server: PgServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for this test; its DSN connects as ``postgres``."""
    # A test that stopped the server and failed before starting it again must not
    # take the rest of the session down with it.
    pg_server.start()
    stem = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    name = f"t_{stem}_{uuid.uuid4().hex[:8]}"
    dsn = pg_server.create_database(name)
    yield dsn
    pg_server.start()
    pg_server.drop_database(name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for server in _SESSION_SERVERS:
        timings = ", ".join(f"{key} {value:.2f}" for key, value in server.timings.items())
        terminalreporter.write_line(f"throwaway PostgreSQL on port {server.port}: {timings}")
