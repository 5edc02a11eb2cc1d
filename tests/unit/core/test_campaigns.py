"""Campaign settings check themselves and carry their pacing; calling windows are
judged in the callee's own time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from ccqueue.core.campaigns import (
    DEFAULT_RETRY,
    AttemptOutcome,
    CallingWindow,
    CampaignInvalid,
    CampaignMode,
    CampaignSettings,
    RetryRule,
    window_open,
)
from ccqueue.core.errors import InputError
from ccqueue.core.pacing import Mode, PacingSettings


def settings(**changes: object) -> CampaignSettings:
    values: dict[str, object] = {
        "name": "reminders",
        "mode": CampaignMode.PREDICTIVE,
        "queues": ("sales",),
        "caller_id": "+15550100000",
    }
    values.update(changes)
    return CampaignSettings(**values)  # type: ignore[arg-type]


def test_defaults_are_the_legal_ones() -> None:
    s = settings()
    assert s.ring_timeout_s == 25.0 and s.min_ring_s == 15.0
    assert s.abandon_ceiling == 0.03 and s.connect_deadline_s == 2.0
    assert s.abandon_lock_s == 72 * 3600
    assert dict(s.retry) == dict(DEFAULT_RETRY)
    assert s.retry_rule(AttemptOutcome.BUSY) == RetryRule(after_s=600.0, max_tries=3)
    assert s.retry_rule(AttemptOutcome.CONNECTED) is None


def test_pacing_follows_the_campaign() -> None:
    s = settings(abandon_ceiling=0.012, ring_timeout_s=30, max_lines=4, count_amd_false_positives=True)
    assert s.pacing.mode is Mode.PREDICTIVE
    assert (s.pacing.ceiling, s.pacing.ring_timeout_s, s.pacing.max_lines) == (0.012, 30, 4)
    assert s.pacing.count_amd_false_positives
    assert s.pacing.safety_margin == pytest.approx(0.002)
    assert s.pacing.aim == pytest.approx(0.008)
    # At the default ceiling the pacer's own defaults come out.
    default = settings().pacing
    assert default.safety_margin == pytest.approx(PacingSettings().safety_margin)
    assert default.aim == pytest.approx(PacingSettings().aim)
    for mode in (CampaignMode.PROGRESSIVE, CampaignMode.PREVIEW):
        assert settings(mode=mode).pacing.mode is Mode.PROGRESSIVE
    # The model's tunables of a given pacing are kept.
    assert settings(pacing=PacingSettings(prior_answer_rate=0.4)).pacing.prior_answer_rate == 0.4


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ring_timeout_s": 14.9}, "ring_timeout_s"),
        ({"abandon_ceiling": 0.0}, "abandon_ceiling"),
        ({"abandon_ceiling": 1.0}, "abandon_ceiling"),
        ({"caller_id": "5550100"}, "caller_id"),
        ({"caller_id": "+0123"}, "caller_id"),
        ({"queues": ()}, "queues"),
        ({"max_lines": 0}, "max_lines"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"on_machine": "shout"}, "on_machine"),
        ({"on_machine": "leave_message"}, "machine_message"),
        ({"mode": CampaignMode.BROADCAST}, "broadcast_message"),
        ({"opt_out_key": "1"}, "opt_out_key"),
        ({"operator_key": "x"}, "operator_key"),
        ({"connect_deadline_s": 0}, "connect_deadline_s"),
        ({"retry": {AttemptOutcome.CONNECTED: RetryRule(after_s=1, max_tries=1)}}, "retry"),
        ({"name": " "}, "name"),
    ],
)
def test_impossible_values_are_refused_by_name(changes: dict[str, object], field: str) -> None:
    with pytest.raises(CampaignInvalid) as caught:
        settings(**changes)
    assert field in caught.value.details["fields"]
    assert isinstance(caught.value, InputError) and caught.value.error_id == "campaign-invalid"


def test_a_shorter_ring_needs_the_minimum_lowered_explicitly() -> None:
    assert settings(ring_timeout_s=10, min_ring_s=10).pacing.ring_timeout_s == 10


def test_every_field_at_fault_is_named_at_once() -> None:
    with pytest.raises(CampaignInvalid) as caught:
        settings(ring_timeout_s=5, abandon_ceiling=2.0, caller_id="x")
    assert caught.value.details["fields"] == ["caller_id", "ring_timeout_s", "abandon_ceiling"]


def test_a_broadcast_may_have_no_queue() -> None:
    s = settings(mode=CampaignMode.BROADCAST, queues=(), broadcast_message="sale")
    assert s.queues == () and s.pacing.mode is Mode.PROGRESSIVE


@pytest.mark.parametrize(
    "window",
    [
        {"start_s": 10 * 3600, "end_s": 9 * 3600},
        {"start_s": -1},
        {"end_s": 86_401},
        {"days": frozenset()},
        {"days": frozenset({7})},
    ],
)
def test_impossible_windows_are_refused(window: dict[str, object]) -> None:
    with pytest.raises(CampaignInvalid):
        CallingWindow(**window)  # type: ignore[arg-type]


def test_retry_rules_check_themselves() -> None:
    with pytest.raises(CampaignInvalid):
        RetryRule(after_s=-1, max_tries=1)
    with pytest.raises(CampaignInvalid):
        RetryRule(after_s=0, max_tries=0)


def test_the_window_is_the_callees_local_time() -> None:
    window = CallingWindow(days=frozenset(range(5)), holidays=frozenset({dt.date(2026, 12, 25)}))
    # Tuesday 2026-03-03 15:30 UTC: 10:30 in New York, 07:30 in Los Angeles.
    at = dt.datetime(2026, 3, 3, 15, 30, tzinfo=dt.UTC).timestamp()
    assert window_open(window, at, ZoneInfo("America/New_York"))
    assert not window_open(window, at, ZoneInfo("America/Los_Angeles"))
    # 21:00 is the end, not in; 20:59:59 is in.
    nine_pm = dt.datetime(2026, 3, 3, 21, 0, tzinfo=ZoneInfo("America/New_York")).timestamp()
    assert not window_open(window, nine_pm, ZoneInfo("America/New_York"))
    assert window_open(window, nine_pm - 1, ZoneInfo("America/New_York"))
    # A Saturday and a holiday are closed all day.
    saturday = dt.datetime(2026, 3, 7, 12, 0, tzinfo=dt.UTC).timestamp()
    assert not window_open(window, saturday, dt.UTC)
    christmas = dt.datetime(2026, 12, 25, 12, 0, tzinfo=dt.UTC).timestamp()
    assert not window_open(window, christmas, dt.UTC)
