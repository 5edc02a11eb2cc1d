"""Business hours: is a schedule open at a given moment?

Rules kept here:

1. Hours are wall-clock times in the schedule's own time zone. A moment (epoch
   seconds, passed in) is turned into that zone's local date and time, so daylight
   saving changes need no special case: on the night the clocks go forward the skipped
   hour simply never happens; on the night they go back the repeated hour is open or
   closed both times, as its wall-clock time says.
2. A range is ``[start, end)`` in seconds from local midnight. An ``end`` not after its
   ``start`` runs past midnight: ``22:00-02:00`` is open from 22:00 until 02:00 the next
   morning, and that next morning belongs to the day the range was written for (a
   Friday night shift carries into Saturday even when Saturday is closed).
3. A holiday replaces its weekday's hours for that date: no hours means closed all day.
   A range of the day before that runs past midnight still carries into the holiday,
   as rule 2 says.
4. Nothing here reads a clock or a file: the time zone is a ``tzinfo`` the caller built.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["DAY_S", "Schedule", "TimeRange", "is_open", "parse_range"]

DAY_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Open from ``start_s`` to ``end_s`` seconds after local midnight (rule 2)."""

    start_s: int
    end_s: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_s < DAY_S or not 0 <= self.end_s <= DAY_S:
            raise ValueError(f"a time range lies within one day, got {self.start_s}-{self.end_s}")
        if self.start_s == self.end_s:
            raise ValueError("a time range must not be empty")

    @property
    def overnight(self) -> bool:
        return self.end_s < self.start_s

    def covers_same_day(self, second: int) -> bool:
        if self.overnight:
            return second >= self.start_s
        return self.start_s <= second < self.end_s

    def covers_next_morning(self, second: int) -> bool:
        return self.overnight and second < self.end_s


def _clock(text: str) -> int:
    hours, sep, minutes = text.strip().partition(":")
    if not sep or len(minutes) != 2 or not hours.isdigit() or not minutes.isdigit() or len(hours) > 2:
        raise ValueError(f"expected HH:MM, got {text.strip()!r}")
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m != 0):
        raise ValueError(f"no such time of day: {text.strip()!r}")
    return h * 3600 + m * 60


def parse_range(text: str) -> TimeRange:
    """``"09:00-18:00"`` -> TimeRange; ``24:00`` may end a range; raises ValueError."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"expected HH:MM-HH:MM, got {text!r}")
    start_s, end_s = _clock(start), _clock(end)
    if start_s == DAY_S:
        raise ValueError(f"a range cannot start at 24:00, got {text!r}")
    if start_s == end_s:
        raise ValueError(f"a range from a time to the same time is empty: {text!r}")
    return TimeRange(start_s, end_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """Weekly hours (Monday first) and holidays, in one time zone."""

    name: str
    zone: dt.tzinfo
    weekly: tuple[tuple[TimeRange, ...], ...]
    holidays: Mapping[dt.date, tuple[TimeRange, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError(f"weekly hours cover 7 days, got {len(self.weekly)}")

    def hours_on(self, day: dt.date) -> tuple[TimeRange, ...]:
        """The ranges written for `day`: its holiday's if it is one, else its weekday's."""
        if day in self.holidays:
            return self.holidays[day]
        return self.weekly[day.weekday()]


def is_open(schedule: Schedule, now: float) -> bool:
    """Whether `schedule` is open at `now` (epoch seconds)."""
    local = dt.datetime.fromtimestamp(now, schedule.zone)
    second = local.hour * 3600 + local.minute * 60 + local.second
    today = local.date()
    if any(r.covers_same_day(second) for r in schedule.hours_on(today)):
        return True
    yesterday = today - dt.timedelta(days=1)
    return any(r.covers_next_morning(second) for r in schedule.hours_on(yesterday))
