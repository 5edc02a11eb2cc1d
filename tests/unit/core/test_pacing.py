"""Dialer pacing: progressive never abandons, predictive keeps the ceiling in every
rolling 24 h window, backs off near it, and stays within its line cap."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccqueue.core import pacing as pc
from ccqueue.core.errors import InputError
from ccqueue.sim.outbound import Contacts, OutboundScenario, PacerDialler, run

SMALL = OutboundScenario(agents=5, days=2, day_s=1_800.0, seed=3)


def _answered(pacer: pc.Pacer, n: int, *, at: float = 0.0) -> None:
    """``n`` live answers connected at once, among dials a third of which a person answers."""
    for i in range(n):
        pacer.observe(pc.HumanAnswered(at=at + i * 0.001, ring_s=10.0))
        pacer.observe(pc.AgentConnected(at=at + i * 0.001, wait_s=0.0))
        for _ in range(2):
            pacer.observe(pc.DialEnded(at=at + i * 0.001, result=pc.DialResult.NO_ANSWER, ring_s=25.0))


def test_progressive_dials_one_per_free_agent_and_never_abandons() -> None:
    pacer = pc.Pacer(pc.PacingSettings(mode=pc.Mode.PROGRESSIVE))
    assert pacer.decide(0.0, free_agents=4, soon_free=3, in_flight=9) == 4
    result = run(SMALL, PacerDialler("progressive", pc.PacingSettings(mode=pc.Mode.PROGRESSIVE)))
    assert sum(d.live_answers for d in result.days) > 50
    assert sum(d.abandons for d in result.days) == 0


def test_no_over_dialling_before_any_answer_is_known() -> None:
    """The budget is empty with no live answers in the window: dials only for free agents."""
    pacer = pc.Pacer()
    assert pacer.budget(0.0) == 0
    assert pacer.decide(0.0, free_agents=3, soon_free=5, in_flight=0) <= 3
    assert pacer.decide(0.0, free_agents=3, soon_free=5, in_flight=3) == 0


def test_the_budget_is_what_keeps_the_24h_ratio_under_the_ceiling_minus_the_margin() -> None:
    pacer = pc.Pacer()  # 3 % less 0.5 %: 2.5 %
    _answered(pacer, 1_000)
    assert pacer.budget(10.0) == 25  # (0.025 * 1000 - 0) / 0.975 = 25.6
    for i in range(20):
        pacer.observe(pc.CallAbandoned(at=11.0 + i))
    assert pacer.budget(40.0) == 5  # (25 - 20) / 0.975
    # Answers about to leave the window no longer count.
    assert pacer.budget(86_400.0 - 60.0) == 0


def test_predictive_backs_off_as_the_ratio_nears_the_ceiling() -> None:
    decisions = []
    pacer = pc.Pacer()
    _answered(pacer, 2_000)
    now = 100.0
    for abandons in (0, 20, 35, 45, 52):
        while pacer.view(now).abandons_24h < abandons:
            now += 0.01
            pacer.observe(pc.CallAbandoned(at=now))
        decisions.append(pacer.decide(now, free_agents=4, soon_free=4, in_flight=0))
    assert decisions == sorted(decisions, reverse=True)
    assert decisions[0] > 8 and decisions[-1] <= 4  # from over-dialling to one a free agent
    assert pacer.aim(now) == 0.0


@given(
    free=st.integers(0, 30),
    soon=st.integers(0, 30),
    in_flight=st.integers(0, 200),
    answers=st.integers(0, 500),
    abandons=st.integers(0, 30),
    mode=st.sampled_from(pc.Mode),
)
def test_decide_is_never_negative_nor_over_the_line_cap(
    free: int, soon: int, in_flight: int, answers: int, abandons: int, mode: pc.Mode
) -> None:
    pacer = pc.Pacer(pc.PacingSettings(mode=mode, max_lines=60))
    _answered(pacer, answers)
    for i in range(abandons):
        pacer.observe(pc.CallAbandoned(at=1.0 + i))
    n = pacer.decide(50.0, free_agents=free, soon_free=soon, in_flight=in_flight)
    assert n >= 0
    if mode is pc.Mode.PROGRESSIVE:
        assert n <= free
    else:
        assert n <= pacer.line_cap(free_agents=free, soon_free=soon, in_flight=in_flight)
        assert n == 0 or in_flight + n - free <= pacer.budget(50.0)


@settings(max_examples=12, deadline=None)
@given(
    agents=st.integers(2, 12),
    human=st.floats(0.15, 0.6),
    talk=st.floats(30.0, 300.0),
    seed=st.integers(0, 10_000),
)
def test_predictive_keeps_every_rolling_24h_window_under_the_ceiling(agents: int, human: float, talk: float, seed: int) -> None:
    scenario = OutboundScenario(agents=agents, days=2, day_s=3_600.0, human=human, talk_mean_s=talk, seed=seed)
    result = run(scenario, PacerDialler("predictive", pc.PacingSettings()))
    last_calls_over = 86_400.0 + scenario.day_s + 3_600.0
    assert result.worst_window_ratio(until=last_calls_over) <= 0.03


def test_the_same_seed_gives_the_same_run_and_contacts_are_shared() -> None:
    contacts = Contacts(SMALL)
    first = run(SMALL, PacerDialler("predictive", pc.PacingSettings()), contacts)
    again = run(SMALL, PacerDialler("predictive", pc.PacingSettings()), Contacts(SMALL))
    assert first.answers == again.answers and first.days == again.days
    other = run(OutboundScenario(agents=5, days=2, day_s=1_800.0, seed=4), PacerDialler("predictive", pc.PacingSettings()))
    assert other.answers != first.answers


def test_a_connection_after_the_deadline_counts_as_abandoned() -> None:
    pacer = pc.Pacer()
    _answered(pacer, 10)
    pacer.observe(pc.HumanAnswered(at=5.0, ring_s=8.0))
    pacer.observe(pc.AgentConnected(at=7.5, wait_s=2.5))
    assert pacer.view(8.0).abandons_24h == 1


def test_machines_are_not_live_answers_unless_misjudged_persons_are_counted() -> None:
    plain, strict = pc.Pacer(), pc.Pacer(pc.PacingSettings(count_amd_false_positives=True))
    for pacer in (plain, strict):
        pacer.observe(pc.DialEnded(at=1.0, result=pc.DialResult.MACHINE, ring_s=12.0))
        pacer.observe(pc.DialEnded(at=2.0, result=pc.DialResult.MACHINE_WAS_HUMAN, ring_s=12.0))
    assert (plain.view(3.0).live_answers_24h, plain.view(3.0).abandons_24h) == (0, 0)
    assert (strict.view(3.0).live_answers_24h, strict.view(3.0).abandons_24h) == (1, 1)


def test_a_dial_that_rang_past_the_answers_is_likely_nobody() -> None:
    pacer = pc.Pacer()
    for i in range(100):
        pacer.observe(pc.HumanAnswered(at=float(i), ring_s=5.0 + (i % 15)))
        pacer.observe(pc.DialEnded(at=float(i), result=pc.DialResult.NO_ANSWER, ring_s=25.0))
    assert pacer.person_chance(0.0) == pytest.approx(pacer.answer_rate(), abs=0.05)
    assert pacer.person_chance(21.0) == 0.0


@pytest.mark.parametrize(
    "changes",
    [{"ceiling": 0.0}, {"safety_margin": 0.04}, {"aim": 0.05}, {"max_lines_per_agent": 0.5}, {"ring_timeout_s": 10.0}],
)
def test_settings_out_of_range_are_refused(changes: dict[str, float]) -> None:
    with pytest.raises(InputError) as caught:
        pc.PacingSettings(**changes)  # type: ignore[arg-type]
    assert caught.value.error_id == "input-invalid"


def test_negative_counts_are_refused() -> None:
    with pytest.raises(InputError):
        pc.Pacer().decide(0.0, free_agents=-1)
