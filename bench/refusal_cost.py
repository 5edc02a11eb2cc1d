"""What refusing a caller costs Asterisk, by how it is refused: the figures behind the
overload door's ``refusal`` setting (``docs/configuration.md``, ``overload``).

Run from the repository root, as root: ``python bench/refusal_cost.py`` (about 2
minutes). The lines printed say what is measured; the last line is one JSON object.

One Asterisk 22 sandbox instance (``testbed.benchbox``; no ccqueue daemon runs). At each
rate (``--rates``, 60 and 120 a second) for ``--seconds`` (10), callers are originated as
Local channels (``Local/300@<context>``, the caller's side waiting in a context of its
own), into one context per way of refusing:

- ``answer-hangup``: answered, then hung up at once — the floor: what placing and ending
  a Local call costs at all;
- ``message``: answered, then the queue-full message played (``ccqueue/queue-full``, as
  the door plays it with ``refusal: message``);
- ``busy``: hung up unanswered with cause 17 (``refusal: busy``);
- ``busy-recorded``: the same, with the hang-up handler the door's refused callers run
  (its line in Asterisk's database and the ``UserEvent`` that tells ccqueue).

Asterisk's CPU time (``/proc/<pid>/stat``, user plus system) from the first Originate
until every channel is gone, over the callers placed, is the cost per refusal. The same
run tells nothing of ccqueue's own cost (it serves none of these callers); a call served
end to end costs Asterisk about 6.4 ms here (``bench/capacity.py``, app_queue's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import structlog

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from testbed import benchbox  # the path above makes a checkout importable
from testbed.benchbox import HOTLINE, Recorder, cpu_seconds, settle

WAYS = ("answer-hangup", "message", "busy", "busy-recorded")
CONTEXTS = """
; Written by bench/refusal_cost.py into this instance only.
[refuse-answer-hangup]
exten => _X.,1,Answer()
 same => n,Hangup()
[refuse-message]
exten => _X.,1,Answer()
 same => n,Playback(ccqueue/queue-full)
 same => n,Hangup()
[refuse-busy]
exten => _X.,1,Hangup(17)
[refuse-busy-recorded]
exten => _X.,1,Set(CCQ_AWAY=${STRFTIME(,,%s.%3q)})
 same => n,Set(CCQ_ENTERED=${CCQ_AWAY})
 same => n,Set(CCQ_HOTLINE=${EXTEN})
 same => n,Set(CCQ_AWAY_OUTCOME=refused)
 same => n,Set(CHANNEL(hangup_handler_push)=ccqueue-away,s,1)
 same => n,Hangup(17)
[refuse-caller]
exten => wait,1,Answer()
 same => n,Wait(10)
 same => n,Hangup()
"""


async def place(recorder: Recorder, context: str, rate: float, seconds: float) -> int:
    """Originate callers into ``context`` on a fixed schedule; returns how many Asterisk took."""
    count = int(rate * seconds)
    began = time.monotonic()
    sends = []
    for n in range(count):
        delay = began + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        action = {
            "Action": "Originate",
            "Channel": f"Local/{HOTLINE}@{context}",
            "Context": "refuse-caller",
            "Exten": "wait",
            "Priority": "1",
            "Async": "true",
        }
        sends.append(asyncio.create_task(recorder.client.send(action, timeout=20)))
    answers = await asyncio.gather(*sends, return_exceptions=True)
    taken = 0
    for answer in answers:
        if isinstance(answer, BaseException):
            continue
        messages = answer if isinstance(answer, list) else [answer]
        taken += any((m.get("Response") or "") == "Success" for m in messages)
    return taken


async def measure(box: benchbox.BenchBox, args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    # The 'call' class: an Originate's answer is its OriginateResponse event.
    async with Recorder((), (), events="call") as recorder:
        for rate in args.rates:
            for way in WAYS:
                await settle(box.sandbox)
                before = cpu_seconds(box.asterisk_pid)
                placed = await place(recorder, f"refuse-{way}", rate, args.seconds)
                left = await settle(box.sandbox, 60, strict=False)
                after = cpu_seconds(box.asterisk_pid)
                if before is None or after is None or not placed:
                    raise RuntimeError(f"{way} at {rate}/s: no CPU figure ({before}, {after}) or no caller placed ({placed})")
                ms = (after - before) / placed * 1000
                results.append({"way": way, "rate": rate, "placed": placed, "ms_per_refusal": round(ms, 2)})
                note = f" ({len(left)} channels left behind)" if left else ""
                print(f"{way:>14} @ {rate:g}/s: {placed} callers, Asterisk {ms:.2f} ms each{note}", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=lambda s: tuple(float(x) for x in s.split(",")), default=(60.0, 120.0))
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("refusal_cost: needs root (the Asterisk sandbox uses chroot)", file=sys.stderr)
        return 2
    if args.seconds <= 0 or any(r <= 0 for r in args.rates):
        parser.error("seconds and rates must be positive")
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    began = time.monotonic()
    dialplan = benchbox.bench_dialplan(0.5, 0.2) + CONTEXTS
    with benchbox.open_box(
        "refusal",
        write_config=lambda folder: benchbox.write_ccqueue_config(folder, 1, ring_timeout_s=5),
        dialplan=dialplan,
        queue=benchbox.bench_queue(1, ring_timeout_s=5, retry_s=1),
    ) as box:
        results = asyncio.run(measure(box, args))
    by_way = {way: statistics.median(r["ms_per_refusal"] for r in results if r["way"] == way) for way in WAYS}
    print(
        "median Asterisk CPU per refused caller: "
        + ", ".join(f"{way} {ms:.2f} ms" for way, ms in by_way.items())
        + f"; bench ran {time.monotonic() - began:.0f} s"
    )
    figures = {f"{way.replace('-', '_')}_ms": round(ms, 2) for way, ms in by_way.items()}
    print(json.dumps({**figures, "runs": results, "bench_s": round(time.monotonic() - began, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
