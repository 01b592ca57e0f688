"""Business-time calendars: "5 business days", "16 business hours", in a team's time zone.

Runbooks count in working time ("if the customer has not been in touch within 5 business
days", "chase the approver after 24 business hours"). A :class:`BusinessCalendar` says what
working time is for one team: the working days, the working hours, the IANA time zone, and the
public holidays of a country (and optionally one of its subdivisions) from the maintained
``holidays`` library, plus the company's own closures.

Semantics, chosen so that the answers match what a person with a wall calendar would say:

* Working hours are a half-open interval ``[start, end)`` of local wall time on each working
  day; ``end: "24:00"`` means until midnight. A moment outside working time counts from the
  next working moment (:meth:`BusinessCalendar.next_business_moment`): a request arriving on
  Saturday starts its clock on Monday morning.
* ``N business days`` moves to the same local time of day N working days later (Friday 15:00
  + 1 business day = Monday 15:00), after first moving to the next working moment.
* Business hours and minutes are real elapsed time inside working intervals. Arithmetic is done
  in UTC, so a working interval that spans a daylight-saving switch is as long as it really is
  (a 00:00-24:00 day has 23 hours in spring); 09:00-17:00 is always 8 hours.
* Adding an amount that ends exactly at the end of a working interval answers that end
  (Monday 09:00 + 16 business hours = Tuesday 17:00), not the next morning.

Durations are written as in a rule's config block: ``"5 business days"``, ``"2bd"``,
``"16 business hours"``, ``"16bh"``, ``"30 business minutes"``, or combined
(``"1bd 4bh"``). :data:`BusinessTime` is the pydantic field type for such a value, and
:data:`Delay` accepts either a business duration or a plain one (``"24h"``, see
:data:`bot.config.Duration`), for settings like "remind after".
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    field_serializer,
    field_validator,
    model_validator,
)

from bot.config import parse_duration

#: How far ahead a search for working time goes before it declares the calendar has none.
_SEARCH_DAYS = 3660

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = {name: i for i, name in enumerate(_WEEKDAYS)} | {
    full: i for i, full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))}
_MIDNIGHT = time(0)


# durations ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BusinessDuration:
    """An amount of working time: whole business ``days`` plus business ``time`` (hours, minutes)."""

    days: int = 0
    time: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.days < 0 or self.time < timedelta(0):
            raise ValueError(f"a business duration cannot be negative (days={self.days}, time={self.time})")

    def __str__(self) -> str:
        parts = []
        if self.days:
            parts.append(f"{self.days} business day{'s' if self.days != 1 else ''}")
        hours, rest = divmod(self.time, timedelta(hours=1))
        minutes = rest / timedelta(minutes=1)
        if hours:
            parts.append(f"{hours} business hour{'s' if hours != 1 else ''}")
        if minutes:
            parts.append(f"{minutes:g} business minute{'s' if minutes != 1 else ''}")
        return " ".join(parts) or "0 business hours"

    @property
    def is_zero(self) -> bool:
        return self.days == 0 and self.time == timedelta(0)


_UNITS = {
    "days": ("business days", "business day", "working days", "working day", "bd", "wd"),
    "hours": ("business hours", "business hour", "working hours", "working hour", "bh", "wh"),
    "minutes": ("business minutes", "business minute", "working minutes", "working minute", "bm", "wm"),
}
_UNIT_OF = {spelling: unit for unit, spellings in _UNITS.items() for spelling in spellings}
_PART = re.compile(
    r"(\d+(?:\.\d+)?)\s*(" + "|".join(sorted((r"\s+".join(map(re.escape, s.split())) for s in _UNIT_OF),
                                             key=len, reverse=True)) + r")\b",
    re.IGNORECASE)
_EXAMPLES = '"5 business days", "2bd", "16 business hours", "16bh", "30 business minutes" or "1bd 4bh"'


def parse_business_duration(value: Any) -> BusinessDuration:
    """``"5 business days"``, ``"2bd"``, ``"16 business hours"``, ``"1bd 4bh"`` -> BusinessDuration.

    Whole days only (a fraction of a business day has no clear meaning); hours and minutes may
    be decimal. Anything else is a ValueError that shows the accepted spellings.
    """
    if isinstance(value, BusinessDuration):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a business duration: {value!r} (use e.g. {_EXAMPLES})")
    text = value.strip()
    parts = _PART.findall(text)
    if not parts or re.search(r"[^\s,+]", _PART.sub("", text)):
        raise ValueError(f"not a business duration: {value!r} (use e.g. {_EXAMPLES})")
    days, elapsed = 0, timedelta(0)
    for number, spelling in parts:
        unit = _UNIT_OF[" ".join(spelling.lower().split())]
        if unit == "days":
            if "." in number:
                raise ValueError(f"{value!r}: business days must be whole days (write hours for the rest, "
                                 "e.g. \"1bd 4bh\")")
            days += int(number)
        else:
            elapsed += timedelta(**{unit: float(number)})
    return BusinessDuration(days=days, time=elapsed)


def parse_delay(value: Any) -> timedelta | BusinessDuration:
    """A delay in a rule's config: business time (``"2bd"``, ``"16 business hours"``) or
    wall-clock time (``"24h"``, ``"90m"``, seconds as a number)."""
    if isinstance(value, timedelta | BusinessDuration):
        return value
    if isinstance(value, str) and _PART.search(value):
        return parse_business_duration(value)
    try:
        return parse_duration(value)
    except ValueError:
        raise ValueError(f"not a delay: {value!r} (use business time such as {_EXAMPLES}, "
                         "or wall-clock time such as \"24h\" or \"90m\")") from None


def _delay_text(value: timedelta | BusinessDuration) -> str | float:
    return str(value) if isinstance(value, BusinessDuration) else value.total_seconds()


#: A business duration field for a rule's config block (``follow_up_after: 5 business days``).
BusinessTime = Annotated[BusinessDuration, PlainValidator(parse_business_duration), PlainSerializer(str)]
#: A delay field that takes business time or wall-clock time (``remind_after: 24bh`` or ``24h``).
Delay = Annotated[timedelta | BusinessDuration, PlainValidator(parse_delay), PlainSerializer(_delay_text)]


# the calendar ---------------------------------------------------------------------------------------
def _parse_weekdays(value: Any) -> Any:
    """``"mon-fri"``, ``["mon", "tue"]``, ``"Monday, Wednesday"`` -> sorted weekday numbers (Mon = 0)."""
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", value.strip()) if part]
    if not isinstance(value, list | tuple):
        raise ValueError(f"working_days: expected weekday names such as [mon, tue, wed, thu, fri] or \"mon-fri\", "  # noqa: TRY004 - pydantic reports ValueErrors
                         f"got {value!r}")
    days: set[int] = set()
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"working_days: {item!r} is not a weekday name (mon, tue, … sun)")  # noqa: TRY004
        first, _, last = item.strip().lower().partition("-")
        if first not in _WEEKDAY_NAMES or (last and last not in _WEEKDAY_NAMES):
            raise ValueError(f"working_days: {item!r} is not a weekday name or range (mon, tue, … sun; mon-fri)")
        a, b = _WEEKDAY_NAMES[first], _WEEKDAY_NAMES[last or first]
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(b + 1)])
    if not days:
        raise ValueError("working_days: at least one working day is needed")
    return tuple(sorted(days))


def _parse_clock(value: Any) -> Any:
    """``"09:00"`` -> time(9); ``"24:00"`` -> midnight (as an end: the end of the day)."""
    if isinstance(value, str) and value.strip() in ("24:00", "24:00:00"):
        return _MIDNIGHT
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML reads an unquoted 09:00 as a sexagesimal integer (540); quote it, or we take minutes.
        raise ValueError(f"{value!r} is not a time of day; write it quoted, e.g. \"09:00\"")  # noqa: TRY004
    return value


class BusinessCalendar(BaseModel):
    """When a team works: days, hours, time zone and holidays. Immutable; answers business-time questions.

    In a rule's config block::

        calendar:
          time_zone: America/Sao_Paulo
          working_days: mon-fri
          start: "09:00"
          end: "18:00"
          country: BR
          subdivision: SP            # optional: state/region holidays too
          holiday_categories: [public, optional]   # e.g. Carnival in Brazil is 'optional'
          closures: [2026-12-24]     # the company's own days off
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: str = "UTC"
    working_days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday = 0; written as names, see _parse_weekdays
    start: time = time(9)
    end: time = time(17)
    country: str | None = None
    subdivision: str | None = None
    holiday_categories: tuple[str, ...] = ("public",)
    closures: tuple[date, ...] = ()

    _zone: ZoneInfo = PrivateAttr()
    _holidays: holidays.HolidayBase | None = PrivateAttr(default=None)
    _working: dict[date, bool] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    # validation ---------------------------------------------------------------------------------
    @field_validator("working_days", mode="before")
    @classmethod
    def _weekdays(cls, value: Any) -> Any:
        return _parse_weekdays(value)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> Any:
        return _parse_clock(value)

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. America/Sao_Paulo, Europe/Helsinki)") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BusinessCalendar:
        if self.end != _MIDNIGHT and self.end <= self.start:
            raise ValueError(f"working hours must end after they start (start {self.start:%H:%M}, end "
                             f"{self.end:%H:%M}); overnight hours are not supported, use end: \"24:00\"")
        if self.subdivision and not self.country:
            raise ValueError("subdivision needs a country")
        if self.country:  # fails here, naming the country or subdivision, not at the first question
            _holiday_table(self.country, self.subdivision, self.holiday_categories)
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._zone = ZoneInfo(self.time_zone)
        if self.country:
            self._holidays = _holiday_table(self.country, self.subdivision, self.holiday_categories)

    def __eq__(self, other: object) -> bool:  # the settings, not the caches and lock
        return isinstance(other, BusinessCalendar) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))

    @field_serializer("working_days")
    def _weekday_names(self, value: tuple[int, ...]) -> list[str]:
        return [_WEEKDAYS[i] for i in value]

    # questions ----------------------------------------------------------------------------------
    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @property
    def summary(self) -> str:
        """``mon-fri 09:00-17:00 America/New_York, US holidays``: the calendar in one line, for traces."""
        days = [_WEEKDAYS[i] for i in self.working_days]
        runs = f"{days[0]}-{days[-1]}" if len(days) > 1 and list(self.working_days) == list(
            range(self.working_days[0], self.working_days[-1] + 1)) else ",".join(days)
        end = "24:00" if self.end == _MIDNIGHT else f"{self.end:%H:%M}"
        where = f"{self.country}{'-' + self.subdivision if self.subdivision else ''} holidays" if self.country \
            else "no holidays"
        return f"{runs} {self.start:%H:%M}-{end} {self.time_zone}, {where}"

    def in_zone(self, time_zone: str) -> BusinessCalendar:
        """The same working week and holidays, read on the clock of ``time_zone`` (a person elsewhere)."""
        if time_zone == self.time_zone:
            return self
        return _in_zone(self, time_zone)

    def is_working_day(self, day: date) -> bool:
        """A working weekday that is neither a holiday nor a closure."""
        with self._lock:
            known = self._working.get(day)
            if known is None:
                known = (day.weekday() in self.working_days and day not in self.closures
                         and (self._holidays is None or day not in self._holidays))
                self._working[day] = known
            return known

    def holiday_name(self, day: date) -> str | None:
        """The holiday (or "company closure") on ``day``, if any; for messages and traces."""
        if day in self.closures:
            return "company closure"
        if self._holidays is None:
            return None
        with self._lock:
            return self._holidays.get(day)

    def working_interval(self, day: date) -> tuple[datetime, datetime] | None:
        """The working hours of local date ``day`` as UTC moments, or None on a day off."""
        if not self.is_working_day(day):
            return None
        start = datetime.combine(day, self.start, tzinfo=self._zone)
        end_day = day + timedelta(days=1) if self.end == _MIDNIGHT else day
        end = datetime.combine(end_day, self.end, tzinfo=self._zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def is_business_time(self, moment: datetime) -> bool:
        """Whether ``moment`` falls inside working hours on a working day (``[start, end)``)."""
        at = _utc(moment, "moment")
        interval = self.working_interval(self._local_date(at))
        return interval is not None and interval[0] <= at < interval[1]

    def next_business_moment(self, moment: datetime) -> datetime:
        """``moment`` itself in working time; otherwise the start of the next working interval."""
        at = _utc(moment, "moment")
        day = self._local_date(at)
        for _ in range(_SEARCH_DAYS):
            interval = self.working_interval(day)
            if interval is not None and at < interval[1]:
                return max(at, interval[0]).astimezone(moment.tzinfo)
            day += timedelta(days=1)
        raise ValueError(f"no working time within {_SEARCH_DAYS} days after {moment.isoformat()}: "
                         "check working_days, holidays and closures")

    def add_business_time(self, start: datetime, duration: BusinessDuration | str | timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start`` (see the module docstring).

        ``duration`` is a :class:`BusinessDuration`, its text (``"5 business days"``), or a
        timedelta counted as business hours. The answer is in ``start``'s time zone.
        """
        amount = _business(duration)
        at = _utc(self.next_business_moment(start), "start")
        if amount.days:
            local = at.astimezone(self._zone)
            day, left = local.date(), amount.days
            for _ in range(_SEARCH_DAYS):
                day += timedelta(days=1)
                left -= self.is_working_day(day)
                if left == 0:
                    break
            else:
                raise ValueError(f"fewer than {amount.days} working days within {_SEARCH_DAYS} days of "
                                 f"{start.isoformat()}: check working_days, holidays and closures")
            at = datetime.combine(day, local.time(), tzinfo=self._zone).astimezone(UTC)
        left_time = amount.time
        while left_time > timedelta(0):
            at = _utc(self.next_business_moment(at), "start")
            interval = self.working_interval(self._local_date(at))
            assert interval is not None  # next_business_moment answered a working moment
            available = interval[1] - at
            if left_time <= available:
                at += left_time
                break
            left_time -= available
            at = interval[1]
        return at.astimezone(start.tzinfo)

    def previous_business_moment(self, moment: datetime) -> datetime:
        """``moment`` itself when it is working time or the end of a working interval; otherwise the end of
        the previous working interval (what counting business time backwards starts from)."""
        at = _utc(moment, "moment")
        day = self._local_date(at)
        for _ in range(_SEARCH_DAYS):
            interval = self.working_interval(day)
            if interval is not None and interval[0] < at:
                return min(at, interval[1]).astimezone(moment.tzinfo)
            day -= timedelta(days=1)
        raise ValueError(f"no working time within {_SEARCH_DAYS} days before {moment.isoformat()}: "
                         "check working_days, holidays and closures")

    def subtract_business_time(self, end: datetime, duration: BusinessDuration | str | timedelta) -> datetime:
        """The moment ``duration`` of working time before ``end``: the mirror of :meth:`add_business_time`
        ("warn 2 business days before the target")."""
        amount = _business(duration)
        at = _utc(self.previous_business_moment(end), "end")
        if amount.days:
            local = at.astimezone(self._zone)
            day, left = local.date(), amount.days
            for _ in range(_SEARCH_DAYS):
                day -= timedelta(days=1)
                left -= self.is_working_day(day)
                if left == 0:
                    break
            else:
                raise ValueError(f"fewer than {amount.days} working days within {_SEARCH_DAYS} days before "
                                 f"{end.isoformat()}: check working_days, holidays and closures")
            at = datetime.combine(day, local.time(), tzinfo=self._zone).astimezone(UTC)
        left_time = amount.time
        while left_time > timedelta(0):
            at = _utc(self.previous_business_moment(at), "end")
            interval = self.working_interval(self._local_date(at - timedelta(microseconds=1)))
            assert interval is not None  # previous_business_moment answered a moment inside or ending one
            available = at - interval[0]
            if left_time <= available:
                at -= left_time
                break
            left_time -= available
            at = interval[0]
        return at.astimezone(end.tzinfo)

    def before(self, end: datetime, delay: timedelta | BusinessDuration | str) -> datetime:
        """When a :data:`Delay` before ``end`` begins: business time through this calendar, else wall-clock."""
        value = parse_delay(delay)
        if isinstance(value, BusinessDuration):
            return self.subtract_business_time(end, value)
        _utc(end, "end")
        return end - value

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time elapsed from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        first, last = _utc(a, "a"), _utc(b, "b")
        if last < first:
            return -self.business_time_between(b, a)
        total = timedelta(0)
        day, last_day = self._local_date(first) - timedelta(days=1), self._local_date(last)
        while day <= last_day:
            interval = self.working_interval(day)
            if interval is not None:
                overlap = min(last, interval[1]) - max(first, interval[0])
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total

    def due(self, start: datetime, delay: timedelta | BusinessDuration | str) -> datetime:
        """When a :data:`Delay` that starts at ``start`` runs out: business time through this
        calendar, a timedelta as plain wall-clock time."""
        value = parse_delay(delay)
        if isinstance(value, BusinessDuration):
            return self.add_business_time(start, value)
        _utc(start, "start")
        return start + value

    def _local_date(self, at: datetime) -> date:
        return at.astimezone(self._zone).date()


@functools.lru_cache(maxsize=256)
def _in_zone(calendar: BusinessCalendar, time_zone: str) -> BusinessCalendar:
    return BusinessCalendar.model_validate({**calendar.model_dump(), "time_zone": time_zone})


def _holiday_table(country: str, subdivision: str | None, categories: tuple[str, ...]) -> holidays.HolidayBase:
    """The ``holidays`` table (filled lazily per year), or a ValueError naming what is wrong."""
    try:
        return holidays.country_holidays(country, subdiv=subdivision, categories=categories)
    except (NotImplementedError, ValueError) as exc:
        supported = holidays.list_supported_countries()
        code = country.upper()
        if code not in supported:
            raise ValueError(f"country {country!r} has no holiday calendar "
                             "(ISO 3166 codes such as BR, FI, SE, US)") from None
        if subdivision and subdivision.upper() not in [s.upper() for s in supported[code]]:
            raise ValueError(f"{code} has no subdivision {subdivision!r}; "
                             f"subdivisions: {', '.join(supported[code])}") from None
        known = ", ".join(sorted(holidays.country_holidays(code).supported_categories))
        raise ValueError(f"holidays for {code}: {exc} (categories of {code}: {known})") from None


def _utc(moment: datetime, what: str) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} {moment.isoformat()} has no time zone; business time needs an aware datetime")
    return moment.astimezone(UTC)


def _business(duration: BusinessDuration | str | timedelta) -> BusinessDuration:
    if isinstance(duration, timedelta):
        return BusinessDuration(time=duration)
    return parse_business_duration(duration)
