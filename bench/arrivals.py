"""What admission, the wait estimate and the announcements add to a caller's arrival.

Run from the repository root: ``python bench/arrivals.py``. The lines printed say what
is measured; the last line is one JSON object with the figures.

The scene: 3,000 agents, 30 queues of equal priority, every agent serving 3 of them (so
each queue has about 300 agents and shares them with every other queue: 29 rivals for
the estimate), all agents busy, and 40 callers already waiting in each queue. Each queue
has limits (at most 60 waiting, 3 per staffed agent, a maximum wait, a forecast
threshold) and announcements.

Timed, alternating round by round on the same machine:

- ``acd``: the whole arrival in the core — ``Acd.handle(CallArrived)``: admission (staffed
  agents counted), the wait estimate (staffing of the queue and its rivals told to the
  estimator), the timeline records, timers, routing;
- ``router``: the routing part alone, the baseline — ``Router.enqueue`` then ``assign``
  for the same kind of caller.

Each timed caller then hangs up (untimed), so the scene stays the same. The figures are
the medians and p99s of each, and the ratio of the medians.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path
from types import MappingProxyType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.routing import QueuePolicy, Router, Strategy
from ccqueue.core.waiting import Admission, Announcements

AGENTS = 3_000
QUEUES = 30
QUEUES_PER_AGENT = 3
WAITING_PER_QUEUE = 40
ROUNDS = 10
PER_ROUND = 300


def scene(seed: int = 7) -> tuple[Acd, list[str]]:
    rng = random.Random(seed)
    names = [f"q{i}" for i in range(QUEUES)]
    admission = Admission(max_waiting=60, max_per_agent=3, max_wait_s=900, divert_ewt_s=3600)
    queues = {
        n: QueueSettings(name=n, admission=admission, announcements=Announcements(first_after_s=30, every_s=60)) for n in names
    }
    agents = {
        f"a{i}": AgentSettings(
            agent_id=f"a{i}", name=f"A{i}", endpoint=f"PJSIP/a{i}", queues=tuple(rng.sample(names, QUEUES_PER_AGENT))
        )
        for i in range(AGENTS)
    }
    hotlines = {n: HotlineSettings(number=n, queue=n, greeting=None) for n in names}
    acd = Acd(AcdSettings(queues=MappingProxyType(queues), agents=MappingProxyType(agents), hotlines=MappingProxyType(hotlines)))
    now = 0.0
    for agent_id in agents:  # everyone logs in and takes a call: all busy
        acd.handle(ev.AgentRequested(agent_id=agent_id, action=ev.AgentAction.LOGIN), now)
    for n, name in enumerate(names * (AGENTS // QUEUES + WAITING_PER_QUEUE), 1):
        now += 0.001
        out = acd.handle(
            ev.CallArrived(call_id=f"w{n}", hotline=name, caller=f"+1555{n:07d}", channel=f"c{n}", uniqueid=f"u{n}"), now
        )
        for command in out:
            offer_id = getattr(command, "offer_id", None)
            if offer_id and type(command).__name__ == "OriginateAgent":
                acd.handle(ev.OfferClaimed(offer_id=offer_id), now)
    return acd, names


def router_scene(acd: Acd) -> Router:
    router = Router([QueuePolicy(name=n, strategy=Strategy.LONGEST_IDLE) for n in acd.settings.queues])
    for agent in acd.settings.agents.values():
        router.upsert_agent(agent.agent_id, queues=agent.queues, skills={})
    for call in acd.views.waiting_callers():
        if call.answered_at is None and call.queue is not None:
            router.enqueue(call.call_id, queue=call.queue, arrived_at=call.arrived_at)
    return router


def p99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * (len(values) - 1))]


def main() -> None:
    acd, names = scene()
    router = router_scene(acd)
    waiting = sum(acd.waiting(n) for n in names)
    print(f"scene: {AGENTS} agents (all busy), {QUEUES} queues sharing them, {waiting} callers waiting")
    timings: dict[str, list[float]] = {"acd": [], "router": []}
    now = 10_000.0
    n = 0
    for round_no in range(ROUNDS):
        order = ("acd", "router") if round_no % 2 == 0 else ("router", "acd")
        for kind in order:
            for i in range(PER_ROUND):
                n += 1
                now += 0.01
                name = names[i % QUEUES]
                if kind == "acd":
                    event = ev.CallArrived(
                        call_id=f"t{n}", hotline=name, caller=f"+1666{n:07d}", channel=f"t{n}", uniqueid=f"tu{n}"
                    )
                    start = time.perf_counter()
                    acd.handle(event, now)
                    timings[kind].append(time.perf_counter() - start)
                    acd.handle(ev.ChannelHungUp(uniqueid=f"tu{n}"), now)
                else:
                    start = time.perf_counter()
                    router.enqueue(f"t{n}", queue=name, arrived_at=now)
                    router.assign(now)
                    timings[kind].append(time.perf_counter() - start)
                    router.dequeue(f"t{n}")
    figures = {}
    for kind, values in timings.items():
        med, tail = statistics.median(values) * 1e6, p99(values) * 1e6
        figures[f"{kind}_median_us"] = round(med, 1)
        figures[f"{kind}_p99_us"] = round(tail, 1)
        print(f"{kind:6}: one arrival, median {med:8.1f} µs, p99 {tail:8.1f} µs ({len(values)} arrivals)")
    figures["ratio_median"] = round(figures["acd_median_us"] / figures["router_median_us"], 1)
    figures["arrivals_per_s_at_median"] = round(1e6 / figures["acd_median_us"])
    print(
        f"the whole arrival costs {figures['ratio_median']}x the routing decision alone "
        f"(at the median: {figures['arrivals_per_s_at_median']} arrivals a second on one core)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
