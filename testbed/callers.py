"""A stream of simulated callers dialling a hotline through Asterisk.

    python -m testbed.callers --ami-port 5038 --username ccqueue --secret S \\
        --number 100 --per-minute 6 --talk-mean-s 20 --patience-mean-s 60 \\
        [--duration-s N] [--seed N] [--mix NUMBER:SCRIPT:WEIGHT ...]

Callers arrive as a Poisson process (``--per-minute`` on average). Each one is an AMI
``Originate`` of ``Local/<number>@hotline`` whose other half runs the ``wait``
extension of ``ccqueue-test-caller`` (it answers and stays on the line): that half is
the caller's phone, the ``hotline`` half is the call ccqueue sees. Both halves get
uniqueids of our choosing (``ChannelId`` / ``OtherChannelId``), so the caller's own AMI
events are recognised without guessing.

Every caller draws a patience and a talk time (exponential, with the given means). A
caller whose hotline half enters a bridge (``BridgeEnter``: an agent took the call)
hangs up after its talk time; one that is still waiting when its patience runs out
hangs up then (it abandons). One line is printed per caller event: arrived, bridged,
hung up. With ``--mix`` each caller draws what it dials and does from weighted
``number:script`` pairs (e.g. ``100:wait:6 300:ivr-menu1:3 100:callback:1``: most wait
on hotline 100, some go through the IVR of 300, some ask to be called back); a caller
whose script ends the call itself (a booked callback) is counted as ended by Asterisk.
The stream stops after ``--duration-s`` or on SIGINT/SIGTERM and hangs up the
callers still on the line before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from ccqueue.asterisk.ami import AmiClient, AmiUnavailable

__all__ = ["CallerKind", "CallerStream", "main"]

MIN_DRAW_S = 1.0  # no patience or talk time shorter than this
# A caller running a script (an IVR menu, booking a callback) waits at least this
# long: its script takes 15-25 s to play out before the caller could give up.
MIN_SCRIPTED_PATIENCE_S = 45.0
ORIGINATE_TIMEOUT_S = 30.0  # how long the hotline half may take to answer
HANGUP_CONFIRM_S = 5.0  # how long to wait for Asterisk's Hangup event after asking
STOP_DEADLINE_S = 15.0  # hanging up everybody on the way out takes at most this


@dataclass(frozen=True)
class CallerKind:
    """What a share of the callers dial and which ``ccqueue-test-caller`` script they run."""

    number: str
    script: str
    weight: float = 1.0

    @classmethod
    def parse(cls, text: str) -> CallerKind:
        parts = text.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"{text!r}: expected NUMBER:SCRIPT or NUMBER:SCRIPT:WEIGHT")
        weight = float(parts[2]) if len(parts) == 3 else 1.0
        if weight <= 0:
            raise ValueError(f"{text!r}: the weight must be positive")
        return cls(parts[0], parts[1], weight)


@dataclass
class Caller:
    number: int
    uid: str  # the caller's phone (the ;1 half of the Local channel)
    caller_id: str
    patience_s: float
    talk_s: float
    kind: CallerKind = CallerKind("100", "wait")
    arrived: float = 0.0  # time.monotonic()
    bridged_at: float | None = None
    bridged: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: str = "waiting"

    @property
    def hotline_uid(self) -> str:  # the hotline half, the channel ccqueue handles
        return f"{self.uid}-hl"


@dataclass
class Totals:
    arrived: int = 0
    bridged: int = 0
    talked: int = 0  # bridged and hung up after the talk time
    abandoned: int = 0  # hung up while waiting, patience used up
    ended_by_asterisk: int = 0  # the other side hung up first
    cut_at_stop: int = 0  # still on the line when the stream stopped
    failed: int = 0  # the Originate did not go through


class CallerStream:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        number: str,
        per_minute: float,
        talk_mean_s: float,
        patience_mean_s: float,
        duration_s: float | None,
        seed: int | None,
        context: str = "ccqueue-test-caller",
        script: str = "wait",
        hotline_context: str = "hotline",
        out: Any = None,
        quiet_exit: bool = False,
        mix: tuple[CallerKind, ...] = (),
    ) -> None:
        if per_minute <= 0 or talk_mean_s <= 0 or patience_mean_s <= 0:
            raise ValueError("--per-minute, --talk-mean-s and --patience-mean-s must be positive")
        self.number = number
        self.per_minute = per_minute
        self.talk_mean_s = talk_mean_s
        self.patience_mean_s = patience_mean_s
        self.duration_s = duration_s
        self.context = context
        self.script = script
        self.hotline_context = hotline_context
        self.mix = mix or (CallerKind(number, script),)
        self.rng = random.Random(seed)
        self.out = out or sys.stdout
        self.quiet_exit = quiet_exit
        self.run_id = f"{os.getpid()}-{int(time.time())}"
        self.totals = Totals()
        self.stopping = asyncio.Event()
        self._by_uid: dict[str, Caller] = {}
        self._by_hotline_uid: dict[str, Caller] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = time.monotonic()
        self.client = AmiClient(host=host, port=port, username=username, secret=secret, on_event=self._on_event)

    # ---- output -------------------------------------------------------------------

    def say(self, text: str) -> None:
        clock = time.monotonic() - self._started
        print(f"[{clock:7.1f}s] {text}", file=self.out, flush=True)

    # ---- AMI events -----------------------------------------------------------------

    def _on_event(self, message: Any) -> None:
        event = message.get("Event") or ""
        uid = message.get("Uniqueid") or ""
        if event == "BridgeEnter":
            caller = self._by_hotline_uid.get(uid)
            if caller is not None and not caller.bridged.is_set():
                caller.bridged_at = time.monotonic()
                caller.bridged.set()
        elif event == "Hangup":
            caller = self._by_uid.get(uid)
            if caller is not None:
                caller.ended.set()

    # ---- one caller -------------------------------------------------------------------

    def _draw(self, mean: float) -> float:
        return max(MIN_DRAW_S, self.rng.expovariate(1.0 / mean))

    def _new_caller(self, n: int) -> Caller:
        # +1 202 555 01xx-style numbers: valid in form, so a callback to one can be
        # booked (and dialled to a stand-in trunk), yet fictitious
        caller_id = "+1202555" + "".join(str(self.rng.randrange(10)) for _ in range(4))
        kind = self.mix[0] if len(self.mix) == 1 else self.rng.choices(self.mix, [k.weight for k in self.mix])[0]
        return Caller(
            number=n,
            uid=f"demo-caller-{self.run_id}-{n}",
            caller_id=caller_id,
            patience_s=max(self._draw(self.patience_mean_s), 0.0 if kind.script == "wait" else MIN_SCRIPTED_PATIENCE_S),
            talk_s=self._draw(self.talk_mean_s),
            kind=kind,
        )

    async def _wait_any(self, *events: asyncio.Event, timeout: float | None) -> None:
        waiters = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def _hang_up(self, caller: Caller) -> None:
        if caller.ended.is_set():
            return
        with contextlib.suppress(AmiUnavailable):
            await self.client.send({"Action": "Hangup", "Channel": caller.uid}, timeout=HANGUP_CONFIRM_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(caller.ended.wait(), HANGUP_CONFIRM_S)

    async def _call(self, caller: Caller) -> None:
        self._by_uid[caller.uid] = caller
        self._by_hotline_uid[caller.hotline_uid] = caller
        caller.arrived = time.monotonic()
        self.totals.arrived += 1
        self.say(
            f"caller {caller.number} {caller.caller_id} arrived on {caller.kind.number} ({caller.kind.script}; patience {caller.patience_s:.0f} s, talk {caller.talk_s:.0f} s)"
        )
        try:
            await self._originate(caller)
            if caller.outcome == "failed":
                return
            # patience counts from the moment the caller dialled
            patience_left = caller.patience_s - (time.monotonic() - caller.arrived)
            await self._wait_any(caller.bridged, caller.ended, self.stopping, timeout=max(0.0, patience_left))
            if caller.bridged.is_set():
                waited = (caller.bridged_at or caller.arrived) - caller.arrived
                self.totals.bridged += 1
                self.say(f"caller {caller.number} {caller.caller_id} bridged to an agent after waiting {waited:.1f} s")
                talk_left = caller.talk_s - (time.monotonic() - (caller.bridged_at or caller.arrived))
                await self._wait_any(caller.ended, self.stopping, timeout=max(0.0, talk_left))
            await self._finish(caller)
        finally:
            self._by_uid.pop(caller.uid, None)
            self._by_hotline_uid.pop(caller.hotline_uid, None)

    async def _originate(self, caller: Caller) -> None:
        action = {
            "Action": "Originate",
            "Channel": f"Local/{caller.kind.number}@{self.hotline_context}",
            "Context": self.context,
            "Exten": caller.kind.script,
            "Priority": "1",
            "CallerID": f'"Caller {caller.number}" <{caller.caller_id}>',
            "ChannelId": caller.uid,
            "OtherChannelId": caller.hotline_uid,
            "Async": "true",
            "Timeout": str(int(ORIGINATE_TIMEOUT_S * 1000)),
        }
        try:
            response = await self.client.send(action, timeout=ORIGINATE_TIMEOUT_S + 5)
        except AmiUnavailable as exc:
            caller.outcome = "failed"
            self.totals.failed += 1
            self.say(f"caller {caller.number} {caller.caller_id} could not be placed: {exc}")
            return
        messages = response if isinstance(response, list) else [response]
        if not any((m.get("Response") or "") == "Success" for m in messages):
            caller.outcome = "failed"
            self.totals.failed += 1
            reason = "; ".join(
                f"{m.get('Response') or m.get('Event')}: {m.get('Message') or m.get('Reason') or ''}" for m in messages
            )
            self.say(f"caller {caller.number} {caller.caller_id} could not be placed ({reason})")

    async def _finish(self, caller: Caller) -> None:
        now = time.monotonic()
        if caller.ended.is_set():
            caller.outcome = "ended_by_asterisk"
            self.totals.ended_by_asterisk += 1
            what = "talking" if caller.bridged.is_set() else "waiting"
            start = caller.bridged_at if caller.bridged.is_set() else caller.arrived
            self.say(
                f"caller {caller.number} {caller.caller_id} was hung up by the other side "
                f"after {what} {now - (start or now):.1f} s"
            )
            return
        if self.stopping.is_set():
            caller.outcome = "cut_at_stop"
            self.totals.cut_at_stop += 1
            state = "talking" if caller.bridged.is_set() else "waiting"
            await self._hang_up(caller)
            self.say(f"caller {caller.number} {caller.caller_id} hung up: the stream is stopping (was {state})")
            return
        await self._hang_up(caller)
        if caller.bridged.is_set():
            caller.outcome = "talked"
            self.totals.talked += 1
            self.say(f"caller {caller.number} {caller.caller_id} hung up after talking {now - (caller.bridged_at or now):.1f} s")
        else:
            caller.outcome = "abandoned"
            self.totals.abandoned += 1
            self.say(f"caller {caller.number} {caller.caller_id} hung up (abandoned) after waiting {now - caller.arrived:.1f} s")

    # ---- the stream ---------------------------------------------------------------------

    async def run(self, *, connect_timeout: float = 15.0) -> int:
        ami_task = asyncio.create_task(self.client.run(), name="callers-ami")
        try:
            await self._wait_any(self.client.ready, self.stopping, timeout=connect_timeout)
            if self.stopping.is_set():
                return 0
            if not self.client.ready.is_set():
                print(
                    f"callers: no AMI login to {self.client.host}:{self.client.port} within "
                    f"{connect_timeout:.0f} s (state: {self.client.state})",
                    file=sys.stderr,
                )
                return 1
            self._started = time.monotonic()
            rate = self.per_minute / 60.0
            mix = ", ".join(f"{k.number} {k.script} x{k.weight:g}" for k in self.mix)
            self.say(
                f"caller stream: ~{self.per_minute:g}/min ({mix}), talk ~{self.talk_mean_s:g} s, "
                f"patience ~{self.patience_mean_s:g} s"
                + (f", for {self.duration_s:g} s" if self.duration_s else ", until stopped")
            )
            deadline = self._started + self.duration_s if self.duration_s else None
            n = 0
            while not self.stopping.is_set():
                gap = self.rng.expovariate(rate)
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= gap:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.stopping.wait(), max(0.0, left))
                        break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), gap)
                if self.stopping.is_set():
                    break
                n += 1
                task = asyncio.create_task(self._call(self._new_caller(n)), name=f"caller-{n}")
                self._tasks.add(task)
                task.add_done_callback(self._task_done)
            await self._stop()
            return 0
        finally:
            if self.quiet_exit:  # the link goes down because we close it: no warning
                structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
            await _cancel(ami_task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.say(f"{task.get_name()} failed: {task.exception()!r}")

    async def _stop(self) -> None:
        self.stopping.set()
        live = list(self._tasks)
        if live:
            self.say(f"stopping: hanging up {len(live)} caller(s) still on the line")
            _done, pending = await asyncio.wait(live, timeout=STOP_DEADLINE_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        t = self.totals
        self.say(
            f"caller stream stopped: arrived={t.arrived} bridged={t.bridged} talked={t.talked} "
            f"abandoned={t.abandoned} cut_at_stop={t.cut_at_stop} ended_by_asterisk={t.ended_by_asterisk} "
            f"failed={t.failed}"
        )

    def request_stop(self) -> None:
        self.stopping.set()


async def _cancel(task: asyncio.Task[Any], *, attempts: int = 20, wait_s: float = 0.5) -> None:
    """Cancel ``task`` and wait for it to end. On Python 3.11 ``asyncio.wait_for`` can
    swallow a cancellation that lands just as the awaited result arrives (the AMI
    client awaits its pings that way), so the cancellation is repeated, a bounded
    number of times, until the task has ended."""
    for _ in range(attempts):
        task.cancel()
        done, _pending = await asyncio.wait({task}, timeout=wait_s)
        if done:
            return
    print(f"callers: {task.get_name()} did not end after {attempts} cancellations", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m testbed.callers",
        description="Simulated callers dialling a hotline through Asterisk (AMI Originate of Local channels).",
    )
    p.add_argument("--ami-host", default="127.0.0.1")
    p.add_argument("--ami-port", type=int, default=5038)
    p.add_argument("--username", default="ccqueue")
    p.add_argument("--secret", default=os.environ.get("CCQUEUE_AMI_SECRET"), help="AMI secret (default: $CCQUEUE_AMI_SECRET)")
    p.add_argument("--number", default="100", help="hotline number to dial (default 100)")
    p.add_argument("--per-minute", type=float, default=6.0, help="mean arrivals per minute (Poisson)")
    p.add_argument("--talk-mean-s", type=float, default=20.0, help="mean talk time once bridged")
    p.add_argument("--patience-mean-s", type=float, default=60.0, help="mean time a caller waits before abandoning")
    p.add_argument("--duration-s", type=float, default=None, help="stop after this many seconds (default: until a signal)")
    p.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable stream")
    p.add_argument(
        "--mix",
        nargs="+",
        default=None,
        metavar="NUMBER:SCRIPT[:WEIGHT]",
        help="callers' kinds, drawn by weight: the number dialled and the ccqueue-test-caller script run "
        "(default: --number with the 'wait' script)",
    )
    return p


async def _amain(args: argparse.Namespace) -> int:
    stream = CallerStream(
        host=args.ami_host,
        port=args.ami_port,
        username=args.username,
        secret=args.secret,
        number=args.number,
        per_minute=args.per_minute,
        talk_mean_s=args.talk_mean_s,
        patience_mean_s=args.patience_mean_s,
        duration_s=args.duration_s,
        seed=args.seed,
        quiet_exit=True,
        mix=args.mix,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stream.request_stop)
    return await stream.run()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # the AMI client's own log lines go to stderr; stdout is one line per caller event
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer(colors=False)],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    if not args.secret:
        print("callers: --secret (or $CCQUEUE_AMI_SECRET) is required", file=sys.stderr)
        return 2
    if args.per_minute <= 0 or args.talk_mean_s <= 0 or args.patience_mean_s <= 0:
        print("callers: --per-minute, --talk-mean-s and --patience-mean-s must be positive", file=sys.stderr)
        return 2
    if args.duration_s is not None and args.duration_s <= 0:
        print("callers: --duration-s must be positive", file=sys.stderr)
        return 2
    try:
        args.mix = tuple(CallerKind.parse(text) for text in args.mix or ())
    except ValueError as exc:
        print(f"callers: --mix {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_amain(args))


if __name__ == "__main__":
    sys.exit(main())
