"""Properties of simulated days: the core keeps its promises whatever the scenario."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ccqueue.sim import CallRow, Simulation, parse_scenario

STRATEGIES = ["longest_idle", "fewest_calls", "round_robin", "linear", "random", "best_skill", "ring_all"]


@st.composite
def patient_days(draw: st.DrawFn) -> dict[str, Any]:
    """Half an hour of one queue of equal agents; nobody gives up."""
    handle: dict[str, Any] = {"distribution": draw(st.sampled_from(["exponential", "lognormal", "fixed"]))}
    handle["mean_s"] = draw(st.floats(20, 300))
    if handle["distribution"] == "lognormal":
        handle["sigma"] = draw(st.floats(0.2, 1.5))
    return {
        "seed": draw(st.integers(0, 10_000)),
        "duration_s": 1800,
        "queues": {
            "support": {
                "strategy": draw(st.sampled_from(STRATEGIES)),
                "wrapup_s": draw(st.sampled_from([0, 5, 30])),
            }
        },
        "agents": {"count": draw(st.integers(1, 4))},
        "arrivals": [{"until_s": 1800, "per_minute": draw(st.floats(0.2, 6.0))}],
        "handle_time": handle,
        "patience": "none",
        "answer_delay_s": draw(st.sampled_from([0, 2])),
    }


def run(data: dict[str, Any]) -> list[CallRow]:
    return Simulation(parse_scenario(data)).run()


@settings(max_examples=40, deadline=None)
@given(patient_days())
def test_answer_order_is_arrival_order(data: dict[str, Any]) -> None:
    rows = run(data)
    assert all(r.answered_at is not None for r in rows)  # nobody leaves, the day drains
    by_answer = sorted(rows, key=lambda r: (r.answered_at, r.arrived_at))
    arrivals = [r.arrived_at for r in by_answer]
    assert arrivals == sorted(arrivals)


@settings(max_examples=25, deadline=None)
@given(patient_days())
def test_an_agent_holds_one_call_at_a_time_with_its_wrapup_between(data: dict[str, Any]) -> None:
    wrapup = data["queues"]["support"]["wrapup_s"]
    calls: dict[str, list[CallRow]] = defaultdict(list)
    for row in run(data):
        assert row.agent_id is not None
        calls[row.agent_id].append(row)
    for held in calls.values():
        held.sort(key=lambda r: r.offered_at)
        for before, after in itertools.pairwise(held):
            # Only an agent's last call may still be going when the day stops.
            assert before.ended_at is not None
            assert after.offered_at >= before.ended_at + wrapup - 1e-9
