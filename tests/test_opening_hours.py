"""Opening hours: the written and JSON forms, UK wall-clock time through clock changes, bank
holidays closed, and the next opening found as a patient person stepping through the week would."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doorstep.offices.hours import (
    UK,
    HoursError,
    Interval,
    OpeningHours,
    is_bank_holiday,
    is_open,
    next_opening,
    parse_hours,
)

OFFICE = parse_hours("Mon-Fri 09:00-17:30, Sat 09:00-13:00")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def uk(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A UK wall-clock time, as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UK).astimezone(UTC)


# -- the written form ---------------------------------------------------------------------------


def test_the_spec_example_reads_and_renders_back():
    assert OFFICE.week[0] == (Interval(9 * 60, 17 * 60 + 30),)
    assert OFFICE.week[4] == OFFICE.week[0]
    assert OFFICE.week[5] == (Interval(9 * 60, 13 * 60),)
    assert OFFICE.week[6] == ()
    assert OFFICE.render() == "Mon-Fri 09:00-17:30, Sat 09:00-13:00"


def test_several_intervals_a_day_written_either_way_are_the_same_hours():
    together = parse_hours("Mon-Fri 09:00-12:30 13:30-17:30")
    apart = parse_hours("Mon-Fri 13:30-17:30, Mon-Fri 09:00-12:30")
    assert together == apart
    assert together.render() == "Mon-Fri 09:00-12:30 13:30-17:30"


def test_people_write_hours_loosely():
    loose = parse_hours("monday - FRIDAY 9:00 - 17:30 ,  Saturday 09:00-13:00")
    assert loose == OFFICE
    assert parse_hours("Tues 10:00-16:00, Thurs 10:00-16:00").render() == (
        "Tue 10:00-16:00, Thu 10:00-16:00"
    )


def test_a_day_range_may_wrap_round_the_weekend():
    hours = parse_hours("Fri-Mon 10:00-14:00")
    assert [bool(day) for day in hours.week] == [True, False, False, False, True, True, True]
    # Rendered Monday first: the same days, grouped where they are consecutive in the week.
    assert hours.render() == "Mon 10:00-14:00, Fri-Sun 10:00-14:00"
    assert parse_hours(hours.render()) == hours


def test_touching_intervals_are_one_and_a_day_can_run_to_midnight():
    assert parse_hours("Sat 09:00-12:00, Sat 12:00-24:00").render() == "Sat 09:00-24:00"


def test_no_hours_is_never_open():
    assert parse_hours("") == OpeningHours.closed()
    assert parse_hours("  ").is_never_open
    assert OpeningHours.closed().render() == ""


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Mon-Fir 09:00-17:30", "'Fir' is not a day"),
        ("Mo 09:00-17:30", "'Mo' is not a day"),
        ("Mon-Fri 9-5", "'9-5' is not a time range"),
        ("Mon-Fri 09:00-17:30, Sat", "'Sat': opening times are missing"),
        ("Mon 17:30-09:00", "closes at 09:00, not after it opens at 17:30"),
        ("Mon 22:00-02:00", "past midnight"),
        ("Mon 09:00-25:00", "'25:00' is not a time of day"),
        ("Mon 24:00-24:00", "'24:00' is not a time of day"),
        ("Mon 09:60-17:00", "'09:60' is not a time of day"),
        ("Mon-Mon 09:00-17:00", "starts and ends on the same day"),
        ("Mon-Fri 09:00-17:30, Mon 17:00-18:00", "Mon: 17:00-18:00 overlaps 09:00-17:30"),
        ("Mon-Fri 09:00-17:30,, Sat 09:00-13:00", "empty part"),
    ],
)
def test_bad_hours_are_refused_naming_the_bad_part(text, named):
    with pytest.raises(HoursError, match=named.replace("(", r"\(")):
        parse_hours(text)


def test_hours_errors_are_value_errors_so_validators_can_raise_them():
    assert issubclass(HoursError, ValueError)


# -- the JSON form --------------------------------------------------------------------------------


def test_the_json_form_names_every_day():
    assert OFFICE.to_json() == {
        "mon": [["09:00", "17:30"]],
        "tue": [["09:00", "17:30"]],
        "wed": [["09:00", "17:30"]],
        "thu": [["09:00", "17:30"]],
        "fri": [["09:00", "17:30"]],
        "sat": [["09:00", "13:00"]],
        "sun": [],
    }
    assert OpeningHours.from_json(OFFICE.to_json()) == OFFICE


def test_json_days_left_out_are_closed():
    hours = OpeningHours.from_json({"sat": [["09:00", "13:00"]]})
    assert hours.render() == "Sat 09:00-13:00"


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"funday": []}, "'funday' is not a day"),
        ({"mon": "09:00-17:00"}, "mon: a list of"),
        ({"mon": [["09:00"]]}, "is not a pair"),
        ({"mon": [["17:00", "09:00"]]}, "closes at 09:00"),
        ({"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}, "overlaps"),
        (["mon"], "must be an object"),
    ],
)
def test_bad_json_hours_are_refused_naming_the_bad_part(data, named):
    with pytest.raises(HoursError, match=named):
        OpeningHours.from_json(data)


# -- open or not ----------------------------------------------------------------------------------


def test_hours_are_uk_wall_clock_time_in_winter_and_in_summer():
    # Wednesday 14 January 2026: GMT, the wall clock is UTC.
    assert not is_open(OFFICE, utc(2026, 1, 14, 8, 59, 59))
    assert is_open(OFFICE, utc(2026, 1, 14, 9, 0))
    assert is_open(OFFICE, utc(2026, 1, 14, 17, 29, 59))
    assert not is_open(OFFICE, utc(2026, 1, 14, 17, 30))
    # Wednesday 15 July 2026: BST, an hour ahead of UTC.
    assert is_open(OFFICE, utc(2026, 7, 15, 8, 0))
    assert not is_open(OFFICE, utc(2026, 7, 15, 7, 59))
    assert not is_open(OFFICE, utc(2026, 7, 15, 16, 30))


def test_any_timezone_is_accepted_but_a_naive_time_is_not():
    naive = datetime(2026, 1, 14, 4, 0, tzinfo=UK).replace(tzinfo=None)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(OFFICE, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_opening(OFFICE, naive)
    assert is_open(OFFICE, datetime(2026, 1, 14, 9, 0, tzinfo=UK))


def test_england_and_wales_bank_holidays_are_closed():
    assert not is_open(OFFICE, uk(2026, 4, 6, 11, 0))  # Easter Monday
    assert not is_open(OFFICE, uk(2026, 12, 25, 11, 0))  # Christmas Day, a Friday
    assert not is_open(OFFICE, uk(2026, 12, 26, 11, 0))  # Boxing Day, a Saturday
    assert not is_open(OFFICE, uk(2026, 12, 28, 11, 0))  # its substitute Monday
    assert is_open(OFFICE, uk(2026, 12, 29, 11, 0))
    assert not is_open(OFFICE, uk(2022, 9, 19, 11, 0))  # a one-off: the Queen's funeral
    # Scotland's own bank holidays are not England's: 2 January and St Andrew's Day.
    assert not is_bank_holiday(date(2026, 1, 2))
    assert not is_bank_holiday(date(2026, 11, 30))


# -- the next opening -----------------------------------------------------------------------------


def test_open_now_means_now():
    at = utc(2026, 1, 14, 10, 17, 3)
    assert next_opening(OFFICE, at) == at


def test_the_next_opening_after_hours_and_at_the_weekend():
    assert next_opening(OFFICE, uk(2026, 1, 14, 18, 0)) == uk(2026, 1, 15, 9, 0)
    assert next_opening(OFFICE, uk(2026, 1, 14, 7, 0)) == uk(2026, 1, 14, 9, 0)
    assert next_opening(OFFICE, uk(2026, 1, 17, 13, 0)) == uk(2026, 1, 19, 9, 0)
    assert next_opening(OFFICE, uk(2026, 1, 14, 7, 0)).tzinfo is UTC


def test_the_next_opening_across_the_clock_changes():
    # Clocks go forward on Sunday 29 March 2026: Saturday afternoon (GMT) waits for Monday 09:00
    # BST, which is 08:00 UTC.
    assert next_opening(OFFICE, utc(2026, 3, 28, 14, 0)) == utc(2026, 3, 30, 8, 0)
    # Clocks go back on Sunday 25 October 2026: Monday 09:00 is 09:00 UTC again.
    assert next_opening(OFFICE, utc(2026, 10, 24, 13, 0)) == utc(2026, 10, 26, 9, 0)
    assert next_opening(OFFICE, utc(2026, 10, 23, 17, 0)) == utc(2026, 10, 24, 8, 0)


def test_hours_inside_the_clock_change_hours_themselves():
    # 01:00-02:00 never happens on 29 March 2026: the office opens when the clock jumps to 02:00.
    night = parse_hours("Sun 01:30-03:00")
    assert next_opening(night, utc(2026, 3, 29, 0, 30)) == utc(2026, 3, 29, 1, 0)
    assert is_open(night, utc(2026, 3, 29, 1, 0))
    # 01:00-02:00 happens twice on 25 October 2026: open for both.
    early = parse_hours("Sun 00:30-01:30")
    assert is_open(early, utc(2026, 10, 25, 0, 15))  # 01:15 BST
    assert not is_open(early, utc(2026, 10, 25, 0, 45))  # 01:45 BST
    assert next_opening(early, utc(2026, 10, 25, 0, 45)) == utc(2026, 10, 25, 1, 0)  # 01:00 GMT
    assert next_opening(early, utc(2026, 10, 25, 1, 30)) == uk(2026, 11, 1, 0, 30)
    late = parse_hours("Sun 01:15-01:30")
    assert next_opening(late, utc(2026, 10, 25, 0, 45)) == utc(2026, 10, 25, 1, 15)  # 01:15 GMT


def test_christmas_and_new_year_runs():
    # 2026: Christmas Friday, Boxing Day Saturday (its substitute Monday 28th), New Year Friday.
    assert next_opening(OFFICE, uk(2026, 12, 24, 17, 30)) == uk(2026, 12, 29, 9, 0)
    assert next_opening(OFFICE, uk(2026, 12, 31, 17, 30)) == uk(2027, 1, 2, 9, 0)
    # 2027-28: Mondays 27 December and 3 January are substitutes, so a Mondays-only office
    # skips two Mondays running.
    mondays = parse_hours("Mon 10:00-16:00")
    assert next_opening(mondays, uk(2027, 12, 20, 16, 0)) == uk(2028, 1, 10, 10, 0)


def test_a_week_with_no_hours_has_no_next_opening():
    assert next_opening(OpeningHours.closed(), utc(2026, 1, 14, 10, 0)) is None


# -- properties -----------------------------------------------------------------------------------

quarter = st.integers(min_value=0, max_value=95)


@st.composite
def weeks(draw: st.DrawFn) -> OpeningHours:
    """Any hours on quarter-hours, so the open state is constant within each UTC quarter-hour
    (UK offsets are whole hours) and a quarter-hour walk is an exact reference."""
    days = []
    for _ in range(7):
        edges = sorted(set(draw(st.lists(st.integers(0, 96), max_size=6))))
        if len(edges) % 2:
            edges = edges[:-1]
        days.append(
            tuple(Interval(edges[i] * 15, edges[i + 1] * 15) for i in range(0, len(edges), 2))
        )
    # Touching intervals are joined by the parser, so join them here too.
    return OpeningHours.from_json(OpeningHours(tuple(days)).to_json())


# Moments near the hard parts (clock changes, Christmas, New Year, Easter) as well as anywhere.
ANCHORS = [
    utc(2026, 3, 29, 1, 0),
    utc(2026, 10, 25, 1, 0),
    utc(2027, 3, 28, 1, 0),
    utc(2027, 10, 31, 1, 0),
    uk(2026, 12, 24, 12, 0),
    uk(2027, 12, 24, 12, 0),
    uk(2027, 12, 31, 12, 0),
    uk(2026, 4, 2, 12, 0),
]
moments = st.one_of(
    st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
    ),
    st.builds(
        lambda anchor, seconds: anchor + timedelta(seconds=seconds),
        st.sampled_from(ANCHORS),
        st.integers(-4 * 86400, 4 * 86400),
    ),
    st.builds(
        lambda anchor, seconds: anchor + timedelta(seconds=seconds),
        st.sampled_from(ANCHORS[:4]),
        st.integers(-3 * 3600, 3 * 3600),
    ),
)


@settings(max_examples=150, deadline=None)
@given(weeks())
def test_written_and_json_forms_round_trip(hours):
    assert parse_hours(hours.render()) == hours
    assert OpeningHours.from_json(hours.to_json()) == hours


@settings(max_examples=150, deadline=None)
@given(weeks(), moments)
def test_the_next_opening_is_the_first_open_moment(hours, after):
    found = next_opening(hours, after)
    if hours.is_never_open:
        assert found is None
        return
    # The reference: look now, then at every quarter-hour after, until open.
    expected = after
    step = timedelta(minutes=15)
    if not is_open(hours, expected):
        expected = after.replace(minute=after.minute // 15 * 15, second=0, microsecond=0)
        while not is_open(hours, expected):
            expected += step
    assert found == expected


@settings(max_examples=100, deadline=None)
@given(weeks(), st.integers(0, 86399))
def test_the_same_wall_clock_time_is_open_in_winter_and_summer(hours, second):
    # Wednesdays 14 January (GMT) and 15 July 2026 (BST), neither a bank holiday.
    wall = timedelta(seconds=second)
    winter = datetime(2026, 1, 14, tzinfo=UK) + wall
    summer = datetime(2026, 7, 15, tzinfo=UK) + wall
    assert is_open(hours, winter.astimezone(UTC)) == is_open(hours, summer.astimezone(UTC))


@settings(max_examples=50, deadline=None)
@given(weeks(), st.integers(0, 86399))
def test_never_open_on_a_bank_holiday(hours, second):
    for day in (date(2026, 12, 25), date(2026, 12, 28), date(2027, 5, 31)):
        at = datetime.combine(day, datetime.min.time(), tzinfo=UK) + timedelta(seconds=second)
        assert not is_open(hours, at)
