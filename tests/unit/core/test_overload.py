"""The overload gate at the door (ccqueue.core.overload): plain samples in, a verdict out."""

from __future__ import annotations

import pytest

from ccqueue.core.overload import LoadGate, OverloadSettings, Shed

# One late sample sheds here, as each test's first sample stands for a loop behind.
SETTINGS = OverloadSettings(
    max_loop_lag_s=0.2, max_asterisk_lag_s=1.0, max_backlog=100, resume_ratio=0.5, hold_s=2.0, lag_samples=1
)


def gate() -> LoadGate:
    return LoadGate(SETTINGS)


@pytest.mark.parametrize(
    ("lag_s", "backlog", "verdict"),
    [
        (0.0, 0, None),
        (0.2, 100, None),  # at the limits: still let in
        (0.21, 0, Shed.LOOP_LAG),
        (0.0, 101, Shed.BACKLOG),
        (0.5, 500, Shed.LOOP_LAG),  # both over: the lag is named
    ],
)
def test_a_sample_past_either_limit_sheds(lag_s: float, backlog: int, verdict: Shed | None) -> None:
    g = gate()
    assert g.observe(10.0, lag_s=lag_s, backlog=backlog) is verdict
    assert g.admit(10.0, backlog=backlog) is verdict


def test_the_backlog_at_the_door_counts_at_once() -> None:
    g = gate()
    g.observe(10.0, lag_s=0.0, backlog=0)
    assert g.admit(10.01, backlog=150) is Shed.BACKLOG


def test_shedding_for_lag_ends_only_after_calm_held_for_hold_s() -> None:
    g = gate()
    g.observe(0.0, lag_s=1.0, backlog=0)
    assert g.observe(1.0, lag_s=0.05, backlog=10) is Shed.LOOP_LAG  # calm from 1.0
    assert g.admit(2.0, backlog=10) is Shed.LOOP_LAG
    assert g.observe(2.9, lag_s=0.05, backlog=10) is Shed.LOOP_LAG
    assert g.observe(3.0, lag_s=0.05, backlog=10) is None
    assert g.admit(3.0, backlog=10) is None


def test_a_lag_below_the_limit_but_above_resume_keeps_shedding() -> None:
    g = gate()
    g.observe(0.0, lag_s=0.5, backlog=0)
    # 0.15 s is under the limit (0.2) but over half of it: not calm, however long it lasts.
    for t in range(1, 10):
        assert g.observe(float(t), lag_s=0.15, backlog=0) is Shed.LOOP_LAG
    assert g.observe(10.0, lag_s=0.1, backlog=0) is Shed.LOOP_LAG  # calm starts
    assert g.observe(12.0, lag_s=0.1, backlog=0) is None


def test_a_new_lag_peak_restarts_the_calm_period() -> None:
    g = gate()
    g.observe(0.0, lag_s=0.5, backlog=0)
    g.observe(1.0, lag_s=0.0, backlog=0)
    g.observe(2.5, lag_s=0.3, backlog=0)  # over again
    assert g.observe(3.5, lag_s=0.0, backlog=0) is Shed.LOOP_LAG
    assert g.observe(5.4, lag_s=0.0, backlog=0) is Shed.LOOP_LAG
    assert g.observe(5.5, lag_s=0.0, backlog=0) is None


def test_the_backlog_decides_each_caller_at_once_with_no_hysteresis() -> None:
    """A concurrency limit: the next caller is let in as soon as work in flight is back
    under the limit, so a box past capacity keeps carrying what it can."""
    g = gate()
    assert [g.admit(t / 10, backlog=b) for t, b in enumerate([99, 100, 101, 150, 100, 60, 101])] == [
        None,
        None,
        Shed.BACKLOG,
        Shed.BACKLOG,
        None,
        None,
        Shed.BACKLOG,
    ]


def test_disabled_never_sheds_and_disabling_clears_shedding() -> None:
    off = LoadGate(OverloadSettings(enabled=False))
    assert off.observe(0.0, lag_s=100.0, backlog=10**6) is None
    g = gate()
    g.observe(0.0, lag_s=1.0, backlog=0)
    g.reconfigure(OverloadSettings(enabled=False))
    assert g.shedding is None
    assert g.admit(0.1, backlog=10**6) is None


def test_negative_samples_count_as_zero() -> None:
    g = gate()
    assert g.observe(0.0, lag_s=-0.5, backlog=-3) is None
    assert (g.lag_s, g.backlog) == (0.0, 0)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_loop_lag_s": 0}, {"max_backlog": 0}, {"resume_ratio": 0}, {"resume_ratio": 1.5}, {"hold_s": -1}],
)
def test_settings_refuse_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        OverloadSettings(**kwargs)  # type: ignore[arg-type]


def test_one_stall_is_not_overload_but_a_loop_late_again_within_the_window_is() -> None:
    g = LoadGate(OverloadSettings(max_loop_lag_s=0.2, hold_s=1.0))  # the default: two late samples
    assert g.observe(0.0, lag_s=0.7, backlog=0) is None  # a restart's restore, a reload: a stall
    assert g.observe(0.05, lag_s=0.0, backlog=0) is None
    assert g.observe(2.5, lag_s=0.7, backlog=0) is None  # another, past the 2 s window: a stall again
    assert g.observe(3.0, lag_s=0.3, backlog=0) is Shed.LOOP_LAG  # late twice within 2 s: behind
    assert g.admit(3.1, backlog=0) is Shed.LOOP_LAG


def test_asterisk_falling_behind_sheds_while_this_process_keeps_up() -> None:
    # Asterisk's events arrive 1.5 s old (its limit is 1 s) though the loop is on time.
    g = gate()
    assert g.observe(0.0, lag_s=0.01, backlog=5, asterisk_lag_s=1.5) is Shed.ASTERISK_LAG
    # Below the limit but above half of it: still behind.
    assert g.observe(3.0, lag_s=0.01, backlog=5, asterisk_lag_s=0.8) is Shed.ASTERISK_LAG
    # Both lags calm (Asterisk's under 0.5 s) for hold_s: let in again.
    assert g.observe(4.0, lag_s=0.01, backlog=5, asterisk_lag_s=0.3) is Shed.ASTERISK_LAG
    assert g.observe(6.0, lag_s=0.01, backlog=5, asterisk_lag_s=0.3) is None


def test_the_calm_needs_both_lags_and_the_worse_lag_is_named() -> None:
    g = gate()
    # The loop's lag is 2x its limit, Asterisk's 3x its own: Asterisk's is named.
    assert g.observe(0.0, lag_s=0.4, backlog=0, asterisk_lag_s=3.0) is Shed.ASTERISK_LAG
    # Asterisk has caught up, the loop is still behind: shedding goes on, for the loop.
    assert g.observe(1.0, lag_s=0.3, backlog=0, asterisk_lag_s=0.0) is Shed.LOOP_LAG
    assert g.observe(2.0, lag_s=0.05, backlog=0, asterisk_lag_s=0.9) is Shed.LOOP_LAG  # not calm: 0.9 > 0.5
    assert g.observe(3.0, lag_s=0.05, backlog=0, asterisk_lag_s=0.1) is Shed.LOOP_LAG  # calm from here
    assert g.observe(5.0, lag_s=0.05, backlog=0, asterisk_lag_s=0.1) is None


def test_one_old_event_burst_is_a_stall_when_two_samples_are_asked_for() -> None:
    g = LoadGate(OverloadSettings(max_asterisk_lag_s=1.0, lag_samples=2, lag_window_s=2.0))
    assert g.observe(0.0, lag_s=0.0, backlog=0, asterisk_lag_s=5.0) is None  # e.g. the AMI link just came back
    assert g.observe(5.0, lag_s=0.0, backlog=0, asterisk_lag_s=5.0) is None  # far apart: still one in the window
    assert g.observe(5.05, lag_s=0.0, backlog=0, asterisk_lag_s=1.2) is Shed.ASTERISK_LAG
