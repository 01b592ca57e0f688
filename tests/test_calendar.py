"""Business-time calendars: working days and hours, real holidays, time zones and DST.

The calendars are the ones the five runbooks need: Brazil (NF-e onboarding, "5 dias úteis"),
Finland (Procountor), the US (EverBright) and Sweden (Sharespine). Every expected moment below
was worked out by hand from a 2026 wall calendar; the comments say how.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from bot.calendar import BusinessCalendar, BusinessDuration, BusinessTime, Delay, parse_business_duration, parse_delay
from bot.config import RuleBlock

US = BusinessCalendar(time_zone="America/New_York", country="US")
BRAZIL = BusinessCalendar(time_zone="America/Sao_Paulo", country="BR", end="18:00")
BRAZIL_CARNIVAL = BusinessCalendar(time_zone="America/Sao_Paulo", country="BR", end="18:00",
                                   holiday_categories=["public", "optional"])
SAO_PAULO = BusinessCalendar(time_zone="America/Sao_Paulo", country="BR", subdivision="SP", end="18:00")
FINLAND = BusinessCalendar(time_zone="Europe/Helsinki", country="FI", start="08:00", end="16:00")
SWEDEN = BusinessCalendar(time_zone="Europe/Stockholm", country="SE", start="08:00", end="17:00",
                          holiday_categories=["public", "de_facto"])
#: Round the clock, every day: only DST makes a day shorter or longer than 24 business hours.
SWEDEN_24_7 = BusinessCalendar(time_zone="Europe/Stockholm", working_days="mon-sun", start="00:00", end="24:00")
H = timedelta(hours=1)


def at(calendar: BusinessCalendar, text: str) -> datetime:
    """A local wall-clock moment in the calendar's zone: ``at(US, "2026-03-06 16:00")``."""
    return datetime.fromisoformat(text).replace(tzinfo=calendar.zone)


# durations -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "days", "elapsed"), [
    ("5 business days", 5, timedelta(0)),
    ("1 business day", 1, timedelta(0)),
    ("2bd", 2, timedelta(0)),
    ("2 BD", 2, timedelta(0)),
    ("3 working days", 3, timedelta(0)),
    ("16 business hours", 0, 16 * H),
    ("16bh", 0, 16 * H),
    ("1.5 business hours", 0, timedelta(minutes=90)),
    ("30 business minutes", 0, timedelta(minutes=30)),
    ("45bm", 0, timedelta(minutes=45)),
    ("1bd 4bh", 1, 4 * H),
    ("2 business days, 3 business hours 30 business minutes", 2, timedelta(hours=3, minutes=30)),
    ("  1  business   day  ", 1, timedelta(0)),
])
def test_business_durations_parse(text: str, days: int, elapsed: timedelta) -> None:
    assert parse_business_duration(text) == BusinessDuration(days=days, time=elapsed)


@pytest.mark.parametrize("text", ["5 days", "24h", "five business days", "2bd tomorrow", "", "bd", "2 business",
                                  "5 business dayss", "-2bd"])
def test_not_business_durations_are_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match="not a business duration.*2bd"):
        parse_business_duration(text)


def test_fractional_business_days_are_refused() -> None:
    with pytest.raises(ValueError, match="whole days"):
        parse_business_duration("1.5 business days")


def test_business_duration_text_round_trips() -> None:
    for text in ("5 business days", "1 business day 4 business hours", "16 business hours", "30 business minutes"):
        assert str(parse_business_duration(text)) == text
        assert parse_business_duration(str(parse_business_duration(text))) == parse_business_duration(text)


def test_delay_is_business_or_wall_clock_time() -> None:
    assert parse_delay("24h") == timedelta(hours=24)
    assert parse_delay("24bh") == BusinessDuration(time=timedelta(hours=24))
    assert parse_delay(3600) == timedelta(hours=1)
    with pytest.raises(ValueError, match="not a delay"):
        parse_delay("soon")


class ReminderBlock(RuleBlock):
    """How a rule's config block uses the field types."""

    follow_up_after: BusinessTime = BusinessDuration(days=5)
    remind_after: Delay = timedelta(hours=24)
    calendar: BusinessCalendar = BusinessCalendar()


def test_rule_config_blocks_take_business_time_fields() -> None:
    block = ReminderBlock.model_validate(yaml.safe_load("""
        follow_up_after: 2bd
        remind_after: 16 business hours
        calendar: {time_zone: Europe/Helsinki, country: FI, start: "08:00", end: "16:00"}
    """))
    assert block.follow_up_after == BusinessDuration(days=2)
    assert block.remind_after == BusinessDuration(time=16 * H)
    assert block.calendar == FINLAND
    assert ReminderBlock.model_validate({"remind_after": "24h"}).remind_after == timedelta(hours=24)
    dumped = block.model_dump()
    assert dumped["follow_up_after"] == "2 business days"
    assert ReminderBlock.model_validate(dumped) == block


def test_a_bad_duration_in_a_config_block_names_the_key() -> None:
    with pytest.raises(ValidationError) as caught:
        ReminderBlock.model_validate({"follow_up_after": "5 days"})
    error = caught.value.errors()[0]
    assert error["loc"] == ("follow_up_after",)
    assert "not a business duration: '5 days'" in error["msg"]


# calendar configuration -----------------------------------------------------------------------------
def test_calendar_config_from_yaml() -> None:
    calendar = BusinessCalendar.model_validate(yaml.safe_load("""
        time_zone: America/Sao_Paulo
        working_days: [mon, tue, wed, thu, fri]
        start: "09:00"
        end: "18:00"
        country: BR
        subdivision: SP
        holiday_categories: [public, optional]
        closures: [2026-12-24]
    """))
    assert calendar.working_days == (0, 1, 2, 3, 4)
    assert (calendar.start, calendar.end) == (time(9), time(18))
    assert calendar.holiday_name(date(2026, 7, 9)) == "Constitutionalist Revolution"  # São Paulo only
    assert calendar.holiday_name(date(2026, 2, 16)) == "Carnival"
    assert calendar.holiday_name(date(2026, 12, 24)) == "company closure"
    assert calendar.holiday_name(date(2026, 7, 8)) is None


@pytest.mark.parametrize(("days", "expected"), [
    ("mon-fri", (0, 1, 2, 3, 4)),
    ("Monday, Wednesday", (0, 2)),
    (["sun-thu"], (0, 1, 2, 3, 6)),  # a Middle-East week wraps around the end of the list
    ("fri-mon", (0, 4, 5, 6)),
    ("mon-sun", (0, 1, 2, 3, 4, 5, 6)),
])
def test_working_days_are_written_as_names_and_ranges(days: object, expected: tuple[int, ...]) -> None:
    assert BusinessCalendar(working_days=days).working_days == expected


@pytest.mark.parametrize(("settings_", "message"), [
    ({"time_zone": "Mars/Olympus_Mons"}, "unknown IANA time zone 'Mars/Olympus_Mons'"),
    ({"country": "XX"}, "country 'XX' has no holiday calendar"),
    ({"country": "BR", "subdivision": "ZZ"}, "BR has no subdivision 'ZZ'; subdivisions: AC, AL"),
    ({"subdivision": "SP"}, "subdivision needs a country"),
    ({"country": "FI", "holiday_categories": ["optional"]}, "categories of FI: public"),
    ({"start": "17:00", "end": "09:00"}, "must end after they start"),
    ({"start": 540}, "not a time of day; write it quoted"),  # YAML's reading of an unquoted 9:00
    ({"working_days": "mon-fry"}, "'mon-fry' is not a weekday name"),
    ({"working_days": [1, 2, 3]}, "1 is not a weekday name"),
    ({"working_days": []}, "at least one working day"),
    ({"weekend": "sat"}, "Extra inputs are not permitted"),
])
def test_bad_calendar_settings_say_what_is_wrong(settings_: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BusinessCalendar(**settings_)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        US.is_business_time(datetime(2026, 3, 2, 10, 0))
    with pytest.raises(ValueError, match="has no time zone"):
        US.add_business_time(datetime(2026, 3, 2, 10, 0), "1bd")
    with pytest.raises(ValueError, match="has no time zone"):
        US.business_time_between(at(US, "2026-03-02 10:00"), datetime(2026, 3, 3))
    with pytest.raises(TypeError, match="must be a datetime"):
        US.next_business_moment(date(2026, 3, 2))  # type: ignore[arg-type]


def test_a_calendar_without_any_working_time_says_so() -> None:
    never = BusinessCalendar(working_days="sat", closures=[date(2026, 1, 3) + timedelta(weeks=w) for w in range(600)])
    with pytest.raises(ValueError, match="no working time within"):
        never.next_business_moment(datetime(2026, 1, 1, tzinfo=UTC))


# is_business_time / next_business_moment --------------------------------------------------------------
@pytest.mark.parametrize(("moment", "expected"), [
    ("2026-03-02 09:00", True),   # Monday, the first working minute
    ("2026-03-02 08:59", False),
    ("2026-03-02 16:59", True),
    ("2026-03-02 17:00", False),  # working hours are [09:00, 17:00)
    ("2026-03-07 11:00", False),  # Saturday
    ("2026-11-26 11:00", False),  # Thanksgiving
    ("2026-07-03 11:00", False),  # Independence Day falls on a Saturday: observed Friday 3 July
    ("2026-11-27 11:00", True),   # the day after Thanksgiving is not a federal holiday
])
def test_is_business_time_in_new_york(moment: str, expected: bool) -> None:
    assert US.is_business_time(at(US, moment)) is expected
    assert US.is_business_time(at(US, moment)) is expected


def test_is_business_time_reads_the_moment_in_the_calendars_zone() -> None:
    # 13:30 UTC on a Monday is 08:30 in New York (EST, UTC-5): not yet working time there.
    assert not US.is_business_time(datetime(2026, 3, 2, 13, 30, tzinfo=UTC))
    assert US.is_business_time(datetime(2026, 3, 2, 14, 0, tzinfo=UTC))


@pytest.mark.parametrize(("moment", "expected"), [
    ("2026-03-02 10:15", "2026-03-02 10:15"),  # already working time: unchanged
    ("2026-03-02 07:00", "2026-03-02 09:00"),  # early: this morning
    ("2026-03-02 17:00", "2026-03-03 09:00"),  # evening: tomorrow morning
    ("2026-03-06 18:00", "2026-03-09 09:00"),  # Friday evening: Monday
    ("2026-03-07 12:00", "2026-03-09 09:00"),  # Saturday: Monday
    ("2026-11-25 17:30", "2026-11-27 09:00"),  # the eve of Thanksgiving: Friday
    ("2026-12-24 20:00", "2026-12-28 09:00"),  # Christmas on Friday, then the weekend
])
def test_next_business_moment_in_new_york(moment: str, expected: str) -> None:
    assert US.next_business_moment(at(US, moment)) == at(US, expected)
    assert US.next_business_moment(at(US, moment)) == at(US, expected)


def test_answers_keep_the_time_zone_they_were_asked_in() -> None:
    saturday_utc = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    answer = US.next_business_moment(saturday_utc)
    assert answer.tzinfo is UTC
    assert answer == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # Monday 09:00 EDT (DST began on Sunday 8 March)


# add_business_time: the US (EverBright) -------------------------------------------------------------
@pytest.mark.parametrize(("start", "duration", "expected"), [
    ("2026-03-02 10:00", "1bd", "2026-03-03 10:00"),
    ("2026-02-27 15:00", "1 business day", "2026-03-02 15:00"),    # Friday -> Monday
    ("2026-02-28 10:00", "1bd", "2026-03-03 09:00"),               # Saturday counts from Monday 09:00
    ("2026-03-02 17:00", "1bd", "2026-03-04 09:00"),               # the end of the day counts from tomorrow
    ("2026-03-02 09:00", "16 business hours", "2026-03-03 17:00"), # ends at the close, not next morning
    ("2026-03-02 16:30", "1bh", "2026-03-03 09:30"),
    ("2026-11-25 16:00", "2bh", "2026-11-27 10:00"),               # over Thanksgiving
    ("2026-07-02 10:00", "1bd", "2026-07-06 10:00"),               # over the observed Independence Day
    ("2026-12-23 12:00", "5bd", "2026-12-31 12:00"),               # 24, 28, 29, 30, 31 (25th off)
    ("2026-03-02 10:00", "1bd 4bh", "2026-03-03 14:00"),
    ("2026-03-07 10:00", "0bh", "2026-03-09 09:00"),               # zero: the clock starts Monday
])
def test_add_business_time_in_new_york(start: str, duration: str, expected: str) -> None:
    assert US.add_business_time(at(US, start), duration) == at(US, expected)
    assert US.add_business_time(at(US, start), duration) == at(US, expected)


def test_across_the_us_switch_to_summer_time() -> None:
    friday = at(US, "2026-03-06 16:00")  # EST, UTC-5
    monday = US.add_business_time(friday, "2bh")
    assert monday == at(US, "2026-03-09 10:00")  # EDT, UTC-4
    assert monday.utcoffset() == timedelta(hours=-4)
    # Real time elapsed (in UTC: same-zone subtraction would count wall-clock time): one hour was skipped.
    assert monday.astimezone(UTC) - friday.astimezone(UTC) == timedelta(days=2, hours=17)
    assert US.business_time_between(at(US, "2026-03-06 09:00"), at(US, "2026-03-09 17:00")) == 16 * H


def test_a_timedelta_counts_as_business_hours() -> None:
    assert US.add_business_time(at(US, "2026-03-02 16:00"), timedelta(hours=2)) == at(US, "2026-03-03 10:00")


# Brazil (NF-e onboarding: "5 dias úteis") ------------------------------------------------------------
def test_five_business_days_over_carnival_depend_on_whether_it_is_a_day_off() -> None:
    signed = at(BRAZIL, "2026-02-13 10:00")  # Friday before Carnival (Mon 16 and Tue 17 February)
    # National public holidays only: Carnival is a working day -> Mon 16 … Fri 20.
    assert BRAZIL.add_business_time(signed, "5 business days") == at(BRAZIL, "2026-02-20 10:00")
    # With the 'optional' category Carnival and Ash Wednesday are off -> Thu 19, Fri 20, Mon 23, Tue 24, Wed 25.
    assert BRAZIL_CARNIVAL.add_business_time(signed, "5 business days") == at(BRAZIL, "2026-02-25 10:00")


def test_brazilian_national_holidays() -> None:
    # Good Friday 3 April and Tiradentes (Tuesday 21 April) are national holidays.
    assert BRAZIL.add_business_time(at(BRAZIL, "2026-04-02 10:00"), "5bd") == at(BRAZIL, "2026-04-10 10:00")
    assert BRAZIL.add_business_time(at(BRAZIL, "2026-04-20 17:00"), "2bh") == at(BRAZIL, "2026-04-22 10:00")
    assert BRAZIL.business_time_between(at(BRAZIL, "2026-04-17 09:00"), at(BRAZIL, "2026-04-24 18:00")) \
        == 5 * 9 * H  # Fri 17, Mon 20, Wed 22, Thu 23, Fri 24


def test_sao_paulo_state_holiday_needs_the_subdivision() -> None:
    wednesday = at(SAO_PAULO, "2026-07-08 10:00")  # Thursday 9 July is a holiday in São Paulo only
    assert BRAZIL.add_business_time(wednesday, "1bd") == at(BRAZIL, "2026-07-09 10:00")
    assert SAO_PAULO.add_business_time(wednesday, "1bd") == at(SAO_PAULO, "2026-07-10 10:00")


# Finland (Procountor) ----------------------------------------------------------------------------------
def test_finnish_midsummer_and_christmas() -> None:
    # Thursday 18 June 15:00: one hour left; Midsummer Eve (Fri 19) off; Mon 22 8 h; Tue 23 the last 7 h.
    assert FINLAND.add_business_time(at(FINLAND, "2026-06-18 15:00"), "16bh") == at(FINLAND, "2026-06-23 15:00")
    # Christmas Eve (Thu 24), Christmas Day (Fri 25), then the weekend.
    assert FINLAND.add_business_time(at(FINLAND, "2026-12-23 12:00"), "1bd") == at(FINLAND, "2026-12-28 12:00")
    assert FINLAND.holiday_name(date(2026, 12, 24)) == "Christmas Eve"
    assert FINLAND.business_time_between(at(FINLAND, "2026-12-21 08:00"), at(FINLAND, "2027-01-04 08:00")) \
        == 7 * 8 * H  # Mon 21, Tue 22, Wed 23, Mon 28, Tue 29, Wed 30, Thu 31 (1 January is off)


def test_finnish_new_years_week() -> None:
    # Between Christmas and Epiphany: 28, 29, 30, 31 Dec and 2 Jan 2027 is a Saturday; 1 Jan off.
    assert FINLAND.business_time_between(at(FINLAND, "2026-12-28 08:00"), at(FINLAND, "2027-01-04 08:00")) \
        == 4 * 8 * H


# Sweden (Sharespine) --------------------------------------------------------------------------------------
def test_swedish_midsummer_eve_is_off_by_custom() -> None:
    public_only = BusinessCalendar(time_zone="Europe/Stockholm", country="SE", start="08:00", end="17:00")
    thursday = at(SWEDEN, "2026-06-18 10:00")
    assert public_only.add_business_time(thursday, "1bd") == at(SWEDEN, "2026-06-19 10:00")
    assert SWEDEN.add_business_time(thursday, "1bd") == at(SWEDEN, "2026-06-22 10:00")
    assert SWEDEN.holiday_name(date(2026, 6, 19)) == "Midsummer Eve"


def test_around_the_clock_days_are_as_long_as_daylight_saving_makes_them() -> None:
    # Sunday 29 March 2026: 02:00 -> 03:00 in Stockholm, a 23-hour day.
    assert SWEDEN_24_7.business_time_between(at(SWEDEN_24_7, "2026-03-28 00:00"),
                                             at(SWEDEN_24_7, "2026-03-30 00:00")) == 47 * H
    # Sunday 25 October 2026: 03:00 -> 02:00, a 25-hour day.
    assert SWEDEN_24_7.business_time_between(at(SWEDEN_24_7, "2026-10-25 00:00"),
                                             at(SWEDEN_24_7, "2026-10-26 00:00")) == 25 * H
    assert SWEDEN_24_7.add_business_time(at(SWEDEN_24_7, "2026-03-29 00:00"), "24bh") \
        == at(SWEDEN_24_7, "2026-03-30 01:00")
    # Business days keep the wall-clock time across the switch.
    assert SWEDEN_24_7.add_business_time(at(SWEDEN_24_7, "2026-03-28 12:00"), "2bd") \
        == at(SWEDEN_24_7, "2026-03-30 12:00")


def test_office_hours_never_touch_the_switch() -> None:
    # Friday 08:00 to Monday 17:00 around the spring switch: two 9-hour days.
    assert SWEDEN.business_time_between(at(SWEDEN, "2026-03-27 08:00"), at(SWEDEN, "2026-03-30 17:00")) == 18 * H


# business_time_between -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("a", "b", "expected"), [
    ("2026-03-02 10:00", "2026-03-02 12:30", timedelta(hours=2, minutes=30)),
    ("2026-03-06 16:00", "2026-03-09 10:00", 2 * H),  # Friday afternoon to Monday morning
    ("2026-03-07 10:00", "2026-03-08 18:00", timedelta(0)),  # a whole weekend
    ("2026-03-02 18:00", "2026-03-03 08:00", timedelta(0)),  # a night
    ("2026-11-25 09:00", "2026-11-30 09:00", 16 * H),  # Wed + Fri (Thanksgiving in between)
    ("2026-03-09 10:00", "2026-03-06 16:00", -2 * H),  # backwards is negative
])
def test_business_time_between_in_new_york(a: str, b: str, expected: timedelta) -> None:
    assert US.business_time_between(at(US, a), at(US, b)) == expected
    assert US.business_time_between(at(US, a), at(US, b)) == expected


def test_closures_are_days_off() -> None:
    calendar = BusinessCalendar(time_zone="America/New_York", country="US", closures=[date(2026, 3, 3)])
    assert calendar.add_business_time(at(calendar, "2026-03-02 10:00"), "1bd") == at(calendar, "2026-03-04 10:00")
    assert not calendar.is_business_time(at(calendar, "2026-03-03 10:00"))


def test_due_adds_business_time_or_wall_clock_time() -> None:
    friday = at(US, "2026-02-27 15:00")
    assert US.due(friday, "24h") == at(US, "2026-02-28 15:00")
    assert US.due(friday, "1bd") == at(US, "2026-03-02 15:00")
    assert US.due(friday, BusinessDuration(time=3 * H)) == at(US, "2026-03-02 10:00")


# properties, over every calendar above -------------------------------------------------------------------
CALENDARS = [US, BRAZIL_CARNIVAL, SAO_PAULO, FINLAND, SWEDEN, SWEDEN_24_7]
moments = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 1, 31)).map(
    lambda d: d.replace(tzinfo=UTC))
calendars = st.sampled_from(CALENDARS)


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, moment=moments)
def test_the_next_business_moment_is_business_time_and_nothing_earlier_is(calendar: BusinessCalendar,
                                                                          moment: datetime) -> None:
    found = calendar.next_business_moment(moment)
    assert found >= moment
    assert calendar.is_business_time(found)
    assert calendar.business_time_between(moment, found) == timedelta(0)


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, moment=moments, minutes=st.integers(min_value=1, max_value=60 * 24 * 20))
def test_adding_business_time_then_measuring_it_gives_it_back(calendar: BusinessCalendar, moment: datetime,
                                                              minutes: int) -> None:
    amount = timedelta(minutes=minutes)
    end = calendar.add_business_time(moment, amount)
    assert calendar.business_time_between(moment, end) == amount
    assert calendar.business_time_between(end, moment) == -amount


@settings(max_examples=100, deadline=None)
@given(calendar=st.sampled_from([US, BRAZIL_CARNIVAL, SAO_PAULO, FINLAND, SWEDEN]), moment=moments,
       days=st.integers(min_value=1, max_value=30))
def test_n_business_days_are_n_working_days_of_office_hours(calendar: BusinessCalendar, moment: datetime,
                                                            days: int) -> None:
    end = calendar.add_business_time(moment, BusinessDuration(days=days))
    day_length = datetime.combine(date.min, calendar.end) - datetime.combine(date.min, calendar.start)
    assert calendar.is_business_time(end)
    assert calendar.business_time_between(moment, end) == days * day_length
    local_start = calendar.next_business_moment(moment).astimezone(calendar.zone)
    assert end.astimezone(calendar.zone).time() == local_start.time()


class _Holder(BaseModel):
    calendar: BusinessCalendar


def test_a_calendar_round_trips_through_its_dump() -> None:
    for calendar in CALENDARS:
        assert _Holder.model_validate({"calendar": calendar.model_dump()}).calendar == calendar
    assert SWEDEN_24_7.model_dump()["working_days"] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def test_zone_is_the_configured_zone() -> None:
    assert FINLAND.zone == ZoneInfo("Europe/Helsinki")
