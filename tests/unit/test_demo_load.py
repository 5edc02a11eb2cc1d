"""The demo's load: the arrival rate it chooses for the agents it has, and the caller
kinds the caller stream draws from."""

from __future__ import annotations

import pytest

from testbed.callers import CallerKind
from testbed.demo import Load


def test_the_chosen_rate_keeps_the_agents_busy_the_share_asked_for() -> None:
    load = Load(agents=2, handle_s=28.0, occupancy=0.82)
    assert load.per_minute == 3.5  # 0.82 * 2 agents / 28 s per call, per minute
    assert load.erlangs / load.agents == pytest.approx(0.82, abs=0.01)
    line = load.describe(talk_s=20, wrapup_s=5, answer_s=3, chosen=True)
    assert line.startswith("load: 3.5 callers/min, chosen to keep 2 agent(s) ~82% busy")
    assert "1.63 Erlang" in line


def test_a_given_rate_over_capacity_is_said_to_grow_the_queue() -> None:
    handle = 16.0
    load = Load(agents=2, handle_s=handle, occupancy=20 / 60 * handle / 2)
    line = load.describe(talk_s=8, wrapup_s=5, answer_s=3, chosen=False)
    assert line.startswith("load: 20 callers/min (--per-minute) for 2 agent(s): ~267% busy (more than they can take")


def test_caller_kinds_parse_with_and_without_a_weight() -> None:
    assert CallerKind.parse("300:ivr-menu1:0.3") == CallerKind("300", "ivr-menu1", 0.3)
    assert CallerKind.parse("100:wait") == CallerKind("100", "wait", 1.0)
    for bad in ("100", "100::1", "100:wait:0", "100:wait:-1", "a:b:c:d"):
        with pytest.raises(ValueError):
            CallerKind.parse(bad)
