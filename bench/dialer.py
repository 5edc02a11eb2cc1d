"""Outbound pacing: talk time per agent hour and abandoned calls, three ways of pacing.

Run from the repository root: ``python bench/dialer.py``. The lines printed say what
is measured; the last line is one JSON object with the figures.

The scene (``ccqueue.sim.outbound``, a discrete-event campaign on a virtual clock): 20
agents, working days of 8 h starting every 24 h, 30 days. Of the dials, 30 % are
answered by a person and 20 % by an answering machine, both 5–20 s after the dial
(uniform); 10 % are busy (4 s), the rest ring out (25 s). Answering-machine detection
takes 3 s. A connected person talks a lognormal 180 s on average (sigma 0.6), then the
agent wraps up 15 s. A person answered with no agent within 2 s hears the safe-harbour
message and counts as abandoned.

Paced three ways, on the same contact list (the same people, in the same order):

- ``predictive``: ccqueue's predictive pacing (``ccqueue.core.pacing``, defaults:
  ceiling 3 %, safety margin 0.5 %, aim 2 %);
- ``progressive``: ccqueue's progressive pacing (one dial per free agent, held);
- ``vicidial``: the baseline, a VICIdial-style adaptive dial level in its hard-limit
  mode (``ccqueue.sim.vicidial``: level recomputed every 15 s, drops capped per
  calendar day at 3 %, maximum level 3.0).

Figures per way: talk minutes per agent hour (8 h a day per agent), the abandoned
share of live answers over the first day and over the 30 days, and the worst rolling
24 h window (every window ending at any moment up to the end of the last day's calls;
see bench/README.md for the windows after the campaign stops).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ccqueue.core import pacing as pc
from ccqueue.sim.outbound import (
    DAY_S,
    Contacts,
    Dialler,
    OutboundRun,
    OutboundScenario,
    PacerDialler,
    VicidialDialler,
    run,
)

DAYS = 30
CEILING = 0.03


def figures(result: OutboundRun) -> dict[str, float]:
    s = result.scenario
    first_day_end = s.day_s + 3_600.0  # the calls going on at the end have finished by then
    last_day_end = (s.days - 1) * DAY_S + s.day_s + 3_600.0
    return {
        "talk_min_per_agent_hour": round(result.talk_min_per_agent_hour(), 2),
        "talk_min_per_agent_hour_day1": round(result.talk_min_per_agent_hour(slice(0, 1)), 2),
        "abandon_day1": round(result.abandon_ratio(slice(0, 1)), 5),
        "abandon_max_24h_day1": round(result.worst_window_ratio(until=first_day_end), 5),
        "abandon_30d": round(result.abandon_ratio(), 5),
        "abandon_max_24h": round(result.worst_window_ratio(until=last_day_end), 5),
        "abandon_max_24h_after_stop": round(result.worst_window_ratio(), 5),
        "dials": sum(d.dials for d in result.days),
        "live_answers": sum(d.live_answers for d in result.days),
        "abandons": sum(d.abandons for d in result.days),
    }


def main() -> None:
    scenario = OutboundScenario(days=DAYS, seed=1)
    contacts = Contacts(scenario)
    diallers: list[Dialler] = [
        PacerDialler("predictive", pc.PacingSettings(ceiling=CEILING)),
        PacerDialler("progressive", pc.PacingSettings(mode=pc.Mode.PROGRESSIVE)),
        VicidialDialler("vicidial"),
    ]
    print(
        f"scene: {scenario.agents} agents, {DAYS} days of {scenario.day_s / 3600:.0f} h; dials answered "
        f"{scenario.human:.0%} by a person, {scenario.machine:.0%} by a machine; talk {scenario.talk_mean_s:.0f} s "
        f"lognormal, wrap-up {scenario.wrap_s:.0f} s; abandoned = no agent {scenario.connect_deadline_s:.0f} s after the answer"
    )
    out: dict[str, object] = {}
    rows = []
    for dialler in diallers:
        start = time.perf_counter()
        result = run(scenario, dialler, contacts)
        seconds = time.perf_counter() - start
        f = figures(result)
        rows.append((dialler.name, f, seconds))
        for key, value in f.items():
            out[f"{dialler.name}_{key}"] = value
        out[f"{dialler.name}_seconds"] = round(seconds, 1)
    header = f"{'pacing':<12} {'talk min/agent h':>16} {'day 1':>7} {'abandoned 30 d':>14} {'worst 24 h':>10} {'day 1':>7} {'dials':>8} {'seconds':>8}"
    print(header)
    for name, f, seconds in rows:
        print(
            f"{name:<12} {f['talk_min_per_agent_hour']:>16.1f} {f['talk_min_per_agent_hour_day1']:>7.1f} "
            f"{f['abandon_30d']:>14.2%} {f['abandon_max_24h']:>10.2%} {f['abandon_max_24h_day1']:>7.2%} "
            f"{f['dials']:>8} {seconds:>8.1f}"
        )
    predictive = rows[0][1]
    vicidial = rows[2][1]
    out["target_met"] = (
        predictive["talk_min_per_agent_hour"] >= 50.0
        and predictive["abandon_max_24h"] <= CEILING
        and predictive["abandon_30d"] <= CEILING
        and predictive["talk_min_per_agent_hour"] > vicidial["talk_min_per_agent_hour"]
        and predictive["abandon_max_24h"] <= vicidial["abandon_max_24h"]
    )
    print(
        "targets: predictive >= 50 talk min per agent hour, <= 3.0 % abandoned in the worst 24 h and over 30 days, "
        f"more talk than the VICIdial-style level at no higher abandon: {'met' if out['target_met'] else 'NOT met'}"
    )
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
