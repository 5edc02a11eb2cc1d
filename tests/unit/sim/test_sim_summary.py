"""The simulator's EWT figures: estimates are scored on the callers they reached."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ccqueue.sim import CallRow, simulate
from ccqueue.sim.summary import FIRST_ANNOUNCEMENT_S, summarise


def answered(call_id: str, *, offered: float, answered: float, ewt: float, holdtime: float) -> CallRow:
    """A caller of ``support`` who joined at 0, was rung at ``offered`` and answered at ``answered``."""
    return CallRow(
        call_id=call_id,
        queue="support",
        uniqueid=call_id,
        arrived_at=0.0,
        ewt_s=ewt,
        ewt_low_s=ewt / 2,
        ewt_high_s=ewt * 2,
        holdtime_s=holdtime,
        offered_at=offered,
        answered_at=answered,
    )


def test_a_caller_answered_at_once_is_not_scored_one_waiting_at_the_announcement_is() -> None:
    at_once = answered("c1", offered=0.0, answered=0.0, ewt=0.0, holdtime=10.0)
    waited = answered("c2", offered=40.0, answered=40.0, ewt=50.0, holdtime=20.0)
    ewt = summarise([at_once, waited])["ewt"]
    assert FIRST_ANNOUNCEMENT_S == 30.0
    assert ewt["callers"] == 1 and ewt["answered_before_announcement"] == 1
    assert ewt["mean_wait_s"] == 40.0
    assert ewt["ccqueue"]["mae_s"] == 10.0 and ewt["ccqueue"]["bias_s"] == 10.0
    assert ewt["app_queue_ewma"]["mae_s"] == 20.0 and ewt["app_queue_ewma"]["bias_s"] == -20.0
    assert ewt["mae_ratio"] == 0.5
    # The old figure, over every answered caller, is kept alongside.
    old = ewt["all_answered"]
    assert old["callers"] == 2
    assert old["ccqueue"]["mae_s"] == 5.0 and old["app_queue_ewma"]["mae_s"] == 15.0
    assert old["mae_ratio"] == pytest.approx(1 / 3, abs=1e-4)


def test_a_caller_rung_before_the_announcement_is_not_scored() -> None:
    # An agent's phone rang at 25 s and he answered at 33 s: the announcement due at
    # 30 s was held for the ring and never said.
    rung = answered("c1", offered=25.0, answered=33.0, ewt=5.0, holdtime=5.0)
    ewt = summarise([rung])["ewt"]
    assert ewt["callers"] == 0 and ewt["answered_before_announcement"] == 1
    assert ewt["ccqueue"]["mae_s"] is None and ewt["mae_ratio"] is None
    assert ewt["all_answered"]["callers"] == 1


def test_the_queues_own_first_announcement_decides() -> None:
    waited = answered("c1", offered=40.0, answered=40.0, ewt=50.0, holdtime=20.0)
    assert summarise([waited], first_announcement_s={"support": 60.0})["ewt"]["callers"] == 0
    assert summarise([waited], first_announcement_s={"support": 40.0})["ewt"]["callers"] == 1
    assert summarise([waited], first_announcement_s={"other": 60.0})["ewt"]["callers"] == 1  # default 30 s


def test_unestimated_and_unanswered_callers_are_not_scored() -> None:
    blind = answered("c1", offered=40.0, answered=40.0, ewt=math.inf, holdtime=20.0)
    gone = CallRow(call_id="c2", queue="support", uniqueid="c2", arrived_at=0.0, ewt_s=50.0, abandoned_at=45.0)
    ewt = summarise([blind, gone])["ewt"]
    assert ewt["callers"] == 0 and ewt["unestimated"] == 1 and ewt["answered_before_announcement"] == 0


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
        assert ewt["callers"] + ewt["answered_before_announcement"] + ewt["unestimated"] == result["answered"]
        assert ewt["all_answered"]["callers"] == ewt["callers"] + ewt["answered_before_announcement"]
        assert ewt["mean_wait_s"] > result["mean_wait_s"]
    assert 0 < default["ewt"]["callers"] < early["ewt"]["callers"]
