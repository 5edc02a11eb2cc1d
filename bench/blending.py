"""Blending: an inbound day with a campaign sharing its agents, against the same day
without the campaign.

Run from the repository root: ``python bench/blending.py``. The last line is one JSON
object with the figures.

The day is ``docs/scenarios/support_day.yaml`` (20 agents, 6 calls a minute, 3 minutes
of talk, callers who give up after 2 minutes on average), run by the simulator through
the real core (``ccqueue.sim.run``); the blended run adds one campaign on the same
queue (``ccqueue.sim.blend``: 30 % of dials a person, 20 % a machine, 10 % busy),
paced predictively and then progressively, inbound first. The target: the inbound
service level (answered in 20 s) stays within 2 points of the day without it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ccqueue.core.campaigns import CampaignMode, CampaignSettings
from ccqueue.sim.blend import BlendPlan, compare
from ccqueue.sim.scenario import parse_scenario

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 0.02


def main() -> None:
    scenario = parse_scenario(yaml.safe_load((REPO / "docs" / "scenarios" / "support_day.yaml").read_text()))
    out: dict[str, object] = {}
    met = True
    print(f"{'mode':<12} {'SL alone':>9} {'SL blended':>11} {'outbound connected':>19} {'abandoned':>10} {'seconds':>8}")
    for mode in (CampaignMode.PREDICTIVE, CampaignMode.PROGRESSIVE):
        campaign = CampaignSettings(name="blend", mode=mode, queues=("support",), caller_id="+15550009999", max_lines=20)
        start = time.perf_counter()
        result = compare(scenario, BlendPlan(campaign=campaign))
        seconds = time.perf_counter() - start
        attempts = result["attempts"]
        assert isinstance(attempts, dict)
        alone, blended = float(result["service_level_alone"]), float(result["service_level_blended"])  # type: ignore[arg-type]
        met = met and abs(blended - alone) <= TOLERANCE and attempts.get("connected", 0) > 0
        print(
            f"{mode.value:<12} {alone:>9.1%} {blended:>11.1%} {attempts.get('connected', 0):>19} "
            f"{attempts.get('abandoned', 0):>10} {seconds:>8.1f}"
        )
        out[mode.value] = result
    out["target_met"] = met
    print(
        f"target: inbound service level within {TOLERANCE:.0%} points of the day without the campaign: {'met' if met else 'NOT met'}"
    )
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
