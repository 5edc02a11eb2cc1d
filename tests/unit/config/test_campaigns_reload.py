"""Live reload with campaigns: a campaign added or changed takes over; a campaign file
with a mistake is refused with its file, line and key, and the running one stays."""

from __future__ import annotations

from pathlib import Path

from ccqueue.config import load_config
from ccqueue.config.running import RunningConfig, Snapshot
from ccqueue.config.to_core import campaign_settings, ivr_trees
from ccqueue.core import events as ev
from ccqueue.reload import Reloader

BASE = """\
asterisk:
  ami: {username: ccqueue, secret: s3cret}
queues:
  sales:
outbound:
  dial: PJSIP/{digits}@trunk
  region: US
  allowed: ['\\+1\\d{10}']
"""

CAMPAIGN = """\
campaigns:
  reminders:
    mode: predictive
    queues: [sales]
    caller_id: "+12125550100"
    max_lines: {lines}
"""


async def test_campaigns_reload_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ccqueue.yaml").write_text(BASE, encoding="utf-8")
    (tmp_path / "campaigns.yaml").write_text(CAMPAIGN.format(lines=5), encoding="utf-8")
    config = load_config(tmp_path, env={})
    running = RunningConfig(Snapshot(config=config, trees=ivr_trees(config)), path=tmp_path)
    asked: list[ev.Event] = []

    async def ask(event: ev.Event) -> object:
        asked.append(event)
        return None

    reloader = Reloader(running, ask=ask)
    (tmp_path / "campaigns.yaml").write_text(CAMPAIGN.format(lines=8), encoding="utf-8")
    result = await reloader.reload()
    assert result.applied, result
    assert campaign_settings(running.now.config)["reminders"].max_lines == 8

    (tmp_path / "campaigns.yaml").write_text(CAMPAIGN.format(lines=0) + "    ring_timeout_s: 5\n", encoding="utf-8")
    result = await reloader.reload()
    assert not result.applied and result.error_id == "config-invalid"
    where = tmp_path / "campaigns.yaml"
    assert result.problems == (
        f"{where}:6: campaigns.reminders.max_lines: must be at least 1, got the integer 0",
        f"{where}:7: campaigns.reminders.ring_timeout_s: unanswered calls ring at least min_ring_s (15 s), got 5; "
        "lower min_ring_s too if the law where you call allows it",
    )
    assert campaign_settings(running.now.config)["reminders"].max_lines == 8  # the running one stays
