"""Faults under live calls: ccqueue killed, stopped, stalled, its database and its disk
taken away, its Asterisk restarted — and every call still counted once, truly.

Run from the repository root, as root: ``python bench/faults.py`` (every fault, about
8 minutes), ``--quick`` (four of them, about 3 minutes) or ``--fault NAME`` (repeatable;
``--list`` names them). The lines printed say what happens; the last line is one JSON
object with the figures.

The scene, in an Asterisk 22 sandbox instance of its own (``faults``), a throwaway
PostgreSQL and a real ``ccqueue run``:

- three agents ``f1`` .. ``f3``, each a Local channel into ``[fault-agent]``: it rings
  for 1.5 s, answers and stays until the other side hangs up; the queue's wrap-up is 3 s;
- callers (``Local/300@hotline``, the caller's side in ``[ccqueue-test-caller]``,
  ``wait``) placed a second apart, six per fault, who talk 3 to 5 s once bridged and hang up,
  and never give up while waiting;
- in the rounds that aim at callback dialling, a callback booked through the HTTP API
  first; the customer (``Local/<digits>@fault-customer``) rings 1.5 s, answers, talks 4 s.

Each fault is one round: the callers are placed, the bench waits for the moment of a
call's life it aims at (seen in Asterisk's own AMI events: the agent leg ringing, its
claim AGI starting, the caller entering the bridge, the agent leg gone for wrap-up, the
customer's leg of a callback ringing), waits a random fraction of that moment, and
injects the fault. Then it measures the recovery — from the end of the fault (the new
process spawned, PostgreSQL started, SIGCONT, Asterisk booted, the disk freed) until
ccqueue is healthy (``/healthz`` ok and its database connected) and serving (a caller
placed at the end of the fault reaches ccqueue's FastAGI) — lets every call finish, and
checks, from PostgreSQL and from the AMI events:

- every caller has exactly one row in ``calls`` (none: lost; more: doubled), closed,
  with the outcome that really happened (``answered`` when its channel entered a
  bridge, ``refused`` when the dialplan played it the door's refusal, ``abandoned`` when
  it hung up before);
- every timeline is complete: ``call_events`` numbered without a gap from
  ``call_arrived`` to ``call_ended``;
- no caller entered a bridge twice; no callback customer was dialled twice;
- callers waiting when the fault struck were kept (bridged later, or still holding
  when the bench let them go) — not hung up, and never played the apology. Asterisk's
  own restart drops every channel by its nature: those callers are reported apart
  and not counted in ``callers_dropped``.

The faults (``SCENARIOS``): ``kill9-*`` and ``term-*`` (``kill -9`` / SIGTERM of ccqueue,
restarted after 0.5-2 s) at ``ringing``, ``claim``, ``bridge``, ``wrapup``,
``callback``; ``pg-stop`` (PostgreSQL stopped for 6 s mid-call); ``asterisk-restart``;
``stall`` (ccqueue SIGSTOPped, and Asterisk given events to send it until it drops the
AMI link for its ``writetimeout``, 1000 ms in the sandbox's manager.conf; then
SIGCONT); ``spool-full`` (PostgreSQL stopped and the spool's filesystem full — a 512 KiB
tmpfs mounted for the spool, filled up: root can mount here); ``takeover`` (for this
round an active/standby pair, ``testbed/standby.py``, replaces the lone process: the
active is killed with ``kill -9`` a random moment into a conversation or a wrap-up,
callers talking and waiting; ``takeover_s`` is from the kill until the standby is active
and serving, and the killed one, started again, must stay the standby).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import itertools
import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ccqueue.asterisk.ami import AmiClient  # the path above makes a checkout importable
from testbed.daemon import CcqueueProcess, write_users
from testbed.ports import free_block
from testbed.sandbox import AsteriskSandbox
from testbed.standby import PairMember, StandbyPair, is_active, is_standby, measure_takeover
from tests.support.postgres import PgServer, find_bindir

REPO = Path(__file__).resolve().parents[1]
INSTANCE = "faults"
AMI_USER, AMI_SECRET = "ccqueue", "faults-secret"
HOTLINE = "300"
QUEUE = "faults"
AGENTS = ("f1", "f2", "f3")
WRAPUP_S = 3
TALK_S = (3.0, 5.0)  # a caller talks this long once bridged (uniform)
CALLERS_PER_ROUND = 6
CALLER_GAP_S = 1.0
PHASE_DEADLINE_S = 30.0  # the aimed-at moment must come within this long
SETTLE_DEADLINE_S = 60.0  # every call of a round ends within this long after the fault
RECOVERY_DEADLINE_S = 60.0
ROWS_DEADLINE_S = 20.0  # records reach PostgreSQL within this long after the calls end
PG_DOWN_S = 6.0
SPOOL_FS_BYTES = 512 * 1024
STALL_MAX_S = 30.0  # the stall ends by then even if Asterisk kept the link
FLOOD_MAX = 4000  # event-making channels originated at most during a stall
STANDBY_POLL_S = 0.25  # the takeover round's standby tries the lock this often
# What the dialplan plays a caller the door turns away (overload.sound, left to its default).
REFUSAL_SOUND = "ccqueue/queue-full"

AGENT_LEG = re.compile(r"^Local/f\d@fault-agent-[0-9a-f]+;1$")
CUSTOMER_LEG = re.compile(r"^Local/(?P<digits>\d+)@fault-customer-[0-9a-f]+;1$")


# ---- the scene, in configuration --------------------------------------------------------


@dataclass(frozen=True)
class Ports:
    ami: int
    sip: int
    agi: int
    http: int
    rtp: tuple[int, int]
    # the second member of the takeover round's pair; the dialplan tries its FastAGI
    # address after the first one's (refused, and so skipped at once, in other rounds)
    standby_agi: int
    standby_http: int


def write_config(folder: Path, ports: Ports) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ccqueue.yaml").write_text(
        f"""asterisk:
  ami: {{host: 127.0.0.1, port: {ports.ami}, username: {AMI_USER}, secret: {AMI_SECRET}}}
  agi: {{host: 127.0.0.1, port: {ports.agi}, addresses: [127.0.0.1:{ports.agi}, 127.0.0.1:{ports.standby_agi}]}}
http: {{host: 127.0.0.1, port: {ports.http}}}
hotlines:
  "{HOTLINE}": {{queue: {QUEUE}}}
callbacks:
  dial: "Local/{{digits}}@fault-customer"
  caller_id: "{HOTLINE}"
  region: US
  allowed: ['\\+1202555\\d{{4}}']
  max_attempts: 2
  retry_delay_s: 5
  ring_timeout_s: 15
"""
    )
    (folder / "queues.yaml").write_text(
        f"""queues:
  {QUEUE}:
    strategy: longest_idle
    ring_timeout_s: 10
    wrapup_s: {WRAPUP_S}
    missed_cooldown_s: 0
"""
    )
    lines = [
        f"  {a}: {{name: Agent {a}, password: fault-pass-{a}, queues: [{QUEUE}], endpoint: Local/{a}@fault-agent}}"
        for a in AGENTS
    ]
    (folder / "agents.yaml").write_text("agents:\n" + "\n".join(lines) + "\n")
    write_users(folder)


def write_pair_config(folder: Path, pair_folder: Path) -> None:
    """The takeover round's configuration: the same, with a ``standby`` section."""
    shutil.copytree(folder, pair_folder)
    with (pair_folder / "ccqueue.yaml").open("a") as fh:
        fh.write(f"standby: {{poll_s: {STANDBY_POLL_S}, check_timeout_s: 2}}\n")


FAULT_DIALPLAN = """; Written by bench/faults.py into this instance only.
; An agent: rings 1.5 s, answers at once (no wait for media), and stays until the
; other side hangs up (the caller after its talk time, the customer called back).
[fault-agent]
exten => _f.,1,Ringing()
 same => n,Wait(1.5)
 same => n,Answer(,i)
 same => n,Wait(120)
 same => n,Hangup()

; A customer called back: rings 1.5 s, answers, talks 4 s, hangs up.
[fault-customer]
exten => _X.,1,Ringing()
 same => n,Wait(1.5)
 same => n,Answer(,i)
 same => n,Wait(4)
 same => n,Hangup()

; Channels that only make AMI events (a stall's traffic): answer, hang up.
[fault-flood]
exten => s,1,Answer(,i)
 same => n,Hangup()
"""


def add_fault_files(etc: Path) -> None:
    (etc / "faults.conf").write_text(FAULT_DIALPLAN)
    with open(etc / "extensions.conf", "a") as fh:
        fh.write('\n; bench/faults.py\n#include "faults.conf"\n')
    for name in ("faults.conf", "extensions.conf"):
        os.chmod(etc / name, 0o640)


def manager_writetimeout_ms(etc: Path) -> int | None:
    """The ``writetimeout`` the instance's manager.conf sets (ms), if any."""
    with contextlib.suppress(OSError):
        found = re.search(r"^\s*writetimeout\s*=\s*(\d+)", (etc / "manager.conf").read_text(), re.M)
        return int(found[1]) if found else None
    return None


# ---- what Asterisk says ---------------------------------------------------------------------


Matcher = Callable[[dict[str, str]], bool]


class Probe:
    """The bench's own AMI login: places callers, keeps every event with its arrival time."""

    def __init__(self, port: int) -> None:
        self.events: list[dict[str, str]] = []
        self.arrived: list[float] = []
        self._changed = asyncio.Event()
        self.client = AmiClient(
            host="127.0.0.1", port=port, username=AMI_USER, secret=AMI_SECRET, on_event=self._on_event, events="on"
        )
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self.talkers: set[str] = set()  # hotline uids of the callers placed
        self.talks: set[asyncio.Task[None]] = set()

    def _on_event(self, message: Any) -> None:
        event = {k: str(v) for k, v in message.items()}
        self.events.append(event)
        self.arrived.append(time.monotonic())
        self._changed.set()
        if event.get("Event") == "BridgeEnter" and event.get("Uniqueid") in self.talkers:
            # A caller in conversation hangs up after its talk time.
            task = asyncio.get_running_loop().create_task(self._talk(event["Uniqueid"]))
            self.talks.add(task)
            task.add_done_callback(self.talks.discard)

    async def _talk(self, uid: str) -> None:
        await asyncio.sleep(random.uniform(*TALK_S))
        await self.hangup(uid)

    async def __aenter__(self) -> Probe:
        self._task = asyncio.create_task(self.client.run())
        await asyncio.wait_for(self.client.ready.wait(), 15)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=5)

    async def wait_for(self, matcher: Matcher, *, timeout: float, since: int = 0) -> tuple[int, dict[str, str]] | None:
        """The first event from ``since`` that matches (its index), or None at the deadline."""
        deadline = time.monotonic() + timeout
        at = since
        while True:
            for n in range(at, len(self.events)):
                if matcher(self.events[n]):
                    return n, self.events[n]
            at = len(self.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    def seen(self, matcher: Matcher, since: int = 0) -> list[dict[str, str]]:
        return [m for m in self.events[since:] if matcher(m)]

    async def send(self, action: dict[str, str], timeout: float = 10) -> Any:
        await asyncio.wait_for(self.client.ready.wait(), timeout)
        return await self.client.send(action, timeout=timeout)

    async def call(self, caller: str) -> str:
        """Place a caller on the hotline; returns the hotline half's uniqueid."""
        uid = f"fault-{int(time.time() * 1000)}-{next(self._ids)}"
        await self.send(
            {
                "Action": "Originate",
                "Channel": f"Local/{HOTLINE}@hotline",
                "Context": "ccqueue-test-caller",
                "Exten": "wait",
                "Priority": "1",
                "CallerID": f'"Customer" <{caller}>',
                "ChannelId": uid,
                "OtherChannelId": f"{uid}-hl",
                "Async": "true",
                "Timeout": "30000",
            }
        )
        self.talkers.add(f"{uid}-hl")
        return f"{uid}-hl"

    async def hangup(self, uid: str) -> None:
        with contextlib.suppress(Exception):
            await self.send({"Action": "Hangup", "Channel": uid}, timeout=5)


def ev(name: str, **fields: str) -> Matcher:
    def check(m: dict[str, str]) -> bool:
        return (m.get("Event") or "").lower() == name.lower() and all(m.get(k) == v for k, v in fields.items())

    return check


# ---- the ccqueue process ----------------------------------------------------------------------


class Daemon(CcqueueProcess):
    def __init__(self, config: Path, dsn: str, http_port: int, work: Path, spool_dir: Path) -> None:
        super().__init__(
            config=config,
            dsn=dsn,
            http_port=http_port,
            log_path=work / "ccqueue.log",
            spool_dir=spool_dir,
            log_args=("--json-logs", "--log-level", "info"),
        )

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def gone(self, sig: int) -> None:
        """End the process with ``sig`` (SIGKILL or SIGTERM) and forget it."""
        proc = self.proc
        assert proc is not None
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        self.proc = None

    def health(self) -> dict[str, Any]:
        try:
            _, body = self.http("GET", "/healthz")
            return dict(body or {})
        except (OSError, ValueError):
            return {}


# ---- one round ----------------------------------------------------------------------------------


@dataclass
class Round:
    fault: str
    callers: dict[str, str] = field(default_factory=dict)  # caller number -> hotline uid
    callbacks: dict[str, str] = field(default_factory=dict)  # customer number -> callback id
    hung_up_by_bench: set[str] = field(default_factory=set)
    waiting_at_fault: set[str] = field(default_factory=set)  # hotline uids
    since: int = 0  # index of the round's first probe event
    fault_at: int = 0  # index of the first event after the fault struck
    recovery_s: float | None = None
    note: str = ""
    skipped: str = ""
    expected_drops: bool = False  # Asterisk's own restart drops its channels
    takeover: dict[str, Any] | None = None  # measure_takeover's result (the takeover round)


@dataclass
class Checked:
    calls: int = 0
    rows: int = 0
    lost: int = 0
    doubled: int = 0
    open_rows: int = 0
    false_outcomes: int = 0
    broken_timelines: int = 0
    bridged_twice: int = 0
    dialled_twice: int = 0
    waiting: int = 0
    kept: int = 0
    dropped: int = 0
    never_placed: int = 0
    problems: list[str] = field(default_factory=list)


class Scene:
    """Everything a round needs: the instance, the database, the process, the probe."""

    def __init__(self, *, sandbox: AsteriskSandbox, pg: PgServer, daemon: Daemon, probe: Probe, rng: random.Random) -> None:
        self.sandbox, self.pg, self.daemon, self.probe, self.rng = sandbox, pg, daemon, probe, rng
        self.numbers = itertools.count(1)
        self.filler: Path | None = None
        self.ports: Ports | None = None
        self.work: Path | None = None
        self.pair_config: Path | None = None  # the takeover round's configuration
        self.pair_logs: list[str] = []  # the takeover round's members' logs

    def next_number(self) -> str:
        return f"+1202555{next(self.numbers):04d}"

    async def healthy(self, *, database: bool = True, process: Daemon | PairMember | None = None) -> bool:
        body = await asyncio.to_thread((process or self.daemon).health) or {}
        return body.get("status") == "ok" and (not database or body.get("database") == "ready")

    async def login_agents(self, process: Daemon | PairMember | None = None) -> None:
        if process is None and (self.daemon.proc is None or self.daemon.proc.poll() is not None):
            print("    ccqueue was not running at the start of the round: started again", flush=True)
            self.daemon.proc = None
            await asyncio.to_thread(self.daemon.start, 30.0)
        serving = process or self.daemon
        for agent in AGENTS:
            status, body = await asyncio.to_thread(serving.http, "GET", f"/api/agents/{agent}")
            if status == 200 and body.get("state") == "logged_out":
                await asyncio.to_thread(serving.http, "POST", f"/api/agents/{agent}/login")

    async def place_callers(self, rnd: Round, count: int) -> None:
        for _ in range(count):
            number = self.next_number()
            rnd.callers[number] = await self.probe.call(number)
            await asyncio.sleep(CALLER_GAP_S)

    async def book_callback(self, rnd: Round) -> None:
        number = self.next_number()
        status, body = await asyncio.to_thread(self.daemon.http, "POST", "/api/callbacks", {"number": number, "queue": QUEUE})
        if status not in (200, 201):
            raise RuntimeError(f"callback not booked: {status} {body}")
        rnd.callbacks[number] = body["id"]

    def live_callers(self, rnd: Round, since: int) -> set[str]:
        """Hotline uids of the round's callers that are up and not bridged now."""
        up = set()
        for uid in rnd.callers.values():
            started = self.probe.seen(ev("Newchannel", Uniqueid=uid), since)
            ended = self.probe.seen(ev("Hangup", Uniqueid=uid), since)
            bridged = self.probe.seen(ev("BridgeEnter", Uniqueid=uid), since)
            if started and not ended and not bridged:
                up.add(uid)
        return up

    async def recover(self, rnd: Round, *, database: bool = True, process: PairMember | None = None) -> None:
        """From the end of the fault: healthy, and a new caller's session reached ccqueue
        (``process``: the pair member that should be serving, instead of the lone one)."""
        began = time.monotonic()
        mark = len(self.probe.events)
        number = self.next_number()
        try:
            uid = await self.probe.call(number)
        except Exception as exc:  # Asterisk not taking actions yet counts against recovery
            rnd.note += f" sentinel not placed ({exc!r});"
            uid = None
        if uid is not None:
            rnd.callers[number] = uid
        session = (lambda m: ev("AGIExecStart", Uniqueid=uid)(m) and "CCQ_" in m.get("Command", "")) if uid else (lambda m: False)
        served = healthy = False
        deadline = began + RECOVERY_DEADLINE_S
        while time.monotonic() < deadline and not (served and healthy):
            healthy = healthy or await self.healthy(database=database, process=process)
            served = served or bool(self.probe.seen(session, mark))
            await asyncio.sleep(0.05)
        rnd.recovery_s = round(time.monotonic() - began, 3) if served and healthy else None

    async def settle(self, rnd: Round) -> None:
        """Wait until every caller of the round has hung up; let the slow ones go."""
        deadline = time.monotonic() + SETTLE_DEADLINE_S
        await asyncio.sleep(1)  # the last caller's channel is made
        while time.monotonic() < deadline:
            # A caller whose channel Asterisk never made (it was stopping) has nothing to end.
            open_ = [
                u
                for u in rnd.callers.values()
                if self.probe.seen(ev("Newchannel", Uniqueid=u), rnd.since)
                and not self.probe.seen(ev("Hangup", Uniqueid=u), rnd.since)
            ]
            callbacks_open = await self._open_callbacks(rnd)
            if not open_ and not callbacks_open:
                return
            await asyncio.sleep(0.3)
        for uid in rnd.callers.values():
            if not self.probe.seen(ev("Hangup", Uniqueid=uid), rnd.since):
                rnd.hung_up_by_bench.add(uid)
                await self.probe.hangup(uid)
        await asyncio.sleep(1)

    async def _open_callbacks(self, rnd: Round) -> int:
        if not rnd.callbacks:
            return 0
        rows = await self.fetch("select status from callbacks where number = any($1::text[])", list(rnd.callbacks))
        return sum(1 for r in rows if r["status"] in ("pending", "dialing")) + (len(rnd.callbacks) - len(rows))

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.daemon.dsn, timeout=5)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def check(self, rnd: Round) -> Checked:
        out = Checked(calls=len(rnd.callers))
        numbers = list(rnd.callers)
        deadline = time.monotonic() + ROWS_DEADLINE_S
        while True:  # the last records are on their way (batched writer, maybe a replay)
            rows = await self.fetch("select * from calls where caller = any($1::text[])", numbers)
            done = {r["caller"] for r in rows if r["ended_at"] is not None}
            if done >= set(numbers) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        by_caller: dict[str, list[asyncpg.Record]] = {}
        for row in rows:
            by_caller.setdefault(row["caller"], []).append(row)
        out.rows = len(rows)
        for number, uid in rnd.callers.items():
            found = by_caller.get(number, [])
            if not found and not self.probe.seen(ev("Newchannel", Uniqueid=uid), rnd.since):
                # Asterisk accepted the Originate but never made the channel (it was
                # stopping): no call happened, so none can be lost.
                out.calls -= 1
                out.never_placed += 1
                continue
            bridges = {m.get("BridgeUniqueid") for m in self.probe.seen(ev("BridgeEnter", Uniqueid=uid), rnd.since)}
            if len(bridges) > 1:
                out.bridged_twice += 1
                out.problems.append(f"{number}: entered {len(bridges)} bridges")
            if not found:
                out.lost += 1
                out.problems.append(f"{number}: no row")
                continue
            if len(found) > 1:
                out.doubled += len(found) - 1
                out.problems.append(f"{number}: {len(found)} rows")
            row = found[0]
            if row["ended_at"] is None:
                out.open_rows += 1
                out.problems.append(f"{number}: row not closed")
            # Turned away at the door (the dialplan played the refusal, ccqueue.core.overload):
            # a caller let in at once after a stall may be, by the gate's rules.
            refusal = [
                m
                for m in self.probe.seen(ev("Newexten", Uniqueid=uid, Application="Playback"), rnd.since)
                if m.get("AppData", "") == REFUSAL_SOUND
            ]
            truth = "answered" if bridges else "refused" if refusal else "abandoned"
            if row["outcome"] != truth:
                out.false_outcomes += 1
                out.problems.append(f"{number}: outcome {row['outcome']}, really {truth}")
            kinds = await self.fetch("select seq, kind from call_events where call_id = $1 order by seq", row["call_id"])
            seqs = [k["seq"] for k in kinds]
            complete = (
                bool(kinds)
                and kinds[0]["kind"] == "call_arrived"
                and kinds[-1]["kind"] == "call_ended"
                and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
            )
            if not complete:
                out.broken_timelines += 1
                out.problems.append(f"{number}: timeline {[k['kind'] for k in kinds]} seq {seqs}")
        for number in rnd.callbacks:
            digits = number.lstrip("+")
            dials = {
                m.get("Channel")
                for m in self.probe.seen(ev("Newchannel"), rnd.since)
                if (found := CUSTOMER_LEG.match(m.get("Channel", ""))) and found["digits"] == digits
            }
            rows = await self.fetch("select status, attempts, result from callbacks where number = $1", number)
            status = rows[0]["status"] if rows else "missing"
            if len(dials) > 1:
                out.dialled_twice += 1
                out.problems.append(f"callback {number}: customer dialled {len(dials)} times (status {status})")
            if status != "completed":
                out.problems.append(f"callback {number}: {status} after {len(dials)} dial(s)")
        for uid in rnd.waiting_at_fault:
            out.waiting += 1
            after = rnd.fault_at
            bridged = self.probe.seen(ev("BridgeEnter", Uniqueid=uid), after)
            apology = [
                m
                for m in self.probe.seen(ev("Newexten", Uniqueid=uid, Application="Playback"), after)
                if "unavailable" in m.get("AppData", "")
            ]
            hung = self.probe.seen(ev("Hangup", Uniqueid=uid), after)
            if apology or (hung and not bridged and uid not in rnd.hung_up_by_bench):
                out.dropped += 1
                if not rnd.expected_drops:
                    out.problems.append(f"{uid}: dropped while waiting{' (apology played)' if apology else ''}")
            else:
                out.kept += 1
        return out


# ---- the faults ----------------------------------------------------------------------------------


def phase_matcher(scene: Scene, rnd: Round, phase: str) -> Matcher:
    if phase == "ringing":
        return lambda m: ev("Newchannel")(m) and bool(AGENT_LEG.match(m.get("Channel", "")))
    if phase == "claim":
        return lambda m: (
            ev("Newexten", Application="AGI")(m)
            and bool(AGENT_LEG.match(m.get("Channel", "")))
            and "/claim" in m.get("AppData", "")
        )
    if phase == "bridge":
        return lambda m: ev("BridgeEnter")(m) and m.get("Uniqueid") in rnd.callers.values()
    if phase == "wrapup":
        return lambda m: ev("BridgeLeave")(m) and bool(AGENT_LEG.match(m.get("Channel", "")))
    if phase == "callback":
        return lambda m: ev("Newchannel")(m) and bool(CUSTOMER_LEG.match(m.get("Channel", "")))
    raise ValueError(phase)


# How long into the aimed-at moment the fault strikes (uniform, seconds).
PHASE_JITTER_S = {
    "ringing": (0.05, 1.2),
    "claim": (0.0, 0.03),
    "bridge": (0.2, 2.0),
    "wrapup": (0.1, 2.5),
    "callback": (0.0, 1.2),
}


async def reach_phase(scene: Scene, rnd: Round, phase: str) -> bool:
    """Start the round's callers and wait for the aimed-at moment, plus a random part of it.

    The callers still to come keep arriving during and after the fault."""
    if phase == "callback":
        await scene.book_callback(rnd)  # booked first: it is first in line
    scene_tasks.add(asyncio.create_task(scene.place_callers(rnd, CALLERS_PER_ROUND)))
    found = await scene.probe.wait_for(phase_matcher(scene, rnd, phase), timeout=PHASE_DEADLINE_S, since=rnd.since)
    if found is None:
        return False
    await asyncio.sleep(scene.rng.uniform(*PHASE_JITTER_S[phase]))
    return True


scene_tasks: set[asyncio.Task[None]] = set()


async def restart_fault(scene: Scene, rnd: Round, *, sig: int, phase: str) -> None:
    if not await reach_phase(scene, rnd, phase):
        rnd.skipped = f"the {phase} moment did not come within {PHASE_DEADLINE_S:g} s"
        return
    rnd.waiting_at_fault = scene.live_callers(rnd, rnd.since)
    rnd.fault_at = len(scene.probe.events)
    await asyncio.to_thread(scene.daemon.gone, sig)
    await asyncio.sleep(scene.rng.uniform(0.5, 2.0))
    await asyncio.to_thread(scene.daemon.start, 30.0)
    await scene.recover(rnd)


async def pg_fault(scene: Scene, rnd: Round) -> None:
    if not await reach_phase(scene, rnd, "bridge"):
        rnd.skipped = "no call was bridged"
        return
    rnd.waiting_at_fault = scene.live_callers(rnd, rnd.since)
    rnd.fault_at = len(scene.probe.events)
    await asyncio.to_thread(scene.pg.stop)
    await asyncio.sleep(PG_DOWN_S)
    await asyncio.to_thread(scene.pg.start)
    await scene.recover(rnd)


async def spool_full_fault(scene: Scene, rnd: Round) -> None:
    if scene.filler is None:
        rnd.skipped = "no filesystem of its own for the spool (mount refused)"
        return
    if not await reach_phase(scene, rnd, "bridge"):
        rnd.skipped = "no call was bridged"
        return
    rnd.waiting_at_fault = scene.live_callers(rnd, rnd.since)
    rnd.fault_at = len(scene.probe.events)
    fill(scene.filler)
    log_mark = len(scene.daemon.log_text())
    await asyncio.to_thread(scene.pg.stop)
    await asyncio.sleep(PG_DOWN_S + 2)
    alive = scene.daemon.proc is not None and scene.daemon.proc.poll() is None
    said = scene.daemon.log_text()[log_mark:]
    failed = [line for line in said.splitlines() if "spool" in line and '"error"' in line]
    rnd.note += f" daemon {'alive' if alive else 'DEAD'} with the disk full; {len(failed)} spool error line(s) logged;"
    if failed:
        with contextlib.suppress(ValueError):
            first = json.loads(failed[0])
            rnd.note += f" first: {first.get('event')} error_id={first.get('error_id')};"
    scene.filler.unlink(missing_ok=True)
    await asyncio.to_thread(scene.pg.start)
    if not alive:
        await asyncio.to_thread(scene.daemon.start, 30.0)
    await scene.recover(rnd)


def fill(path: Path) -> None:
    """Write ``path`` until its filesystem refuses more."""
    chunk = b"\0" * 4096
    with open(path, "wb", buffering=0) as fh:
        while True:
            try:
                fh.write(chunk)
                fh.flush()
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EFBIG):
                    return
                raise


async def asterisk_fault(scene: Scene, rnd: Round) -> None:
    rnd.expected_drops = True
    if not await reach_phase(scene, rnd, "bridge"):
        rnd.skipped = "no call was bridged"
        return
    rnd.waiting_at_fault = scene.live_callers(rnd, rnd.since)
    rnd.fault_at = len(scene.probe.events)
    await asyncio.to_thread(scene.sandbox.stop)
    await asyncio.to_thread(scene.sandbox.start)
    await asyncio.wait_for(scene.probe.client.ready.wait(), 30)
    await scene.recover(rnd)


def manager_sessions(scene: Scene) -> int:
    """AMI sessions of the ccqueue user (the daemon's and the probe's)."""
    out = scene.sandbox.rx("manager show connected")
    return sum(1 for line in out.splitlines() if line.split()[:1] == [AMI_USER])


async def stall_fault(scene: Scene, rnd: Round) -> None:
    if not await reach_phase(scene, rnd, "bridge"):
        rnd.skipped = "no call was bridged"
        return
    rnd.waiting_at_fault = scene.live_callers(rnd, rnd.since)
    rnd.fault_at = len(scene.probe.events)
    before = await asyncio.to_thread(manager_sessions, scene)
    scene.daemon.signal(signal.SIGSTOP)
    began = time.monotonic()
    flooded = 0
    dropped = False
    try:
        # Asterisk drops a client only when a write to it blocks past writetimeout: the
        # socket buffers must fill first, so give it events to send (channels that
        # answer and hang up make a dozen 'call' events each).
        while time.monotonic() - began < STALL_MAX_S and flooded < FLOOD_MAX:
            batch = [
                scene.probe.send(
                    {
                        "Action": "Originate",
                        "Channel": "Local/s@fault-flood",
                        "Application": "Wait",
                        "Data": "0",
                        "Async": "true",
                    }
                )
                for _ in range(25)
            ]
            await asyncio.gather(*batch, return_exceptions=True)
            flooded += len(batch)
            if flooded % 100 == 0 and await asyncio.to_thread(manager_sessions, scene) < before:
                dropped = True
                break
    finally:
        stalled = time.monotonic() - began
        scene.daemon.signal(signal.SIGCONT)
    rnd.note += (
        f" stalled {stalled:.1f} s, {flooded} event-making channels; Asterisk "
        f"{'dropped' if dropped else 'did NOT drop'} ccqueue's AMI link;"
    )
    await scene.recover(rnd)


async def takeover_fault(scene: Scene, rnd: Round) -> None:
    """An active/standby pair in place of the lone process for this round: the active is
    killed with callers waiting and in conversation, the standby takes over, the killed
    one started again must stay the standby; the round's calls end on the new active."""
    assert scene.pair_config is not None and scene.ports is not None and scene.work is not None
    ports = scene.ports
    pair = StandbyPair(
        config=scene.pair_config,
        dsn=scene.daemon.dsn,
        workdir=scene.work,
        ports=[(ports.http, ports.agi), (ports.standby_http, ports.standby_agi)],
        log_args=("--log-level", "info"),
    )
    # The lone process goes with a goodbye (its records flushed); the agents' logins
    # stay in PostgreSQL and the pair's active rebuilds them, as a restart does.
    await asyncio.to_thread(scene.daemon.stop)
    try:
        await asyncio.to_thread(pair.start, 30.0)
        await scene.login_agents(pair.members[0])
        # A conversation begun, or one just ended (its agent into wrap-up): either way
        # later callers are talking and the last ones waiting when the kill comes.
        phase = scene.rng.choice(("bridge", "wrapup"))
        if not await reach_phase(scene, rnd, phase):
            rnd.skipped = f"the {phase} moment did not come within {PHASE_DEADLINE_S:g} s"
            return
        rnd.waiting_at_fault = scene.live_callers(rnd, rnd.since)
        rnd.fault_at = len(scene.probe.events)
        rnd.takeover = await asyncio.to_thread(measure_takeover, pair)
        new = next(m for m in pair.members if m.name == rnd.takeover["new"])
        await scene.recover(rnd, process=new)
        await scene.settle(rnd)  # the round's calls end on the pair, not on the lone process
        old = pair.other(new)
        # Still one active, the same one, after every call of the round went through it.
        rnd.takeover["old_active_fenced"] = bool(
            rnd.takeover.get("old_active_fenced") and is_active(new.health()) and is_standby(old.health())
        )
        rnd.note += (
            f" takeover {rnd.takeover['takeover_s']:.3f} s ({rnd.takeover['old']} killed at {phase}, {rnd.takeover['new']} active"
            f" with epoch {rnd.takeover['new_epoch']}, its rebuild {rnd.takeover['rebuild_s']} s); the old active "
            f"{'stayed standby' if rnd.takeover['old_active_fenced'] else 'did NOT stay standby'};"
        )
    finally:
        await asyncio.to_thread(pair.stop)
        for member in pair.members:
            scene.pair_logs.append(member.log_text())
        await asyncio.to_thread(scene.daemon.start, 30.0)


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Scene, Round], Awaitable[None]]
    quick: bool = False


def _restart(sig: int, phase: str) -> Callable[[Scene, Round], Awaitable[None]]:
    async def run(scene: Scene, rnd: Round) -> None:
        await restart_fault(scene, rnd, sig=sig, phase=phase)

    return run


SCENARIOS: list[Scenario] = [
    *(
        Scenario(f"{how}-{phase}", _restart(sig, phase), quick=(how, phase) == ("kill9", "bridge"))
        for how, sig in (("kill9", signal.SIGKILL), ("term", signal.SIGTERM))
        for phase in ("ringing", "claim", "bridge", "wrapup", "callback")
    ),
    Scenario("pg-stop", pg_fault, quick=True),
    Scenario("asterisk-restart", asterisk_fault),
    Scenario("stall", stall_fault, quick=True),
    Scenario("spool-full", spool_full_fault, quick=True),
    # The standby's takeover: an active/standby pair (testbed/standby.py) for this round.
    Scenario("takeover", takeover_fault),
]


async def run_round(scene: Scene, scenario: Scenario) -> tuple[Round, Checked | None]:
    rnd = Round(scenario.name, since=len(scene.probe.events))
    await scene.login_agents()
    began = time.monotonic()
    try:
        await scenario.run(scene, rnd)
    except Exception as exc:
        rnd.note += f" fault run failed: {exc!r};"
    for task in list(scene_tasks):
        with contextlib.suppress(Exception):
            await task
        scene_tasks.discard(task)
    if rnd.skipped and not rnd.callers:
        return rnd, None
    if scene.daemon.proc is None or scene.daemon.proc.poll() is not None:
        rnd.note += " ccqueue was not running after the fault: started again;"
        scene.daemon.proc = None
        await asyncio.to_thread(scene.daemon.start, 30.0)
    await scene.settle(rnd)
    checked = await scene.check(rnd)
    print(f"  [{scenario.name}] round took {time.monotonic() - began:.1f} s", flush=True)
    return rnd, checked


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


async def measure(scene_parts: dict[str, Any], scenarios: list[Scenario], seed: int) -> list[tuple[Round, Checked | None]]:
    async with Probe(scene_parts["ports"].ami) as probe:
        scene = Scene(
            sandbox=scene_parts["sandbox"],
            pg=scene_parts["pg"],
            daemon=scene_parts["daemon"],
            probe=probe,
            rng=random.Random(seed),
        )
        scene.filler = scene_parts["filler"]
        scene.ports, scene.work, scene.pair_config = scene_parts["ports"], scene_parts["work"], scene_parts["pair_config"]
        results = []
        scene_parts["events"] = probe.events
        scene_parts["pair_logs"] = scene.pair_logs
        for scenario in scenarios:
            print(f"fault {scenario.name}:", flush=True)
            rnd, checked = await run_round(scene, scenario)
            results.append((rnd, checked))
            report_round(rnd, checked)
        return results


def report_round(rnd: Round, c: Checked | None) -> None:
    if c is None:
        print(f"  [{rnd.fault}] skipped: {rnd.skipped}{rnd.note}", flush=True)
        return
    rec = f"{rnd.recovery_s:.2f} s" if rnd.recovery_s is not None else "NOT recovered"
    print(
        f"  [{rnd.fault}] calls {c.calls}, rows {c.rows}, lost {c.lost}, doubled {c.doubled}, open {c.open_rows}, "
        f"false outcomes {c.false_outcomes}, broken timelines {c.broken_timelines}, bridged twice {c.bridged_twice}, "
        f"callbacks dialled twice {c.dialled_twice}, never placed {c.never_placed}; waiting at the fault {c.waiting}: kept {c.kept}, dropped {c.dropped}"
        f"{' (Asterisk restarted: expected)' if rnd.expected_drops else ''}; recovery {rec}",
        flush=True,
    )
    if rnd.skipped:
        print(f"    skipped the fault: {rnd.skipped}")
    if rnd.note.strip():
        print(f"    note:{rnd.note}")
    for problem in c.problems[:12]:
        print(f"    problem: {problem}")


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fault", action="append", default=[], help="run this fault (repeatable; see --list)")
    parser.add_argument(
        "--quick", action="store_true", help="only the quick set: " + ", ".join(s.name for s in SCENARIOS if s.quick)
    )
    parser.add_argument("--list", action="store_true", help="name the faults and exit")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (config, ccqueue log)")
    args = parser.parse_args()
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name}{'  (quick)' if s.quick else ''}")
        return 0
    names = {s.name for s in SCENARIOS}
    unknown = [f for f in args.fault if f not in names]
    if unknown:
        parser.error(f"unknown fault(s) {', '.join(unknown)}; --list names them")
    chosen = [s for s in SCENARIOS if (s.name in args.fault if args.fault else (s.quick or not args.quick))]
    if os.geteuid() != 0:
        print("faults: needs root (the Asterisk sandbox uses chroot)", file=sys.stderr)
        return 2
    bindir = find_bindir()
    if bindir is None:
        print("faults: PostgreSQL server binaries not found (set PG_BINDIR)", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    signal.signal(signal.SIGTERM, _interrupt)
    began = time.monotonic()
    base = free_block(10, last=29000)
    rtp = free_block(200, last=29000)
    ports = Ports(
        ami=base, sip=base + 1, agi=base + 2, http=base + 3, rtp=(rtp, rtp + 199), standby_agi=base + 4, standby_http=base + 5
    )
    work = Path(tempfile.mkdtemp(prefix="ccqueue-faults-"))
    config = work / "config"
    write_config(config, ports)
    write_pair_config(config, work / "config-pair")
    pg = PgServer(bindir, Path(tempfile.mkdtemp(prefix="ccqueue-faults-pg-")))
    sandbox = AsteriskSandbox(
        f"{INSTANCE}-{os.getpid()}", config, ami_port=ports.ami, sip_port=ports.sip, agi_port=ports.agi, rtp_ports=ports.rtp
    )
    spool_fs = work / "spoolfs"
    spool_fs.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SPOOL_FS_BYTES},mode=0700", "tmpfs", str(spool_fs)], capture_output=True, text=True
    )
    filler = spool_fs / "filler" if mounted.returncode == 0 else None
    daemon = Daemon(config, "", ports.http, work, spool_fs / "spool")
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: None if args.keep else shutil.rmtree(work, ignore_errors=True))
        if mounted.returncode == 0:
            stack.callback(lambda: subprocess.run(["umount", "-l", str(spool_fs)], check=False))
        stack.callback(pg.remove)
        pg.init()
        pg.start()
        daemon.dsn = pg.create_database("faults")
        subprocess.run(
            [sys.executable, "-m", "ccqueue.cli", "migrate", "--dsn", daemon.dsn], cwd=REPO, check=True, capture_output=True
        )
        sandbox.build()
        paths = sandbox.configure()
        etc = Path(paths["ETC"])
        add_fault_files(etc)
        writetimeout = manager_writetimeout_ms(etc)
        stack.callback(sandbox.destroy)
        stack.callback(sandbox.stop)
        sandbox.start()
        stack.callback(daemon.stop)
        daemon.start(timeout=30)
        print(
            f"scene: 3 Local-channel agents, {CALLERS_PER_ROUND} callers per fault (+1 placed at each fault's end), "
            f"wrap-up {WRAPUP_S} s; Asterisk's AMI writetimeout {writetimeout} ms; spool on "
            f"{'a ' + str(SPOOL_FS_BYTES // 1024) + ' KiB tmpfs' if filler else 'the work folder (mount refused: ' + mounted.stderr.strip() + ')'}; "
            f"seed {seed}; ready after {time.monotonic() - began:.1f} s",
            flush=True,
        )
        parts: dict[str, Any] = {
            "ports": ports,
            "sandbox": sandbox,
            "pg": pg,
            "daemon": daemon,
            "filler": filler,
            "work": work,
            "pair_config": work / "config-pair",
        }
        results = asyncio.run(measure(parts, chosen, seed))
        log = daemon.log_text()
        pair_logs = "".join(parts.get("pair_logs", []))
        if args.keep:
            with open(work / "events.jsonl", "w") as fh:
                fh.writelines(json.dumps(e) + "\n" for e in parts["events"])
            print(f"work folder kept: {work}")

    checked = [(r, c) for r, c in results if c is not None]
    recoveries = [r.recovery_s for r, c in checked if r.recovery_s is not None and r.fault != "takeover"]
    not_recovered = [r.fault for r, c in checked if r.recovery_s is None and not r.skipped]
    takeover = next((r for r, _ in results if r.fault == "takeover"), None)
    figures: dict[str, Any] = {
        "faults": len(results),
        "calls": sum(c.calls for _, c in checked),
        "rows": sum(c.rows for _, c in checked),
        "never_placed": sum(c.never_placed for _, c in checked),
        "lost": sum(c.lost for _, c in checked),
        "doubled": sum(c.doubled for _, c in checked),
        "open_rows": sum(c.open_rows for _, c in checked),
        "false_outcomes": sum(c.false_outcomes for _, c in checked),
        "broken_timelines": sum(c.broken_timelines for _, c in checked),
        "bridged_twice": sum(c.bridged_twice for _, c in checked),
        "dialled_twice": sum(c.dialled_twice for _, c in checked),
        "callers_waiting_at_faults": sum(c.waiting for r, c in checked if not r.expected_drops),
        "callers_kept": sum(c.kept for r, c in checked if not r.expected_drops),
        "callers_dropped": sum(c.dropped for r, c in checked if not r.expected_drops),
        "callers_dropped_by_asterisk_restart": sum(c.dropped for r, c in checked if r.expected_drops),
        "recovery_p50_s": round(percentile(recoveries, 0.5), 3) if recoveries else None,
        "recovery_p99_s": round(percentile(recoveries, 0.99), 3) if recoveries else None,
        "not_recovered": not_recovered,
        "takeover_s": takeover.takeover["takeover_s"] if takeover is not None and takeover.takeover else None,
        # the killed active, started again, stayed standby (null: no takeover measured)
        "takeover_old_active_fenced": takeover.takeover.get("old_active_fenced")
        if takeover is not None and takeover.takeover
        else None,
        "tracebacks_logged": log.count("Traceback") + pair_logs.count("Traceback"),
        "seed": seed,
        "bench_s": round(time.monotonic() - began, 1),
    }
    for line in log.splitlines():
        if "Traceback" in line:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                print(f"ccqueue logged a traceback: {entry.get('event')} ({entry.get('level')}) at {entry.get('timestamp')}")
    if pair_logs.count("Traceback"):
        print("a member of the takeover round's pair logged a traceback (--keep keeps member-*.log)")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("faults: interrupted; what it had started is stopped", file=sys.stderr)
        sys.exit(130)
