"""What a report covers: a period in a time zone, cut into groups.

Rules kept here:

1. ``--from`` and ``--to`` take a date (``2026-03-01``) or an ISO time
   (``2026-03-01T08:00``, with or without an offset). A date or a time without an
   offset is read in the report's time zone. A date in ``--to`` includes that whole
   day; a time in ``--to`` is the first moment not covered. No ``--from``: today in
   the report's zone; no ``--to``: one day after the start.
2. Bad input raises a ``RequestError`` with its own stable id and changes nothing:
   ``report-date-invalid``, ``report-period-invalid`` (empty, backwards or longer than
   ``MAX_PERIOD_DAYS``), ``report-timezone-unknown``.
3. Pure: no clock reads (``today`` is an argument), no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ccqueue.core.errors import RequestError

# A report is read by people; a period longer than a year is a data export, which the
# report_calls view serves better.
MAX_PERIOD_DAYS = 366
INTERVALS_MIN = (15, 30, 60)  # the usual WFM intervals (Erlang tools, app_queue's reports)


class BadDate(RequestError):
    error_id = "report-date-invalid"


class BadPeriod(RequestError):
    error_id = "report-period-invalid"


class UnknownTimeZone(RequestError):
    error_id = "report-timezone-unknown"


class GroupBy(enum.Enum):
    INTERVAL = "interval"
    DAY = "day"
    QUEUE = "queue"
    AGENT = "agent"
    HOTLINE = "hotline"
    CHANNEL = "channel"

    @property
    def in_time(self) -> bool:
        """Groups that are periods of time: every one of them is listed, empty or not."""
        return self in (GroupBy.INTERVAL, GroupBy.DAY)


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive
    zone: ZoneInfo

    @property
    def tz_name(self) -> str:
        return self.zone.key

    def buckets(self, by: GroupBy, interval_min: int) -> list[datetime]:
        """The starts of every interval or day the period touches, as local naive times
        (the way the database labels them: ``date_bin``/``date_trunc`` of local time)."""
        if not by.in_time:
            return []
        start = self.start.astimezone(self.zone).replace(tzinfo=None)
        end = self.end.astimezone(self.zone).replace(tzinfo=None)
        if by is GroupBy.DAY:
            first = datetime.combine(start.date(), datetime.min.time())
            step = timedelta(days=1)
        else:
            minutes = (start.hour * 60 + start.minute) // interval_min * interval_min
            first = datetime.combine(start.date(), datetime.min.time()) + timedelta(minutes=minutes)
            step = timedelta(minutes=interval_min)
        out = []
        moment = first
        while moment < end:
            # A local time that does not exist (skipped when summer time starts) is no interval.
            if moment.replace(tzinfo=self.zone).astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) == moment:
                out.append(moment)
            moment += step
        return out


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise UnknownTimeZone(f"unknown time zone {name!r} (an IANA name such as Europe/Paris or UTC)", tz=name) from exc


def _moment(text: str, tz: ZoneInfo, *, flag: str, end: bool) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1 if end else 0), datetime.min.time())
        else:
            moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadDate(f"{flag} {text!r} is neither a date (2026-03-01) nor an ISO time (2026-03-01T08:00)", value=text) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


def parse_period(start: str | None, end: str | None, tz_name: str, *, today: date) -> Period:
    """The period ``--from``/``--to`` name (rule 1); raises the errors of rule 2."""
    tz = zone(tz_name)
    first = _moment(start, tz, flag="--from", end=False) if start else datetime.combine(today, datetime.min.time(), tz)
    last = _moment(end, tz, flag="--to", end=True) if end else first + timedelta(days=1)
    if last <= first:
        raise BadPeriod(
            f"the period is empty: --to ({last.isoformat()}) is not after --from ({first.isoformat()})",
            start=first.isoformat(),
            end=last.isoformat(),
        )
    if last - first > timedelta(days=MAX_PERIOD_DAYS):
        raise BadPeriod(f"the period is longer than {MAX_PERIOD_DAYS} days", start=first.isoformat(), end=last.isoformat())
    return Period(start=first.astimezone(UTC), end=last.astimezone(UTC), zone=tz)
