"""Business hours: weekdays, ranges past midnight, holidays, time zones and DST changes."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from types import MappingProxyType

import pytest

from ccqueue.core.schedule import DAY_S, Schedule, TimeRange, is_open, parse_range

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
UTC = zoneinfo.ZoneInfo("UTC")
NINE_TO_SIX = (parse_range("09:00-18:00"),)


def schedule(
    zone: dt.tzinfo = BERLIN,
    weekly: dict[int, tuple[str, ...]] | None = None,
    holidays: dict[dt.date, tuple[str, ...]] | None = None,
) -> Schedule:
    days = {d: ("09:00-18:00",) for d in range(5)} if weekly is None else weekly
    return Schedule(
        name="office",
        zone=zone,
        weekly=tuple(tuple(parse_range(r) for r in days.get(d, ())) for d in range(7)),
        holidays=MappingProxyType({day: tuple(parse_range(r) for r in ranges) for day, ranges in (holidays or {}).items()}),
    )


def at(zone: dt.tzinfo, *fields: int) -> float:
    return dt.datetime(*fields, tzinfo=zone).timestamp()


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [("09:00-18:00", 9 * 3600, 18 * 3600), ("00:00-24:00", 0, DAY_S), ("22:00-02:00", 22 * 3600, 2 * 3600),
     (" 7:30 - 8:05 ", 7 * 3600 + 1800, 8 * 3600 + 300)],
)  # fmt: skip
def test_ranges_parse(text: str, start: int, end: int) -> None:
    assert parse_range(text) == TimeRange(start, end)


@pytest.mark.parametrize("text", ["9-18", "09:00", "09:00-09:00", "24:00-01:00", "25:00-26:00", "09:60-10:00",
                                  "aa:bb-cc:dd", "09:00-24:01", "-", "123:00-124:00"])  # fmt: skip
def test_bad_ranges_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_range(text)


def test_weekday_hours_have_closed_ends() -> None:
    office = schedule()
    monday = (2025, 6, 2)
    assert not is_open(office, at(BERLIN, *monday, 8, 59, 59))
    assert is_open(office, at(BERLIN, *monday, 9, 0))
    assert is_open(office, at(BERLIN, *monday, 17, 59, 59))
    assert not is_open(office, at(BERLIN, *monday, 18, 0))
    assert not is_open(office, at(BERLIN, 2025, 6, 7, 12, 0))  # Saturday


def test_hours_are_read_in_the_schedules_time_zone() -> None:
    office = schedule()
    # 07:30 UTC is 09:30 in Berlin (summer time): open; 16:30 UTC is 18:30 there: closed.
    assert is_open(office, at(UTC, 2025, 6, 2, 7, 30))
    assert not is_open(office, at(UTC, 2025, 6, 2, 16, 30))
    # Same moment, New York schedule: 03:30 there, closed.
    assert not is_open(schedule(NEW_YORK), at(UTC, 2025, 6, 2, 7, 30))


def test_a_range_past_midnight_carries_into_the_next_morning() -> None:
    night = schedule(weekly={4: ("22:00-02:00",)})  # Friday night only
    assert is_open(night, at(BERLIN, 2025, 6, 6, 23, 59))
    assert is_open(night, at(BERLIN, 2025, 6, 7, 0, 0))  # Saturday, closed by itself
    assert is_open(night, at(BERLIN, 2025, 6, 7, 1, 59, 59))
    assert not is_open(night, at(BERLIN, 2025, 6, 7, 2, 0))
    assert not is_open(night, at(BERLIN, 2025, 6, 6, 1, 0))  # Friday morning: Thursday had no night


def test_midnight_itself_belongs_to_the_new_day() -> None:
    late = schedule(weekly={0: ("20:00-24:00",), 1: ("00:00-01:00",)})
    assert is_open(late, at(BERLIN, 2025, 6, 2, 23, 59, 59))
    assert is_open(late, at(BERLIN, 2025, 6, 3, 0, 0))
    assert not is_open(late, at(BERLIN, 2025, 6, 3, 1, 0))
    ends_at_midnight = schedule(weekly={0: ("22:00-00:00",)})
    assert is_open(ends_at_midnight, at(BERLIN, 2025, 6, 2, 23, 0))
    assert not is_open(ends_at_midnight, at(BERLIN, 2025, 6, 3, 0, 0))


def test_a_holiday_replaces_its_weekday() -> None:
    christmas, eve = dt.date(2025, 12, 25), dt.date(2025, 12, 24)
    office = schedule(holidays={christmas: (), eve: ("09:00-12:00",)})
    assert not is_open(office, at(BERLIN, 2025, 12, 25, 10, 0))  # a Thursday
    assert is_open(office, at(BERLIN, 2025, 12, 24, 11, 59))
    assert not is_open(office, at(BERLIN, 2025, 12, 24, 12, 0))
    assert is_open(office, at(BERLIN, 2025, 12, 26, 10, 0))


def test_a_holiday_on_a_closed_day_can_open_it() -> None:
    office = schedule(holidays={dt.date(2025, 6, 7): ("10:00-11:00",)})  # a Saturday
    assert is_open(office, at(BERLIN, 2025, 6, 7, 10, 30))


def test_the_night_before_a_holiday_still_carries_over() -> None:
    night = schedule(weekly={d: ("22:00-02:00",) for d in range(7)}, holidays={dt.date(2025, 12, 25): ()})
    assert is_open(night, at(BERLIN, 2025, 12, 25, 1, 0))  # the 24th's night
    assert not is_open(night, at(BERLIN, 2025, 12, 25, 23, 0))  # the holiday's own night is closed
    assert not is_open(night, at(BERLIN, 2025, 12, 26, 1, 0))


def test_spring_forward_skips_the_lost_hour() -> None:
    # Berlin, 30 March 2025: 02:00 becomes 03:00.
    early = schedule(weekly={6: ("01:00-02:30",)})
    assert is_open(early, at(UTC, 2025, 3, 30, 0, 59))  # 01:59 CET
    assert not is_open(early, at(UTC, 2025, 3, 30, 1, 0))  # 03:00 CEST
    office = schedule(weekly={6: ("09:00-18:00",)})
    assert is_open(office, at(UTC, 2025, 3, 30, 7, 0))  # 09:00 CEST, an hour earlier in UTC than the day before
    assert not is_open(office, at(UTC, 2025, 3, 30, 6, 59))


def test_fall_back_repeats_the_hour_both_times() -> None:
    # Berlin, 26 October 2025: 03:00 CEST becomes 02:00 CET; 02:00-03:00 happens twice.
    window = schedule(weekly={6: ("02:00-02:30",)})
    first, second = at(UTC, 2025, 10, 26, 0, 15), at(UTC, 2025, 10, 26, 1, 15)  # 02:15 CEST, 02:15 CET
    assert is_open(window, first) and is_open(window, second)
    assert not is_open(window, at(UTC, 2025, 10, 26, 0, 45))


def test_a_schedule_has_seven_days() -> None:
    with pytest.raises(ValueError):
        Schedule(name="x", zone=UTC, weekly=(NINE_TO_SIX,) * 6)
