"""The simulator: the real core on a virtual clock, its scenarios and its command line."""

from __future__ import annotations

import copy
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccqueue.sim import CallRow, ScenarioError, Simulation, parse_scenario, simulate
from ccqueue.sim.cli import main

SCENARIOS = Path(__file__).resolve().parents[3] / "docs" / "scenarios"


def scenario(**changes: Any) -> dict[str, Any]:
    """Two hours of a 5-agent queue near saturation, callers giving up after ~2 min."""
    base: dict[str, Any] = {
        "seed": 7,
        "duration_s": 7200,
        "queues": {"support": {"strategy": "longest_idle"}},
        "agents": {"count": 5},
        "arrivals": [{"until_s": 7200, "per_minute": 1.6}],
        "handle_time": {"distribution": "exponential", "mean_s": 180},
        "patience": {"distribution": "exponential", "mean_s": 120},
    }
    base.update(changes)
    return base


def rows_of(data: dict[str, Any]) -> list[CallRow]:
    return Simulation(parse_scenario(data)).run()


# ---------------------------------------------------------------------- runs


def test_same_seed_same_day_other_seed_other_day() -> None:
    assert simulate(scenario()) == simulate(scenario())
    assert simulate(scenario()) != simulate(scenario(seed=8))


def test_summary_has_the_promised_figures() -> None:
    result = simulate(scenario())
    for key in ("calls", "answered", "abandoned", "still_waiting", "mean_wait_s", "service_level_20s"):
        assert key in result
    for side in ("ccqueue", "app_queue_ewma"):
        assert set(result["ewt"][side]) >= {"mae_s", "bias_s"}
    assert result["calls"] > 150 and result["abandoned"] > 0


@pytest.mark.parametrize("drain", [True, False])
def test_every_caller_is_answered_abandoned_or_still_waiting(drain: bool) -> None:
    # Overloaded and patient: when the day stops without draining, callers are left waiting.
    data = scenario(drain=drain, patience="none", arrivals=[{"until_s": 7200, "per_minute": 3.0}])
    rows = rows_of(data)
    answered = sum(r.answered_at is not None for r in rows)
    abandoned = sum(r.abandoned_at is not None for r in rows)
    waiting = sum(r.answered_at is None and r.abandoned_at is None for r in rows)
    assert answered + abandoned + waiting == len(rows)
    assert not any(r.answered_at is not None and r.abandoned_at is not None for r in rows)
    assert (waiting == 0) is drain
    result = simulate(data)
    assert result["answered"] + result["abandoned"] + result["still_waiting"] == result["calls"]


def test_app_queue_holdtime_is_the_ewma_of_answered_waits_in_answer_order() -> None:
    rows = rows_of(scenario())
    holdtime = 0.0
    told: dict[str, float] = {}
    answered = sorted((r for r in rows if r.answered_at is not None), key=lambda r: (r.answered_at, r.call_id))
    events = sorted([(r.arrived_at, 0, r) for r in rows] + [(r.answered_at, 1, r) for r in answered], key=lambda e: (e[0], e[1]))
    for _, kind, row in events:
        if kind == 0:
            told[row.call_id] = holdtime
        else:
            holdtime = (3 * holdtime + (row.answered_at - row.arrived_at)) / 4
    assert all(row.holdtime_s == pytest.approx(told[row.call_id]) for row in rows)


def test_a_caller_finding_a_free_agent_is_first_and_told_no_wait() -> None:
    first = rows_of(scenario())[0]
    assert first.position == 1 and first.ewt_s == 0.0 and first.holdtime_s == 0.0
    assert first.answered_at == first.arrived_at  # agents answer at once by default


def test_positions_grow_with_the_line() -> None:
    rows = rows_of(scenario(patience="none", agents={"count": 1}, arrivals=[{"until_s": 3600, "per_minute": 2}]))
    assert max(r.position for r in rows) > 10
    deep = [r for r in rows if r.position > 5]
    assert all(r.ewt_s > 0 and r.ewt_low_s < r.ewt_s < r.ewt_high_s for r in deep)


def test_answer_delay_is_waited_and_learnt_as_ring_time() -> None:
    rows = rows_of(scenario(answer_delay_s=4, arrivals=[{"until_s": 7200, "per_minute": 0.3}]))
    immediate = [r for r in rows if r.position == 1 and r.answered_at is not None and r.ewt_s < 10]
    assert all(r.answered_at - r.arrived_at >= 4.0 for r in rows if r.answered_at is not None)
    assert immediate[-1].ewt_s == pytest.approx(4.0, rel=0.1)


def test_agents_who_never_pick_up_answer_nobody() -> None:
    rows = rows_of(scenario(answer_delay_s=30, queues={"support": {"ring_timeout_s": 15}}))
    assert rows and all(r.answered_at is None for r in rows)


def test_agents_work_only_their_shift() -> None:
    data = scenario(
        agents=[{"count": 2}, {"count": 3, "login_s": 1800, "logout_s": 3600}],
        patience="none",
        arrivals=[{"until_s": 5400, "per_minute": 2.0}],
    )
    rows = rows_of(data)
    late = {"a3", "a4", "a5"}
    assert any(r.agent_id in late for r in rows)
    for r in rows:
        if r.agent_id in late:
            assert r.answered_at is not None and 1800 <= r.answered_at <= 3600


def test_skills_and_widening_are_the_cores_own() -> None:
    data = scenario(
        queues={"billing": {"steps": [{"require": {"billing": 3}, "duration_s": 30}, {}]}},
        agents={"ann": {"queues": ["billing"], "skills": {"billing": 4}}, "cat": {"queues": ["billing"]}},
        arrivals=[{"until_s": 7200, "per_minute": 0.6}],
        patience="none",
    )
    rows = [r for r in rows_of(data) if r.answered_at is not None]
    assert {r.agent_id for r in rows} == {"ann", "cat"}
    assert all(r.answered_at - r.arrived_at >= 30 for r in rows if r.agent_id == "cat")


def test_two_queues_share_agents_and_report_each_queue() -> None:
    data = scenario(
        queues={"sales": {}, "support": {"priority": 1}},
        arrivals=[
            {"queue": "sales", "until_s": 7200, "per_minute": 0.8},
            {"queue": "support", "until_s": 7200, "per_minute": 0.8},
        ],
    )
    result = simulate(data)
    assert set(result["per_queue"]) == {"sales", "support"}
    assert result["per_queue"]["sales"]["calls"] + result["per_queue"]["support"]["calls"] == result["calls"]


def test_piecewise_arrivals_follow_their_rates() -> None:
    data = scenario(
        duration_s=7200,
        patience="none",
        agents={"count": 20},
        arrivals=[{"until_s": 3600, "per_minute": 0.5}, {"until_s": 7200, "per_minute": 5.0}],
    )
    rows = rows_of(data)
    early = sum(r.arrived_at < 3600 for r in rows)
    late = len(rows) - early
    assert 15 <= early <= 50 and 250 <= late <= 350


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_example_scenarios_run(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    short = copy.deepcopy(data)
    short["duration_s"] = 3600  # an hour of each keeps the suite fast
    result = simulate(short)
    assert result["calls"] > 0 and result["answered"] > 0


def test_at_least_four_example_scenarios() -> None:
    assert len(list(SCENARIOS.glob("*.yaml"))) >= 4


# ---------------------------------------------------------------------- checking


def problems(data: object) -> dict[str, str]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data)
    return {".".join(map(str, p.path)): p.message for p in caught.value.problems}


def test_unknown_keys_are_named_with_a_suggestion() -> None:
    found = problems({**scenario(), "durration_s": 5})
    assert "did you mean 'duration_s'" in found["durration_s"]
    found = problems(scenario(queues={"support": {"wrapup": 5}}))
    assert "did you mean 'wrapup_s'" in found["queues.support.wrapup"]


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"duration_s": "8h"}, "duration_s", "number"),
        ({"duration_s": -1}, "duration_s", "greater than 0"),
        ({"queues": {"Support!": {}}}, "queues.Support!", "a-z"),
        ({"queues": {"support": {"strategy": "fastest"}}}, "queues.support.strategy", "longest_idle"),
        ({"agents": {"count": 0}}, "agents.count", "greater than or equal to 1"),
        ({"agents": [{"count": 2, "queues": ["sales"]}]}, "agents.0.queues.0", "no queue 'sales'"),
        ({"agents": {"ann": {"queues": ["support"], "skills": {"billing": 9}}}}, "agents.ann.skills.billing", "5"),
        ({"agents": [{"count": 1, "login_s": 100, "logout_s": 50}]}, "agents.0.logout_s", "after login_s"),
        ({"arrivals": []}, "arrivals", "at least 1"),
        (
            {"arrivals": [{"until_s": 100, "per_minute": 1}, {"until_s": 50, "per_minute": 1}]},
            "arrivals.1.until_s",
            "after",
        ),
        ({"arrivals": [{"until_s": 100, "per_minute": 1, "queue": "sales"}]}, "arrivals.0.queue", "no queue 'sales'"),
        ({"handle_time": {"distribution": "lognormal", "mean_s": 100}}, "handle_time.sigma", "needs sigma"),
        ({"handle_time": {"distribution": "gamma", "mean_s": 100}}, "handle_time.distribution", "exponential"),
        (
            {"patience": {"distribution": "exponential", "mean_s": 100, "sigma": 1}},
            "patience.sigma",
            "only a lognormal",
        ),
    ],
)
def test_wrong_scenarios_name_the_key(changes: dict[str, Any], key: str, words: str) -> None:
    found = problems(scenario(**changes))
    assert key in found, found
    assert words in found[key]


def test_missing_keys_and_a_queue_left_unsaid() -> None:
    data = scenario(queues={"a": {}, "b": {}})
    del data["handle_time"]
    found = problems(data)
    assert "required" in found["handle_time"]
    data = scenario(queues={"a": {}, "b": {}})
    found = problems(data)
    assert "say which queue" in found["arrivals.0.queue"]


def test_every_problem_is_listed_at_once() -> None:
    found = problems(scenario(queues={"support": {"wrapup_s": -1}}, arrivals=[{"until_s": 10, "per_minute": -1}], patience=5))
    assert {"queues.support.wrapup_s", "arrivals.0.per_minute", "patience"} <= set(found)


def test_a_scenario_is_a_mapping() -> None:
    assert "mapping" in problems([1, 2])[""]


# ---------------------------------------------------------------------- command line


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "day.yaml"
    path.write_text(text)
    return path


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_json_is_the_summary(tmp_path: Path) -> None:
    path = write(tmp_path, yaml.safe_dump(scenario(duration_s=1800)))
    code, out, _ = run_cli(str(path), "--json")
    assert code == 0
    assert json.loads(out) == simulate(scenario(duration_s=1800))


def test_cli_prints_a_readable_summary(tmp_path: Path) -> None:
    path = write(tmp_path, yaml.safe_dump(scenario(duration_s=1800)))
    code, out, _ = run_cli("simulate", str(path))
    assert code == 0
    assert "mean wait" in out and "app_queue" in out and "service level" in out


def test_cli_wrong_scenario_gives_file_line_key_and_exit_2(tmp_path: Path) -> None:
    text = "seed: 1\nduration_s: 3600\nqueues:\n  support:\n    ring_timeout: 15\nagents: {count: 2}\n"
    text += "arrivals:\n  - {until_s: 3600, per_minute: 1}\nhandle_time: {distribution: exponential, mean_s: 60}\n"
    path = write(tmp_path, text)
    code, out, err = run_cli(str(path))
    assert code == 2 and out == ""
    assert f"{path}:5: queues.support.ring_timeout: unknown key 'ring_timeout'; did you mean 'ring_timeout_s'?" in err


def test_cli_broken_yaml_and_missing_file_exit_2(tmp_path: Path) -> None:
    code, _, err = run_cli(str(write(tmp_path, "seed: [1\n")))
    assert code == 2 and "YAML syntax error" in err
    code, _, err = run_cli(str(tmp_path / "nothing.yaml"))
    assert code == 2 and "cannot read" in err


def test_estimates_are_finite_when_someone_serves() -> None:
    rows = rows_of(scenario())
    assert all(math.isfinite(r.ewt_s) for r in rows)


def test_callbacks_are_simulated_by_the_core_and_every_caller_is_accounted_for() -> None:
    import yaml

    from ccqueue.sim import simulate

    data = yaml.safe_load((Path(__file__).parents[3] / "docs" / "scenarios" / "callbacks_overflow.yaml").read_text())
    result = simulate(data)
    booked = result["callbacks_booked"]
    assert booked > 50 and result["refused"] > 0
    parts = ("answered", "abandoned", "refused", "overflowed", "callbacks_booked", "voicemail", "ivr_finished", "still_waiting")
    assert sum(result[p] for p in parts) == result["calls"]
    ended = result["callbacks"]
    assert sum(ended.values()) == booked
    # 8 in 10 attempts answered, 3 attempts: nearly every callback is completed.
    assert ended["completed"] / booked > 0.9
    declined_all = simulate({**data, "callbacks": {**data["callbacks"], "accept": 0.0}})
    assert declined_all["callbacks_booked"] == 0 and "callbacks" not in declined_all
