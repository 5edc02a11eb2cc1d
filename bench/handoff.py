"""How long agents sit idle between calls while callers wait: ccqueue against app_queue.

Run from the repository root, as root: ``python bench/handoff.py``. The lines printed say
what is measured; the last line is one JSON object with the figures. About 100 s.

The scene, played by ccqueue and by Asterisk's own ``app_queue`` (the baseline) in turn,
in one Asterisk 22 sandbox instance (``bench``, on ports of its own), in two rounds whose
order alternates:

- ten agents ``b1`` .. ``b10``, each a Local channel into ``[bench-agent]``, which
  answers at once (``Answer(,i)``: no wait for media), talks and hangs up; a call lasts
  2.5 to 3.5 s at random, 3 s on average;
- a backlog of 60 callers, placed at once (``Local/300@...`` with the caller's side in
  ``[ccqueue-test-caller]``, extension ``wait``).

Why the talk time is spread: app_queue looks at its waiting callers once a second. With
every call lasting exactly 3 s and every caller entering together, the ends of calls
stay locked in phase with those rechecks, and app_queue's gaps come out all near 0 or
all near 1 s depending on sub-millisecond ordering (seen: a median of 37 ms in one run,
0.5 s or 1 s in others). Calls of varying length end at random phases, as real calls
do. ``--talk-spread-s 0`` plays the strict scene.

ccqueue runs as ``ccqueue run`` with a throwaway PostgreSQL; its queue has no wrap-up
and no missed-call cooldown, and its agents dial ``Local/bN@bench-agent``. The baseline
is the queue ``benchq`` (strategy ``leastrecent``, ``wrapuptime=0``, ``retry=1`` — the
smallest retry app_queue takes —, ``ringinuse=no``, ``autofill=yes``) with the same ten
Local members, entered through ``[bench-appqueue]``. Both contexts and the queue are
written into the instance's own copy of the configuration after ``sandbox.sh
configure``; the project's dialplan and queues.conf stay as they are.

What is measured, from a separate AMI login's events and their ``Timestamp`` headers:
an agent's *call* runs from the answer of its ``Local/bN@bench-agent-…;2`` leg to that
leg's hang-up; a *gap* is the next call's start minus the previous call's end, for the
same agent, counted while callers were still waiting (the previous call ended before
the last caller's call began). The gap up to the next *bridge* (the agent's ``;1`` leg
entering the bridge with a caller) is given too: with ccqueue the agent leg is answered
before it claims its caller, so that figure includes the claim.

Each counted handoff is split into its steps: the agent leg's ``;2`` hangs up → its
``;1`` (the channel ccqueue watches) hangs up → ccqueue decides and logs
``agent_offered`` (ccqueue only, from its JSON log) → the next ``;1`` exists
(Newchannel) → the ``;2`` answers → the ``;1`` starts the claim AGI → it reaches
``Bridge()`` → BridgeEnter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from testbed import benchbox  # the path above makes a checkout importable
from testbed.benchbox import APP_QUEUE, HOTLINE, INSTANCE, BenchDaemon, Seen, cpu_seconds, settle, spent
from testbed.sandbox import AsteriskSandbox

RING_TIMEOUT_S = 10
RUN_DEADLINE_S = 100.0
TARGET_MEDIAN_RATIO = 0.1
TARGET_P90_RATIO = 0.2

AGENT_LEG = re.compile(r"^Local/(?P<agent>b\d+)@bench-agent-(?P<seq>[0-9a-f]+);(?P<half>[12])$")
CALLER_LEG = re.compile(r"^Local/\d+@(?:hotline|bench-appqueue)-[0-9a-f]+;2$")
KEPT_EVENTS = frozenset(
    {
        "newchannel",
        "newstate",
        "hangup",
        "bridgeenter",
        "bridgeleave",
        "newexten",
        "devicestatechange",
        "queuecallerjoin",
        "queuecallerleave",
        "agentcalled",
        "agentconnect",
        "agentringnoanswer",
    }
)
KEPT_HEADERS = (
    "Event",
    "Channel",
    "Uniqueid",
    "ChannelState",
    "Application",
    "AppData",
    "Context",
    "BridgeUniqueid",
    "Device",
    "State",
    "Queue",
    "Cause",
)


# ---- events -----------------------------------------------------------------------------


class Recorder(benchbox.Recorder):
    """The bench's AMI login, also following which agent legs are live and how many
    callers were bridged (``wait_served`` polls them)."""

    def __init__(self) -> None:
        super().__init__(KEPT_EVENTS, KEPT_HEADERS, watch=self._follow)
        self.live_agent_legs: set[str] = set()
        self.callers_bridged = 0

    def _follow(self, seen: Seen) -> None:
        channel = seen.h["Channel"]
        if seen.name == "newchannel" and AGENT_LEG.match(channel):
            self.live_agent_legs.add(channel)
        elif seen.name == "hangup":
            self.live_agent_legs.discard(channel)
        elif seen.name == "bridgeenter" and CALLER_LEG.match(channel):
            self.callers_bridged += 1


@dataclass
class Logged:
    """Moments from ccqueue's own log, by offer id (the agent leg's uniqueid)."""

    offered: dict[str, float] = field(default_factory=dict)
    granted: dict[str, float] = field(default_factory=dict)

    def update(self, other: Logged) -> None:
        self.offered.update(other.offered)
        self.granted.update(other.granted)


# ---- the ccqueue daemon -------------------------------------------------------------------


class Daemon(BenchDaemon):
    """``ccqueue run`` for the bench; ``offers_logged`` reads its JSON log."""

    def offers_logged(self) -> Logged:
        """When the engine offered each call (``agent_offered``) and granted its claim (``claim_answered``)."""
        found = Logged()
        if not self.log_path.exists():
            return found
        for line in self.log_path.read_text(errors="replace").splitlines():
            if '"agent_offered"' not in line and '"claim_answered"' not in line:
                continue
            with contextlib.suppress(ValueError, KeyError, TypeError):
                entry = json.loads(line)
                at = datetime.fromisoformat(entry["timestamp"]).timestamp()
                into = found.offered if entry["event"] == "agent_offered" else found.granted
                into[entry["offer_id"]] = at
        return found


# ---- one run ------------------------------------------------------------------------------


@dataclass
class Run:
    system: str  # "ccqueue" or "app_queue"
    started: float = 0.0
    ended: float = 0.0
    placed: int = 0
    originate_failures: int = 0
    complete: bool = False
    offers: Logged = field(default_factory=Logged)
    ami_events: int = 0  # every AMI event Asterisk sent during the run
    ami_top: list[tuple[str, int]] = field(default_factory=list)  # the commonest kinds
    cpu_s: float | None = None  # the ccqueue daemon's CPU time during the run
    asterisk_cpu_s: float | None = None


async def place_callers(recorder: Recorder, *, context: str, callers: int, tag: str) -> int:
    """Originate every caller at once; returns how many Asterisk refused."""

    async def one(n: int) -> bool:
        uid = f"bench-{tag}-{n:03d}"
        response = await recorder.client.send(
            {
                "Action": "Originate",
                "Channel": f"Local/{HOTLINE}@{context}",
                "Context": "ccqueue-test-caller",
                "Exten": "wait",
                "Priority": "1",
                "CallerID": f'"Caller {n}" <+1555{n:07d}>',
                "ChannelId": uid,
                "OtherChannelId": f"{uid}-q",
                "Async": "true",
                "Timeout": "30000",
            },
            timeout=40,
        )
        messages = response if isinstance(response, list) else [response]
        return any((m.get("Response") or "") == "Success" for m in messages)

    results = await asyncio.gather(*(one(n) for n in range(1, callers + 1)), return_exceptions=True)
    return sum(1 for r in results if r is not True)


async def wait_served(recorder: Recorder, run: Run, callers: int, since: int) -> None:
    deadline = time.monotonic() + RUN_DEADLINE_S
    while time.monotonic() < deadline:
        bridged = recorder.callers_bridged - since
        if bridged >= callers and not recorder.live_agent_legs:
            run.complete = True
            return
        await asyncio.sleep(0.2)


async def run_ccqueue(recorder: Recorder, sandbox: AsteriskSandbox, daemon: Daemon, args: argparse.Namespace, tag: str) -> Run:
    run = Run("ccqueue")
    await asyncio.to_thread(daemon.start)
    try:
        await asyncio.to_thread(daemon.login, [f"b{n}" for n in range(1, args.agents + 1)])
        await asyncio.sleep(0.5)  # device states settle
        since, events_before, kinds_before = recorder.callers_bridged, recorder.total, recorder.by_name.copy()
        pid = daemon.proc.pid if daemon.proc else None
        cpu_before, ast_before = cpu_seconds(pid), cpu_seconds(args.asterisk_pid)
        run.started = time.time()
        run.originate_failures = await place_callers(recorder, context="hotline", callers=args.callers, tag=tag)
        run.placed = args.callers - run.originate_failures
        await wait_served(recorder, run, run.placed, since)
        run.ended = time.time()
        run.ami_events = recorder.total - events_before
        run.ami_top = (recorder.by_name - kinds_before).most_common(5)
        run.cpu_s = spent(cpu_before, cpu_seconds(pid))
        run.asterisk_cpu_s = spent(ast_before, cpu_seconds(args.asterisk_pid))
    finally:
        await asyncio.to_thread(daemon.stop)
        run.offers = daemon.offers_logged()
        await settle(sandbox)
    return run


async def run_app_queue(recorder: Recorder, sandbox: AsteriskSandbox, args: argparse.Namespace, tag: str) -> Run:
    run = Run("app_queue")
    shown = await asyncio.to_thread(sandbox.rx, f"queue show {APP_QUEUE}")
    if shown.count("Local/b") < args.agents:
        raise RuntimeError(f"app_queue does not list the bench's members:\n{shown}")
    since, events_before, kinds_before = recorder.callers_bridged, recorder.total, recorder.by_name.copy()
    ast_before = cpu_seconds(args.asterisk_pid)
    run.started = time.time()
    run.originate_failures = await place_callers(recorder, context="bench-appqueue", callers=args.callers, tag=tag)
    run.placed = args.callers - run.originate_failures
    try:
        await wait_served(recorder, run, run.placed, since)
        run.ended = time.time()
        run.ami_events = recorder.total - events_before
        run.ami_top = (recorder.by_name - kinds_before).most_common(5)
        run.asterisk_cpu_s = spent(ast_before, cpu_seconds(args.asterisk_pid))
    finally:
        await settle(sandbox)
    return run


# ---- analysis -------------------------------------------------------------------------------


@dataclass
class Leg:
    """One Local channel pair to an agent: one offer (ccqueue) or one ring (app_queue)."""

    agent: str
    uniqueid1: str = ""
    new1: float | None = None
    up2: float | None = None
    hangup2: float | None = None
    hangup1: float | None = None
    bridge1: float | None = None
    agi1: float | None = None
    bridge_app1: float | None = None
    lost: bool = False


def legs_of(events: list[Seen], start: float, end: float) -> list[Leg]:
    legs: dict[str, Leg] = {}
    for e in events:
        if not start <= e.at <= end:
            continue
        m = AGENT_LEG.match(e.h["Channel"])
        if m is None:
            continue
        key = f"{m['agent']}-{m['seq']}"
        leg = legs.setdefault(key, Leg(agent=m["agent"]))
        first = m["half"] == "1"
        if e.name == "newchannel" and first:
            leg.new1, leg.uniqueid1 = e.at, e.h["Uniqueid"]
        elif e.name == "newstate" and not first and e.h["ChannelState"] == "6" and leg.up2 is None:
            leg.up2 = e.at
        elif e.name == "hangup":
            if first:
                leg.hangup1 = e.at
            else:
                leg.hangup2 = e.at
        elif e.name == "bridgeenter" and first and leg.bridge1 is None:
            leg.bridge1 = e.at
        elif e.name == "newexten" and first and e.h["Context"] == "ccqueue-agent":
            app = e.h["Application"].lower()
            if app == "agi" and leg.agi1 is None:
                leg.agi1 = e.at
            elif app == "bridge" and leg.bridge_app1 is None:
                leg.bridge_app1 = e.at
            elif app == "playback":
                leg.lost = True
    return list(legs.values())


def percentile(values: list[float], share: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = share * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class Handoff:
    prev: Leg
    next: Leg

    @property
    def gap(self) -> float:
        assert self.next.up2 is not None and self.prev.hangup2 is not None
        return self.next.up2 - self.prev.hangup2


@dataclass
class Result:
    system: str
    calls: int = 0
    unanswered_legs: int = 0
    lost_claims: int = 0
    agents_used: int = 0
    handoffs: list[Handoff] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    bridge_gaps: list[float] = field(default_factory=list)
    open_idle: list[float] = field(default_factory=list)  # idle with no next call before the last one began
    span_s: float = 0.0
    device_events: int = 0


def analyse(run: Run, events: list[Seen]) -> Result:
    legs = legs_of(events, run.started, run.ended + 1.0)
    res = Result(run.system)
    calls = [leg for leg in legs if leg.up2 is not None and leg.hangup2 is not None]
    res.calls = len(calls)
    res.unanswered_legs = sum(1 for leg in legs if leg.up2 is None)
    res.lost_claims = sum(1 for leg in legs if leg.lost)
    res.device_events = sum(
        1
        for e in events
        if e.name == "devicestatechange" and run.started <= e.at <= run.ended and e.h["Device"].startswith("Local/b")
    )
    if not calls:
        return res
    last_start = max(leg.up2 for leg in calls if leg.up2 is not None)
    res.span_s = max(leg.hangup2 for leg in calls if leg.hangup2 is not None) - min(
        leg.up2 for leg in calls if leg.up2 is not None
    )
    by_agent: dict[str, list[Leg]] = {}
    for leg in calls:
        by_agent.setdefault(leg.agent, []).append(leg)
    res.agents_used = len(by_agent)
    for agent_calls in by_agent.values():
        agent_calls.sort(key=lambda leg: leg.up2 or 0.0)
        for prev, nxt in itertools.pairwise(agent_calls):
            assert prev.hangup2 is not None
            if prev.hangup2 >= last_start:
                continue
            handoff = Handoff(prev, nxt)
            res.handoffs.append(handoff)
            res.gaps.append(handoff.gap)
            if nxt.bridge1 is not None:
                res.bridge_gaps.append(nxt.bridge1 - prev.hangup2)
        final = agent_calls[-1]
        if final.hangup2 is not None and final.hangup2 < last_start:
            res.open_idle.append(last_start - final.hangup2)
    return res


def segments(result: Result, logged: Logged) -> list[tuple[str, list[float]]]:
    """Each counted handoff split into its steps (only steps seen for every handoff are kept)."""
    steps: dict[str, list[float]] = {}

    def add(name: str, a: float | None, b: float | None) -> None:
        if a is not None and b is not None:
            steps.setdefault(name, []).append(b - a)

    for h in result.handoffs:
        p, n = h.prev, h.next
        add("agent ;2 hangup -> its ;1 hangup", p.hangup2, p.hangup1)
        offered, granted = logged.offered.get(n.uniqueid1), logged.granted.get(n.uniqueid1)
        if offered is not None:
            add(";1 hangup -> ccqueue agent_offered", p.hangup1, offered)
            add("agent_offered -> next ;1 Newchannel", offered, n.new1)
        else:
            add(";1 hangup -> next ;1 Newchannel", p.hangup1, n.new1)
        add("Newchannel -> ;2 answered", n.new1, n.up2)
        if n.agi1 is not None:
            add(";2 answered -> claim AGI starts", n.up2, n.agi1)
            if granted is not None:
                add("claim AGI -> ccqueue grants it", n.agi1, granted)
                add("grant -> Bridge() starts", granted, n.bridge_app1)
            else:
                add("claim AGI -> Bridge() starts", n.agi1, n.bridge_app1)
            add("Bridge() -> BridgeEnter", n.bridge_app1, n.bridge1)
        else:
            add(";2 answered -> BridgeEnter", n.up2, n.bridge1)
        add("= gap to next answer", p.hangup2, n.up2)
        add("= gap to next bridge", p.hangup2, n.bridge1)
    count = len(result.handoffs)
    return [(name, values) for name, values in steps.items() if len(values) == count]


def fmt(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"median {statistics.median(values) * 1000:7.1f} ms, p90 {percentile(values, 0.9) * 1000:7.1f} ms, "
        f"max {max(values) * 1000:7.1f} ms"
    )


def print_timeline(result: Result, logged: Logged) -> None:
    """One handoff, step by step: the one with the median gap."""
    if not result.handoffs:
        return
    ordered = sorted(result.handoffs, key=lambda h: h.gap)
    h = ordered[len(ordered) // 2]
    p, n = h.prev, h.next
    t0 = p.hangup2 or 0.0
    marks = [
        ("agent ;2 leg hangs up (call ends)", p.hangup2),
        ("agent ;1 leg hangs up", p.hangup1),
        ("ccqueue logs agent_offered", logged.offered.get(n.uniqueid1)),
        (f"next ;1 Newchannel ({n.uniqueid1})", n.new1),
        ("next ;2 answered (call starts)", n.up2),
        ("claim AGI starts", n.agi1),
        ("ccqueue grants the claim (claim_answered)", logged.granted.get(n.uniqueid1)),
        ("Bridge() starts", n.bridge_app1),
        ("BridgeEnter (caller connected)", n.bridge1),
    ]
    print(f"  one {result.system} handoff of agent {p.agent} (the median gap):")
    for label, at in marks:
        if at is not None:
            print(f"    +{(at - t0) * 1000:7.1f} ms  {label}")


# ---- the bench ------------------------------------------------------------------------------


async def measure(sandbox: AsteriskSandbox, daemon: Daemon, args: argparse.Namespace) -> tuple[list[Run], Recorder]:
    runs: list[Run] = []
    async with Recorder() as recorder:
        await settle(sandbox)
        for round_no in range(args.rounds):
            order = ["ccqueue", "app_queue"] if (round_no % 2 == 0) == (args.first == "ccqueue") else ["app_queue", "ccqueue"]
            for system in order:
                tag = f"{system.replace('_', '')}{round_no}"
                began = time.monotonic()
                if system == "ccqueue":
                    run = await run_ccqueue(recorder, sandbox, daemon, args, tag)
                else:
                    run = await run_app_queue(recorder, sandbox, args, tag)
                runs.append(run)
                state = "all served" if run.complete else f"NOT all served within {RUN_DEADLINE_S:.0f} s"
                cpu = "" if run.cpu_s is None else f", ccqueue used {run.cpu_s:.1f} s CPU"
                ast = "" if run.asterisk_cpu_s is None else f", Asterisk {run.asterisk_cpu_s:.1f} s CPU"
                print(
                    f"run {round_no + 1} {system}: {run.placed} callers placed, {state} in "
                    f"{run.ended - run.started:.1f} s ({time.monotonic() - began:.1f} s with set-up){cpu}{ast}; "
                    f"{run.ami_events} AMI events ({', '.join(f'{k} {n}' for k, n in run.ami_top)}, ...)",
                    flush=True,
                )
        if recorder.unstamped:
            print(f"note: {recorder.unstamped} events had no Timestamp header; their arrival time was used")
    return runs, recorder


def merge(results: list[Result]) -> Result:
    out = Result(results[0].system)
    for r in results:
        out.calls += r.calls
        out.unanswered_legs += r.unanswered_legs
        out.lost_claims += r.lost_claims
        out.agents_used = max(out.agents_used, r.agents_used)
        out.handoffs += r.handoffs
        out.gaps += r.gaps
        out.bridge_gaps += r.bridge_gaps
        out.open_idle += r.open_idle
        out.span_s += r.span_s
        out.device_events += r.device_events
    return out


def _per_call(values: list[float | None], calls: int) -> float | None:
    if not calls or any(v is None for v in values):
        return None
    return round(sum(v for v in values if v is not None) / calls, 4)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--callers", type=int, default=60)
    parser.add_argument("--talk-s", type=float, default=3.0)
    parser.add_argument(
        "--talk-spread-s",
        type=float,
        default=1.0,
        help="each call lasts --talk-s +- half this, at random (0: every call lasts exactly --talk-s)",
    )
    parser.add_argument(
        "--app-queue-retry",
        type=int,
        default=1,
        help="app_queue's 'retry' (s); 1 is the smallest it accepts (0 means its default, 5)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="each round runs both systems (order alternates)")
    parser.add_argument("--first", choices=("ccqueue", "app_queue"), default="ccqueue")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (config, ccqueue log, the AMI events as events.jsonl)"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("handoff: needs root (the Asterisk sandbox uses chroot)", file=sys.stderr)
        return 2
    if not 1 <= args.agents <= 99 or args.callers < 1 or args.rounds < 1:
        parser.error("agents 1..99, callers and rounds at least 1")
    if not 0 <= args.talk_spread_s < 2 * args.talk_s:
        parser.error("--talk-spread-s must be at least 0 and less than twice --talk-s")
    # The bench's own AMI login reports only errors (its connect and its close are expected).
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    # SIGTERM unwinds like Ctrl-C, so everything started below is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    began = time.monotonic()
    if benchbox.find_bindir() is None:
        print("handoff: PostgreSQL server binaries not found (set PG_BINDIR)", file=sys.stderr)
        return 2
    with benchbox.open_box(
        "handoff",
        write_config=lambda folder: benchbox.write_ccqueue_config(folder, args.agents, ring_timeout_s=RING_TIMEOUT_S),
        dialplan=benchbox.bench_dialplan(args.talk_s, args.talk_spread_s),
        queue=benchbox.bench_queue(args.agents, ring_timeout_s=RING_TIMEOUT_S, retry_s=args.app_queue_retry),
        keep=args.keep,
        daemon_type=Daemon,
    ) as opened:
        sandbox, work, daemon = opened.sandbox, opened.work, opened.daemon
        assert isinstance(daemon, Daemon)
        args.asterisk_pid = opened.asterisk_pid  # for its CPU time per run
        talk = (
            f"{args.talk_s:g} s"
            if args.talk_spread_s <= 0
            else (f"{args.talk_s - args.talk_spread_s / 2:g}..{args.talk_s + args.talk_spread_s / 2:g} s")
        )
        print(
            f"scene: {args.agents} agents (Local channels, answering at once, talking {talk}), a backlog of "
            f"{args.callers} callers, {args.rounds} round(s); app_queue retry={args.app_queue_retry}; "
            f"Asterisk instance '{INSTANCE}' ready after {time.monotonic() - began:.1f} s",
            flush=True,
        )
        runs, recorder = asyncio.run(measure(sandbox, daemon, args))
        events = recorder.events
        if args.keep:
            with open(work / "events.jsonl", "w") as fh:
                fh.writelines(
                    json.dumps({"at": e.at, "event": e.name, **{k: v for k, v in e.h.items() if v}}) + "\n" for e in events
                )
            print(f"work folder kept: {work}; Asterisk log: {sandbox.log_path}")

    by_system: dict[str, list[Result]] = {"ccqueue": [], "app_queue": []}
    logged = Logged()
    for run in runs:
        by_system[run.system].append(analyse(run, events))
        logged.update(run.offers)
    cq, aq = merge(by_system["ccqueue"]), merge(by_system["app_queue"])
    expected = args.callers * args.rounds
    print()
    print("An agent's idle time between calls while callers wait (next answer - previous hang-up):")
    for r in (cq, aq):
        print(f"  {r.system:>9}: {len(r.gaps):3d} gaps, {fmt(r.gaps)}")
    print("The same, up to the agent being bridged with its next caller:")
    for r in (cq, aq):
        print(f"  {r.system:>9}: {len(r.bridge_gaps):3d} gaps, {fmt(r.bridge_gaps)}")
    for r in (cq, aq):
        print(
            f"  {r.system:>9}: {r.calls}/{expected} calls answered by {r.agents_used} agents in {r.span_s:.1f} s "
            f"(first answer to last hang-up); {r.unanswered_legs} unanswered agent legs, {r.lost_claims} lost claims; "
            f"{len(r.open_idle)} agents idle at the end with no next call ({fmt(r.open_idle)})"
        )
    for r in (cq, aq):
        print(f"{r.system} handoff, step by step:")
        for name, values in segments(r, logged if r.system == "ccqueue" else Logged()):
            print(f"  {name:<38} {fmt(values)}")
        print_timeline(r, logged if r.system == "ccqueue" else Logged())

    def med(values: list[float]) -> float | None:
        return round(statistics.median(values), 4) if values else None

    def p90(values: list[float]) -> float | None:
        return round(percentile(values, 0.9), 4) if values else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 4) if a is not None and b else None

    figures: dict[str, Any] = {
        "agents": args.agents,
        "callers": args.callers,
        "talk_s": args.talk_s,
        "talk_spread_s": args.talk_spread_s,
        "app_queue_retry_s": args.app_queue_retry,
        "rounds": args.rounds,
        "ccqueue_gap_median_s": med(cq.gaps),
        "ccqueue_gap_p90_s": p90(cq.gaps),
        "app_queue_gap_median_s": med(aq.gaps),
        "app_queue_gap_p90_s": p90(aq.gaps),
        "gap_median_ratio": ratio(med(cq.gaps), med(aq.gaps)),
        "gap_p90_ratio": ratio(p90(cq.gaps), p90(aq.gaps)),
        "ccqueue_bridge_gap_median_s": med(cq.bridge_gaps),
        "ccqueue_bridge_gap_p90_s": p90(cq.bridge_gaps),
        "app_queue_bridge_gap_median_s": med(aq.bridge_gaps),
        "app_queue_bridge_gap_p90_s": p90(aq.bridge_gaps),
        "bridge_gap_median_ratio": ratio(med(cq.bridge_gaps), med(aq.bridge_gaps)),
        "bridge_gap_p90_ratio": ratio(p90(cq.bridge_gaps), p90(aq.bridge_gaps)),
        "ccqueue_gaps": len(cq.gaps),
        "app_queue_gaps": len(aq.gaps),
        "ccqueue_calls": cq.calls,
        "app_queue_calls": aq.calls,
        "ccqueue_lost_claims": cq.lost_claims,
        "ccqueue_span_s": round(cq.span_s, 2),
        "app_queue_span_s": round(aq.span_s, 2),
        "ccqueue_cpu_s_per_call": _per_call([r.cpu_s for r in runs if r.system == "ccqueue"], cq.calls),
        "ccqueue_ami_events_per_call": _per_call([r.ami_events for r in runs if r.system == "ccqueue"], cq.calls),
        "all_served": all(run.complete for run in runs),
    }
    mr, pr = figures["gap_median_ratio"], figures["gap_p90_ratio"]
    figures["target_met"] = bool(
        mr is not None and pr is not None and mr <= TARGET_MEDIAN_RATIO and pr <= TARGET_P90_RATIO and figures["all_served"]
    )
    figures["bench_s"] = round(time.monotonic() - began, 1)
    print(
        f"ratios ccqueue/app_queue: median {mr}, p90 {pr} (target <= {TARGET_MEDIAN_RATIO}, <= {TARGET_P90_RATIO}): "
        f"{'met' if figures['target_met'] else 'NOT met'}; bench ran {figures['bench_s']} s"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("handoff: interrupted; what it had started is stopped", file=sys.stderr)
        sys.exit(130)
