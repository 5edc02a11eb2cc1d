"""How many calls a second one box carries: ccqueue against app_queue, and past it.

Run from the repository root, as root: ``python bench/capacity.py`` (about 4-8 minutes;
``--quick`` about 3). The lines printed say what is measured; the last line is one JSON
object with the figures.

One Asterisk 22 sandbox instance (``testbed.benchbox``), where ccqueue (``ccqueue run``
with a throwaway PostgreSQL) and Asterisk's own ``app_queue`` serve the same agents in
turn: Local channels into ``[bench-agent]`` that answer at once and talk a short while
(0.5 s by default). At each rate of a ladder, each system is offered callers at that
rate for ``--seconds``: each caller is an AMI Originate of ``Local/300@<hotline>``
whose own side waits in ``[bench-caller]`` at most ``--patience-s`` and then hangs up
(a caller who gives up). The order of the two systems alternates from rate to rate; the
ccqueue daemon runs only during its own turns. A system that fails a rate is not offered
the higher ones: past its highest rate it only fails worse, and a saturated Asterisk
takes long to recover, which would spoil the other system's next turn.

Each caller ends one way, read from AMI events on its hotline leg:

- *completed*: the hotline leg entered a bridge (an agent answered it);
- *refused*: it was turned away at the door with the queue-full message
  (``ccqueue/queue-full``) and never reached an agent: for ccqueue, its call recorded
  ``refused`` in PostgreSQL (ccqueue records it as the session sends the message; the
  message itself is checked end to end by ``tests/e2e/test_overload.py``); for the
  baseline, the ``UserEvent`` its dialplan sends before that ``Playback`` when
  ``Queue()`` said ``FULL``. Neither is read from AGI events: a login to the ``agi``
  class would make Asterisk format a dozen events per ccqueue call for the bench alone;
- *failed*: everything else — Asterisk refused the Originate, the caller gave up
  unanswered, was hung up on, or heard ccqueue's apology (``ccqueue/unavailable``: the
  FastAGI server could not be reached or refused the session).

A system *carries* a rate when less than 1 % of its callers failed. Goodput is completed
calls per second offered. CPU per call is the CPU time (``/proc/<pid>/stat``, user plus
system) Asterisk and the ccqueue daemon used during the turn, over its completed calls,
at the highest rate both carried (the same work for both). Past the highest rate ccqueue
carried, it is offered ``--overload`` (1.33) times that rate: its goodput there over its
goodput at the highest rate is the overload goodput ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import structlog

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from testbed import benchbox  # the path above makes a checkout importable
from testbed.benchbox import HOTLINE, INSTANCE, BenchDaemon, Recorder, Seen, cpu_seconds, settle, spent
from testbed.sandbox import AsteriskSandbox

RING_TIMEOUT_S = 5
TARGET_FAILED = 0.01
DEFAULT_RATES = (32, 64, 96, 128, 160, 192, 224)
QUICK_RATES = (64, 128, 192)
FULL_SOUND = "ccqueue/queue-full"
KEPT = frozenset({"bridgeenter", "hangup", "userevent"})
HEADERS = ("Event", "Uniqueid", "UserEvent")

CALLER_CONTEXT = """
; A bench caller: waits at most its patience, then gives up.
[bench-caller]
exten => wait,1,Answer()
 same => n,Wait(${BENCH_PATIENCE})
 same => n,Hangup()
"""
# The baseline marks the refusal it plays (its Playback runs in the dialplan, where no
# AGI event shows it): a UserEvent, in the same AMI class for both systems' turns.
FULL_MARK = " same => n(full),UserEvent(BenchRefused)\n same => n,Playback("


# ---- one turn ------------------------------------------------------------------------------


@dataclass
class Caller:
    bridged: bool = False
    refused: bool = False
    ended: bool = False
    originate_failed: bool = False


@dataclass
class Turn:
    system: str
    rate: float
    offered: int = 0
    callers: dict[str, Caller] = field(default_factory=dict)
    seconds: float = 0.0  # the time callers were offered over
    cpu_s: float | None = None  # Asterisk plus the ccqueue daemon
    asterisk_cpu_s: float | None = None
    daemon_cpu_s: float | None = None
    wall_s: float = 0.0
    max_backlog: float | None = None  # ccqueue's ccqueue_inbox_backlog, highest scraped
    max_lag_s: float | None = None  # ccqueue's ccqueue_loop_lag_seconds, highest scraped
    max_asterisk_lag_s: float | None = None  # ccqueue's ccqueue_asterisk_event_lag_seconds, highest scraped
    recorder_drops: int = 0  # the bench's own AMI login lost during the turn (events missed)

    @property
    def completed(self) -> int:
        return sum(1 for c in self.callers.values() if c.bridged)

    refused_recorded: int = 0  # ccqueue: calls recorded refused during the turn

    @property
    def refused(self) -> int:
        return self.refused_recorded + sum(1 for c in self.callers.values() if c.refused and not c.bridged)

    @property
    def failed(self) -> int:
        return self.offered - self.completed - self.refused

    @property
    def failed_share(self) -> float:
        return self.failed / self.offered if self.offered else 0.0

    @property
    def goodput(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def failures(self) -> dict[str, int]:
        """The failed callers by what was seen of them (the refused are not among them)."""
        unbridged = [c for c in self.callers.values() if not c.bridged and not c.refused]
        return {
            "not_placed": sum(1 for c in unbridged if c.originate_failed),
            # ccqueue's refused callers are counted from its records, not seen here.
            "hung_up_unanswered": max(0, sum(1 for c in unbridged if c.ended and not c.originate_failed) - self.refused_recorded),
            "still_there": sum(1 for c in unbridged if not c.ended and not c.originate_failed),
        }

    def cpu_ms_per_call(self) -> float | None:
        return None if self.cpu_s is None or not self.completed else round(self.cpu_s / self.completed * 1000, 2)

    def line(self) -> str:
        cpu = self.cpu_ms_per_call()
        return (
            f"{self.system:>9} @ {self.rate:5.1f}/s: offered {self.offered:5d}, completed {self.completed:5d}, "
            f"refused {self.refused:5d}, failed {self.failed:5d} ({self.failed_share * 100:5.1f} %), "
            f"goodput {self.goodput:6.1f}/s, CPU {'n/a' if cpu is None else f'{cpu:.1f} ms'}/call "
            f"(Asterisk {self.asterisk_cpu_s or 0:.1f} s, ccqueue {self.daemon_cpu_s or 0:.1f} s), {self.wall_s:.0f} s"
            + (
                ""
                if self.max_backlog is None
                else f"; ccqueue backlog max {self.max_backlog:.0f}, loop lag max {(self.max_lag_s or 0) * 1000:.0f} ms, "
                f"Asterisk's event lag max {(self.max_asterisk_lag_s or 0) * 1000:.0f} ms"
            )
        )


class Tracker:
    """Each caller's fate, from the events on its hotline leg (``<uid>-q``)."""

    def __init__(self) -> None:
        self.turn: Turn | None = None

    def see(self, seen: Seen) -> None:
        turn = self.turn
        if turn is None:
            return
        uid = seen.h["Uniqueid"]
        caller = turn.callers.get(uid[:-2]) if uid.endswith("-q") else None
        if caller is None:
            return
        match seen.name:
            case "bridgeenter":
                caller.bridged = True
            case "hangup":
                caller.ended = True
            case "userevent" if seen.h["UserEvent"].lower() == "benchrefused":
                caller.refused = True


async def offer(recorder: Recorder, turn: Turn, *, context: str, seconds: float, patience_s: float) -> None:
    """Originate callers at ``turn.rate`` for ``seconds``, on a fixed schedule (a late
    Originate does not delay the next)."""
    pending: set[asyncio.Task[None]] = set()
    count = int(turn.rate * seconds)
    tag = f"{turn.system.replace('_', '')}{int(turn.rate * 10)}"

    async def one(n: int) -> None:
        uid = f"cap-{tag}-{n:05d}"
        caller = turn.callers[uid] = Caller()
        try:
            response = await recorder.client.send(
                {
                    "Action": "Originate",
                    "Channel": f"Local/{HOTLINE}@{context}",
                    "Context": "bench-caller",
                    "Exten": "wait",
                    "Priority": "1",
                    "CallerID": f'"Caller {n}" <+1555{n:07d}>',
                    "ChannelId": uid,
                    "OtherChannelId": f"{uid}-q",
                    "Variable": f"BENCH_PATIENCE={patience_s:g}",
                    "Async": "true",
                    "Timeout": str(int(patience_s * 1000)),
                },
                timeout=patience_s + 10,
            )
        except Exception:
            caller.originate_failed = True
            return
        messages = response if isinstance(response, list) else [response]
        if not any((m.get("Response") or "") == "Success" for m in messages):
            caller.originate_failed = True

    began = time.monotonic()
    for n in range(count):
        delay = began + n / turn.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(n))
        pending.add(task)
        task.add_done_callback(pending.discard)
    turn.offered = count
    turn.seconds = count / turn.rate
    if pending:
        await asyncio.wait(pending, timeout=patience_s + 15)


async def scrape(daemon: BenchDaemon, turn: Turn) -> None:
    """ccqueue's load figures from /metrics every second (each is the highest of its own
    last second), keeping the highest."""
    while True:
        with contextlib.suppress(OSError, ValueError):
            text = await asyncio.to_thread(daemon.text, "/metrics")
            for line in text.splitlines():
                name, _, value = line.partition(" ")
                if name == "ccqueue_inbox_backlog":
                    turn.max_backlog = max(turn.max_backlog or 0.0, float(value))
                elif name == "ccqueue_loop_lag_seconds":
                    turn.max_lag_s = max(turn.max_lag_s or 0.0, float(value))
                elif name == "ccqueue_asterisk_event_lag_seconds":
                    turn.max_asterisk_lag_s = max(turn.max_asterisk_lag_s or 0.0, float(value))
        await asyncio.sleep(1.0)


async def refused_since(daemon: BenchDaemon, since: float) -> int:
    """Calls ccqueue recorded ``refused`` since ``since``: counted until the count holds
    for two seconds (its writer flushes within a second; the door's refusals come in
    batches), at most 20 s."""
    conn = await asyncpg.connect(daemon.dsn)
    try:
        counts: list[int] = []
        for _ in range(20):
            await asyncio.sleep(1.0)
            count = await conn.fetchval(
                "select count(*) from calls where outcome = 'refused' and arrived_at >= to_timestamp($1)", since
            )
            counts.append(int(count or 0))
            if len(counts) >= 3 and counts[-1] == counts[-2] == counts[-3]:
                break
    finally:
        await conn.close()
    return counts[-1]


async def drain(turn: Turn, deadline_s: float) -> None:
    """Until every caller has ended (or could not be placed), within ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if all(c.ended or c.originate_failed for c in turn.callers.values()):
            return
        await asyncio.sleep(0.2)


async def run_turn(
    recorder: Recorder,
    tracker: Tracker,
    sandbox: AsteriskSandbox,
    daemon: BenchDaemon,
    args: argparse.Namespace,
    system: str,
    rate: float,
) -> Turn:
    turn = Turn(system, rate)
    pid = None
    if system == "ccqueue":
        await asyncio.to_thread(daemon.start)
        await asyncio.to_thread(daemon.login, [f"b{n}" for n in range(1, args.agents + 1)])
        await asyncio.sleep(0.5)  # device states settle
        pid = daemon.proc.pid if daemon.proc else None
    try:
        tracker.turn = turn
        began = time.monotonic()
        ast0, cq0 = cpu_seconds(args.asterisk_pid), cpu_seconds(pid)
        connects = recorder.client.connects
        began_wall = time.time()
        context = "hotline" if system == "ccqueue" else "bench-appqueue"
        scraper = asyncio.create_task(scrape(daemon, turn)) if system == "ccqueue" else None
        try:
            await offer(recorder, turn, context=context, seconds=args.seconds, patience_s=args.patience_s)
            await drain(turn, args.patience_s + args.talk_s + 10)
        finally:
            if scraper is not None:
                scraper.cancel()
                await asyncio.gather(scraper, return_exceptions=True)
        turn.recorder_drops = recorder.client.connects - connects
        if system == "ccqueue":
            turn.refused_recorded = await refused_since(daemon, began_wall)
        turn.asterisk_cpu_s = spent(ast0, cpu_seconds(args.asterisk_pid))
        turn.daemon_cpu_s = spent(cq0, cpu_seconds(pid)) if system == "ccqueue" else 0.0
        if turn.asterisk_cpu_s is not None and turn.daemon_cpu_s is not None:
            turn.cpu_s = turn.asterisk_cpu_s + turn.daemon_cpu_s
        turn.wall_s = time.monotonic() - began
    finally:
        tracker.turn = None
        if system == "ccqueue":
            await asyncio.to_thread(daemon.stop)
    print(turn.line(), flush=True)
    if turn.failed:
        print(f"  failed callers: {turn.failures()}", flush=True)
    if turn.recorder_drops:
        # Asterisk drops an AMI client that reads too slowly: the events meanwhile are
        # lost, and callers served then would count as failed.
        print(f"  note: the bench's AMI login was lost {turn.recorder_drops} times: figures undercount", flush=True)
    left = await settle(sandbox, 20, strict=False)
    if left:
        # Seen: a few "Surrogate/..." channels, left by Bridge()'s masquerade, that no
        # hang-up request ends; they hold no agent and no caller of the next turn.
        print(f"  note: {len(left)} channels Asterisk would not hang up: {left[:3]}", flush=True)
    return turn


def carried(turns: list[Turn]) -> Turn | None:
    """The highest-rate turn with fewer than 1 % failed."""
    ok = [t for t in turns if t.offered and t.failed_share < TARGET_FAILED]
    return max(ok, key=lambda t: t.rate, default=None)


async def measure(sandbox: AsteriskSandbox, daemon: BenchDaemon, args: argparse.Namespace) -> list[Turn]:
    tracker = Tracker()
    turns: list[Turn] = []
    async with Recorder(KEPT, HEADERS, watch=tracker.see, events="call,user") as recorder:
        await settle(sandbox)
        failed: set[str] = set()  # systems past their highest rate: they climb no further
        for index, rate in enumerate(args.rates):
            order = ["ccqueue", "app_queue"] if index % 2 == 0 else ["app_queue", "ccqueue"]
            for system in order:
                if system in failed:
                    print(f"{system:>9} @ {rate:5.1f}/s: not offered (it did not carry a lower rate)", flush=True)
                    continue
                turn = await run_turn(recorder, tracker, sandbox, daemon, args, system, rate)
                turns.append(turn)
                if turn.failed_share >= TARGET_FAILED:
                    failed.add(system)
        best = carried([t for t in turns if t.system == "ccqueue"])
        if best is not None and args.overload > 0:
            rate = round(best.rate * args.overload, 1)
            if args.capped:
                # First told the box's rate, as an administrator would tell it from this
                # bench (overload.max_new_calls_per_s: the highest rate carried); then
                # without: an Asterisk pushed past its rate may take minutes to recover.
                print(f"ccqueue told its rate ({best.rate:g}/s), offered {args.overload:g}x = {rate:g}/s", flush=True)
                write_config(args, Path(daemon.config), cap=best.rate)
                try:
                    turn = await run_turn(recorder, tracker, sandbox, daemon, args, "ccqueue", rate)
                finally:
                    write_config(args, Path(daemon.config))
                turn.system = "ccqueue_overload_capped"
                turns.append(turn)
            print(f"ccqueue past its highest rate ({best.rate:g}/s): offered {args.overload:g}x = {rate:g}/s", flush=True)
            turn = await run_turn(recorder, tracker, sandbox, daemon, args, "ccqueue", rate)
            turn.system = "ccqueue_overload"
            turns.append(turn)
    return turns


def write_config(args: argparse.Namespace, folder: Path, *, cap: float | None = None) -> None:
    """ccqueue's configuration for the bench: the door refuses by ``--refusal``, with
    ``--overload-settings`` and, given, the box's rate (``cap``)."""
    entries = [f"refusal: {args.refusal}"]
    entries += [args.overload_settings] if args.overload_settings else []
    entries += [f"max_new_calls_per_s: {cap:g}"] if cap is not None else []
    benchbox.write_ccqueue_config(
        folder, args.agents, ring_timeout_s=RING_TIMEOUT_S, extra=f"overload: {{{', '.join(entries)}}}\n"
    )


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=lambda s: tuple(float(x) for x in s.split(",")), default=None, help="e.g. 32,64,96")
    parser.add_argument("--seconds", type=float, default=None, help="callers are offered this long at each rate (10; quick 6)")
    parser.add_argument("--agents", type=int, default=150)
    parser.add_argument("--talk-s", type=float, default=0.5)
    parser.add_argument("--talk-spread-s", type=float, default=0.2)
    parser.add_argument("--patience-s", type=float, default=10.0, help="an unanswered caller gives up after this")
    parser.add_argument("--overload", type=float, default=1.33, help="times ccqueue's highest rate (0: skip)")
    parser.add_argument(
        "--refusal",
        choices=("message", "busy"),
        default="message",
        help="how ccqueue's door refuses past its rate (overload.refusal): the message, or busy without answering",
    )
    parser.add_argument(
        "--overload-settings",
        default="",
        help="more of ccqueue's overload section, as YAML flow entries (e.g. 'max_asterisk_lag_s: 0.2')",
    )
    parser.add_argument(
        "--no-capped",
        dest="capped",
        action="store_false",
        help="skip the second overload turn, where ccqueue is told the box's rate (overload.max_new_calls_per_s)",
    )
    parser.add_argument("--quick", action="store_true", help="three rates, 6 s each (about 3 minutes)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (config, ccqueue's log)")
    args = parser.parse_args()
    if args.rates is None:
        args.rates = QUICK_RATES if args.quick else DEFAULT_RATES
    if args.seconds is None:
        args.seconds = 6.0 if args.quick else 10.0
    if os.geteuid() != 0:
        print("capacity: needs root (the Asterisk sandbox uses chroot)", file=sys.stderr)
        return 2
    if args.agents < 1 or args.seconds <= 0 or any(r <= 0 for r in args.rates):
        parser.error("agents, seconds and rates must be positive")
    if benchbox.find_bindir() is None:
        print("capacity: PostgreSQL server binaries not found (set PG_BINDIR)", file=sys.stderr)
        return 2
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    signal.signal(signal.SIGTERM, _interrupt)
    began = time.monotonic()
    dialplan = benchbox.bench_dialplan(args.talk_s, args.talk_spread_s, full_sound=FULL_SOUND)
    dialplan = dialplan.replace(" same => n(full),Playback(", FULL_MARK) + CALLER_CONTEXT
    with benchbox.open_box(
        "capacity",
        write_config=lambda folder: write_config(args, folder),
        dialplan=dialplan,
        queue=benchbox.bench_queue(args.agents, ring_timeout_s=RING_TIMEOUT_S, retry_s=1),
        keep=args.keep,
    ) as opened:
        args.asterisk_pid = opened.asterisk_pid
        print(
            f"scene: {args.agents} agents (Local channels, talking {args.talk_s:g} s +- {args.talk_spread_s / 2:g}), "
            f"rates {', '.join(f'{r:g}' for r in args.rates)}/s for {args.seconds:g} s each, patience "
            f"{args.patience_s:g} s; Asterisk instance '{INSTANCE}' ready after {time.monotonic() - began:.1f} s",
            flush=True,
        )
        turns = asyncio.run(measure(opened.sandbox, opened.daemon, args))
        if args.keep:
            print(f"work folder kept: {opened.work}")

    cq = [t for t in turns if t.system == "ccqueue"]
    aq = [t for t in turns if t.system == "app_queue"]
    over = next((t for t in turns if t.system == "ccqueue_overload"), None)
    capped = next((t for t in turns if t.system == "ccqueue_overload_capped"), None)
    cq_best, aq_best = carried(cq), carried(aq)
    # CPU per call at the highest rate both carried: the same work for both.
    common = min(cq_best.rate, aq_best.rate) if cq_best and aq_best else None

    def at(turns_of: list[Turn], rate: float | None) -> Turn | None:
        return next((t for t in turns_of if t.rate == rate), None)

    cq_common, aq_common = at(cq, common), at(aq, common)
    ratio = round(over.goodput / cq_best.goodput, 3) if over and cq_best and cq_best.goodput else None
    capped_ratio = round(capped.goodput / cq_best.goodput, 3) if capped and cq_best and cq_best.goodput else None
    figures: dict[str, Any] = {
        "rates": list(args.rates),
        "refusal": args.refusal,
        "overload_settings": args.overload_settings,
        "seconds_per_rate": args.seconds,
        "agents": args.agents,
        "talk_s": args.talk_s,
        "patience_s": args.patience_s,
        "ccqueue_max_rate_per_s": cq_best.rate if cq_best else 0.0,
        "app_queue_max_rate_per_s": aq_best.rate if aq_best else 0.0,
        "cpu_rate_per_s": common,
        "ccqueue_cpu_ms_per_call": cq_common.cpu_ms_per_call() if cq_common else None,
        "app_queue_cpu_ms_per_call": aq_common.cpu_ms_per_call() if aq_common else None,
        "ccqueue_overload_rate_per_s": over.rate if over else None,
        "ccqueue_overload_goodput_ratio": ratio,
        "ccqueue_overload_refused": over.refused if over else None,
        "ccqueue_overload_failed": over.failed if over else None,
        # The same overload, ccqueue told the box's rate (the highest it carried here).
        "ccqueue_overload_goodput_ratio_capped": capped_ratio,
        "ccqueue_overload_capped_refused": capped.refused if capped else None,
        "ccqueue_overload_capped_failed": capped.failed if capped else None,
        "turns": [
            {
                "system": t.system,
                "rate": t.rate,
                "offered": t.offered,
                "completed": t.completed,
                "refused": t.refused,
                "failed": t.failed,
                "goodput": round(t.goodput, 2),
                "cpu_ms_per_call": t.cpu_ms_per_call(),
                "max_backlog": t.max_backlog,
                "max_loop_lag_s": t.max_lag_s,
                "max_asterisk_lag_s": t.max_asterisk_lag_s,
                "recorder_drops": t.recorder_drops,
                "failures": t.failures(),
            }
            for t in turns
        ],
    }
    cpu_cq, cpu_aq = figures["ccqueue_cpu_ms_per_call"], figures["app_queue_cpu_ms_per_call"]
    figures["target_met"] = bool(
        cq_best
        and figures["ccqueue_max_rate_per_s"] >= figures["app_queue_max_rate_per_s"]
        and cpu_cq is not None
        and cpu_aq
        and cpu_cq <= cpu_aq
        and ratio is not None
        and ratio >= 0.9
    )
    figures["bench_s"] = round(time.monotonic() - began, 1)
    print(
        f"highest rate with < 1 % failed: ccqueue {figures['ccqueue_max_rate_per_s']:g}/s, app_queue "
        f"{figures['app_queue_max_rate_per_s']:g}/s; CPU per call at {common}/s: ccqueue {cpu_cq} ms, app_queue {cpu_aq} ms; "
        f"overload goodput ratio {ratio} (told the box's rate: {capped_ratio}); targets {'met' if figures['target_met'] else 'NOT met'}; "
        f"median goodput/offered {statistics.median([t.goodput / t.rate for t in turns]) if turns else 0:.2f}; "
        f"bench ran {figures['bench_s']} s"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("capacity: interrupted; what it had started is stopped", file=sys.stderr)
        sys.exit(130)
