"""One Asterisk sandbox instance where ccqueue and app_queue serve the same agents in turn.

What the benches that compare ccqueue with Asterisk's own ``app_queue`` share
(``bench/handoff.py``, ``bench/capacity.py``):

- the scene in configuration: ccqueue's config folder (one hotline, one queue, agents
  that are Local channels into ``[bench-agent]``), and the baseline queue and contexts
  written into the instance's own copy of Asterisk's configuration after ``sandbox.sh
  configure`` (the project's dialplan and queues.conf stay as they are);
- ``BenchBox``: a throwaway PostgreSQL, the migrated database, the Asterisk instance
  ``bench`` on ports of its own, and the ``ccqueue run`` daemon, all stopped on exit;
- ``Recorder``: a second AMI login that keeps the events a bench asks for, with
  Asterisk's ``Timestamp``;
- CPU time from ``/proc``, and ``settle`` (no channel left between runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from ccqueue.asterisk.ami import AmiClient
from testbed.daemon import REPO, CcqueueProcess, write_users
from testbed.sandbox import AsteriskSandbox, SandboxError
from tests.support.postgres import PgServer, find_bindir

__all__ = ["find_bindir"]

INSTANCE = "bench"
# Below Linux's ephemeral range (32768-60999): a busy run opens thousands of outgoing
# connections (a FastAGI session each), and one holding a listening port's number
# makes the next ``ccqueue run`` fail to bind it.
AMI_PORT, SIP_PORT, AGI_PORT, HTTP_PORT = 29038, 29060, 29573, 29080
RTP_PORTS = (29100, 29199)
AMI_USER, AMI_SECRET = "ccqueue", "bench-secret"
HOTLINE = "300"
QUEUE = "bench"
APP_QUEUE = "benchq"
SETTLE_DEADLINE_S = 15.0


# ---- the scene, in configuration ----------------------------------------------------------


def write_ccqueue_config(folder: Path, agents: int, *, ring_timeout_s: int, extra: str = "", queue_extra: str = "") -> None:
    """ccqueue's configuration folder: the hotline, its queue, the agents ``b1`` .. ``bN``.

    ``extra`` is appended to ccqueue.yaml (a section of its own), ``queue_extra`` to the
    queue's settings (indented lines)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ccqueue.yaml").write_text(
        f"""asterisk:
  ami: {{host: 127.0.0.1, port: {AMI_PORT}, username: {AMI_USER}, secret: {AMI_SECRET}}}
  agi: {{host: 127.0.0.1, port: {AGI_PORT}}}
http: {{host: 127.0.0.1, port: {HTTP_PORT}}}
hotlines:
  # No greeting: app_queue's hotline plays none either (the same work for both).
  "{HOTLINE}": {{queue: {QUEUE}, greeting: null}}
{extra}"""
    )
    (folder / "queues.yaml").write_text(
        f"""queues:
  {QUEUE}:
    strategy: longest_idle
    ring_timeout_s: {ring_timeout_s}
    wrapup_s: 0
    missed_cooldown_s: 0
{queue_extra}"""
    )
    lines = [
        f"  b{n}: {{name: Bench {n}, password: bench-pass-{n}, queues: [{QUEUE}], endpoint: Local/b{n}@bench-agent}}"
        for n in range(1, agents + 1)
    ]
    (folder / "agents.yaml").write_text("agents:\n" + "\n".join(lines) + "\n")
    write_users(folder)


def bench_dialplan(talk_s: float, jitter_s: float, *, full_sound: str = "ccqueue/queue-full") -> str:
    # Answer(,i): no wait for media (a Local channel has none until it is bridged, and
    # Answer() would wait 500 ms for it), so a call lasts exactly the talk time.
    # With a spread, each call lasts talk_s - spread/2 + a random 0..spread (talk_s on average).
    low = talk_s - jitter_s / 2
    talk = f"{talk_s:g}" if jitter_s <= 0 else f"$[{low:g} + ${{RAND(0,1000)}} * {jitter_s:g} / 1000]"
    return f"""; Written by testbed/benchbox.py into this instance only.
; An agent: answers at once, talks, hangs up.
[bench-agent]
exten => _b.,1,Answer(,i)
 same => n,Wait({talk})
 same => n,Hangup()

; The baseline's hotline: Asterisk's own app_queue. A caller it does not let in
; (QUEUESTATUS FULL, JOINEMPTY) hears the same refusal as ccqueue's.
[bench-appqueue]
exten => {HOTLINE},1,Answer()
 same => n,Queue({APP_QUEUE})
 same => n,GotoIf($["${{QUEUESTATUS}}" = "FULL" | "${{QUEUESTATUS}}" = "JOINEMPTY"]?full)
 same => n,Hangup()
 same => n(full),Playback({full_sound})
 same => n,Hangup()
"""


def bench_queue(agents: int, *, ring_timeout_s: int, retry_s: int, maxlen: int = 0) -> str:
    members = "\n".join(f"member => Local/b{n}@bench-agent,0,b{n}" for n in range(1, agents + 1))
    return f"""
; Written by testbed/benchbox.py: the baseline queue, with the bench's agents.
[{APP_QUEUE}]
strategy = leastrecent
timeout = {ring_timeout_s}
retry = {retry_s}
wrapuptime = 0
ringinuse = no
autofill = yes
joinempty = yes
leavewhenempty = no
maxlen = {maxlen}
announce-frequency = 0
periodic-announce-frequency = 0
announce-holdtime = no
announce-position = no
reportholdtime = no
memberdelay = 0
{members}
"""


def add_bench_files(etc: Path, *, dialplan: str, queue: str) -> None:
    """Add the bench's contexts and queue to the instance's config folder (after configure)."""
    (etc / "bench.conf").write_text(dialplan)
    with open(etc / "extensions.conf", "a") as fh:
        fh.write('\n; testbed/benchbox.py\n#include "bench.conf"\n')
    with open(etc / "queues.conf", "a") as fh:
        fh.write(queue)
    for name in ("bench.conf", "extensions.conf", "queues.conf"):
        os.chmod(etc / name, 0o640)


# ---- events -----------------------------------------------------------------------------


@dataclass(slots=True)
class Seen:
    at: float  # Asterisk's Timestamp header (arrival time when absent)
    name: str  # lower-case event name
    h: dict[str, str]


class Recorder:
    """A second AMI login that keeps the events a bench needs (``kept``: lower-case
    names; ``headers``: the headers kept of each), with their times. ``watch`` sees each
    kept event as it comes (for counts a bench polls while it runs); ``events`` is the
    login's event classes (fewer classes, less work for Asterisk and the bench)."""

    def __init__(
        self,
        kept: Iterable[str],
        headers: Iterable[str],
        watch: Callable[[Seen], None] | None = None,
        *,
        events: str = "on",
    ) -> None:
        self.kept = frozenset(kept)
        self.headers = tuple(headers)
        self.watch = watch
        self.events: list[Seen] = []
        self.stamped = self.unstamped = 0
        self.total = 0  # every event Asterisk sent, kept or not
        self.by_name: Counter[str] = Counter()
        self.client = AmiClient(
            host="127.0.0.1", port=AMI_PORT, username=AMI_USER, secret=AMI_SECRET, on_event=self._on_event, events=events
        )
        self._task: asyncio.Task[None] | None = None

    def _on_event(self, message: Any) -> None:
        self.total += 1
        name = (message.get("Event") or "").lower()
        self.by_name[message.get("Event") or "?"] += 1
        if name not in self.kept:
            return
        stamp = message.get("Timestamp") or ""
        try:
            at = float(stamp)
            self.stamped += 1
        except ValueError:
            at = time.time()
            self.unstamped += 1
        seen = Seen(at, name, {k: str(message.get(k) or "") for k in self.headers})
        if self.watch is not None:
            self.watch(seen)
        self.events.append(seen)

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self.client.run())
        await asyncio.wait_for(self.client.ready.wait(), 15)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=5)


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


async def settle(sandbox: AsteriskSandbox, deadline_s: float = SETTLE_DEADLINE_S, *, strict: bool = True) -> list[str]:
    """Hang up whatever is left and wait until Asterisk has no channel at all; the
    channels left past the deadline are an error, or (not ``strict``) returned, at once
    when only ``Surrogate/`` channels are left (no hang-up ends those). Not ``strict``, an
    Asterisk too busy to answer its CLI within the deadline is waited for until then too."""
    deadline = time.monotonic() + deadline_s
    try:
        await asyncio.to_thread(sandbox.rx, "channel request hangup all")
    except SandboxError:
        if strict:
            raise
    while True:
        try:
            left = await asyncio.to_thread(sandbox.channels)
        except SandboxError:
            if strict or time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)
            continue
        if not left:
            return []
        if not strict and all(name.startswith("Surrogate/") for name in left):
            return left
        if time.monotonic() > deadline:
            if not strict:
                return left
            raise RuntimeError(f"channels left after {deadline_s} s: {left[:5]}")
        await asyncio.sleep(0.2)


# ---- the ccqueue daemon and the whole box -----------------------------------------------------


class BenchDaemon(CcqueueProcess):
    """``ccqueue run`` for a bench, logging JSON lines to ``workdir/ccqueue.log``."""

    def __init__(self, config: Path, dsn: str, workdir: Path) -> None:
        super().__init__(
            config=config,
            dsn=dsn,
            http_port=HTTP_PORT,
            log_path=workdir / "ccqueue.log",
            spool_dir=workdir / "spool",
            log_args=("--json-logs", "--log-level", "info"),
        )

    def login(self, agent_ids: list[str]) -> None:
        for agent_id in agent_ids:
            status, body = self.http("POST", f"/api/agents/{agent_id}/login")
            if status != 200:
                raise RuntimeError(f"login of {agent_id}: {status} {body}")


@dataclass
class BenchBox:
    """What a bench runs on, once ``open_box`` has started it."""

    work: Path
    config: Path
    sandbox: AsteriskSandbox
    daemon: BenchDaemon
    pg: PgServer
    asterisk_pid: int


@contextlib.contextmanager
def open_box(
    name: str,
    *,
    write_config: Callable[[Path], None],
    dialplan: str,
    queue: str,
    keep: bool = False,
    daemon_type: type[BenchDaemon] = BenchDaemon,
) -> Iterator[BenchBox]:
    """A PostgreSQL cluster with a migrated database, the Asterisk instance with the
    bench's files added, and a ccqueue daemon (not started); everything is stopped and
    removed on exit (the work folder is kept with ``keep``). Raises ``RuntimeError`` when
    PostgreSQL's server binaries are missing."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (set PG_BINDIR)")
    work = Path(tempfile.mkdtemp(prefix=f"ccqueue-{name}-"))
    config = work / "config"
    write_config(config)
    pg = PgServer(bindir, Path(tempfile.mkdtemp(prefix=f"ccqueue-{name}-pg-")))
    sandbox = AsteriskSandbox(INSTANCE, config, ami_port=AMI_PORT, sip_port=SIP_PORT, agi_port=AGI_PORT, rtp_ports=RTP_PORTS)
    daemon = daemon_type(config, "", work)
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: None if keep else shutil.rmtree(work, ignore_errors=True))
        stack.callback(pg.remove)
        pg.init()
        pg.start()
        daemon.dsn = pg.create_database(name)
        subprocess.run(
            [sys.executable, "-m", "ccqueue.cli", "migrate", "--dsn", daemon.dsn], cwd=REPO, check=True, capture_output=True
        )
        sandbox.build()
        if sandbox.running:
            sandbox.stop()  # a leftover of an interrupted run: start from a fresh config
        paths = sandbox.configure()
        add_bench_files(Path(paths["ETC"]), dialplan=dialplan, queue=queue)
        stack.callback(sandbox.stop)
        pid = sandbox.start()
        stack.callback(daemon.stop)
        yield BenchBox(work=work, config=config, sandbox=sandbox, daemon=daemon, pg=pg, asterisk_pid=pid)
