"""A discrete-event simulator driving the real core (``ccqueue.core.acd``) on a virtual clock.

``simulate(scenario)`` takes a scenario as plain data (the YAML of ``docs/simulator.md``)
and returns the day's figures; ``ccqueue.sim.cli.main`` is the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ccqueue.sim.run import CallRow, Simulation
from ccqueue.sim.scenario import (
    Scenario,
    ScenarioError,
    ScenarioProblem,
    parse_scenario,
)
from ccqueue.sim.summary import summarise

__all__ = [
    "CallRow",
    "Scenario",
    "ScenarioError",
    "ScenarioProblem",
    "Simulation",
    "parse_scenario",
    "simulate",
]


def simulate(scenario: Mapping[str, Any] | Scenario) -> dict[str, Any]:
    """Run ``scenario`` once: plain data (checked first: `ScenarioError` when it is not
    valid) or a `Scenario` already checked.

    The figures are those of `ccqueue.sim.summary.summarise`, after the scenario's
    ``seed``, ``duration_s``, ``queues`` (their names) and ``agents`` (how many).
    """
    parsed = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario)
    return {
        "seed": parsed.seed,
        "duration_s": parsed.duration_s,
        "queues": sorted(parsed.settings.queues),
        "agents": len(parsed.settings.agents),
        **_run(parsed),
    }


def _run(parsed: Scenario) -> dict[str, Any]:
    simulation = Simulation(parsed)
    rows = simulation.run()
    return summarise(rows, simulation.callback_results if parsed.callbacks is not None else None)
