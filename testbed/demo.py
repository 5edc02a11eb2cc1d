"""The one-command demo: every real part of ccqueue running on this machine.

    python -m testbed.demo [--for SECONDS] [--per-minute N] ...

(``deploy/demo.sh`` installs what is needed first, then runs this.) On loopback only,
with its files under ``var/demo/`` in the repository, it starts, in this order:

1. a PostgreSQL cluster of its own (``var/demo/pg``, port 55432 or a free one), and
   ``ccqueue migrate`` on its ``ccqueue`` database;
2. the Asterisk 22 sandbox instance ``demo``, configured from the configuration
   folder (``config/`` by default: AMI 5038, FastAGI 4573, SIP 5060);
3. ``ccqueue run`` (HTTP on the configuration's port, 8080 by default);
4. one baresip softphone per configured agent, registered, and logs every agent in
   through the HTTP API; a phone rings for a moment (now and then for long) before
   the demo answers it over baresip's control port, and a few calls it lets ring out,
   so ring-no-answer shows on the wallboard;
5. the simulated caller stream (``testbed.callers``): callers on the straight-to-queue
   hotline and on the IVR hotline (pressing 1 at the menu), some asking to be called
   back (the callbacks reach the stand-in trunk ``[ccqueue-demo-trunk]``), some
   hanging up while they wait. Unless ``--per-minute`` is given, the arrival rate is
   chosen from the number of agents and the mean handling time so the agents are
   busy about ``--occupancy`` of the time while the queue stays stable.

Then it prints where to look, runs until Ctrl-C or ``--for`` seconds, and stops
everything it started by pid, in reverse order, printing a summary of the ``calls``
table first, writing the interval report of the run and printing how to make it
again and which SQL shows the rows. Pid files in ``var/demo/run`` let a later run stop what an interrupted
one left behind. A port that is already taken stops the demo before it starts
anything.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ccqueue.config import Config, ConfigError, load_config
from ccqueue.config.to_core import schedules
from ccqueue.core.schedule import is_open
from ccqueue.credentials import hash_password, hash_token, new_token
from testbed.baresip import PhoneEvent, Softphone, SoftphoneError
from testbed.sandbox import SANDBOX_SCRIPT, AsteriskSandbox, SandboxError

__all__ = ["main"]

REPO_DIR = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_DIR / "var" / "demo"
INSTANCE = "demo"
DEFAULT_PG_PORT = 55432
DB_NAME = "ccqueue"
# Agent n's phone listens for SIP on 5070+10n (baresip also takes the next port, for
# SIP over TLS) and takes ctrl_tcp commands on 5170+10n.
PHONE_SIP_BASE, PHONE_CTRL_BASE, PHONE_PORT_STEP = 5070, 5170, 10
PREVIOUS_DEMO_STOP_S = 90.0
CHILD_STOP_S = 20.0
CALLERS_STOP_S = 30.0
HEALTH_TIMEOUT_S = 30.0
REGISTER_TIMEOUT_S = 30.0
# Shares of the callers: on the IVR hotline, and (of those dialling the queue directly)
# pressing 1 to be called back; the rest wait on the straight-to-queue hotline.
DEFAULT_IVR_SHARE = 0.3
DEFAULT_CALLBACK_SHARE = 0.1
DEFAULT_OCCUPANCY = 0.82
DEFAULT_ANSWER_DELAY_S = 3.0
DEFAULT_MISS_SHARE = 0.08
CALLBACKS_QUERY = (
    "select to_char(requested_at, 'HH24:MI:SS') as requested, number, status, attempts, result, agent "
    "from callbacks order by requested_at desc limit 20"
)
CALLS_QUERY = (
    "select to_char(arrived_at, 'HH24:MI:SS') as arrived, caller, outcome, agent, "
    "round(wait_s::numeric, 1) as wait_s from calls order by arrived_at desc limit 20"
)


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why."""


class PortTaken(DemoError):
    pass


# ---- small helpers ------------------------------------------------------------------


def say(text: str = "") -> None:
    print(text, flush=True)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is as good as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop_pid(pid: int, timeout: float) -> str:
    """TERM, then KILL after ``timeout`` s. Returns how it ended."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return "stopped"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, 5)
    return f"killed (did not stop within {timeout:.0f} s)"


def stop_child(proc: subprocess.Popen[Any], timeout: float) -> str:
    if proc.poll() is not None:
        return f"had already exited ({proc.returncode})"
    proc.terminate()
    try:
        proc.wait(timeout)
        return "stopped"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return f"killed (did not stop within {timeout:.0f} s)"


@dataclass(frozen=True)
class PidFile:
    """``<pid> <marker>``: the marker must appear in the process's command line, so a
    recycled pid is never taken for ours."""

    path: Path

    def write(self, pid: int, marker: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"{pid} {marker}\n")

    def read(self) -> tuple[int, str] | None:
        try:
            pid_text, _, marker = self.path.read_text().strip().partition(" ")
            return int(pid_text), marker
        except (OSError, ValueError):
            return None

    def live_pid(self) -> int | None:
        entry = self.read()
        if entry is None:
            return None
        pid, marker = entry
        if pid == os.getpid() or not _alive(pid) or (marker and marker not in _cmdline(pid)):
            return None
        return pid

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def port_owner(port: int, proto: str) -> str:
    """Who listens on ``port`` (from ``ss``), or '' when it cannot tell."""
    flag = "-t" if proto == "tcp" else "-u"
    try:
        out = subprocess.run(["ss", "-Hlnp", flag, f"sport = :{port}"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    m = re.search(r'users:\(\("([^"]+)",pid=(\d+)', out)
    return f"{m[1]} (pid {m[2]})" if m else ""


def port_free(port: int, proto: str) -> bool:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        if proto == "tcp":  # as servers do: a connection in TIME_WAIT does not count
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(base: str, method: str, path: str, timeout: float = 5.0, *, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(base + path, data=b"" if method == "POST" else None, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, None


def find_pg_bindir() -> Path:
    if env := os.environ.get("PG_BINDIR"):
        return Path(env)
    found = []
    for candidate in glob.glob("/usr/lib/postgresql/*/bin"):
        m = re.search(r"/postgresql/(\d+)/bin$", candidate)
        if m and Path(candidate, "pg_ctl").exists():
            found.append((int(m[1]), Path(candidate)))
    if not found:
        raise DemoError("PostgreSQL server binaries not found (install postgresql, or set PG_BINDIR)")
    return max(found)[1]


@dataclass(frozen=True)
class Load:
    """The arrival rate that keeps ``agents`` busy ``occupancy`` of the time, each
    call taking ``handle_s`` of an agent (ringing + talk + wrap-up)."""

    agents: int
    handle_s: float
    occupancy: float

    @property
    def per_minute(self) -> float:
        return round(60.0 * self.occupancy * self.agents / self.handle_s, 1)

    @property
    def erlangs(self) -> float:
        return self.per_minute / 60.0 * self.handle_s

    def describe(self, talk_s: float, wrapup_s: float, answer_s: float, chosen: bool) -> str:
        busy = self.erlangs / self.agents
        if chosen:
            head = f"load: {self.per_minute:g} callers/min, chosen to keep {self.agents} agent(s) ~{busy:.0%} busy"
        else:
            head = f"load: {self.per_minute:g} callers/min (--per-minute) for {self.agents} agent(s): ~{busy:.0%} busy"
            if busy >= 1:
                head += " (more than they can take: the queue grows and callers abandon)"
        return (
            f"{head}; a call takes an agent ~{self.handle_s:.0f} s "
            f"(ringing ~{answer_s:g} + talk ~{talk_s:g} + wrap-up {wrapup_s:g}), "
            f"{self.erlangs:.2f} Erlang offered"
        )


class Answerer(threading.Thread):
    """Answers one agent's phone (in manual answer mode) as a person would: after it
    has rung a moment, now and then after a long while, and a few times not at all,
    so the queue rings the next agent and the wallboard shows the missed offer."""

    def __init__(self, phone: Softphone, rng: random.Random, delay_mean_s: float, miss_share: float) -> None:
        super().__init__(name=f"answer-{phone.agent_id}", daemon=True)
        self.phone = phone
        self.rng = rng
        self.delay_mean_s = delay_mean_s
        self.miss_share = miss_share
        self.done = threading.Event()
        self.answered = 0
        self.missed = 0

    def _closed_since(self, at: float) -> bool:
        return any(ev.type == "CALL_CLOSED" and ev.at >= at for ev in self.phone.events)

    def run(self) -> None:
        after = time.monotonic()
        while not self.done.is_set():
            try:
                ring: PhoneEvent = self.phone.wait_event("CALL_INCOMING", 1.0, after=after)
            except TimeoutError:
                continue
            after = ring.at + 1e-6
            if self.rng.random() < self.miss_share:
                self.missed += 1
                continue  # lets it ring: ccqueue offers the call to the next agent
            # mostly a few seconds; the exponential tail now and then rings for long
            delay = min(0.5 + self.rng.expovariate(1.0 / self.delay_mean_s), 60.0)
            deadline = ring.at + delay
            while not self.done.is_set() and time.monotonic() < deadline and not self._closed_since(ring.at):
                self.done.wait(0.1)
            if self.done.is_set() or self._closed_since(ring.at):
                continue  # the offer was withdrawn while it rang
            with contextlib.suppress(SoftphoneError, OSError):
                if self.phone.accept().get("ok"):
                    self.answered += 1

    def finish(self) -> None:
        self.done.set()
        self.join(3.0)


# ---- the parts ------------------------------------------------------------------------


class Postgres:
    """The demo's own cluster in ``var/demo/pg`` (data kept between runs)."""

    def __init__(self, base: Path, port: int) -> None:
        self.bindir = find_pg_bindir()
        self.base = base
        self.data = base / "data"
        self.log = base / "postgresql.log"
        self.port = port
        self._as_postgres = os.geteuid() == 0

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DB_NAME}"

    def _tool(self, tool: str, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        proc = subprocess.run(
            cmd,
            cwd=self.base,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if check and proc.returncode != 0:
            raise DemoError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip()}\n{self.log_tail()}")
        return proc

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def running(self) -> bool:
        return (self.data / "PG_VERSION").exists() and self._tool(
            "pg_ctl", "status", "-D", str(self.data), check=False
        ).returncode == 0

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def init(self, fresh: bool) -> None:
        if fresh and self.base.exists():
            shutil.rmtree(self.base)
        self.base.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.base, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            if self.data.exists():
                shutil.rmtree(self.data)
            self._tool("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")

    def start(self) -> int:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c synchronous_commit=off"
        self._tool("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log), "-o", options, timeout=90)
        pid = self.pid()
        if pid is None:
            raise DemoError(f"PostgreSQL started but wrote no pid:\n{self.log_tail()}")
        if self.psql(f"select 1 from pg_database where datname = '{DB_NAME}'", db="postgres") != "1":
            self.psql(f'create database "{DB_NAME}"', db="postgres")
        return pid

    def stop(self) -> None:
        self._tool("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", check=False, timeout=45)

    def psql(self, sql: str, db: str = DB_NAME) -> str:
        proc = subprocess.run(
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
                db,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, "LC_ALL": "C"},
        )
        if proc.returncode != 0:
            raise DemoError(f"psql failed: {proc.stderr.strip()}")
        return proc.stdout.strip()


class LogEcho(threading.Thread):
    """Prints the lines a child writes to its log file, prefixed, as they come.

    The child writes to the file itself (not to a pipe of ours), so it never blocks
    on, or dies with, this process."""

    def __init__(self, log_path: Path, prefix: str) -> None:
        super().__init__(name=f"echo-{log_path.name}", daemon=True)
        self.log_path = log_path
        self.prefix = prefix
        self.done = threading.Event()

    def run(self) -> None:
        with open(self.log_path, "rb") as log:
            partial = b""
            while True:
                chunk = log.read()
                if chunk:
                    partial += chunk
                    *lines, partial = partial.split(b"\n")
                    for line in lines:
                        say(f"{self.prefix}{line.decode(errors='replace')}")
                elif self.done.is_set():
                    return
                else:
                    time.sleep(0.2)

    def finish(self, timeout: float = 2.0) -> None:
        """Print what is left, then end."""
        self.done.set()
        self.join(timeout)


# ---- the demo ---------------------------------------------------------------------------


DEMO_SUPERVISOR, DEMO_ADMIN, DEMO_AGENT = "demo", "demo-admin", "demo-agent"


def own_config(source: Path, target: Path, *, password: str, token: str) -> Path:
    """A fresh copy of the configuration folder (or file) with a ``users.yaml`` of the demo's users."""
    if target.exists():
        shutil.rmtree(target)
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".*"))
    else:
        target.mkdir(parents=True)
        shutil.copyfile(source, target / source.name)
    loaded = load_config(source)
    queues = sorted(loaded.queues)
    first_agent = min(loaded.agents, default=None)
    agent_user = (
        f'  {DEMO_AGENT}:\n    role: agent\n    agent: {first_agent}\n    password_hash: "{hash_password(password)}"\n'
        if first_agent is not None
        else ""
    )
    (target / "users.yaml").write_text(
        "# Written by the demo for this run only.\n"
        "users:\n"
        f"  {DEMO_SUPERVISOR}:\n    role: supervisor\n    queues: {json.dumps(queues)}\n"
        f'    password_hash: "{hash_password(password)}"\n'
        f'  {DEMO_ADMIN}:\n    role: admin\n    tokens: ["{hash_token(token)}"]\n' + agent_user
    )
    return target


class Demo:
    def __init__(self, args: argparse.Namespace, config: Config) -> None:
        self.args = args
        self.config = config
        # The demo's own copy of the configuration, with its users: a supervisor who signs
        # in to the wallboard, an agent user for the first agent's page, and an admin token for the demo's own API calls. Both are
        # made afresh each run and printed; the shipped configuration has no users.
        self.password, self.token = secrets.token_urlsafe(9), new_token()
        self.config_dir = own_config(Path(args.config).resolve(), DEMO_DIR / "config", password=self.password, token=self.token)
        self.run_dir = DEMO_DIR / "run"
        self.logs = DEMO_DIR / "logs"
        self.spool = DEMO_DIR / "spool"
        self.phones_dir = DEMO_DIR / "phones"
        ami, agi, web = config.asterisk.ami, config.asterisk.agi, config.http
        self.ami_port, self.agi_port, self.http_port = ami.port, agi.port, web.port
        self.sip_port = args.sip_port
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.agents = {a: agent.password.get_secret_value() for a, agent in sorted(config.agents.items())}
        self.sandbox = AsteriskSandbox(
            INSTANCE, self.config_dir, ami_port=self.ami_port, sip_port=self.sip_port, agi_port=self.agi_port
        )
        self._sandbox_env = {"PYTHON": sys.executable, **os.environ}
        self.pg: Postgres | None = None
        self.ccqueue: subprocess.Popen[bytes] | None = None
        self.callers: subprocess.Popen[bytes] | None = None
        self._echo: LogEcho | None = None
        self.phones: dict[str, Softphone] = {}
        self.answerers: dict[str, Answerer] = {}
        self.rng = random.Random(args.seed)
        self.load = self.choose_load()
        self.mix = self.caller_mix()
        self.asterisk_pid: int | None = None
        self.started_at = time.time()
        self.up_in_s = 0.0  # how long the start took
        self.report_lines: list[str] = []  # how to look at the records, printed last
        # what to stop, in the order things were started (stopped in reverse)
        self._stack: list[tuple[str, Callable[[], None]]] = []

    # -- pid files ------------------------------------------------------------------------

    def pidfile(self, name: str) -> PidFile:
        return PidFile(self.run_dir / f"{name}.pid")

    def _push(self, name: str, stop: Callable[[], None]) -> None:
        self._stack.append((name, stop))

    # -- leftovers -----------------------------------------------------------------------

    @staticmethod
    def stop_previous_orchestrator() -> None:
        pid = PidFile(DEMO_DIR / "run" / "demo.pid").live_pid()
        if pid is None:
            return
        say(f"a previous demo is still running (pid {pid}): asking it to stop")
        how = stop_pid(pid, PREVIOUS_DEMO_STOP_S)
        say(f"  previous demo (pid {pid}) {how}")

    def stop_leftovers(self) -> None:
        """Stop what an earlier demo left running (it was killed or crashed)."""
        names = ["callers", *(f"phone-{a}" for a in reversed(list(self.agents))), "ccqueue"]
        names += sorted({p.stem for p in self.run_dir.glob("*.pid")} - set(names) - {"demo"})
        for name in names:
            pf = self.pidfile(name)
            pid = pf.live_pid()
            if pid is not None:
                say(f"left over from an earlier demo: {name} (pid {pid}): {stop_pid(pid, CHILD_STOP_S)}")
            pf.remove()
        with contextlib.suppress(SandboxError):
            if (pid := self.sandbox.pid) is not None:
                self.sandbox.stop()
                say(f"left over from an earlier demo: Asterisk instance {INSTANCE} (pid {pid}): stopped")
        pg_dir = DEMO_DIR / "pg"
        if (pg_dir / "data" / "postmaster.pid").exists():
            with contextlib.suppress(DemoError):
                pg = Postgres(pg_dir, 0)
                if pg.running():
                    pid = pg.pid()
                    pg.stop()
                    say(f"left over from an earlier demo: PostgreSQL (pid {pid}): stopped")

    # -- ports -------------------------------------------------------------------------------

    def check_ports(self) -> int:
        """Every fixed port must be free; returns the PostgreSQL port to use."""
        wanted = [
            (self.ami_port, "tcp", "Asterisk AMI (asterisk.ami.port)"),
            (self.agi_port, "tcp", "ccqueue FastAGI (asterisk.agi.port)"),
            (self.http_port, "tcp", "ccqueue HTTP (http.port)"),
            (self.sip_port, "udp", "Asterisk SIP (--sip-port)"),
        ]
        for n, agent in enumerate(self.agents):
            sip, ctrl = self.phone_ports(n)
            wanted += [
                (sip, "udp", f"{agent}'s softphone SIP"),
                (sip, "tcp", f"{agent}'s softphone SIP"),
                (sip + 1, "tcp", f"{agent}'s softphone SIP over TLS"),
                (ctrl, "tcp", f"{agent}'s softphone control"),
            ]
        taken = []
        for port, proto, what in wanted:
            if not port_free(port, proto):
                owner = port_owner(port, proto)
                taken.append(f"  127.0.0.1:{port}/{proto} for {what} is already taken" + (f" by {owner}" if owner else ""))
        if taken:
            raise PortTaken(
                "cannot start the demo: a port it needs is in use:\n"
                + "\n".join(taken)
                + "\nstop that program (or change the port in the configuration) and try again"
            )
        port = self.args.pg_port
        if not port_free(port, "tcp"):
            owner = port_owner(port, "tcp")
            fallback = free_tcp_port()
            say(f"port {port} is taken{f' by {owner}' if owner else ''}: PostgreSQL uses {fallback} instead")
            port = fallback
        return port

    @staticmethod
    def phone_ports(n: int) -> tuple[int, int]:
        """(SIP, ctrl_tcp) ports of the n-th agent's phone."""
        return PHONE_SIP_BASE + PHONE_PORT_STEP * n, PHONE_CTRL_BASE + PHONE_PORT_STEP * n

    # -- load ------------------------------------------------------------------------------------

    def choose_load(self) -> Load:
        a = self.args
        queue = self.config.queues.get(self.straight_queue() or "")
        wrapup = queue.wrapup_s if queue is not None else 0.0
        handle = a.talk_mean_s + wrapup + a.answer_delay_mean_s
        load = Load(len(self.agents), handle, a.occupancy)
        if a.per_minute is not None:  # given: report what it means instead
            load = Load(len(self.agents), handle, a.per_minute / 60.0 * handle / len(self.agents))
        return load

    def straight_queue(self) -> str | None:
        hotline = self.config.hotlines.get(self.args.number)
        return hotline.queue if hotline is not None else None

    def ivr_number(self) -> str | None:
        return next((n for n, h in sorted(self.config.hotlines.items()) if h.ivr), None)

    def office_closed(self) -> bool:
        """Whether the sample IVR's ``office`` schedule is closed now (its callers then
        take the closed menu, and ask for a callback there)."""
        office = schedules(self.config).get("office")
        return office is not None and not is_open(office, time.time())

    def caller_mix(self) -> list[str]:
        """``testbed.callers --mix`` entries: NUMBER:SCRIPT:WEIGHT."""
        a = self.args
        ivr = self.ivr_number() if a.ivr_share > 0 else None
        ivr_share = a.ivr_share if ivr else 0.0
        callback_share = a.callback_share if self.config.callbacks is not None else 0.0
        straight = 1.0 - ivr_share - callback_share
        mix = [f"{a.number}:wait:{straight:g}"]
        if ivr:
            script = "ivr-closed-callback" if self.office_closed() else "ivr-menu1"
            mix.append(f"{ivr}:{script}:{ivr_share:g}")
        if callback_share > 0:
            mix.append(f"{a.number}:callback:{callback_share:g}")
        return mix

    # -- start -----------------------------------------------------------------------------------

    def api(self, method: str, path: str, timeout: float = 5.0) -> tuple[int, Any]:
        """A request to ccqueue's API as the demo's admin."""
        return http(self.base_url, method, path, timeout, token=self.token)

    def start(self) -> None:
        began = time.monotonic()
        for d in (self.run_dir, self.logs, self.spool, self.phones_dir):
            d.mkdir(parents=True, exist_ok=True)
        pg_port = self.check_ports()

        # 1. PostgreSQL and the schema
        self.pg = pg = Postgres(DEMO_DIR / "pg", pg_port)
        pg.init(fresh=self.args.fresh_db)
        self._push("PostgreSQL", self._stop_pg)
        pid = pg.start()
        say(f"started PostgreSQL (pid {pid}) on 127.0.0.1:{pg.port}, data in {pg.data}")
        migrate = subprocess.run(
            [sys.executable, "-m", "ccqueue.cli", "migrate", "--dsn", pg.dsn],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if migrate.returncode != 0:
            raise DemoError(f"ccqueue migrate failed:\n{migrate.stderr}{migrate.stdout}")
        say(f"  {migrate.stdout.strip()}")
        # The database is kept between runs, but its callers are not: callbacks an
        # earlier run left open would take this run's agents first, calling back people
        # who are gone. They are closed as cancelled (a newer version, so a spooled
        # older record cannot reopen them).
        cancelled = pg.psql(
            "with c as (update callbacks set status = 'cancelled', version = version + 1, updated_at = now() "
            "where status in ('pending', 'dialing') returning 1) select count(*) from c"
        )
        if cancelled != "0":
            say(f"  cancelled {cancelled} callback(s) an earlier demo run left open")
        self._push("summary", self.summary)  # read just before PostgreSQL stops

        # 2. Asterisk
        self.sandbox.build()
        self.sandbox.configure()
        self._push(f"Asterisk instance {INSTANCE}", self._stop_asterisk)
        self._start_asterisk()
        say(f"started Asterisk (pid {self.asterisk_pid}): AMI 127.0.0.1:{self.ami_port}, SIP 127.0.0.1:{self.sip_port}")

        # 3. ccqueue
        self._start_ccqueue(pg.dsn)
        say(
            f"started ccqueue (pid {self.ccqueue.pid if self.ccqueue else '?'}): HTTP {self.base_url}, "
            f"FastAGI 127.0.0.1:{self.agi_port}"
        )

        # 4. the agents' phones, then log the agents in
        for n, (agent, password) in enumerate(self.agents.items()):
            sip, ctrl = self.phone_ports(n)
            phone = Softphone(
                agent,
                password,
                sip_server_port=self.sip_port,
                listen_port=sip,
                ctrl_port=ctrl,
                audio_file=REPO_DIR / "sounds" / "en" / "agent-silence.wav",
                workdir=self.phones_dir / agent,
                answermode="manual",  # the Answerer picks up, after a while
            )
            self.phones[agent] = phone
            self._push(f"baresip {agent}", lambda a=agent: self._stop_phone(a))
            phone.start()
            assert phone.pid is not None
            self.pidfile(f"phone-{agent}").write(phone.pid, str(phone.workdir))
            answerer = Answerer(phone, random.Random(self.rng.random()), self.args.answer_delay_mean_s, self.args.miss_share)
            self.answerers[agent] = answerer
            answerer.start()
            say(f"started baresip {agent} (pid {phone.pid}) on 127.0.0.1:{sip}")
        for agent, phone in self.phones.items():
            phone.wait_registered(REGISTER_TIMEOUT_S, check=lambda a=agent: self.sandbox.is_registered(a))
        for agent in self.agents:
            status, body = self.api("POST", f"/api/agents/{agent}/login")
            if status != 200:
                raise DemoError(f"logging {agent} in failed: HTTP {status} {body}")
            say(f"  {agent} registered and logged in: {body.get('state')}")

        # 5. the callers
        self._start_callers()
        say(
            f"started caller stream (pid {self.callers.pid if self.callers else '?'}): "
            f"~{self.load.per_minute:g} callers/min ({', '.join(self.mix)})"
        )
        self.up_in_s = time.monotonic() - began

    def _start_asterisk(self) -> None:
        # A session of its own: Ctrl-C in the terminal reaches the demo, which then
        # stops Asterisk last, after the callers and ccqueue.
        proc = subprocess.run(
            ["bash", str(SANDBOX_SCRIPT), "start", "--instance", INSTANCE],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=self._sandbox_env,
        )
        if proc.returncode != 0:
            raise DemoError(f"starting Asterisk failed:\n{proc.stderr}{proc.stdout}")
        self.asterisk_pid = int(proc.stdout.split()[-1])
        proc = subprocess.run(
            ["bash", str(SANDBOX_SCRIPT), "wait", "--instance", INSTANCE, "--timeout", "60"],
            capture_output=True,
            text=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
            env=self._sandbox_env,
        )
        if proc.returncode != 0:
            raise DemoError(f"Asterisk did not boot:\n{proc.stderr}{proc.stdout}")

    def _start_ccqueue(self, dsn: str) -> None:
        log_path = self.logs / "ccqueue.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("CCQUEUE_DSN", None)
        with open(log_path, "wb") as log:  # each run starts a fresh log
            self.ccqueue = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ccqueue.cli",
                    "run",
                    "-c",
                    str(self.config_dir),
                    "--dsn",
                    dsn,
                    "--spool-dir",
                    str(self.spool),
                ],
                cwd=REPO_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pidfile("ccqueue").write(self.ccqueue.pid, "ccqueue.cli")
        self._push("ccqueue", self._stop_ccqueue)
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while True:
            if self.ccqueue.poll() is not None:
                raise DemoError(f"ccqueue exited with {self.ccqueue.returncode}; see {log_path}:\n{_tail(log_path)}")
            with contextlib.suppress(OSError, ValueError):
                _status, body = self.api("GET", "/healthz", timeout=2)
                if isinstance(body, dict) and body.get("ami") == "ready":
                    return
            if time.monotonic() >= deadline:
                raise DemoError(
                    f"ccqueue not connected to Asterisk within {HEALTH_TIMEOUT_S:.0f} s; see {log_path}:\n{_tail(log_path)}"
                )
            time.sleep(0.2)

    def _start_callers(self) -> None:
        a = self.args
        cmd = [
            sys.executable,
            "-u",
            "-m",
            "testbed.callers",
            "--ami-port",
            str(self.ami_port),
            "--username",
            self.config.asterisk.ami.username,
            "--number",
            a.number,
            "--mix",
            *self.mix,
            "--per-minute",
            str(self.load.per_minute),
            "--talk-mean-s",
            str(a.talk_mean_s),
            "--patience-mean-s",
            str(a.patience_mean_s),
        ]
        if a.seed is not None:
            cmd += ["--seed", str(a.seed)]
        env = {**os.environ, "CCQUEUE_AMI_SECRET": self.config.asterisk.ami.secret.get_secret_value()}
        log_path = self.logs / "callers.log"
        with open(log_path, "wb") as log:
            self.callers = subprocess.Popen(
                cmd,
                cwd=REPO_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pidfile("callers").write(self.callers.pid, "testbed.callers")
        self._push("caller stream", self._stop_callers)
        if not a.quiet:
            self._echo = LogEcho(log_path, "callers | ")
            self._echo.start()

    # -- stop --------------------------------------------------------------------------------------

    def _stop_callers(self) -> None:
        if self.callers is None:
            return
        how = stop_child(self.callers, CALLERS_STOP_S)
        if self._echo is not None:
            self._echo.finish()
        self.pidfile("callers").remove()
        say(f"stopped caller stream (pid {self.callers.pid}): {how}")
        self._settle()

    def _settle(self, timeout: float = 5.0) -> None:
        """Give ccqueue a moment to see the last hang-ups, and log the agents out."""
        if self.ccqueue is None or self.ccqueue.poll() is not None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                _, queues = self.api("GET", "/api/queues", timeout=2)
                if isinstance(queues, list) and not any(q.get("waiting") for q in queues):
                    break
            time.sleep(0.2)
        for agent in self.agents:
            with contextlib.suppress(OSError, ValueError):
                self.api("POST", f"/api/agents/{agent}/logout", timeout=2)

    def _stop_phone(self, agent: str) -> None:
        phone = self.phones.get(agent)
        if phone is None:
            return
        pid = phone.pid
        if (answerer := self.answerers.pop(agent, None)) is not None:
            answerer.finish()
            say(f"  {agent}'s phone: answered {answerer.answered} offer(s), let {answerer.missed} ring out")
        phone.stop()
        self.pidfile(f"phone-{agent}").remove()
        if pid is not None:
            say(f"stopped baresip {agent} (pid {pid})")

    def _stop_ccqueue(self) -> None:
        if self.ccqueue is None:
            return
        how = stop_child(self.ccqueue, CHILD_STOP_S)
        self.pidfile("ccqueue").remove()
        say(f"stopped ccqueue (pid {self.ccqueue.pid}): {how}")

    def _stop_asterisk(self) -> None:
        pid = self.sandbox.pid
        self.sandbox.stop()
        if pid is not None:
            say(f"stopped Asterisk (pid {pid})")

    def _stop_pg(self) -> None:
        if self.pg is None:
            return
        pid = self.pg.pid()
        self.pg.stop()
        if pid is not None:
            say(f"stopped PostgreSQL (pid {pid})")

    def stop(self) -> None:
        while self._stack:
            name, stop = self._stack.pop()
            try:
                stop()
            except Exception as exc:  # keep stopping the rest
                say(f"stopping {name} failed: {exc}")

    # -- while running ---------------------------------------------------------------------------------

    def summary(self) -> None:
        """One line of counts from the ``calls`` table for this run (ccqueue has
        stopped by now, so every record is written)."""
        if self.pg is None:
            return
        try:
            row = self.pg.psql(
                "select count(*), count(*) filter (where outcome = 'answered'), "
                "count(*) filter (where outcome = 'abandoned'), "
                "count(*) filter (where outcome not in ('answered', 'abandoned')) "
                f"from calls where arrived_at >= to_timestamp({self.started_at:.3f})"
            )
        except DemoError as exc:
            say(f"demo summary: unavailable ({exc})")
            return
        calls, answered, abandoned, other = row.split("|")
        say(f"demo summary: calls={calls} answered={answered} abandoned={abandoned} other={other}")
        since = f"to_timestamp({self.started_at:.3f})"
        with contextlib.suppress(DemoError, subprocess.TimeoutExpired):
            outcomes = self.pg.psql(
                f"select string_agg(outcome || '=' || n, ' ' order by outcome) from "
                f"(select outcome, count(*) as n from calls where arrived_at >= {since} group by outcome) o"
            )
            hotlines = self.pg.psql(
                f"select string_agg(hotline || '=' || n, ' ' order by hotline) from "
                f"(select hotline, count(*) as n from calls where arrived_at >= {since} group by hotline) h"
            )
            callbacks = self.pg.psql(
                f"select count(*), count(*) filter (where status = 'completed') from callbacks where requested_at >= {since}"
            )
            booked, completed = callbacks.split("|")
            say(
                f"demo recorded: outcomes {outcomes or '-'} | calls by hotline {hotlines or '-'} | "
                f"callbacks booked={booked} completed={completed}"
            )
        self.write_report()

    def report_period(self) -> tuple[str, str]:
        """The run, in whole minutes (UTC), as ``--from`` and ``--to`` take it."""
        start = datetime.fromtimestamp(self.started_at, UTC).replace(second=0, microsecond=0)
        end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        return start.strftime("%Y-%m-%dT%H:%M"), end.strftime("%Y-%m-%dT%H:%M")

    def write_report(self) -> None:
        """Write the run's interval report (PostgreSQL is still up) and keep the lines
        that tell how to look at the records again, printed once everything stopped."""
        pg = self.pg
        assert pg is not None
        start, end = self.report_period()
        out = DEMO_DIR / "report.html"
        args = ["report", "--dsn", pg.dsn, "--from", start, "--to", end, "--tz", "UTC"]
        args += ["--by", "interval", "--format", "html", "--out", os.path.relpath(out, Path.cwd())]
        made = subprocess.run(
            [sys.executable, "-m", "ccqueue.cli", *args[:-1], str(out), "-c", str(self.config_dir)],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        written = (
            f"written to {os.path.relpath(out, Path.cwd())}"
            if made.returncode == 0
            else (f"could not be written now: {(made.stderr or made.stdout).strip()[-300:]}")
        )
        pg_start = (
            ("runuser -u postgres -- " if os.geteuid() == 0 else "")
            + f"{pg.bindir / 'pg_ctl'} start -D {pg.data} -l {pg.log} "
            + f"-o '-p {pg.port} -k {pg.base} -c listen_addresses=127.0.0.1'"
        )
        self.report_lines = [
            "",
            f"What this run recorded ({start} to {end} UTC) stays in the demo's database; the report is {written}.",
            "PostgreSQL stopped with the demo: start it again to look (the next demo run stops it):",
            f"  {pg_start}",
            "then:",
            f"  report     ccqueue report {' '.join(args[1:])}",
            f"  calls      psql '{pg.dsn}' -c \"{CALLS_QUERY}\"",
            f"  callbacks  psql '{pg.dsn}' -c \"{CALLBACKS_QUERY}\"",
            f"  timeline   psql '{pg.dsn}' -c \"select at, kind, data from call_events where call_id = "
            '(select call_id from calls order by arrived_at desc limit 1) order by seq"',
            f"  stop it    {pg_start.replace(' start ', ' stop ', 1).split(' -l ')[0]}",
        ]

    def status_line(self) -> str:
        parts = []
        with contextlib.suppress(OSError, ValueError):
            _, agents = self.api("GET", "/api/agents", timeout=2)
            parts.append("agents " + ", ".join(f"{a['id']} {a['state']}" for a in agents))
            _, queues = self.api("GET", "/api/queues", timeout=2)
            parts.append("waiting " + ", ".join(f"{q['name']} {q['waiting']}" for q in queues))
        if self.pg is not None:
            with contextlib.suppress(DemoError, subprocess.TimeoutExpired):
                row = self.pg.psql(
                    "select count(*) filter (where outcome = 'answered'), count(*) filter (where outcome = 'abandoned') "
                    f"from calls where arrived_at >= to_timestamp({self.started_at:.3f})"
                )
                answered, abandoned = row.split("|")
                parts.append(f"calls answered {answered}, abandoned {abandoned}")
        return "status: " + " | ".join(parts)

    def dead_child(self) -> str | None:
        if self.ccqueue is not None and self.ccqueue.poll() is not None:
            return f"ccqueue exited ({self.ccqueue.returncode}); see {self.logs / 'ccqueue.log'}"
        if self.callers is not None and self.callers.poll() is not None:
            return f"the caller stream exited ({self.callers.returncode}); see {self.logs / 'callers.log'}"
        for agent, phone in self.phones.items():
            if phone.pid is None or not _alive(phone.pid):
                return f"baresip {agent} exited; see {phone.log_path}"
        if self.asterisk_pid is not None and not _alive(self.asterisk_pid):
            return f"Asterisk exited; see {self.sandbox.paths.get('OUT_LOG')}"
        return None

    def banner(self) -> None:
        pg = self.pg
        assert pg is not None
        paths = self.sandbox.paths

        def rel(path: Path | str) -> str:
            return os.path.relpath(path, Path.cwd()) if str(path).startswith(str(REPO_DIR)) else str(path)

        sandbox = os.path.relpath(SANDBOX_SCRIPT, Path.cwd())
        lines = [
            "",
            f"ccqueue demo is up (in {self.up_in_s:.1f} s). Everything listens on 127.0.0.1 only.",
            f"  wallboard     {self.base_url}/wallboard   (sign in as {DEMO_SUPERVISOR!r}, password {self.password!r})",
            f"  supervisor    {self.base_url}/supervisor  (the same sign-in)",
            f"  agent page    {self.base_url}/agent       (sign in as {DEMO_AGENT!r}, the same password: "
            f"{min(self.agents)}'s screen-pops)",
            f"  metrics       {self.base_url}/metrics",
            f"  agents API    {self.base_url}/api/agents   "
            f"(curl -H 'Authorization: Bearer {self.token}' -X POST {self.base_url}/api/agents/agent1/pause"
            " ... /unpause, /logout, /login)",
            f"  queues API    {self.base_url}/api/queues",
            f"  health        {self.base_url}/healthz",
            f"  calls table   psql '{pg.dsn}' -c \"{CALLS_QUERY}\"",
            f"  Asterisk CLI  bash {sandbox} rx --instance {INSTANCE} 'core show channels'",
            "  logs",
            f"    ccqueue     {rel(self.logs / 'ccqueue.log')}",
            f"    callers     {rel(self.logs / 'callers.log')}",
            f"    Asterisk    {paths.get('FULL_LOG')}",
            *(f"    {a:<11} {rel(p.log_path)}" for a, p in self.phones.items()),
            f"    PostgreSQL  {rel(pg.log)}",
            "",
            self.load.describe(
                self.args.talk_mean_s,
                self.load.handle_s - self.args.talk_mean_s - self.args.answer_delay_mean_s,
                self.args.answer_delay_mean_s,
                self.args.per_minute is None,
            ),
            f"callers: {', '.join(self.mix)} (hotline:script:share; patience ~{self.args.patience_mean_s:g} s)"
            + (
                "; the IVR's office is closed now: its callers ask for a callback in the closed menu"
                if any(":ivr-closed-callback:" in m for m in self.mix)
                else ""
            ),
            f"phones: ring ~{self.args.answer_delay_mean_s:g} s before they are answered; "
            f"{self.args.miss_share:.0%} of the offers ring out (ring-no-answer)",
            "",
            ("Stop with Ctrl-C." if self.args.for_s is None else f"Running for {self.args.for_s:g} s (Ctrl-C stops it sooner)."),
            "",
        ]
        say("\n".join(lines))


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---- command line --------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deploy/demo.sh",
        description="Run ccqueue with Asterisk, PostgreSQL, a softphone per agent and simulated callers.",
    )
    p.add_argument(
        "--for",
        dest="for_s",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop by itself after this many seconds (default: run until Ctrl-C)",
    )
    p.add_argument(
        "--per-minute",
        type=float,
        default=None,
        help="mean callers per minute (default: chosen from the agents and --talk-mean-s for --occupancy)",
    )
    p.add_argument(
        "--occupancy",
        type=float,
        default=DEFAULT_OCCUPANCY,
        help=f"share of the time the agents should be busy, when --per-minute is not given (default {DEFAULT_OCCUPANCY:g})",
    )
    p.add_argument(
        "--ivr-share",
        type=float,
        default=DEFAULT_IVR_SHARE,
        help=f"share of the callers dialling the IVR hotline (default {DEFAULT_IVR_SHARE:g})",
    )
    p.add_argument(
        "--callback-share",
        type=float,
        default=DEFAULT_CALLBACK_SHARE,
        help=f"share of the callers pressing 1 to be called back (default {DEFAULT_CALLBACK_SHARE:g})",
    )
    p.add_argument(
        "--answer-delay-mean-s",
        type=float,
        default=DEFAULT_ANSWER_DELAY_S,
        help=f"mean time an agent's phone rings before it is answered (default {DEFAULT_ANSWER_DELAY_S:g})",
    )
    p.add_argument(
        "--miss-share",
        type=float,
        default=DEFAULT_MISS_SHARE,
        help=f"share of the offers an agent lets ring out (default {DEFAULT_MISS_SHARE:g})",
    )
    p.add_argument("--talk-mean-s", type=float, default=20.0, help="mean talk time, seconds (default 20)")
    p.add_argument(
        "--patience-mean-s", type=float, default=60.0, help="mean time a caller waits before hanging up, seconds (default 60)"
    )
    p.add_argument("--seed", type=int, default=None, help="random seed of the caller stream")
    p.add_argument("--number", default="100", help="hotline number the callers dial (default 100)")
    p.add_argument("--config", default=str(REPO_DIR / "config"), help="configuration folder (default config/)")
    p.add_argument("--sip-port", type=int, default=5060, help="Asterisk's SIP port (default 5060)")
    p.add_argument(
        "--pg-port", type=int, default=DEFAULT_PG_PORT, help=f"PostgreSQL port (default {DEFAULT_PG_PORT}; a free one if taken)"
    )
    p.add_argument("--fresh-db", action="store_true", help="start from an empty database")
    p.add_argument(
        "--status-every",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="print a status line this often (0: never; default 15)",
    )
    p.add_argument("--quiet", action="store_true", help="do not echo the caller stream's lines")
    return p


class _Signals:
    """Ctrl-C / SIGTERM: abort the start-up, end the run, and are ignored while stopping."""

    def __init__(self) -> None:
        self.phase = "starting"
        self.stop = threading.Event()
        self._noted = False

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.phase == "starting":
            self.phase = "stopping"
            raise KeyboardInterrupt
        if self.phase == "running":
            say(f"\n{signal.Signals(signum).name}: stopping the demo")
            self.stop.set()
        elif not self._noted:
            self._noted = True
            say("(already stopping: every part is stopped within its own deadline)")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if os.geteuid() != 0:
        print("demo: run as root (PostgreSQL as the postgres user, Asterisk in a chroot)", file=sys.stderr)
        return 2
    for name in ("per_minute", "talk_mean_s", "patience_mean_s", "answer_delay_mean_s"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            print(f"demo: --{name.replace('_', '-')} must be positive", file=sys.stderr)
            return 2
    if not 0 < args.occupancy < 1:
        print("demo: --occupancy must be between 0 and 1 (a full 1 makes the queue grow without end)", file=sys.stderr)
        return 2
    for name in ("ivr_share", "callback_share", "miss_share"):
        if not 0 <= getattr(args, name) < 1:
            print(f"demo: --{name.replace('_', '-')} must be at least 0 and below 1", file=sys.stderr)
            return 2
    if args.ivr_share + args.callback_share >= 1:
        print("demo: --ivr-share and --callback-share leave no callers for the queue's own hotline", file=sys.stderr)
        return 2
    if args.for_s is not None and args.for_s <= 0:
        print("demo: --for must be positive", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"demo: configuration {args.config} has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if not config.agents:
        print(f"demo: {args.config} configures no agents", file=sys.stderr)
        return 2
    if config.users:
        print(
            f"demo: {args.config} has a users section; the demo adds its own users, give it a configuration without",
            file=sys.stderr,
        )
        return 2

    signals = _Signals()
    signals.install()
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    demo = Demo(args, config)
    code = 0
    lock = None
    try:
        Demo.stop_previous_orchestrator()
        lock = open(DEMO_DIR / "demo.lock", "w")  # noqa: SIM115 - held for the demo's life
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("demo: another demo is starting in this folder right now; try again", file=sys.stderr)
            return 1
        PidFile(demo.run_dir / "demo.pid").write(os.getpid(), "testbed.demo")
        demo.stop_leftovers()
        demo.start()
        demo.banner()
        signals.phase = "running"
        deadline = None if args.for_s is None else time.monotonic() + args.for_s
        next_status = time.monotonic() + args.status_every if args.status_every > 0 else None
        while not signals.stop.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                say(f"\n{args.for_s:g} s are up: stopping the demo")
                break
            if (problem := demo.dead_child()) is not None:
                say(f"\n{problem}: stopping the demo")
                code = 1
                break
            if next_status is not None and now >= next_status:
                say(demo.status_line())
                next_status = now + args.status_every
            wake = [now + 1.0] + [t for t in (deadline, next_status) if t is not None]
            signals.stop.wait(max(0.0, min(wake) - now))
    except PortTaken as exc:
        print(f"demo: {exc}", file=sys.stderr)
        code = 1
    except (DemoError, SandboxError, SoftphoneError, TimeoutError, OSError, subprocess.SubprocessError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        say("\ninterrupted while starting: stopping what was started")
        code = 130
    finally:
        signals.phase = "stopping"
        if demo._stack:
            say("stopping the demo, in reverse order of start")
        demo.stop()
        PidFile(demo.run_dir / "demo.pid").remove()
        if lock is not None:
            lock.close()
    if code == 0:
        say("demo stopped: everything it started has been stopped")
    if demo.report_lines:
        say("\n".join(demo.report_lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
