"""An office's opening hours, in UK time, closed on England and Wales bank holidays.

Written as people write them, ``"Mon-Fri 09:00-17:30, Sat 09:00-13:00"``, and kept as JSON,
``{"mon": [["09:00", "17:30"]], ...}``. Texts wait for the next opening and the autocaller only
rings inside them, so the two questions asked of hours are `is_open` and `next_opening`; both take
and give aware UTC datetimes, and both read the wall clock in London, so 09:00 is 09:00 in
winter and in summer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import holidays

UK = ZoneInfo("Europe/London")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_A_DAY = 24 * 60
# Further than any run of bank holidays can keep a weekly opening shut (Christmas and New Year
# close at most two of the same weekday); only an empty week is never open.
_SEARCH_DAYS = 60


class HoursError(ValueError):
    """Opening hours that cannot be read; the message names the bad part."""


class Interval(NamedTuple):
    """Open from `opens` until just before `closes`, in minutes after midnight (UK wall clock);
    `closes` may be 1440, midnight at the end of the day."""

    opens: int
    closes: int

    def __str__(self) -> str:
        return f"{_hhmm(self.opens)}-{_hhmm(self.closes)}"


@dataclass(frozen=True)
class OpeningHours:
    """Seven days, Monday first, each a sorted tuple of intervals that neither overlap nor
    touch (touching ones are joined), so equal hours compare equal however they were written."""

    week: tuple[tuple[Interval, ...], ...]

    @classmethod
    def closed(cls) -> OpeningHours:
        return cls(((),) * 7)

    @property
    def is_never_open(self) -> bool:
        return not any(self.week)

    def render(self) -> str:
        """The written form, consecutive days with the same hours grouped: parse(render(h)) == h."""
        parts = []
        day = 0
        while day < 7:
            last = day
            while last + 1 < 7 and self.week[last + 1] == self.week[day]:
                last += 1
            if self.week[day]:
                days = DAYS[day] if last == day else f"{DAYS[day]}-{DAYS[last]}"
                parts.append(" ".join([days, *(str(i) for i in self.week[day])]))
            day = last + 1
        return ", ".join(parts)

    def __str__(self) -> str:
        return self.render()

    def to_json(self) -> dict[str, list[list[str]]]:
        return {
            name.lower(): [[_hhmm(i.opens), _hhmm(i.closes)] for i in intervals]
            for name, intervals in zip(DAYS, self.week, strict=True)
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OpeningHours:
        """The JSON form; a day left out is closed."""
        if not isinstance(data, Mapping):
            raise HoursError('Opening hours must be an object of days, such as {"mon": [...]}.')
        week: list[list[Interval]] = [[] for _ in DAYS]
        for key, value in data.items():
            day = _day(str(key), str(key))
            if not isinstance(value, Sequence) or isinstance(value, str):
                raise HoursError(f"{key}: a list of [opens, closes] pairs is expected.")
            for pair in value:
                if (
                    not isinstance(pair, Sequence)
                    or isinstance(pair, str)
                    or len(pair) != 2
                    or not all(isinstance(t, str) for t in pair)
                ):
                    raise HoursError(f'{key}: {pair!r} is not a pair such as ["09:00", "17:30"].')
                where = f"{key} {pair[0]}-{pair[1]}"
                week[day].append(_interval(pair[0], pair[1], where))
        return cls(tuple(_normalise(DAYS[d], intervals) for d, intervals in enumerate(week)))


_TIME_RANGE = re.compile(r"^(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})$")


def parse_hours(text: str) -> OpeningHours:
    """``"Mon-Fri 09:00-17:30, Sat 09:00-13:00"``: parts split by commas, each a day or a range of
    days (``Fri-Mon`` wraps round) and one or more time ranges (``Mon 09:00-12:30 13:30-17:00``).
    A day may come back in another part for another interval. Empty text: never open."""
    week: list[list[Interval]] = [[] for _ in DAYS]
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            if text.strip():
                raise HoursError(f"There is an empty part in {text.strip()!r}.")
            continue
        # Spaces around the dashes are allowed ("Mon - Fri 09:00 - 17:30"): close them up first.
        words = re.sub(r"\s*-\s*", "-", part).split()
        days = _days(words[0], part)
        if len(words) == 1:
            raise HoursError(f"{part!r}: opening times are missing, such as 09:00-17:30.")
        for word in words[1:]:
            match = _TIME_RANGE.match(word)
            if not match:
                raise HoursError(f"{part!r}: {word!r} is not a time range such as 09:00-17:30.")
            interval = _interval(match[1], match[2], part)
            for day in days:
                week[day].append(interval)
    return OpeningHours(tuple(_normalise(DAYS[d], intervals) for d, intervals in enumerate(week)))


def is_open(hours: OpeningHours, at_utc: datetime) -> bool:
    local = _aware(at_utc, "at_utc").astimezone(UK)
    if is_bank_holiday(local.date()):
        return False
    second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    return any(i.opens * 60 <= second < i.closes * 60 for i in hours.week[local.weekday()])


def next_opening(hours: OpeningHours, after_utc: datetime) -> datetime | None:
    """The first moment at or after `after_utc` when the office is open (`after_utc` itself when
    it is open then), in UTC; None when the hours have no opening at all."""
    after = _aware(after_utc, "after_utc").astimezone(UTC)
    if hours.is_never_open:
        return None
    if is_open(hours, after):
        return after
    # Being closed turns into being open only when the wall clock reaches an opening time, or
    # when it jumps (a clock change); so the answer is the first such moment that is open.
    first_day = after.astimezone(UK).date()
    for offset in range(_SEARCH_DAYS):
        day = first_day + timedelta(days=offset)
        if is_bank_holiday(day) or not hours.week[day.weekday()]:
            continue
        moments = [t for i in hours.week[day.weekday()] for t in _instants(day, i.opens)]
        moments.extend(_clock_changes(day))
        # The UK's clocks change at 01:00 UTC, never near midnight, so one day's moments all
        # come before the next day's: the first day with an answer has the answer.
        found = sorted(t for t in moments if t > after and is_open(hours, t))
        if found:
            return found[0]
    return None


def is_bank_holiday(day: date) -> bool:
    """England and Wales: the bank holiday itself and its substitute weekday are both closed
    (no texts on Christmas Day when it falls on a Saturday, nor on the Monday after)."""
    return day in _bank_holidays(day.year)


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def _instants(day: date, minute: int) -> list[datetime]:
    """The UTC moments when London's wall clock shows `minute` on `day`: none in the hour skipped
    in March, two in the hour repeated in October."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    out = []
    for fold in (0, 1):
        t = wall.replace(tzinfo=UK, fold=fold).astimezone(UTC)
        if t.astimezone(UK).replace(tzinfo=None) == wall and t not in out:
            out.append(t)
    return out


def _clock_changes(day: date) -> list[datetime]:
    """The UTC moments on `day` (UK) when London's offset changes, found by bisection."""
    start = datetime.combine(day, time(), tzinfo=UK).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=UK).astimezone(UTC)
    if start.astimezone(UK).utcoffset() == end.astimezone(UK).utcoffset():
        return []
    low, high = start, end
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(UK).utcoffset() == low.astimezone(UK).utcoffset():
            low = mid
        else:
            high = mid
    return [high.replace(microsecond=0)]


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), not naive: {moment!r}")
    return moment


def _days(spec: str, part: str) -> list[int]:
    if "-" not in spec:
        return [_day(spec, part)]
    first, _, last = spec.partition("-")
    start, end = _day(first, part), _day(last, part)
    if start == end:
        raise HoursError(f"{part!r}: {spec!r} starts and ends on the same day.")
    return [(start + n) % 7 for n in range((end - start) % 7 + 1)]


def _day(word: str, part: str) -> int:
    name = word.strip().lower()
    for number, full in enumerate(_FULL_DAYS):
        if len(name) >= 3 and full.startswith(name):
            return number
    raise HoursError(f"{part!r}: {word!r} is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun).")


def _interval(opens: str, closes: str, part: str) -> Interval:
    start, end = _minute(opens, part), _minute(closes, part, closing=True)
    if end <= start:
        raise HoursError(
            f"{part!r}: closes at {closes}, not after it opens at {opens} "
            "(hours past midnight are not supported; 24:00 is the end of the day)."
        )
    return Interval(start, end)


def _minute(text: str, part: str, *, closing: bool = False) -> int:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if match:
        hour, minute = int(match[1]), int(match[2])
        if minute < 60 and (hour < 24 or (closing and hour == 24 and minute == 0)):
            return hour * 60 + minute
    raise HoursError(f"{part!r}: {text!r} is not a time of day from 00:00 to 24:00.")


def _normalise(day: str, intervals: list[Interval]) -> tuple[Interval, ...]:
    out: list[Interval] = []
    for interval in sorted(intervals):
        if out and interval.opens < out[-1].closes:
            raise HoursError(f"{day}: {interval} overlaps {out[-1]}.")
        if out and interval.opens == out[-1].closes:
            out[-1] = Interval(out[-1].opens, interval.closes)
        else:
            out.append(interval)
    return tuple(out)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
