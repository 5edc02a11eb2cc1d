"""The simulator's IVR: callers walk the core's IVR machine on the virtual clock."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccqueue.sim import ScenarioError, Simulation, parse_scenario, simulate
from ccqueue.sim.cli import main
from ccqueue.sim.scenario import VIA_IVR

TREE: dict[str, Any] = {
    "entry": "welcome",
    "nodes": {
        "welcome": {"play": {"prompts": ["ccqueue/ivr-welcome"], "next": "menu"}},
        "menu": {"menu": {"prompt": "ccqueue/ivr-main-menu", "keys": {"1": "support", "2": "billing", "3": "callback"},
                          "timeout_s": 5, "retries": 1, "on_exhausted": "bye"}},
        "support": {"queue": {"name": "support"}},
        "billing": {"queue": {"name": "billing"}},
        "callback": {"callback": {"queue": "support"}},
        "bye": {"hangup": {"prompts": ["vm-goodbye"]}},
    },
}  # fmt: skip


def scenario(keys: dict[str, Any] | None = None, **ivr: Any) -> dict[str, Any]:
    return {
        "seed": 5,
        "duration_s": 3600,
        "queues": {"support": {}, "billing": {}},
        "agents": {"count": 6},
        "arrivals": [{"until_s": 3600, "per_minute": 2.0}],
        "handle_time": {"distribution": "exponential", "mean_s": 120},
        "callbacks": {"accept": 1.0},
        "ivr": {"trees": {"main": TREE}, "prompt_s": 2, "keys": keys or {"menu": {"1": 0.7, "2": 0.3}}, **ivr},
    }


def test_callers_reach_queues_by_their_ivr_path_in_the_shares_given() -> None:
    rows = Simulation(parse_scenario(scenario())).run()
    assert len(rows) > 80
    assert {r.ivr_path for r in rows} == {("welcome", "menu", "support"), ("welcome", "menu", "billing")}
    for r in rows:
        assert r.queue == r.ivr_path[-1]
        # a prompt of 2 s, the menu's prompt of 2 s and a key of 1 s before joining
        assert r.ivr_s == pytest.approx(5.0)
    share = sum(1 for r in rows if r.queue == "support") / len(rows)
    assert 0.6 < share < 0.8
    assert all(r.answered_at is not None for r in rows)


def test_callers_who_press_nothing_hear_the_menu_again_then_goodbye() -> None:
    rows = Simulation(parse_scenario(scenario({"menu": {"none": 1.0}}))).run()
    assert {r.ivr_path for r in rows} == {("welcome", "menu", "bye")}
    assert {(r.queue, r.released) for r in rows} == {(VIA_IVR, "self_service")}
    result = simulate(scenario({"menu": {"none": 1.0}}))
    assert result["ivr_finished"] == result["calls"] and result["answered"] == 0 and result["still_waiting"] == 0
    assert result["ivr"]["last_node"] == {"bye": result["calls"]}


def test_a_wrong_key_is_a_wrong_key_and_a_callback_is_booked() -> None:
    rows = Simulation(parse_scenario(scenario({"menu": {"9": 0.5, "3": 0.5}}))).run()
    paths = {r.ivr_path for r in rows}
    assert ("welcome", "menu", "callback") in paths  # 3 at once, or after a wrong key
    assert all(r.ivr_path[-1] in ("callback", "bye") for r in rows)
    booked = [r for r in rows if r.ivr_path[-1] == "callback"]
    assert booked and all(r.released == "callback" for r in booked)
    result = simulate(scenario({"menu": {"9": 0.5, "3": 0.5}}))
    assert result["ivr"]["callbacks_booked"] == len(booked)


def test_same_seed_same_walks() -> None:
    assert simulate(scenario()) == simulate(scenario())
    assert simulate(scenario()) != simulate({**scenario(), "seed": 6})


def problems(data: object) -> dict[str, str]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data)
    return {".".join(map(str, p.path)): p.message for p in caught.value.problems}


@pytest.mark.parametrize(
    ("keys", "ivr", "key", "words"),
    [
        ({"menu": {"1": 0.5}}, {}, "ivr.keys.menu", "add up to 0.5"),
        ({"menu": {"12": 1.0}}, {}, "ivr.keys.menu.12", "up to 1"),
        ({"menu": {"x": 1.0}}, {}, "ivr.keys.menu.x", "0-9"),
        ({"mnu": {"1": 1.0}}, {}, "ivr.keys.mnu", "did you mean 'menu'"),
        ({"support": {"1": 1.0}}, {}, "ivr.keys.support", "no menu, collect"),
        ({"menu": {"1": 1.5}}, {}, "ivr.keys.menu.1", "less than or equal to 1"),
        (None, {"tree": "mian"}, "ivr.tree", "did you mean 'main'"),
        (None, {"prompt_s": 0}, "ivr.prompt_s", "greater than 0"),
        (None, {"trees": {"main": {**TREE, "entry": "welcom"}}}, "ivr.trees.main.entry", "welcome"),
        (None, {"trees": {"main": {"entry": "a", "nodes": {"a": {"queue": {"name": "sales"}}}}}},
         "ivr.trees.main.nodes.a.queue.name", "unknown queue 'sales'"),
        (None, {"trees": {"main": {"entry": "a", "nodes": {"a": {"queu": {"name": "support"}}}}}},
         "ivr.trees.main.nodes.a.queu", "unknown key"),
    ],
)  # fmt: skip
def test_a_wrong_ivr_names_the_key(keys: dict[str, Any] | None, ivr: dict[str, Any], key: str, words: str) -> None:
    found = problems(scenario(keys, **ivr))
    assert key in found, found
    assert words in found[key]


def test_cli_places_ivr_problems_on_their_lines_and_prints_the_ivr_line(tmp_path: Path) -> None:
    path = tmp_path / "ivr.yaml"
    path.write_text(yaml.safe_dump(scenario({"menu": {"1": 0.7, "2": 0.2}}), sort_keys=False))
    err = io.StringIO()
    assert main([str(path)], out=io.StringIO(), err=err) == 2
    lines = path.read_text().splitlines()
    keys_at = max(n for n, text in enumerate(lines, 1) if text == "  keys:")  # ivr.keys, not a menu's
    assert f"{path}:{keys_at + 1}: ivr.keys.menu: the shares add up to 0.9, not 1" in err.getvalue()
    path.write_text(yaml.safe_dump(scenario(), sort_keys=False))
    out = io.StringIO()
    assert main([str(path)], out=out, err=io.StringIO()) == 0
    assert "IVR: " in out.getvalue() and "to queues: billing" in out.getvalue()
