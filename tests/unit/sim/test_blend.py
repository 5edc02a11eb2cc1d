"""Blending in the simulator: a campaign sharing the inbound queue's agents keeps the
inbound service level within 2 points of the same day without it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ccqueue.core.campaigns import CampaignMode, CampaignSettings
from ccqueue.sim.blend import BlendPlan, compare
from ccqueue.sim.scenario import parse_scenario

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("mode", [CampaignMode.PREDICTIVE, CampaignMode.PROGRESSIVE])
def test_a_campaign_on_the_inbound_agents_keeps_the_inbound_service_level(mode: CampaignMode) -> None:
    scenario = parse_scenario(yaml.safe_load((REPO / "docs" / "scenarios" / "support_day.yaml").read_text()))
    campaign = CampaignSettings(name="blend", mode=mode, queues=("support",), caller_id="+15550009999", max_lines=20)
    result = compare(scenario, BlendPlan(campaign=campaign))
    attempts = result["attempts"]
    assert isinstance(attempts, dict) and attempts.get("connected", 0) >= 20  # the campaign did talk to people
    alone, blended = result["service_level_alone"], result["service_level_blended"]
    assert isinstance(alone, float) and isinstance(blended, float)
    assert abs(blended - alone) <= 0.02


def test_without_inbound_first_the_campaign_takes_the_inbound_agents() -> None:
    # The same day with blending off: the campaign dials for every free agent, and the
    # inbound callers pay for it (the rule above is what keeps them whole).
    scenario = parse_scenario(yaml.safe_load((REPO / "docs" / "scenarios" / "support_day.yaml").read_text()))
    campaign = CampaignSettings(
        name="blend", mode=CampaignMode.PROGRESSIVE, queues=("support",), caller_id="+15550009999", max_lines=20,
        inbound_first=False,
    )  # fmt: skip
    result = compare(scenario, BlendPlan(campaign=campaign))
    alone, blended = result["service_level_alone"], result["service_level_blended"]
    assert isinstance(alone, float) and isinstance(blended, float)
    assert blended < alone - 0.02
