"""The report's pure parts: periods, time zones, buckets, objectives from configuration."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from ccqueue.reports.cli import objectives_from_config
from ccqueue.reports.period import BadDate, BadPeriod, GroupBy, UnknownTimeZone, parse_period
from ccqueue.reports.query import Objective
from ccqueue.reports.render import duration, for_people

TODAY = date(2026, 3, 2)


@pytest.mark.parametrize(
    ("start", "end", "tz", "expected"),
    [
        ("2026-03-02", None, "UTC", ("2026-03-02T00:00:00+00:00", "2026-03-03T00:00:00+00:00")),
        ("2026-03-01", "2026-03-02", "UTC", ("2026-03-01T00:00:00+00:00", "2026-03-03T00:00:00+00:00")),
        ("2026-03-02T08:00", "2026-03-02T09:30", "UTC", ("2026-03-02T08:00:00+00:00", "2026-03-02T09:30:00+00:00")),
        ("2026-03-02", None, "Europe/Paris", ("2026-03-01T23:00:00+00:00", "2026-03-02T23:00:00+00:00")),
        (
            "2026-03-02T08:00+02:00",
            "2026-03-02T10:00Z",
            "Europe/Paris",
            ("2026-03-02T06:00:00+00:00", "2026-03-02T10:00:00+00:00"),
        ),
        (None, None, "UTC", ("2026-03-02T00:00:00+00:00", "2026-03-03T00:00:00+00:00")),
    ],
)
def test_periods(start: str | None, end: str | None, tz: str, expected: tuple[str, str]) -> None:
    period = parse_period(start, end, tz, today=TODAY)
    assert (period.start.isoformat(), period.end.isoformat()) == expected
    assert period.start.tzinfo is UTC


@pytest.mark.parametrize(
    ("start", "end", "tz", "error"),
    [
        ("2026-02-30", None, "UTC", BadDate),
        ("02/03/2026", None, "UTC", BadDate),
        ("2026-03-02", "2026-03-01", "UTC", BadPeriod),
        ("2024-01-01", "2026-01-01", "UTC", BadPeriod),
        ("2026-03-02", None, "Not/AZone", UnknownTimeZone),
        ("2026-03-02", None, "../../etc/passwd", UnknownTimeZone),
    ],
)
def test_bad_periods_have_stable_ids(start: str, end: str | None, tz: str, error: type[Exception]) -> None:
    with pytest.raises(error) as raised:
        parse_period(start, end, tz, today=TODAY)
    assert raised.value.error_id.startswith("report-")  # type: ignore[attr-defined]


def test_buckets_follow_local_time_across_summer_time() -> None:
    spring = parse_period("2026-03-08", None, "America/New_York", today=TODAY)
    hours = spring.buckets(GroupBy.INTERVAL, 60)
    assert len(hours) == 23 and datetime(2026, 3, 8, 2, 0) not in hours  # 02:00 did not exist
    autumn = parse_period("2026-11-01", None, "America/New_York", today=TODAY)
    assert len(autumn.buckets(GroupBy.INTERVAL, 60)) == 24  # 01:00 twice: one local interval
    assert autumn.buckets(GroupBy.DAY, 60) == [datetime(2026, 11, 1)]
    quarter = parse_period("2026-03-02T08:10", "2026-03-02T09:00", "UTC", today=TODAY)
    assert [b.strftime("%H:%M") for b in quarter.buckets(GroupBy.INTERVAL, 15)] == ["08:00", "08:15", "08:30", "08:45"]
    assert quarter.buckets(GroupBy.QUEUE, 15) == []


def test_objectives_come_from_the_configuration_when_it_has_them() -> None:
    config = SimpleNamespace(
        queues={
            "sales": SimpleNamespace(service_level=SimpleNamespace(answer_within_s=10, target=0.9), short_abandon_s=3),
            "support": SimpleNamespace(),  # a configuration without the keys: the defaults
        }
    )
    assert objectives_from_config(config) == {
        "sales": Objective(answer_within_s=10.0, target=0.9, short_abandon_s=3.0),
        "support": Objective(answer_within_s=20.0, target=0.8, short_abandon_s=5.0),
    }


def test_figures_for_people() -> None:
    assert [duration(s) for s in (0, 59.6, 125, 3725)] == ["0:00", "1:00", "2:05", "1:02:05"]
    assert for_people(None, "pct") == "–" and for_people(0.4567, "pct") == "45.7 %"
    assert for_people(-12.4, "nps") == "-12" and for_people({"lunch": 1800.0}, "pauses") == "lunch 30:00"
