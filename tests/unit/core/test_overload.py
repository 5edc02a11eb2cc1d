"""The overload gate at the door (ccqueue.core.overload): plain samples in, a verdict out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccqueue.core.overload import LoadGate, OverloadSettings, Shed

# One late sample counts here, as each test's first sample stands for a loop behind. A
# lag halves the share let in, at most once a second; calm, it grows a quarter a second.
SETTINGS = OverloadSettings(
    max_loop_lag_s=0.2,
    max_asterisk_lag_s=1.0,
    max_backlog=100,
    resume_ratio=0.5,
    hold_s=2.0,
    lag_samples=1,
    cut_ratio=0.5,
    cut_every_s=1.0,
    regain_per_s=0.25,
)


def gate(**changes: float) -> LoadGate:
    if not changes:
        return LoadGate(SETTINGS)
    fields = {f: getattr(SETTINGS, f) for f in SETTINGS.__dataclass_fields__}
    return LoadGate(OverloadSettings(**(fields | changes)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lag_s", "backlog", "verdict", "share"),
    [
        (0.0, 0, None, 1.0),
        (0.2, 100, None, 1.0),  # at the limits: still let in
        (0.21, 0, Shed.LOOP_LAG, 0.5),
        (0.0, 101, Shed.BACKLOG, 1.0),  # the backlog refuses callers, it does not cut the share
        (0.5, 500, Shed.LOOP_LAG, 0.5),  # both over: the lag is named
    ],
)
def test_a_sample_past_either_limit_sheds(lag_s: float, backlog: int, verdict: Shed | None, share: float) -> None:
    g = gate()
    assert g.observe(10.0, lag_s=lag_s, backlog=backlog) is verdict
    assert g.admitted_share == share
    assert g.admit(10.0, backlog=backlog) is (Shed.BACKLOG if backlog > 100 else None)


def test_the_backlog_at_the_door_counts_at_once() -> None:
    g = gate()
    g.observe(10.0, lag_s=0.0, backlog=0)
    assert g.admit(10.01, backlog=150) is Shed.BACKLOG


def test_a_lag_narrows_the_door_at_most_once_per_cut_every_s() -> None:
    g = gate()
    g.observe(0.0, lag_s=1.0, backlog=0)
    assert g.admitted_share == 0.5
    g.observe(0.5, lag_s=1.0, backlog=0)  # the cut has not had time to show
    assert g.admitted_share == 0.5
    g.observe(1.0, lag_s=1.0, backlog=0)
    assert g.admitted_share == 0.25
    g.observe(2.0, lag_s=1.0, backlog=0)
    assert g.admitted_share == 0.125
    assert g.shedding is Shed.LOOP_LAG


def test_the_share_grows_back_only_after_calm_held_for_hold_s_then_the_door_opens() -> None:
    g = gate()
    g.observe(0.0, lag_s=1.0, backlog=0)  # 0.5
    assert g.observe(1.0, lag_s=0.05, backlog=10) is Shed.LOOP_LAG  # calm from 1.0
    assert g.observe(2.9, lag_s=0.05, backlog=10) is Shed.LOOP_LAG
    assert g.admitted_share == 0.5
    assert g.observe(3.0, lag_s=0.05, backlog=10) is Shed.LOOP_LAG  # held: grows from here
    g.observe(4.0, lag_s=0.05, backlog=10)
    assert g.admitted_share == pytest.approx(0.75)
    assert g.observe(5.0, lag_s=0.05, backlog=10) is None  # back to everyone
    assert (g.admitted_share, g.lagging) == (1.0, None)


def test_a_lag_below_the_limit_but_above_resume_holds_the_share() -> None:
    g = gate()
    g.observe(0.0, lag_s=0.5, backlog=0)
    # 0.15 s is under the limit (0.2) but over half of it: not calm, however long it lasts.
    for t in range(1, 10):
        assert g.observe(float(t), lag_s=0.15, backlog=0) is Shed.LOOP_LAG
    assert g.admitted_share == 0.5  # neither cut again nor grown
    assert g.observe(10.0, lag_s=0.1, backlog=0) is Shed.LOOP_LAG  # calm starts
    g.observe(12.0, lag_s=0.1, backlog=0)
    g.observe(14.0, lag_s=0.1, backlog=0)
    assert g.observe(14.0, lag_s=0.1, backlog=0) is None


def test_a_new_lag_peak_restarts_the_calm_period_and_cuts_again() -> None:
    g = gate()
    g.observe(0.0, lag_s=0.5, backlog=0)
    g.observe(1.0, lag_s=0.0, backlog=0)
    g.observe(2.5, lag_s=0.3, backlog=0)  # over again
    assert g.admitted_share == 0.25
    g.observe(3.5, lag_s=0.0, backlog=0)
    g.observe(5.4, lag_s=0.0, backlog=0)
    assert g.admitted_share == 0.25  # calm not yet held
    g.observe(5.5, lag_s=0.0, backlog=0)
    g.observe(6.5, lag_s=0.0, backlog=0)
    assert g.admitted_share == pytest.approx(0.5)


def test_a_cut_ratio_of_zero_closes_the_door() -> None:
    g = gate(cut_ratio=0.0)
    g.observe(0.0, lag_s=1.0, backlog=0)
    assert g.admitted_share == 0.0
    g.observe(1.0, lag_s=0.0, backlog=0)
    g.observe(3.0, lag_s=0.0, backlog=0)
    g.observe(4.0, lag_s=0.0, backlog=0)
    assert g.admitted_share == pytest.approx(0.25)


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
    assert off.admitted_share == 1.0
    g = gate()
    g.observe(0.0, lag_s=1.0, backlog=0)
    g.reconfigure(OverloadSettings(enabled=False))
    assert g.shedding is None
    assert g.admitted_share == 1.0
    assert g.admit(0.1, backlog=10**6) is None


def test_negative_samples_count_as_zero() -> None:
    g = gate()
    assert g.observe(0.0, lag_s=-0.5, backlog=-3) is None
    assert (g.lag_s, g.backlog) == (0.0, 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_loop_lag_s": 0},
        {"max_backlog": 0},
        {"resume_ratio": 0},
        {"resume_ratio": 1.5},
        {"hold_s": -1},
        {"cut_ratio": 1.0},
        {"cut_ratio": -0.1},
        {"cut_every_s": -1},
        {"regain_per_s": 0},
    ],
)
def test_settings_refuse_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        OverloadSettings(**kwargs)  # type: ignore[arg-type]


def test_one_stall_is_not_overload_but_a_loop_late_again_within_the_window_is() -> None:
    g = LoadGate(OverloadSettings(max_loop_lag_s=0.2, hold_s=1.0))  # the default: two late samples
    assert g.observe(0.0, lag_s=0.7, backlog=0) is None  # a restart's restore, a reload: a stall
    assert g.observe(0.05, lag_s=0.0, backlog=0) is None
    assert g.observe(2.5, lag_s=0.7, backlog=0) is None  # another, past the 2 s window: a stall again
    assert g.admitted_share == 1.0
    assert g.observe(3.0, lag_s=0.3, backlog=0) is Shed.LOOP_LAG  # late twice within 2 s: behind
    assert g.admitted_share == 0.75  # the default cut


def test_asterisk_falling_behind_sheds_while_this_process_keeps_up() -> None:
    # Asterisk's events arrive 1.5 s old (its limit is 1 s) though the loop is on time.
    g = gate(regain_per_s=1.0)
    assert g.observe(0.0, lag_s=0.01, backlog=5, asterisk_lag_s=1.5) is Shed.ASTERISK_LAG
    # Below the limit but above half of it: still behind.
    assert g.observe(3.0, lag_s=0.01, backlog=5, asterisk_lag_s=0.8) is Shed.ASTERISK_LAG
    # Both lags calm (Asterisk's under 0.5 s) for hold_s, then a second's growth: let in again.
    assert g.observe(4.0, lag_s=0.01, backlog=5, asterisk_lag_s=0.3) is Shed.ASTERISK_LAG
    assert g.observe(6.0, lag_s=0.01, backlog=5, asterisk_lag_s=0.3) is Shed.ASTERISK_LAG
    assert g.observe(7.0, lag_s=0.01, backlog=5, asterisk_lag_s=0.3) is None


def test_the_calm_needs_both_lags_and_the_worse_lag_is_named() -> None:
    g = gate(regain_per_s=1.0)
    # The loop's lag is 2x its limit, Asterisk's 3x its own: Asterisk's is named.
    assert g.observe(0.0, lag_s=0.4, backlog=0, asterisk_lag_s=3.0) is Shed.ASTERISK_LAG
    # Asterisk has caught up, the loop is still behind: shedding goes on, for the loop.
    assert g.observe(1.0, lag_s=0.3, backlog=0, asterisk_lag_s=0.0) is Shed.LOOP_LAG
    assert g.observe(2.0, lag_s=0.05, backlog=0, asterisk_lag_s=0.9) is Shed.LOOP_LAG  # not calm: 0.9 > 0.5
    assert g.observe(3.0, lag_s=0.05, backlog=0, asterisk_lag_s=0.1) is Shed.LOOP_LAG  # calm from here
    assert g.observe(5.0, lag_s=0.05, backlog=0, asterisk_lag_s=0.1) is Shed.LOOP_LAG
    assert g.observe(6.0, lag_s=0.05, backlog=0, asterisk_lag_s=0.1) is None


def test_one_old_event_burst_is_a_stall_when_two_samples_are_asked_for() -> None:
    g = LoadGate(OverloadSettings(max_asterisk_lag_s=1.0, lag_samples=2, lag_window_s=2.0))
    assert g.observe(0.0, lag_s=0.0, backlog=0, asterisk_lag_s=5.0) is None  # e.g. the AMI link just came back
    assert g.observe(5.0, lag_s=0.0, backlog=0, asterisk_lag_s=5.0) is None  # far apart: still one in the window
    assert g.observe(5.05, lag_s=0.0, backlog=0, asterisk_lag_s=1.2) is Shed.ASTERISK_LAG


@given(st.lists(st.tuples(st.floats(0.0, 0.5), st.floats(0.0, 3.0)), max_size=200))
def test_the_share_stays_between_zero_and_one_and_is_one_whenever_nothing_is_named(
    samples: list[tuple[float, float]],
) -> None:
    g = gate()
    now = 0.0
    for step, lag in samples:
        now += step
        g.observe(now, lag_s=lag, backlog=0)
        assert 0.0 <= g.admitted_share <= 1.0
        assert (g.admitted_share < 1.0) == (g.lagging is not None)


def test_past_the_boxs_rate_the_door_lets_in_that_rates_share_of_new_callers() -> None:
    g = gate(max_new_calls_per_s=100.0)
    for n in range(300):  # 150 a second for two seconds
        g.arrived(n / 150)
    assert g.arrival_rate(2.0) == pytest.approx(150.0, rel=0.01)
    assert g.observe(2.0, lag_s=0.0, backlog=0) is Shed.RATE
    assert g.door_share == pytest.approx(100 / 150, rel=0.01)
    assert g.admitted_share == 1.0 and g.lagging is None  # no lag: the lags' share is whole
    # A lag as well: the smaller share applies.
    g.observe(2.05, lag_s=1.0, backlog=0)
    assert g.door_share == 0.5 and g.shedding is Shed.LOOP_LAG
    # The callers stop coming: the ceiling no longer binds.
    g.observe(10.0, lag_s=0.0, backlog=0)
    assert g.arrival_rate(10.0) == 0.0 and g.door_share == g.admitted_share


def test_below_the_boxs_rate_nobody_is_refused_and_without_one_the_rate_is_only_counted() -> None:
    g = gate(max_new_calls_per_s=100.0)
    for n in range(160):
        g.arrived(n / 80)
    assert g.observe(2.0, lag_s=0.0, backlog=0) is None and g.door_share == 1.0
    unset = gate()
    for n in range(1000):
        unset.arrived(n / 500)
    assert unset.observe(2.0, lag_s=0.0, backlog=0) is None and unset.door_share == 1.0


def test_a_rate_of_zero_is_refused() -> None:
    with pytest.raises(ValueError):
        OverloadSettings(max_new_calls_per_s=0)
