"""``ccqueue simulate SCENARIO.yaml [--json]``: simulate one day and print its figures.

Exit codes, as the rest of the ``ccqueue`` command: 0 success, 2 a scenario that cannot
be read or is not valid (each problem printed with file, line and key).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ccqueue.config.yamlfile import read_yaml_file
from ccqueue.sim import ScenarioError, parse_scenario, simulate

__all__ = ["main"]

EXIT_OK, EXIT_SCENARIO = 0, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccqueue simulate",
        description="Simulate a day of calls through ccqueue's call distributor (see docs/simulator.md).",
    )
    parser.add_argument("scenario", help="the scenario file (YAML)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["simulate"]:  # called with the whole command line of `ccqueue simulate`
        args = args[1:]
    options = _parser().parse_args(args)
    path = Path(options.scenario)
    parsed = read_yaml_file(path)
    if parsed.problems:
        return _fail(err, path, [str(problem) for problem in parsed.problems])
    try:
        scenario = parse_scenario(parsed.data)
    except ScenarioError as exc:
        lines = []
        for problem in exc.problems:
            file, line = parsed.locations.find(problem.path, at_key=True)
            where = file if line is None else f"{file}:{line}"
            lines.append(f"{where}: {problem}")
        return _fail(err, path, lines)
    figures = simulate(scenario)
    if options.json:
        print(json.dumps(figures), file=out)
    else:
        print(_readable(str(path), figures), file=out)
    return EXIT_OK


def _fail(err: TextIO, path: Path, lines: list[str]) -> int:
    print(f"ccqueue simulate: scenario {path} has {len(lines)} problem(s):", file=err)
    for line in lines:
        print(f"  {line}", file=err)
    return EXIT_SCENARIO


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _s(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f} s" if signed else f"{value:.1f} s"


def _block(figures: dict[str, Any], indent: str) -> list[str]:
    ewt = figures["ewt"]
    ours, theirs = ewt["ccqueue"], ewt["app_queue_ewma"]
    lines = [
        f"{indent}calls {figures['calls']}: answered {figures['answered']}, abandoned {figures['abandoned']} "
        f"({_pct(figures['abandon_rate'])}), still waiting {figures['still_waiting']}",
        f"{indent}mean wait {_s(figures['mean_wait_s'])}, longest {_s(figures['max_wait_s'])}, "
        f"service level {_pct(figures['service_level_20s'])} answered within 20 s",
        f"{indent}estimated wait told on joining, against the wait then had ({ewt['callers']} answered callers "
        f"still waiting at the first announcement; {ewt['answered_before_announcement']} answered sooner):",
        f"{indent}  ccqueue    mean error {_s(ours['mae_s'])}, bias {_s(ours['bias_s'], signed=True)}, "
        f"{_pct(ours['within_interval'])} within its 80 % interval",
        f"{indent}  app_queue  mean error {_s(theirs['mae_s'])}, bias {_s(theirs['bias_s'], signed=True)} "
        "(holdtime, moved on each answer)",
    ]
    if ewt["mae_ratio"] is not None:
        lines.append(f"{indent}  ccqueue's error is {ewt['mae_ratio']:.2f} of app_queue's")
    return lines


def _readable(path: str, figures: dict[str, Any]) -> str:
    hours = figures["duration_s"] / 3600
    queues = figures["queues"]
    lines = [
        f"{path}: {hours:g} h, {len(queues)} queue(s) ({', '.join(queues)}), "
        f"{figures['agents']} agent(s), seed {figures['seed']}",
        *_block(figures, ""),
    ]
    walked = figures.get("ivr")
    if walked is not None:
        routed = ", ".join(f"{q} {n}" for q, n in walked["to_queues"].items()) or "none"
        lines.append(
            f"IVR: {walked['callers']} callers; to queues: {routed}; finished in the IVR {walked['finished_in_ivr']}, "
            f"callbacks booked {walked['callbacks_booked']}, messages {walked['voicemail']}; "
            f"mean time to a queue {_s(walked['mean_to_queue_s'])}"
        )
    for name, own in figures.get("per_queue", {}).items():
        lines.append(f"queue {name}:")
        lines.extend(_block(own, "  "))
    return "\n".join(lines)
