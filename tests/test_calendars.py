"""Business calendars: open hours per weekday in a timezone, minus holidays, across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from plugins.calendars import CalendarError, build_calendar, twenty_four_seven

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600.0


@pytest.fixture
def office():
    return build_calendar("office", "Europe/Berlin", {"weekdays": "09:00-17:00"},
                          holidays=[date(2026, 12, 25)])


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


# -- business_seconds -----------------------------------------------------------------------


def test_business_seconds_within_one_day(office):
    # Friday 20 Nov 2026, 10:00 to 12:30 local
    assert office.business_seconds(berlin(2026, 11, 20, 10), berlin(2026, 11, 20, 12, 30)) \
        == 2.5 * HOUR


def test_business_seconds_clips_to_opening_hours(office):
    # 07:00 to 20:00 on a Wednesday: only 09:00-17:00 counts
    assert office.business_seconds(berlin(2026, 11, 18, 7), berlin(2026, 11, 18, 20)) \
        == 8 * HOUR


def test_the_night_adds_nothing(office):
    # Wednesday 17:00 to Thursday 09:00: closed all the way
    assert office.business_seconds(berlin(2026, 11, 18, 17), berlin(2026, 11, 19, 9)) == 0
    # Wednesday 16:00 to Thursday 10:00: one hour each side of the night
    assert office.business_seconds(berlin(2026, 11, 18, 16), berlin(2026, 11, 19, 10)) \
        == 2 * HOUR


def test_the_weekend_adds_nothing(office):
    assert date(2026, 11, 20).weekday() == 4  # a Friday
    assert office.business_seconds(berlin(2026, 11, 20, 16), berlin(2026, 11, 23, 10)) \
        == 2 * HOUR


def test_a_holiday_adds_nothing(office):
    # 25 Dec 2026 is a Friday: Thursday 16-17, (holiday, weekend), Monday 09-10
    assert date(2026, 12, 25).weekday() == 4
    assert office.business_seconds(berlin(2026, 12, 24, 16), berlin(2026, 12, 28, 10)) \
        == 2 * HOUR
    # the holiday itself has no open hours
    assert office.business_seconds(berlin(2026, 12, 25, 0), berlin(2026, 12, 26, 0)) == 0


def test_a_holiday_that_falls_on_an_open_day_is_the_only_difference():
    plain = build_calendar("plain", "Europe/Berlin", {"weekdays": "09:00-17:00"})
    start, end = berlin(2026, 12, 24, 16), berlin(2026, 12, 28, 10)
    assert plain.business_seconds(start, end) == 10 * HOUR  # Friday counts without the holiday


def test_end_not_after_start_is_zero(office):
    moment = berlin(2026, 11, 20, 10)
    assert office.business_seconds(moment, moment) == 0
    assert office.business_seconds(moment, moment - timedelta(hours=1)) == 0
    assert twenty_four_seven().business_seconds(moment, moment - timedelta(hours=1)) == 0


def test_accepts_instants_in_any_timezone(office):
    # 09:00 UTC in November is 10:00 in Berlin
    start = datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert office.business_seconds(start, start + timedelta(hours=1)) == HOUR


# -- DST -------------------------------------------------------------------------------------


def test_spring_forward_weekend_keeps_local_hours(office):
    # Berlin switches to CEST on Sunday 29 Mar 2026. Friday 16:00 CET is 15:00 UTC, Monday
    # 10:00 CEST is 08:00 UTC: the wall-clock hours stay 09:00-17:00 local.
    start, end = berlin(2026, 3, 27, 16), berlin(2026, 3, 30, 10)
    assert start.astimezone(UTC).hour == 15 and end.astimezone(UTC).hour == 8
    assert office.business_seconds(start, end) == 2 * HOUR
    # Monday opens at 07:00 UTC, no longer 08:00 UTC
    monday_7_utc = datetime(2026, 3, 30, 7, tzinfo=UTC)
    assert office.business_seconds(monday_7_utc, monday_7_utc + timedelta(hours=1)) == HOUR
    friday_7_utc = datetime(2026, 3, 27, 7, tzinfo=UTC)  # 08:00 CET: still closed
    assert office.business_seconds(friday_7_utc, friday_7_utc + timedelta(hours=1)) == 0


def test_fall_back_weekend_keeps_local_hours(office):
    # Berlin returns to CET on Sunday 25 Oct 2026: Friday opens 07:00 UTC, Monday 08:00 UTC
    start, end = berlin(2026, 10, 23, 16), berlin(2026, 10, 26, 10)
    assert office.business_seconds(start, end) == 2 * HOUR
    assert office.add(start, 2 * HOUR) == end
    monday_8_utc = datetime(2026, 10, 26, 8, tzinfo=UTC)
    assert office.business_seconds(monday_8_utc - timedelta(hours=1), monday_8_utc) == 0


def test_open_hours_on_the_dst_days_themselves():
    daily = build_calendar("daily", "Europe/Berlin", {"daily": "09:00-17:00"})
    assert daily.business_seconds(berlin(2026, 3, 29, 0), berlin(2026, 3, 30, 0)) == 8 * HOUR
    assert daily.business_seconds(berlin(2026, 10, 25, 0), berlin(2026, 10, 26, 0)) == 8 * HOUR
    # an interval spanning the change itself counts real elapsed time: 01:00-04:00 local on
    # the spring-forward night is 2 h long (02:00 CET jumps to 03:00 CEST)
    night = build_calendar("night", "Europe/Berlin", {"daily": "01:00-04:00"})
    assert night.business_seconds(berlin(2026, 3, 29, 0), berlin(2026, 3, 29, 12)) == 2 * HOUR
    # and 4 h long on the fall-back night (02:00-03:00 happens twice)
    assert night.business_seconds(berlin(2026, 10, 25, 0), berlin(2026, 10, 25, 12)) \
        == 4 * HOUR


def test_a_whole_day_calendar_counts_real_elapsed_time_across_dst():
    # "00:00-00:00" is open from local midnight to the next local midnight. On 8 Mar 2026 New
    # York springs forward, so that local day is only 23 h long: the calendar counts real
    # elapsed seconds between instants (intervals are converted to UTC), not wall-clock hours.
    always = build_calendar("ny", "America/New_York", {"daily": "00:00-00:00"})
    start = datetime(2026, 3, 8, tzinfo=NEW_YORK)
    end = datetime(2026, 3, 9, tzinfo=NEW_YORK)
    assert always.business_seconds(start, end) == 23 * HOUR
    assert always.business_seconds(start, end) == (end.astimezone(UTC)
                                                   - start.astimezone(UTC)).total_seconds()
    # 1 Nov 2026 falls back: a 25 h local day
    assert always.business_seconds(datetime(2026, 11, 1, tzinfo=NEW_YORK),
                                   datetime(2026, 11, 2, tzinfo=NEW_YORK)) == 25 * HOUR
    # over a whole week it equals plain elapsed time, with no gap or overlap at midnights
    week_start = datetime(2026, 3, 5, 12, tzinfo=UTC)
    assert always.business_seconds(week_start, week_start + timedelta(days=7)) == 7 * 24 * HOUR
    assert always.add(start, 23 * HOUR) == end


# -- add -------------------------------------------------------------------------------------


def test_add_carries_over_the_weekend(office):
    assert office.add(berlin(2026, 11, 20, 16), 2 * HOUR) == berlin(2026, 11, 23, 10)


def test_add_carries_over_the_weekend_across_spring_forward(office):
    landed = office.add(berlin(2026, 3, 27, 16), 2 * HOUR)
    assert landed == berlin(2026, 3, 30, 10)
    assert landed.astimezone(UTC) == datetime(2026, 3, 30, 8, tzinfo=UTC)


def test_add_carries_over_a_holiday(office):
    assert office.add(berlin(2026, 12, 24, 16), 2 * HOUR) == berlin(2026, 12, 28, 10)


def test_add_within_the_day(office):
    assert office.add(berlin(2026, 11, 18, 10), 90 * 60) == berlin(2026, 11, 18, 11, 30)
    # exactly up to closing time stays on that day
    assert office.add(berlin(2026, 11, 18, 16), HOUR) == berlin(2026, 11, 18, 17)


def test_add_zero_at_a_closed_moment_is_the_next_opening(office):
    # the code starts counting at the next opening: 0 s of open time have passed there
    saturday = berlin(2026, 11, 21, 12)
    assert office.add(saturday, 0) == berlin(2026, 11, 23, 9)
    assert office.add(berlin(2026, 11, 20, 17), 0) == berlin(2026, 11, 23, 9)


def test_add_zero_at_an_open_moment_is_that_moment(office):
    moment = berlin(2026, 11, 18, 10, 15)
    assert office.add(moment, 0) == moment


def test_add_and_business_seconds_agree(office):
    start = berlin(2026, 11, 19, 15, 20)
    for seconds in (1, 3599, 2 * HOUR, 8 * HOUR, 30 * HOUR):
        assert office.business_seconds(start, office.add(start, seconds)) == seconds


def test_split_intervals():
    lunch = build_calendar("lunch", "Europe/Berlin", {"weekdays": "09:00-12:00, 13:00-17:00"})
    day = (berlin(2026, 11, 18, 0), berlin(2026, 11, 19, 0))
    assert lunch.business_seconds(*day) == 7 * HOUR
    assert lunch.business_seconds(berlin(2026, 11, 18, 11), berlin(2026, 11, 18, 14)) \
        == 2 * HOUR
    # 11:30 + 1 h: 30 min before lunch, 30 min after
    assert lunch.add(berlin(2026, 11, 18, 11, 30), HOUR) == berlin(2026, 11, 18, 13, 30)
    # from inside the lunch break
    assert lunch.add(berlin(2026, 11, 18, 12, 30), 60) == berlin(2026, 11, 18, 13, 1)


def test_split_intervals_are_sorted_whatever_the_order_given():
    lunch = build_calendar("lunch", "Europe/Berlin", {"mon": "13:00-17:00,09:00-12:00"})
    assert lunch.hours[0] == tuple(sorted(lunch.hours[0]))
    assert lunch.add(berlin(2026, 11, 23, 8), 3 * HOUR + 60) == berlin(2026, 11, 23, 13, 1)


def test_day_keys_override_and_unset_days_are_closed():
    cal = build_calendar("c", "Europe/Berlin", {"weekdays": "09:00-17:00", "sat": "10:00-14:00"})
    assert cal.business_seconds(berlin(2026, 11, 21, 0), berlin(2026, 11, 22, 0)) == 4 * HOUR
    assert cal.business_seconds(berlin(2026, 11, 22, 0), berlin(2026, 11, 23, 0)) == 0


def test_twenty_four_seven_adds_plain_time():
    always = twenty_four_seven()
    assert always.always_open
    start = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert always.add(start, 1.5 * HOUR) == start + timedelta(hours=1.5)
    assert always.add(start, 0.25) == start + timedelta(seconds=0.25)
    assert always.business_seconds(start, start + timedelta(days=3)) == 72 * HOUR


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("timezone", "hours", "message"), [
    ("Mars/Olympus", {"weekdays": "09:00-17:00"}, "unknown timezone 'Mars/Olympus'"),
    ("Europe/Berlin", {"weekdays": "9-5"}, "hours.weekdays: '9-5' is not like"),
    ("Europe/Berlin", {"mon": "09:00"}, "hours.mon: '09:00' is not like"),
    ("Europe/Berlin", {"weekdays": "17:00-09:00"}, "hours.weekdays: '17:00-09:00' closes before"),
    ("Europe/Berlin", {"weekdays": "09:00-09:00"}, "closes before it opens"),
    ("Europe/Berlin", {"monday": "09:00-17:00"}, "hours.monday: expected one of mon, tue"),
    ("Europe/Berlin", {}, "no open hours on any day"),
    ("Europe/Berlin", {"weekdays": ""}, "no open hours on any day"),
])
def test_bad_definitions_raise_calendar_error(timezone, hours, message):
    with pytest.raises(CalendarError, match=message.replace("(", r"\(")):
        build_calendar("office", timezone, hours)


def test_calendar_error_is_a_value_error():
    assert issubclass(CalendarError, ValueError)


def test_a_country_adds_its_public_holidays():
    calendar = build_calendar("munich", "Europe/Berlin", {"weekdays": "09:00-17:00"},
                              country="DE", subdivision="BY")
    assert date(2026, 1, 6) in calendar.holidays  # Epiphany: Bavaria only
    assert date(2026, 10, 3) in calendar.holidays  # German Unity Day
    berlin = build_calendar("berlin", "Europe/Berlin", {"weekdays": "09:00-17:00"},
                            country="DE", subdivision="BE")
    assert date(2026, 1, 6) not in berlin.holidays


def test_an_unknown_country_is_refused():
    with pytest.raises(CalendarError, match="no public holidays known for country 'XX'"):
        build_calendar("x", "UTC", {"weekdays": "09:00-17:00"}, country="XX")
