"""The wait estimator with plain numbers: each rule of ``ccqueue.core.ewt`` on its own."""

from __future__ import annotations

import math

import pytest

from ccqueue.core.ewt import Estimate, Rival, WaitEstimator, gamma_quantile

# Half-lives so long that nothing fades during a test: means are plain means.
STEADY = {"half_life_calls": 1e12}


def staffed(agents: int, busy: int, *, handle_s: float = 200.0, **options: float) -> WaitEstimator:
    """An estimator for queue 'q' whose cycle is the prior ``handle_s``."""
    estimator = WaitEstimator(prior_handle_s=handle_s, **{**STEADY, **options})
    estimator.staffing("q", agents=agents, busy=busy, now=0.0)
    return estimator


def test_nobody_serving_gives_no_finite_promise() -> None:
    estimate = staffed(0, 0).estimate("q", 1, 0.0)
    assert estimate == Estimate(seconds=math.inf, low=math.inf, high=math.inf, confident=False)


def test_a_free_agent_means_only_the_ring() -> None:
    estimator = staffed(4, 2, prior_weight=1e-9)
    estimator.call_answered("q", waited_s=3.0, rang_s=3.0, now=1.0)
    estimate = estimator.estimate("q", 2, 1.0)  # two callers, two idle agents
    assert estimate.seconds == pytest.approx(3.0)
    assert (estimate.low, estimate.high) == (0.0, pytest.approx(6.0))


@pytest.mark.parametrize(
    ("agents", "busy", "position", "expected"),
    [
        (4, 4, 1, 50.0),  # rate 4/200 s: one completion in 50 s
        (4, 4, 3, 150.0),  # three completions
        (4, 2, 3, 50.0),  # two idle agents take the first two: one completion left
        (1, 1, 2, 400.0),
        (10, 10, 10, 200.0),
    ],
)
def test_position_needs_completions_at_n_over_cycle(agents: int, busy: int, position: int, expected: float) -> None:
    assert staffed(agents, busy).estimate("q", position, 0.0).seconds == pytest.approx(expected)


def test_handle_times_are_recent_means_that_outweigh_the_prior() -> None:
    estimator = staffed(2, 2, handle_s=180.0, prior_weight=5.0)
    for i in range(95):
        estimator.call_ended("q", handle_s=100.0, now=float(i))
    # 5 calls' worth of prior at 180 s and 95 calls at 100 s.
    assert estimator.mean_handle_s("q") == pytest.approx(104.0)
    assert estimator.estimate("q", 1, 95.0).seconds == pytest.approx(52.0)


def test_recent_handle_times_weigh_more_than_old_ones() -> None:
    estimator = WaitEstimator(prior_handle_s=100.0, half_life_calls=10)
    for i in range(200):
        estimator.call_ended("q", handle_s=100.0 if i < 100 else 300.0, now=float(i))
    assert estimator.mean_handle_s("q") == pytest.approx(300.0, rel=1e-3)


def test_confident_only_after_enough_ended_calls() -> None:
    estimator = staffed(2, 2, min_history=3)
    for i in range(3):
        assert not estimator.estimate("q", 1, float(i)).confident
        estimator.call_ended("q", handle_s=200.0, now=float(i))
    assert estimator.estimate("q", 1, 3.0).confident


def test_zero_length_calls_are_not_counted() -> None:
    estimator = staffed(1, 1)
    estimator.call_ended("q", handle_s=0.0, now=1.0)
    assert estimator.mean_handle_s("q") == 200.0


def test_abandonment_shortens_the_line_ahead_and_the_wait_of_those_answered() -> None:
    estimator = staffed(4, 4)  # rate 0.02 per second
    estimator.call_abandoned("q", waited_s=300.0, now=1.0)  # 1 abandon over 300 + 300 s waited
    theta = 1 / 600
    assert estimator.abandon_hazard("q") == pytest.approx(theta)
    rate = 0.02
    line = 1 / rate + math.log1p(theta * 2 / rate) / theta  # two callers ahead (rule 3)
    expected = line * rate / (rate + theta)  # rule 4
    assert estimator.estimate("q", 3, 1.0).seconds == pytest.approx(expected)
    assert expected == pytest.approx(131.53, abs=0.01)


def test_answers_without_abandon_dilute_the_hazard() -> None:
    estimator = staffed(4, 4)
    estimator.call_abandoned("q", waited_s=100.0, now=1.0)
    estimator.call_answered("q", waited_s=200.0, now=2.0)
    assert estimator.abandon_hazard("q") == pytest.approx(1 / 600)


def test_a_rival_sharing_every_agent_counts_its_callers_ahead() -> None:
    estimator = staffed(4, 4)
    estimator.staffing("r", agents=4, busy=4, now=0.0)
    rival = Rival(queue="r", waiting=3, shared=4)
    assert estimator.estimate("q", 2, 0.0, rivals=[rival]).seconds == pytest.approx(250.0)  # 5 completions


def test_a_rival_can_only_use_the_agents_it_shares() -> None:
    # 4 agents, 2 of them also serve 'r', whose 10 callers are answered by those 2 only.
    estimator = staffed(4, 4)
    estimator.staffing("r", agents=2, busy=2, now=0.0)
    rival = Rival(queue="r", waiting=10, shared=2)
    # 'r' takes at most half the completions: this queue's 2 completions come at 0.01/s.
    assert estimator.estimate("q", 2, 0.0, rivals=[rival]).seconds == pytest.approx(200.0)


def test_a_rival_with_agents_of_its_own_sends_only_part_of_its_callers() -> None:
    # 'r' has 8 agents, 4 of them ours: half of its 6 waiting callers fall to us.
    estimator = staffed(4, 4)
    estimator.staffing("r", agents=8, busy=8, now=0.0)
    rival = Rival(queue="r", waiting=6, shared=4)
    assert estimator.estimate("q", 1, 0.0, rivals=[rival]).seconds == pytest.approx(200.0)  # 3 + 1 completions


def test_an_overtaking_queue_takes_its_answer_rate_off_ours() -> None:
    estimator = staffed(4, 4)
    estimator.staffing("vip", agents=4, busy=4, now=0.0)
    for i in range(1, 1001):  # one answer every 100 s, for long enough to fill the window
        estimator.call_answered("vip", waited_s=0.0, now=100.0 * i)
    now = 100_050.0  # half-way to the next answer: a time-weighted count is exact on average
    assert estimator.answer_rate("vip", now) == pytest.approx(0.01, rel=0.01)
    rival = Rival(queue="vip", waiting=0, shared=4, overtakes=True)
    # 0.02 - 0.01 per second left: one completion in about 100 s.
    assert estimator.estimate("q", 1, now, rivals=[rival]).seconds == pytest.approx(100.0, rel=0.01)


def test_an_overtaking_queue_taking_almost_everything_is_not_confident() -> None:
    estimator = staffed(1, 1, min_history=0)
    estimator.staffing("vip", agents=1, busy=1, now=0.0)
    for i in range(1, 200):
        estimator.call_answered("vip", waited_s=0.0, now=10.0 * i)
    estimate = estimator.estimate("q", 1, 2000.0, rivals=[Rival(queue="vip", waiting=0, shared=1, overtakes=True)])
    assert not estimate.confident
    assert estimate.seconds == pytest.approx(2000.0)  # MIN_SHARE (0.1) of 1/200 per second


def test_answer_rate_early_in_the_window_is_not_diluted() -> None:
    estimator = WaitEstimator()
    for i in range(10):
        estimator.call_answered("q", waited_s=0.0, now=10.0 * i)
    assert estimator.answer_rate("q", 100.0) == pytest.approx(0.1, rel=0.1)


def test_rivals_that_share_nothing_or_are_the_queue_itself_change_nothing() -> None:
    estimator = staffed(4, 4)
    alone = estimator.estimate("q", 2, 0.0)
    rivals = [Rival(queue="r", waiting=5, shared=0), Rival(queue="q", waiting=5, shared=4)]
    assert estimator.estimate("q", 2, 0.0, rivals=rivals) == alone


def test_interval_of_one_exponential_gap() -> None:
    estimate = staffed(1, 1, handle_s=100.0).estimate("q", 1, 0.0)
    assert estimate.seconds == pytest.approx(100.0)
    # An exponential's 10th and 90th percentiles: 10.5 and 230.3 (Wilson-Hilferty: 9.9, 228).
    assert estimate.low == pytest.approx(100 * -math.log(0.9), rel=0.1)
    assert estimate.high == pytest.approx(100 * -math.log(0.1), rel=0.02)


def test_interval_narrows_relative_to_the_wait_as_the_line_grows() -> None:
    estimator = staffed(5, 5)
    short, long = estimator.estimate("q", 2, 0.0), estimator.estimate("q", 50, 0.0)
    assert (long.high - long.low) / long.seconds < (short.high - short.low) / short.seconds
    assert long.low < long.seconds < long.high


def test_gamma_quantile_is_near_the_normal_for_large_shapes() -> None:
    assert gamma_quantile(10_000, 1.0) == pytest.approx(10_100, rel=1e-3)
    assert gamma_quantile(0, 1.0) == 0.0


def test_unknown_queues_get_the_priors() -> None:
    estimator = WaitEstimator(prior_handle_s=120.0)
    assert estimator.mean_handle_s("new") == 120.0
    assert estimator.abandon_hazard("new") == 0.0


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.estimate("q", 0, 0.0),
        lambda e: e.staffing("q", agents=2, busy=3, now=0.0),
        lambda e: e.staffing("q", agents=2, busy=-1, now=0.0),
        lambda e: Rival(queue="r", waiting=-1, shared=1),
        lambda e: WaitEstimator(prior_handle_s=0.0),
        lambda e: WaitEstimator(half_life_calls=math.inf),
    ],
)
def test_nonsense_is_refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call(WaitEstimator())


def test_the_abandon_hazard_is_that_of_callers_who_waited_as_long() -> None:
    # Half the callers give up within 5 s; those who stay past 60 s never do.
    estimator = WaitEstimator()
    for i in range(200):
        if i % 2:
            estimator.call_abandoned("q", waited_s=4.0, now=float(i))
        else:
            estimator.call_answered("q", waited_s=90.0, now=float(i))
    estimator.staffing("q", agents=2, busy=2, now=200.0)
    fresh = estimator.estimate("q", 5, 200.0)
    patient = estimator.estimate("q", 5, 200.0, waited_s=70.0)
    assert estimator.abandon_hazard("q") > 0.01
    # Past 60 s nobody left: the line ahead shrinks only by answers, and the caller stays.
    nobody_leaves = WaitEstimator()
    for i in range(200):
        nobody_leaves.call_answered("q", waited_s=90.0, now=float(i))
    nobody_leaves.staffing("q", agents=2, busy=2, now=200.0)
    assert patient.seconds > 1.5 * fresh.seconds
    assert patient.seconds == pytest.approx(nobody_leaves.estimate("q", 5, 200.0).seconds, rel=0.02)
    # Without the caller's wait, the hazard of all callers, as before.
    assert estimator.estimate("q", 5, 200.0, waited_s=0.0) == fresh
