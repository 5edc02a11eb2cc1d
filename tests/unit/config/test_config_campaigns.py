"""The ``outbound:`` and ``campaigns:`` sections: loaded frozen with the core's defaults,
mapped onto the core's settings, and every mistake reported with file, line and key."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ccqueue.config import Config, ConfigError, Problem, load_config
from ccqueue.config.to_core import campaign_settings
from ccqueue.core.campaigns import (
    DEFAULT_RETRY,
    AttemptOutcome,
    CallingWindow,
    CampaignMode,
    CampaignSettings,
    RetryRule,
)

BASE = """\
asterisk:
  ami: {username: ccqueue, secret: s3cret}
queues:
  sales:
  support:
schedules:
  office:
    time_zone: America/New_York
    holidays:
      - {date: 2026-12-25}
      - {date: 2026-12-24, hours: ["09:00-13:00"]}
outbound:
  dial: PJSIP/{digits}@trunk
  region: US
  allowed: ['\\+1\\d{10}']
"""

LEAST = """\
campaigns:
  reminders:
    mode: progressive
    queues: [sales]
    caller_id: "+12125550100"
"""


def load(tmp_path: Path, text: str, *, base: str = BASE) -> Config:
    (tmp_path / "ccqueue.yaml").write_text(base + textwrap.dedent(text), encoding="utf-8")
    return load_config(tmp_path, env={})


def problems(tmp_path: Path, text: str, *, base: str = BASE) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, base=base)
    return list(caught.value.problems)


def line_of(text: str, needle: str, *, base: str = BASE) -> int:
    """The line of the first of ``text``'s lines holding ``needle``, counted in the file."""
    skip = len(base.splitlines())
    lines = textwrap.dedent(text).splitlines()
    return skip + next(i for i, line in enumerate(lines, 1) if needle in line)


def test_a_campaign_left_to_its_defaults_is_the_cores_default(tmp_path: Path) -> None:
    config = load(tmp_path, LEAST)
    assert dict(campaign_settings(config)) == {
        "reminders": CampaignSettings(
            name="reminders", mode=CampaignMode.PROGRESSIVE, queues=("sales",), caller_id="+12125550100"
        )
    }
    assert config.outbound is not None and config.outbound.max_channels == 30
    assert config.outbound.dial_string("+12125550101") == "PJSIP/12125550101@trunk"


def test_every_key_reaches_the_core(tmp_path: Path) -> None:
    text = """\
    campaigns:
      survey:
        mode: broadcast
        queues: [support, sales]
        caller_id: "+12125550100"
        time_zone: America/Chicago
        max_lines: 4
        min_ring_s: 10
        ring_timeout_s: 12
        max_attempts: 5
        retry:
          busy: {after_s: 60, max_tries: 9}
          machine: null
          abandoned: {after_s: 86400, max_tries: 1}
        window: {hours: "10:00-19:30", days: [mon, fri], holidays: office}
        amd: false
        on_machine: leave_message
        machine_message: ccqueue/sorry
        abandon_ceiling: 0.01
        connect_deadline_s: 1.5
        abandon_lock_s: 3600
        count_amd_false_positives: true
        safe_harbour: ccqueue/harbour
        broadcast_message: ccqueue/sale
        operator_key: "0"
        opt_out_key: "#"
        inbound_first: false
    """
    got = campaign_settings(load(tmp_path, text))["survey"]
    retry = dict(DEFAULT_RETRY)
    retry[AttemptOutcome.BUSY] = RetryRule(after_s=60, max_tries=9)
    retry[AttemptOutcome.ABANDONED] = RetryRule(after_s=86400, max_tries=1)
    del retry[AttemptOutcome.MACHINE]
    assert got == CampaignSettings(
        name="survey",
        mode=CampaignMode.BROADCAST,
        queues=("support", "sales"),
        caller_id="+12125550100",
        zone=ZoneInfo("America/Chicago"),
        max_lines=4,
        min_ring_s=10,
        ring_timeout_s=12,
        max_attempts=5,
        retry=retry,
        # Every holiday date of the schedule, even one it opens for a few hours.
        window=CallingWindow(
            start_s=10 * 3600,
            end_s=19 * 3600 + 1800,
            days=frozenset({0, 4}),
            holidays=frozenset({dt.date(2026, 12, 25), dt.date(2026, 12, 24)}),
        ),
        amd=False,
        on_machine="leave_message",
        machine_message="ccqueue/sorry",
        abandon_ceiling=0.01,
        connect_deadline_s=1.5,
        abandon_lock_s=3600,
        count_amd_false_positives=True,
        safe_harbour="ccqueue/harbour",
        broadcast_message="ccqueue/sale",
        operator_key="0",
        opt_out_key="#",
        inbound_first=False,
    )
    assert got.pacing.ring_timeout_s == 12 and got.pacing.ceiling == 0.01


def test_no_campaigns_and_no_outbound_is_fine(tmp_path: Path) -> None:
    config = load(tmp_path, "campaigns:\n", base=BASE.split("outbound:")[0])
    assert config.outbound is None and dict(campaign_settings(config)) == {}


# (the campaign's YAML under `campaigns: {c: ...}`, the line holding the problem, the key, a word of the message)
CASES = [
    ("mode: sometimes", "mode:", "campaigns.c.mode", "expected one of"),
    ("caller_id: '5550100'", "caller_id", "campaigns.c.caller_id", "E.164"),
    ("caller_id: '+15550100000'", "caller_id", "campaigns.c.caller_id", "not a valid phone number"),
    ("caller_id: '+1 212 555 0100'", "caller_id", "campaigns.c.caller_id", "'+12125550100'"),
    ("ring_timeout_s: 14", "ring_timeout_s", "campaigns.c.ring_timeout_s", "at least min_ring_s (15 s)"),
    ("abandon_ceiling: 1", "abandon_ceiling", "campaigns.c.abandon_ceiling", "less than 1"),
    ("abandon_ceiling: 0", "abandon_ceiling", "campaigns.c.abandon_ceiling", "more than 0"),
    ("max_lines: 0", "max_lines", "campaigns.c.max_lines", "at least 1"),
    ("on_machine: leave_message", "on_machine", "campaigns.c.on_machine", "give machine_message"),
    ("opt_out_key: '1'", "opt_out_key", "campaigns.c.opt_out_key", "differ"),
    ("window: {hours: '20:00-08:00'}", "window", "campaigns.c.window.hours", "past midnight"),
    ("window: {hours: '9-5'}", "window", "campaigns.c.window.hours", "HH:MM"),
    ("window: {days: [mon, mon]}", "window", "campaigns.c.window.days", "twice"),
    ("window: {days: [monday]}", "window", "campaigns.c.window.days.0", "'mon', 'tue'"),
    ("window: {holidays: ofice}", "window", "campaigns.c.window.holidays", "did you mean 'office'"),
    ("retry: {busy: {after_s: -1, max_tries: 1}}", "retry", "campaigns.c.retry.busy.after_s", "at least 0"),
    ("retry: {bussy: {after_s: 1, max_tries: 1}}", "retry", "campaigns.c.retry.bussy", "did you mean 'busy'"),
    ("time_zone: Mars/Olympus", "time_zone", "campaigns.c.time_zone", "unknown time zone"),
    ("ring_timout_s: 30", "ring_timout_s", "campaigns.c.ring_timout_s", "did you mean 'ring_timeout_s'"),
]


@pytest.mark.parametrize(("extra", "needle", "key", "words"), CASES)
def test_each_mistake_is_reported_on_its_line(tmp_path: Path, extra: str, needle: str, key: str, words: str) -> None:
    fields = {"mode": "predictive", "queues": "[sales]", "caller_id": '"+12125550100"'}
    name, _, value = extra.partition(": ")
    fields.pop(name, None)
    text = "campaigns:\n  c:\n" + "".join(f"    {k}: {v}\n" for k, v in fields.items()) + f"    {name}: {value}\n"
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    (problem,) = found
    assert problem.key == key
    assert words in problem.message, problem.message
    assert problem.file.endswith("ccqueue.yaml")
    assert problem.line == line_of(text, needle), problem


def test_references_are_checked_and_every_problem_reported_at_once(tmp_path: Path) -> None:
    text = """\
    campaigns:
      a:
        mode: predictive
        queues: [sales, saless]
        caller_id: "+12125550100"
        broadcast_message: x
      b:
        mode: broadcast
        caller_id: "+12125550100"
        queues: [support, support]
    """
    found = {(p.key, p.line) for p in problems(tmp_path, text)}
    assert found == {
        ("campaigns.a.queues.1", line_of(text, "queues: [sales, saless]")),
        # Not written: placed where campaign b's keys begin.
        ("campaigns.b.broadcast_message", line_of(text, "mode: broadcast")),
        ("campaigns.b.queues", line_of(text, "queues: [support, support]")),
    }


def test_a_campaign_needs_a_queue_unless_it_is_a_broadcast(tmp_path: Path) -> None:
    text = """\
    campaigns:
      c:
        mode: progressive
        caller_id: "+12125550100"
    """
    (problem,) = problems(tmp_path, text)
    assert (problem.key, problem.line) == ("campaigns.c", line_of(text, "mode: progressive"))
    assert "at least one queue" in problem.message


def test_campaigns_need_the_outbound_section(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, LEAST, base=BASE.split("outbound:")[0])
    assert problem.key == "campaigns"
    assert problem.line == line_of(LEAST, "campaigns:", base=BASE.split("outbound:")[0])
    assert "outbound" in problem.message


@pytest.mark.parametrize(
    ("outbound", "key", "words"),
    [
        ("dial: PJSIP/trunk", "outbound.dial", "{number} or {digits}"),
        ("dial: Local/{number}@ccqueue-outbound-dial", "outbound.dial", "ccqueue already dials through"),
        ("region: us", "outbound.region", "did you mean 'US'"),
        ("allowed: []", "outbound.allowed", ""),
        ("allowed: ['(?!1)']", "outbound.allowed.0", "look-ahead"),
        ("max_channels: 0", "outbound.max_channels", "at least 1"),
    ],
)
def test_outbound_mistakes(tmp_path: Path, outbound: str, key: str, words: str) -> None:
    fields = {"dial": "PJSIP/{digits}@trunk", "region": "US", "allowed": "['\\+1\\d{10}']"}
    name, _, value = outbound.partition(": ")
    fields[name] = value
    body = "".join(f"  {k}: {v}\n" for k, v in fields.items())
    base = BASE.split("outbound:")[0] + "outbound:\n" + body
    problem = next(p for p in problems(tmp_path, "", base=base) if p.key == key)
    assert words in problem.message, problem
    assert problem.line == next(i for i, line in enumerate(base.splitlines(), 1) if line.startswith(f"  {name}:"))


def test_the_models_are_frozen(tmp_path: Path) -> None:
    config = load(tmp_path, LEAST)
    with pytest.raises(Exception, match="frozen"):
        config.campaigns["reminders"].max_lines = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.campaigns["other"] = config.campaigns["reminders"]  # type: ignore[index]
