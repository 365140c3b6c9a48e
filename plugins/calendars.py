"""Business calendars: opening hours per weekday in a timezone, minus holidays."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS = "24x7"


class CalendarError(ValueError):
    """A calendar definition that cannot be used; the message says what is wrong."""


@dataclass(frozen=True)
class BusinessCalendar:
    """``hours[weekday]`` (0 = Monday) lists the open intervals of that day, in ``timezone``.

    Intervals are wall-clock times, so a DST change moves them with the local clock.
    """

    name: str
    timezone: ZoneInfo
    hours: tuple[tuple[tuple[time, time], ...], ...]
    holidays: frozenset[date] = frozenset()

    @property
    def always_open(self) -> bool:
        return self.name == ALWAYS

    def business_seconds(self, start: datetime, end: datetime) -> float:
        """Open time between two instants, in seconds (0 if ``end`` is not after ``start``)."""
        if end <= start:
            return 0.0
        if self.always_open:
            return (end - start).total_seconds()
        total = 0.0
        for opens, closes in self._intervals(start, end):
            total += (min(closes, end) - max(opens, start)).total_seconds()
        return total

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant when ``seconds`` of open time have passed since ``start``."""
        if self.always_open:
            return start + timedelta(seconds=seconds)
        left = seconds
        for opens, closes in self._intervals(start, None):
            begin = max(opens, start)
            available = (closes - begin).total_seconds()
            if left <= available:
                return begin + timedelta(seconds=left)
            left -= available
        raise CalendarError(f"calendar {self.name!r} has no open hours")

    def _intervals(self, start: datetime, end: datetime | None):
        """Open intervals (as aware UTC datetimes) that end after ``start``, in order."""
        day = start.astimezone(self.timezone).date() - timedelta(days=1)
        empty_days = 0
        while end is None or _at(day, time.min, self.timezone) < end:
            found = False
            if day not in self.holidays:
                for opens, closes in self.hours[day.weekday()]:
                    open_at = _at(day, opens, self.timezone)
                    close_at = _at(day + timedelta(days=closes == time.min), closes,
                                   self.timezone)
                    if close_at > start and (end is None or open_at < end):
                        found = True
                        yield open_at, close_at
            empty_days = 0 if found else empty_days + 1
            if end is None and empty_days > 3 * 366:  # nothing ever opens
                return
            day += timedelta(days=1)


def _at(day: date, moment: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


@lru_cache(maxsize=1)
def twenty_four_seven() -> BusinessCalendar:
    whole_day = ((time.min, time.min),)
    return BusinessCalendar(ALWAYS, ZoneInfo("UTC"), (whole_day,) * 7)


def build_calendar(name: str, timezone: str, hours: Mapping[str, str],
                   holidays: Iterable[date] = (), *, country: str | None = None,
                   subdivision: str | None = None) -> BusinessCalendar:
    """From the config's shape: ``hours = {weekdays = "09:00-17:00", sat = "10:00-14:00"}``;
    a day not given is closed; ``"09:00-12:00, 13:00-17:30"`` has two intervals. ``country``
    (and ``subdivision``) add that country's public holidays (the ``holidays`` library), for
    last year to three years ahead."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"unknown timezone {timezone!r} (e.g. \"Europe/Berlin\")") from None
    days: list[tuple[tuple[time, time], ...]] = [()] * 7
    for key, spec in hours.items():
        targets = range(5) if key == "weekdays" else range(7) if key == "daily" else None
        if targets is None:
            if key not in DAYS:
                raise CalendarError(f"hours.{key}: expected one of {', '.join(DAYS)}, "
                                    "weekdays or daily")
            targets = (DAYS.index(key),)
        intervals = _intervals_of(key, spec)
        for day in targets:
            days[day] = intervals
    if not any(days):
        raise CalendarError("no open hours on any day")
    closed = set(holidays)
    if country:
        closed |= _public_holidays(country, subdivision)
    return BusinessCalendar(name, zone, tuple(days), frozenset(closed))


def _public_holidays(country: str, subdivision: str | None) -> set[date]:
    import holidays as library  # only calendars that name a country need it loaded

    this_year = datetime.now(UTC).year
    try:
        return set(library.country_holidays(country, subdiv=subdivision,
                                            years=range(this_year - 1, this_year + 4)))
    except NotImplementedError:
        raise CalendarError(f"no public holidays known for country {country!r}"
                            + (f", subdivision {subdivision!r}" if subdivision else "")
                            + ' (ISO codes, e.g. "DE", subdivision "BY")') from None


def _intervals_of(key: str, spec: str) -> tuple[tuple[time, time], ...]:
    intervals = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        try:
            opens, closes = (time.fromisoformat(t.strip()) for t in part.split("-"))
        except ValueError:
            raise CalendarError(f"hours.{key}: {part!r} is not like \"09:00-17:00\"") from None
        if closes != time.min and closes <= opens:
            raise CalendarError(f"hours.{key}: {part!r} closes before it opens")
        intervals.append((opens, closes))
    return tuple(sorted(intervals))
