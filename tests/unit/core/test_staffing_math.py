"""Erlang C and Erlang A staffing (ccqueue.core.staffing_math)."""

from __future__ import annotations

import math

import pytest

from ccqueue.core.staffing_math import (
    agents_erlang_a,
    agents_erlang_c,
    erlang_c,
    service_level_erlang_a,
    service_level_erlang_c,
)


def closed_form_sl(n: int, a: float, aht: float, t: float) -> float:
    """The textbook formula, with powers and factorials: fine at small A."""
    top = a**n / math.factorial(n) * n / (n - a)
    c = top / (sum(a**k / math.factorial(k) for k in range(n)) + top)
    return 1 - c * math.exp(-(n - a) * t / aht)


# A = 10 Erlangs, AHT 180 s, T = 20 s: the figures every Erlang C table prints.
TEXTBOOK = {11: 0.3896, 12: 0.6402, 13: 0.7956, 14: 0.8884}


@pytest.mark.parametrize(("n", "expected"), sorted(TEXTBOOK.items()))
def test_erlang_c_textbook_figures(n: int, expected: float) -> None:
    sl = service_level_erlang_c(n, 10.0, 180.0, 20.0)
    assert sl == pytest.approx(closed_form_sl(n, 10.0, 180.0, 20.0), abs=1e-9)
    assert sl == pytest.approx(expected, abs=1e-3)


def test_smallest_staffing_meeting_the_target() -> None:
    assert agents_erlang_c(10.0, 180.0, 20.0, 0.8) == 14
    assert agents_erlang_c(10.0, 180.0, 20.0, 0.7) == 13
    assert agents_erlang_c(0.0, 180.0, 20.0, 0.8) == 0


def test_no_staffing_at_or_below_the_load_serves_anyone_in_time() -> None:
    assert erlang_c(10, 10.0) == 1.0
    assert service_level_erlang_c(10, 10.0, 180.0, 20.0) == 0.0


@pytest.mark.parametrize("n", [11, 12, 13, 14, 16])
def test_erlang_a_tends_to_erlang_c_as_patience_grows(n: int) -> None:
    c = service_level_erlang_c(n, 10.0, 180.0, 20.0)
    assert service_level_erlang_a(n, 10.0, 180.0, 20.0, 1e7) == pytest.approx(c, abs=1e-3)
    assert service_level_erlang_a(n, 10.0, 180.0, 20.0, None) == c


@pytest.mark.parametrize(("erlangs", "patience"), [(5.0, 60.0), (10.0, 120.0), (40.0, 300.0), (100.0, 600.0), (10.0, 5.0)])
def test_erlang_a_needs_no_more_agents_than_erlang_c(erlangs: float, patience: float) -> None:
    n_c = agents_erlang_c(erlangs, 180.0, 20.0, 0.8)
    n_a = agents_erlang_a(erlangs, 180.0, 20.0, 0.8, patience)
    assert n_a <= n_c
    # ... and honestly so: at Erlang C's staffing, abandonment only helps.
    assert service_level_erlang_a(n_c, erlangs, 180.0, 20.0, patience) >= service_level_erlang_c(n_c, erlangs, 180.0, 20.0)
    assert service_level_erlang_a(n_a, erlangs, 180.0, 20.0, patience) >= 0.8
    assert service_level_erlang_a(n_a - 1, erlangs, 180.0, 20.0, patience) < 0.8


def test_service_levels_rise_with_agents() -> None:
    c = [service_level_erlang_c(n, 20.0, 180.0, 20.0) for n in range(15, 40)]
    a = [service_level_erlang_a(n, 20.0, 180.0, 20.0, 90.0) for n in range(15, 40)]
    assert c == sorted(c) and a == sorted(a)
    assert all(0.0 <= x <= 1.0 for x in c + a)


def test_stable_at_four_hundred_erlangs() -> None:
    n_c = agents_erlang_c(400.0, 180.0, 20.0, 0.8)
    assert 400 < n_c < 440
    sl = service_level_erlang_c(n_c, 400.0, 180.0, 20.0)
    assert 0.8 <= sl < 0.9
    a = service_level_erlang_a(n_c, 400.0, 180.0, 20.0, 1e7)
    assert a == pytest.approx(sl, abs=1e-3)
    n_a = agents_erlang_a(400.0, 180.0, 20.0, 0.8, 120.0)
    assert 0 < n_a <= n_c
    assert math.isfinite(service_level_erlang_a(500, 500.0, 180.0, 20.0, 120.0))
