"""The simulator's EWT figures: estimates are scored on the callers they reached."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ccqueue.sim import CallRow, Simulation, parse_scenario, simulate
from ccqueue.sim.run import FIRST_ANNOUNCEMENT_S
from ccqueue.sim.summary import summarise


def answered(call_id: str, *, answered: float, ewt: float, holdtime: float, told: tuple[float, float, float] | None) -> CallRow:
    """A caller of ``support`` who joined at 0 and was answered at ``answered``; ``told``:
    (when, ccqueue's wait left, app_queue's) at its first announcement, None if it heard none."""
    row = CallRow(
        call_id=call_id,
        queue="support",
        uniqueid=call_id,
        arrived_at=0.0,
        ewt_s=ewt,
        ewt_low_s=ewt / 2,
        ewt_high_s=ewt * 2,
        holdtime_s=holdtime,
        offered_at=answered,
        answered_at=answered,
    )
    if told is not None:
        row.told_at, row.told_s, row.holdtime_told_s = told
        row.told_low_s, row.told_high_s = told[1] / 2, told[1] * 2
    return row


def test_estimates_are_scored_as_told_at_the_announcement_against_the_wait_left() -> None:
    at_once = answered("c1", answered=0.0, ewt=0.0, holdtime=10.0, told=None)
    # Told at 30 s: ccqueue 20 s left, app_queue |40 - 30| = 10 s left; answered at 40 s.
    waited = answered("c2", answered=40.0, ewt=50.0, holdtime=40.0, told=(30.0, 20.0, 10.0))
    ewt = summarise([at_once, waited])["ewt"]
    assert FIRST_ANNOUNCEMENT_S == 30.0
    assert ewt["callers"] == 1 and ewt["answered_before_announcement"] == 1
    assert ewt["mean_wait_s"] == 10.0  # the wait left after the announcement
    assert ewt["ccqueue"]["mae_s"] == 10.0 and ewt["ccqueue"]["bias_s"] == 10.0
    assert ewt["app_queue_ewma"]["mae_s"] == 0.0 and ewt["app_queue_ewma"]["bias_s"] == 0.0
    assert ewt["mae_ratio"] is None  # nothing to divide by: app_queue was exact
    assert ewt["ccqueue"]["within_interval"] == 1.0  # 10 s within [10, 40]
    # The estimates given on joining, against the whole wait, over every answered caller.
    old = ewt["all_answered"]
    assert old["callers"] == 2
    assert old["ccqueue"]["mae_s"] == 5.0 and old["app_queue_ewma"]["mae_s"] == 5.0
    assert old["mae_ratio"] == 1.0


def test_unestimated_and_unanswered_callers_are_not_scored() -> None:
    blind = answered("c1", answered=40.0, ewt=math.inf, holdtime=20.0, told=None)
    gone = CallRow(call_id="c2", queue="support", uniqueid="c2", arrived_at=0.0, ewt_s=50.0, abandoned_at=45.0)
    gone.told_at, gone.told_s = 30.0, 10.0
    ewt = summarise([blind, gone])["ewt"]
    assert ewt["callers"] == 0 and ewt["unestimated"] == 1 and ewt["answered_before_announcement"] == 1


def base(**queue: Any) -> dict[str, Any]:
    return {
        "seed": 3,
        "duration_s": 7200,
        "queues": {"support": {"strategy": "longest_idle", **queue}},
        "agents": {"count": 5},
        "arrivals": [{"until_s": 7200, "per_minute": 1.6}],
        "handle_time": {"distribution": "exponential", "mean_s": 180},
        "patience": {"distribution": "exponential", "mean_s": 120},
    }


def test_a_simulated_day_scores_callers_by_the_scenarios_announcements() -> None:
    default = simulate(base())
    early = simulate(base(announce={"first_after_s": 5}))
    for result in (default, early):
        ewt = result["ewt"]
        assert ewt["callers"] + ewt["answered_before_announcement"] == result["answered"]
        assert ewt["all_answered"]["callers"] == result["answered"] - ewt["unestimated"]
    assert 0 < default["ewt"]["callers"] < early["ewt"]["callers"]


def test_the_simulator_tells_a_caller_still_waiting_at_its_first_announcement() -> None:
    simulation = Simulation(parse_scenario(base(announce={"first_after_s": 45})))
    rows = simulation.run()
    told = [r for r in rows if math.isfinite(r.told_s)]
    assert told
    for row in told:
        assert row.told_at == pytest.approx(row.arrived_at + 45.0)
        assert row.answered_at is None or row.offered_at >= row.told_at  # no agent was ringing yet
        assert row.told_low_s <= row.told_s <= row.told_high_s
        assert row.holdtime_told_s >= 0.0
    # Those answered or rung sooner were never told.
    assert all(r.offered_at - r.arrived_at < 45.0 for r in rows if not math.isfinite(r.told_s) and r.answered_at is not None)
