"""Business-time arithmetic, held against a brute-force minute-by-minute oracle, plus named cases.

The oracle decides for every single minute whether it counts, straight from the definition: some weekly
interval, resolved in the schedule's zone like zoneinfo with fold=0 and not removed by a holiday on the
date it starts, covers the minute, and no pause does. It shares no code with the walk under test.
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from api.calendars import businesstime
from api.calendars.businesstime import (
    BusinessTimeError,
    NoOpenTime,
    OutOfRange,
    Schedule,
    ScheduleError,
    WeeklyInterval,
    add,
    counted_intervals,
    dst_warnings,
    due,
    elapsed,
    explain,
    latest_start,
    weekly_problems,
)

UTC = dt.UTC
MINUTE = dt.timedelta(minutes=1)
ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "UTC",
    "Asia/Kolkata",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/Santiago",  # transitions at local midnight
    "Pacific/Chatham",  # +12:45 / +13:45
]
# Dates around the 2025 transitions of those zones, so the walk crosses them often.
HOT_DAYS = [
    dt.date(2025, 3, 9),
    dt.date(2025, 3, 30),
    dt.date(2025, 4, 6),
    dt.date(2025, 9, 7),
    dt.date(2025, 9, 28),
    dt.date(2025, 10, 5),
    dt.date(2025, 10, 26),
    dt.date(2025, 11, 2),
    dt.date(2025, 12, 25),
]

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def week(*days: int, start: str = "09:00", end: str = "17:00") -> tuple[WeeklyInterval, ...]:
    return tuple(WeeklyInterval(day, _minutes(start), _minutes(end)) for day in days)


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def at(zone: str, *fields: int) -> dt.datetime:
    return dt.datetime(*fields, tzinfo=zoneinfo.ZoneInfo(zone))  # type: ignore[misc]


def utc(*fields: int) -> dt.datetime:
    return dt.datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


NINE_TO_FIVE_NY = Schedule("America/New_York", week(0, 1, 2, 3, 4))
NINE_TO_FIVE_BERLIN = Schedule("Europe/Berlin", week(0, 1, 2, 3, 4))


# -- The oracle ----------------------------------------------------------------------------------------


@dataclass
class Oracle:
    schedule: Schedule
    pauses: list[tuple[dt.datetime, dt.datetime]]

    def __post_init__(self) -> None:
        self.zone = zoneinfo.ZoneInfo(self.schedule.time_zone)
        self.days: dict[dt.date, list[tuple[dt.datetime, dt.datetime]]] = {}
        self.intervals = (
            [WeeklyInterval(day, 0, 1440) for day in range(7)]
            if self.schedule.always_open
            else list(self.schedule.weekly)
        )

    def _spans(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        if day not in self.days:
            holiday = day in self.schedule.holidays or (day.month, day.day) in self.schedule.yearly_holidays
            spans = []
            for interval in self.intervals:
                if interval.day != day.weekday() or holiday:
                    continue
                length = (
                    interval.end - interval.start
                    if interval.end > interval.start
                    else interval.end + 1440 - interval.start
                )
                begin_wall = dt.datetime.combine(day, dt.time(0)) + dt.timedelta(minutes=interval.start)
                end_wall = begin_wall + dt.timedelta(minutes=length)
                spans.append(
                    (
                        begin_wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC),
                        end_wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC),
                    )
                )
            self.days[day] = spans
        return self.days[day]

    def counts(self, minute: dt.datetime) -> bool:
        if any(begin <= minute < end for begin, end in self.pauses):
            return False
        local_day = minute.astimezone(self.zone).date()
        for offset in range(-2, 2):
            for begin, end in self._spans(local_day + dt.timedelta(days=offset)):
                if begin <= minute < end:
                    return True
        return False

    def elapsed(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        total, minute = dt.timedelta(0), start
        while minute < end:
            total += MINUTE if self.counts(minute) else dt.timedelta(0)
            minute += MINUTE
        return total

    def add(self, start: dt.datetime, amount: dt.timedelta, limit: int = 200_000) -> dt.datetime:
        minute, remaining = start, amount
        for _ in range(limit):
            if remaining == dt.timedelta(0):
                return minute
            if self.counts(minute):
                remaining -= MINUTE
            minute += MINUTE
        raise AssertionError("the oracle found no due time")


# -- Strategies ----------------------------------------------------------------------------------------

# Boundaries near DST transition times (01:00-03:00 local) and plain ones.
clock = st.one_of(
    st.sampled_from([0, 30, 60, 90, 120, 150, 180, 210, 540, 720, 1020, 1380]), st.integers(0, 1439)
)


@st.composite
def weekly_intervals(draw: st.DrawFn) -> tuple[WeeklyInterval, ...]:
    kept: list[WeeklyInterval] = []
    for _ in range(draw(st.integers(1, 8))):
        day, start = draw(st.integers(0, 6)), draw(clock)
        end = draw(st.one_of(st.just(1440), clock))
        candidate = WeeklyInterval(day, start, end)
        if not weekly_problems([*kept, candidate]):
            kept.append(candidate)
    assume(kept)
    return tuple(kept)


@st.composite
def schedules(draw: st.DrawFn, always_open: bool | None = None) -> Schedule:
    zone = draw(st.sampled_from(ZONES))
    is_open = draw(st.booleans()) if always_open is None else always_open
    weekly = () if is_open else draw(weekly_intervals())
    holidays = draw(
        st.frozensets(st.sampled_from(HOT_DAYS + [d + dt.timedelta(days=1) for d in HOT_DAYS]), max_size=3)
    )
    yearly = draw(st.frozensets(st.sampled_from([(12, 25), (1, 1), (3, 9), (10, 26)]), max_size=2))
    return Schedule(zone, weekly, is_open, holidays, yearly)


@st.composite
def minute_instants(draw: st.DrawFn) -> dt.datetime:
    day = draw(st.sampled_from(HOT_DAYS))
    minutes = draw(st.integers(-3 * 1440, 3 * 1440))
    return dt.datetime.combine(day, dt.time(0), tzinfo=UTC) + dt.timedelta(minutes=minutes)


@st.composite
def pause_lists(draw: st.DrawFn, around: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    pauses = []
    for _ in range(draw(st.integers(0, 3))):
        begin = around + dt.timedelta(minutes=draw(st.integers(-600, 5000)))
        pauses.append((begin, begin + dt.timedelta(minutes=draw(st.integers(0, 3000)))))
    return pauses


def weekly_minutes(schedule: Schedule) -> int:
    if schedule.always_open:
        return 7 * 1440
    return sum(i.week_span()[1] - i.week_span()[0] for i in schedule.weekly)


other_zones = st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=-7)), *map(zoneinfo.ZoneInfo, ZONES)])


# -- Properties ----------------------------------------------------------------------------------------


@FAST
@given(st.data(), schedules(), minute_instants(), st.integers(0, 6 * 1440))
def test_elapsed_matches_the_oracle(data, schedule, start, length):
    pauses = data.draw(pause_lists(start))
    end = start + dt.timedelta(minutes=length)
    assert elapsed(schedule, start, end, pauses) == Oracle(schedule, pauses).elapsed(start, end)


@FAST
@given(
    st.data(),
    schedules(),
    minute_instants(),
    st.integers(7 * 86_400 * 10**6, 400 * 86_400 * 10**6),
    st.integers(0, 10**9),
)
def test_long_spans_are_measured_exactly_as_the_walk_counts_them(data, schedule, start, length, jitter):
    """Spans of a week or more are measured with the schedule's index of open time; it must agree with
    the interval walk (which the oracle checks above) to the microsecond, pauses and DST included."""
    start += dt.timedelta(microseconds=jitter)
    end = start + dt.timedelta(microseconds=length)
    pauses = data.draw(pause_lists(start))
    walked = sum((i.duration for i in counted_intervals(schedule, start, pauses, until=end)), dt.timedelta(0))
    assert elapsed(schedule, start, end, pauses) == walked
    # A second, overlapping span reuses (or extends) the index and agrees too.
    later = end + dt.timedelta(days=data.draw(st.integers(0, 500)))
    walked = sum((i.duration for i in counted_intervals(schedule, start, (), until=later)), dt.timedelta(0))
    assert elapsed(schedule, start, later) == walked


@FAST
@given(st.data(), schedules(), minute_instants(), st.integers(1, 10**10))
def test_once_indexed_add_and_elapsed_answer_as_the_walk_does(data, schedule, start, microseconds):
    """Every ticket write asks a schedule that already has its index of open time; then ``add`` and
    ``elapsed`` answer from the index directly (no re-validation). Those answers are the walk's, for
    instants given in any zone."""
    start += dt.timedelta(microseconds=data.draw(st.integers(0, 59_999_999)))
    amount = dt.timedelta(microseconds=microseconds)
    elapsed(schedule, start - dt.timedelta(days=8), start + dt.timedelta(days=30))  # builds the index
    try:
        walked = due(schedule, start, amount).due_at
    except BusinessTimeError:
        with pytest.raises(BusinessTimeError):
            add(schedule, start, amount)
        return
    assert add(schedule, start, amount) == walked
    counted = sum((i.duration for i in counted_intervals(schedule, start, (), until=walked)), dt.timedelta(0))
    assert elapsed(schedule, start, walked) == counted == amount


@FAST
@given(st.data(), schedules(), minute_instants(), st.integers(0, 3000))
def test_add_matches_the_oracle(data, schedule, start, minutes):
    assume(minutes <= 2 * weekly_minutes(schedule))
    pauses = data.draw(pause_lists(start))
    amount = dt.timedelta(minutes=minutes)
    assert add(schedule, start, amount, pauses) == Oracle(schedule, pauses).add(start, amount)


@FAST
@given(st.data(), schedules(), minute_instants(), st.integers(0, 10**9))
def test_add_then_elapsed_returns_the_amount(data, schedule, start, microseconds):
    amount = dt.timedelta(microseconds=microseconds)  # any precision: nothing rounds
    start += dt.timedelta(microseconds=data.draw(st.integers(0, 59_999_999)))
    pauses = data.draw(pause_lists(start))
    result = due(schedule, start, amount, pauses)
    assert result.due_at >= start
    assert elapsed(schedule, start, result.due_at, pauses) == amount
    assert sum((i.duration for i in result.intervals), dt.timedelta(0)) == amount
    # The earliest such instant: a moment earlier, less time has counted.
    if amount:
        assert elapsed(schedule, start, result.due_at - dt.timedelta(microseconds=1), pauses) < amount


@FAST
@given(st.data(), schedules(), minute_instants(), st.integers(0, 10**11))
def test_latest_start_is_the_latest_instant_with_that_much_time_before_the_end(
    data, schedule, end, microseconds
):
    """Counting backwards: exactly ``amount`` of business time lies between the answer and ``end``, and a
    moment later less does; the schedule's index (when it covers ``end``) answers as the walk does."""
    end += dt.timedelta(microseconds=data.draw(st.integers(0, 59_999_999)))
    amount = dt.timedelta(microseconds=microseconds)
    try:
        walked = latest_start(schedule, end, amount)
    except NoOpenTime:
        assert elapsed(schedule, end - dt.timedelta(days=3 * 366), end) < amount
        return
    assert walked <= end
    assert elapsed(schedule, walked, end) == amount
    if amount:
        assert elapsed(schedule, walked + dt.timedelta(microseconds=1), end) < amount
    elapsed(schedule, end - dt.timedelta(days=60), end + dt.timedelta(days=1))  # builds the index
    assert latest_start(schedule, end, amount) == walked


def test_latest_start_named_cases():
    # Tuesday 10:00 New York; four business hours back: one on Tuesday, three on Monday (nine to five).
    tuesday = at("America/New_York", 2025, 6, 3, 10, 0)
    assert latest_start(NINE_TO_FIVE_NY, tuesday, dt.timedelta(hours=4)) == at(
        "America/New_York", 2025, 6, 2, 14, 0
    )
    # Used up exactly at an opening: that opening (nothing later has as much before the end).
    assert latest_start(NINE_TO_FIVE_NY, tuesday, dt.timedelta(hours=1)) == at(
        "America/New_York", 2025, 6, 3, 9, 0
    )
    # From a Monday morning back over the weekend into Friday.
    monday = at("America/New_York", 2025, 6, 9, 9, 30)
    assert latest_start(NINE_TO_FIVE_NY, monday, dt.timedelta(hours=2)) == at(
        "America/New_York", 2025, 6, 6, 15, 30
    )
    assert latest_start(NINE_TO_FIVE_NY, monday, dt.timedelta(0)) == monday
    with pytest.raises(NoOpenTime):
        latest_start(Schedule("UTC"), monday, dt.timedelta(minutes=1))
    with pytest.raises(BusinessTimeError):
        latest_start(NINE_TO_FIVE_NY, monday, dt.timedelta(minutes=-1))


@FAST
@given(st.data(), schedules(), minute_instants(), st.integers(0, 4000))
def test_pauses_only_move_a_due_time_later(data, schedule, start, minutes):
    amount = dt.timedelta(minutes=minutes)
    pauses = data.draw(pause_lists(start))
    assert add(schedule, start, amount, pauses) >= add(schedule, start, amount)


@FAST
@given(
    st.sampled_from(ZONES),
    st.datetimes(dt.datetime(1950, 1, 1), dt.datetime(2090, 1, 1), timezones=other_zones),
    st.timedeltas(dt.timedelta(0), dt.timedelta(days=60)),
)
def test_always_open_equals_wall_clock_time(zone, start, span):
    schedule = Schedule(zone, always_open=True)
    # Aware arithmetic in Python is wall-clock arithmetic within one zone: go through UTC for real time.
    end = (start.astimezone(UTC) + span).astimezone(start.tzinfo)
    assert elapsed(schedule, start, end) == span
    assert add(schedule, start, span) == start.astimezone(UTC) + span


@FAST
@given(st.data(), schedules(), minute_instants(), st.integers(0, 4000), other_zones, other_zones)
def test_same_instants_give_same_results_in_any_zone(data, schedule, start, minutes, zone_a, zone_b):
    pauses = data.draw(pause_lists(start))
    end = start + dt.timedelta(minutes=minutes)
    amount = dt.timedelta(minutes=minutes)

    def moved(zone: dt.tzinfo) -> tuple[object, ...]:
        shifted = [(a.astimezone(zone), b.astimezone(zone)) for a, b in pauses]
        return (
            elapsed(schedule, start.astimezone(zone), end.astimezone(zone), shifted),
            add(schedule, start.astimezone(zone), amount, shifted),
            explain(schedule, start.astimezone(zone), end.astimezone(zone), shifted),
        )

    first, second = moved(zone_a), moved(zone_b)
    assert first == second
    assert first[1].tzinfo is UTC  # type: ignore[attr-defined]


@FAST
@given(st.data(), schedules(), minute_instants(), st.integers(0, 6 * 1440))
def test_explain_covers_the_span_and_adds_up(data, schedule, start, length):
    pauses = data.draw(pause_lists(start))
    end = start + dt.timedelta(minutes=length)
    stretches = explain(schedule, start, end, pauses)
    if length == 0:
        assert stretches == []
        return
    assert stretches[0].start == start
    assert stretches[-1].end == end
    for left, right in itertools.pairwise(stretches):
        assert left.end == right.start
        assert left.reason != right.reason
    assert all(s.end > s.start for s in stretches)

    def total(reason: str) -> dt.timedelta:
        return sum((s.duration for s in stretches if s.reason == reason), dt.timedelta(0))

    assert total("counted") == elapsed(schedule, start, end, pauses)
    assert total("paused") == elapsed(schedule, start, end) - elapsed(schedule, start, end, pauses)
    # Holiday stretches are exactly what a schedule without holidays would have counted on top.
    plain = Schedule(schedule.time_zone, schedule.weekly, schedule.always_open)
    if not pauses:
        assert total("holiday") == elapsed(plain, start, end) - elapsed(schedule, start, end)


@FAST
@given(st.data(), schedules(), minute_instants(), st.integers(6 * 1440, 60 * 1440), st.integers(0, 400))
def test_explain_is_the_same_window_by_window_and_cut_to_its_first_stretches(
    data, schedule, start, length, most
):
    """Long spans are explained a week at a time, and a bound on the answer is its first stretches:
    the same stretches as one piece, whatever the windows."""
    pauses = data.draw(pause_lists(start))
    end = start + dt.timedelta(minutes=length)
    stretches = explain(schedule, start, end, pauses)
    assert (stretches[0].start, stretches[-1].end) == (start, end)
    for left, right in itertools.pairwise(stretches):
        assert left.end == right.start
        assert left.reason != right.reason
    counted = sum((s.duration for s in stretches if s.reason == "counted"), dt.timedelta(0))
    assert counted == elapsed(schedule, start, end, pauses)
    cut = explain(schedule, start, end, pauses, max_stretches=most)
    assert cut[:-1] == stretches[: max(len(cut) - 1, 0)]
    assert len(cut) == min(most, len(stretches))  # the work bound is far away here
    if cut:
        last, whole = cut[-1], stretches[len(cut) - 1]
        assert (last.start, last.reason) == (whole.start, whole.reason)
        assert last.end <= whole.end


def test_explain_of_a_century_stops_early_when_bounded():
    # Open around the clock in 200 touching intervals a week: one stretch made of a million intervals.
    weekly = tuple(WeeklyInterval(day, m, m + 50) for day in range(7) for m in range(0, 1400, 50))
    schedule = Schedule("UTC", weekly[:200])
    start = utc(2025, 1, 1)
    end = start + dt.timedelta(days=36_000)
    cut = explain(schedule, start, end, max_stretches=10)
    assert 1 <= len(cut) <= 10
    assert cut[0].start == start
    assert cut[-1].end < end


@FAST
@given(st.data(), schedules(), minute_instants(), st.integers(1130 * 86_400, 2000 * 86_400))
def test_spans_beyond_the_index_are_measured_exactly_as_the_walk_counts_them(data, schedule, start, seconds):
    """Past three years, elapsed time comes from day totals (the walk only around offset changes): it
    must agree with the walk to the microsecond, DST, holidays, overnight shifts and pauses included."""
    start += dt.timedelta(microseconds=data.draw(st.integers(0, 10**9)))
    end = start + dt.timedelta(seconds=seconds)
    pauses = data.draw(pause_lists(start)) + data.draw(pause_lists(end - dt.timedelta(days=2)))
    walked = sum((i.duration for i in counted_intervals(schedule, start, pauses, until=end)), dt.timedelta(0))
    assert elapsed(schedule, start, end, pauses) == walked


@FAST
@given(st.data(), schedules(), minute_instants(), st.integers(150, 400))
def test_due_times_beyond_the_index_are_the_walks(data, schedule, start, weeks):
    """A budget that comes due years away is found through day totals: the same instant as the walk."""
    start += dt.timedelta(microseconds=data.draw(st.integers(0, 10**9)))
    amount = weekly_minutes(schedule) * weeks * MINUTE + dt.timedelta(
        microseconds=data.draw(st.integers(-(10**9), 10**9))
    )
    assume(amount > dt.timedelta(0))
    try:
        walked = due(schedule, start, amount).due_at
    except NoOpenTime:
        with pytest.raises(NoOpenTime):
            add(schedule, start, amount)
        return
    assert add(schedule, start, amount) == walked
    # An earlier start on the same schedule rebuilds its table from there, and agrees too.
    earlier = start - dt.timedelta(days=data.draw(st.integers(1, 900)))
    assert add(schedule, earlier, amount) == due(schedule, earlier, amount).due_at


def test_a_huge_target_on_many_short_openings_is_found_without_walking_the_years(monkeypatch):
    # 196 one-minute openings a week and a year of business time: due in about fifty years. The walk
    # resolves every opening to instants (a million local times); the day table about one a day.
    weekly = tuple(
        WeeklyInterval(day, h * 60 + m, h * 60 + m + 1)
        for day in range(7)
        for h in range(7)
        for m in (0, 15, 30, 45)
    )
    schedule = Schedule("Europe/Berlin", weekly)
    start = utc(2025, 3, 1, 12)
    amount = dt.timedelta(minutes=525_600)
    resolved = 0
    real = businesstime._resolve

    def counting(*args):  # type: ignore[no-untyped-def]
        nonlocal resolved
        resolved += 1
        return real(*args)

    monkeypatch.setattr(businesstime, "_resolve", counting)
    found = add(schedule, start, amount)
    assert resolved < 100_000
    assert add(schedule, start + dt.timedelta(days=1), amount) > found  # the next ticket: the table is built
    assert resolved < 101_000
    assert dt.timedelta(days=49 * 365) < found - start < dt.timedelta(days=52 * 365)
    assert elapsed(schedule, start, found) == amount
    assert elapsed(schedule, start, found - dt.timedelta(microseconds=1)) < amount


# -- Named cases ---------------------------------------------------------------------------------------


def test_budget_used_up_at_closing_is_due_at_closing():
    monday_nine = at("America/New_York", 2025, 6, 2, 9, 0)
    assert add(NINE_TO_FIVE_NY, monday_nine, dt.timedelta(hours=8)) == at("America/New_York", 2025, 6, 2, 17)
    friday = at("America/New_York", 2025, 6, 6, 16, 0)
    assert add(NINE_TO_FIVE_NY, friday, dt.timedelta(hours=1)) == at("America/New_York", 2025, 6, 6, 17)
    # One microsecond more is due on Monday.
    assert add(NINE_TO_FIVE_NY, friday, dt.timedelta(hours=1, microseconds=1)) == at(
        "America/New_York", 2025, 6, 9, 9, 0, 0, 1
    )


def test_start_outside_hours_counts_from_the_next_opening():
    saturday = at("America/New_York", 2025, 6, 7, 12, 0)
    assert add(NINE_TO_FIVE_NY, saturday, dt.timedelta(hours=1)) == at("America/New_York", 2025, 6, 9, 10)
    before_opening = at("America/New_York", 2025, 6, 9, 7, 30)
    assert add(NINE_TO_FIVE_NY, before_opening, dt.timedelta(minutes=1)) == at(
        "America/New_York", 2025, 6, 9, 9, 1
    )
    assert add(NINE_TO_FIVE_NY, saturday, dt.timedelta(0)) == saturday


def test_new_york_spring_forward():
    # Friday 16:00 EST plus 2 business hours is Monday 10:00 EDT: 14:00 UTC, not 15:00.
    friday = at("America/New_York", 2025, 3, 7, 16, 0)
    assert add(NINE_TO_FIVE_NY, friday, dt.timedelta(hours=2)) == utc(2025, 3, 10, 14, 0)
    # Open 01:00-04:00 on the night the clocks skip 02:00-03:00: two real hours count, not three.
    night = Schedule("America/New_York", week(6, start="01:00", end="04:00"))
    sunday = at("America/New_York", 2025, 3, 9, 0, 0)
    assert elapsed(night, sunday, sunday + dt.timedelta(days=1)) == dt.timedelta(hours=2)
    assert add(night, sunday, dt.timedelta(hours=2)) == utc(2025, 3, 9, 8, 0)  # 04:00 EDT
    # Always open: a day of SLA time across the change is 24 real hours (25 on the wall clock? no: 23).
    always = Schedule("America/New_York", always_open=True)
    saturday_noon = at("America/New_York", 2025, 3, 8, 12, 0)
    assert add(always, saturday_noon, dt.timedelta(hours=24)) == at("America/New_York", 2025, 3, 9, 13, 0)


def test_new_york_fall_back():
    night = Schedule("America/New_York", week(6, start="01:00", end="04:00"))
    sunday = at("America/New_York", 2025, 11, 2, 0, 0)
    # 01:00 is ambiguous and resolves to its first occurrence (EDT): 05:00Z to 04:00 EST = 09:00Z.
    assert elapsed(night, sunday, sunday + dt.timedelta(days=1)) == dt.timedelta(hours=4)
    assert add(night, sunday, dt.timedelta(hours=4)) == utc(2025, 11, 2, 9, 0)
    friday = at("America/New_York", 2025, 10, 31, 16, 0)
    assert add(NINE_TO_FIVE_NY, friday, dt.timedelta(hours=2)) == utc(2025, 11, 3, 15, 0)  # 10:00 EST
    always = Schedule("America/New_York", always_open=True)
    assert elapsed(always, sunday, sunday + dt.timedelta(days=1)) == dt.timedelta(hours=25)


def test_berlin_spring_forward_and_fall_back():
    # 02:30 on 30 March 2025 does not exist: it resolves forward to 03:30 CEST, so 02:30-03:30 is empty.
    gap = Schedule("Europe/Berlin", week(6, start="02:30", end="03:30"))
    sunday = at("Europe/Berlin", 2025, 3, 30, 0, 0)
    assert elapsed(gap, sunday, sunday + dt.timedelta(days=1)) == dt.timedelta(0)
    assert elapsed(gap, sunday + dt.timedelta(days=7), sunday + dt.timedelta(days=8)) == dt.timedelta(hours=1)
    warnings = dst_warnings(gap, dt.date(2025, 1, 1))
    assert [(w.index, w.boundary, w.kind, w.day, w.local_time) for w in warnings] == [
        (0, "start", "gap", dt.date(2025, 3, 30), "02:30"),
        (0, "start", "ambiguous", dt.date(2025, 10, 26), "02:30"),
    ]
    # 02:30 on 26 October 2025 occurs twice: the first (CEST, 00:30Z) counts, so 02:30-03:00 is 1.5 h.
    ambiguous = Schedule("Europe/Berlin", week(6, start="02:30", end="03:00"))
    october = at("Europe/Berlin", 2025, 10, 26, 0, 0)
    assert elapsed(ambiguous, october, october + dt.timedelta(days=1)) == dt.timedelta(hours=1, minutes=30)
    assert explain(ambiguous, october, october + dt.timedelta(days=1))[1].start == utc(2025, 10, 26, 0, 30)
    # Business hours either side of the change count the same real time.
    friday = at("Europe/Berlin", 2025, 3, 28, 16, 0)
    assert add(NINE_TO_FIVE_BERLIN, friday, dt.timedelta(hours=2)) == utc(2025, 3, 31, 8, 0)  # 10:00 CEST


def test_dst_warnings_name_boundaries_inside_transitions():
    schedule = Schedule("America/New_York", (*week(6, start="02:30", end="05:00"), *week(0)))
    [gap] = [w for w in dst_warnings(schedule, dt.date(2025, 1, 1)) if w.kind == "gap"]
    assert (gap.index, gap.boundary, gap.day, gap.local_time) == (0, "start", dt.date(2025, 3, 9), "02:30")
    assert gap.resolves_to == utc(2025, 3, 9, 7, 30)  # 03:30 EDT
    assert dst_warnings(NINE_TO_FIVE_NY, dt.date(2025, 1, 1)) == []
    assert dst_warnings(Schedule("America/New_York", always_open=True), dt.date(2025, 1, 1)) == []


def test_overnight_shift_belongs_to_the_day_it_starts():
    # Monday 22:00 to Tuesday 06:00.
    shift = week(0, start="22:00", end="06:00")
    monday = dt.date(2025, 6, 2)
    start, end = at("Europe/Berlin", 2025, 6, 2, 12), at("Europe/Berlin", 2025, 6, 3, 12)
    assert elapsed(Schedule("Europe/Berlin", shift), start, end) == dt.timedelta(hours=8)
    # A holiday on the Monday removes the whole shift; one on the Tuesday does not shorten it.
    assert elapsed(
        Schedule("Europe/Berlin", shift, holidays=frozenset({monday})), start, end
    ) == dt.timedelta(0)
    tuesday_off = Schedule("Europe/Berlin", shift, holidays=frozenset({monday + dt.timedelta(days=1)}))
    assert elapsed(tuesday_off, start, end) == dt.timedelta(hours=8)
    # Sunday night runs into Monday morning; 3 hours after Monday 02:00 is Sunday's... next shift.
    sunday_night = Schedule("Europe/Berlin", week(6, start="23:00", end="04:00"))
    monday_two = at("Europe/Berlin", 2025, 6, 2, 2, 0)
    assert add(sunday_night, monday_two, dt.timedelta(hours=2)) == at("Europe/Berlin", 2025, 6, 2, 4, 0)
    assert add(sunday_night, monday_two, dt.timedelta(hours=3)) == at("Europe/Berlin", 2025, 6, 9, 0, 0)


def test_overnight_shift_across_spring_forward():
    # Saturday 22:00 to Sunday 06:00 in New York on the night 02:00-03:00 is skipped: 7 real hours.
    shift = Schedule("America/New_York", week(5, start="22:00", end="06:00"))
    saturday = at("America/New_York", 2025, 3, 8, 12)
    assert elapsed(shift, saturday, saturday + dt.timedelta(days=1)) == dt.timedelta(hours=7)


def test_dated_and_yearly_holidays():
    christmas = Schedule(
        "Europe/Berlin", week(0, 1, 2, 3, 4), yearly_holidays=frozenset({(12, 25), (12, 26)})
    )
    # Wednesday 24 December 2025, 16:00 + 2 h: the 25th and 26th are off, the weekend too: Monday 29th 10:00.
    start = at("Europe/Berlin", 2025, 12, 24, 16)
    assert add(christmas, start, dt.timedelta(hours=2)) == at("Europe/Berlin", 2025, 12, 29, 10)
    # Yearly means every year.
    assert add(christmas, at("Europe/Berlin", 2026, 12, 24, 16), dt.timedelta(hours=2)) == at(
        "Europe/Berlin", 2026, 12, 28, 10
    )
    dated = Schedule("Europe/Berlin", week(0, 1, 2, 3, 4), holidays=frozenset({dt.date(2025, 12, 29)}))
    assert add(dated, start, dt.timedelta(hours=2)) == at("Europe/Berlin", 2025, 12, 25, 10)
    stretches = explain(christmas, start, at("Europe/Berlin", 2025, 12, 29, 10))
    assert [(s.reason, s.duration) for s in stretches] == [
        ("counted", dt.timedelta(hours=1)),
        ("outside_hours", dt.timedelta(hours=16)),
        ("holiday", dt.timedelta(hours=8)),
        ("outside_hours", dt.timedelta(hours=16)),
        ("holiday", dt.timedelta(hours=8)),
        ("outside_hours", dt.timedelta(hours=64)),
        ("counted", dt.timedelta(hours=1)),
    ]


def test_pause_across_a_weekend():
    friday = at("America/New_York", 2025, 6, 6, 15, 0)
    pause = (at("America/New_York", 2025, 6, 6, 16, 0), at("America/New_York", 2025, 6, 9, 10, 0))
    # Without the pause, 3 h from Friday 15:00 is Monday 10:00. The pause takes Friday 16-17 and Monday
    # 9-10 (the weekend was not counting anyway), so it is Monday 12:00.
    three_hours = dt.timedelta(hours=3)
    assert add(NINE_TO_FIVE_NY, friday, three_hours) == at("America/New_York", 2025, 6, 9, 10)
    assert add(NINE_TO_FIVE_NY, friday, three_hours, [pause]) == at("America/New_York", 2025, 6, 9, 12)
    stretches = explain(NINE_TO_FIVE_NY, friday, at("America/New_York", 2025, 6, 9, 12), [pause])
    assert [(s.reason, s.duration) for s in stretches] == [
        ("counted", dt.timedelta(hours=1)),
        ("paused", dt.timedelta(hours=1)),
        ("outside_hours", dt.timedelta(hours=64)),
        ("paused", dt.timedelta(hours=1)),
        ("counted", dt.timedelta(hours=2)),
    ]


def test_several_intervals_a_day_and_24_00():
    lunch = Schedule(
        "Europe/Berlin",
        (
            *week(0, start="09:00", end="12:00"),
            *week(0, start="13:00", end="17:00"),
            *week(1, start="20:00", end="24:00"),
        ),
    )
    monday = at("Europe/Berlin", 2025, 6, 2, 11, 0)
    assert add(lunch, monday, dt.timedelta(hours=2)) == at("Europe/Berlin", 2025, 6, 2, 14, 0)
    assert add(lunch, monday, dt.timedelta(hours=9)) == at("Europe/Berlin", 2025, 6, 4, 0, 0)


def test_no_open_time_is_refused_not_looped():
    every_day_off = frozenset(
        (month, day) for month in range(1, 13) for day in range(1, 32) if _valid(month, day)
    )
    closed = Schedule("UTC", week(0, 1, 2, 3, 4, 5, 6), yearly_holidays=every_day_off)
    with pytest.raises(NoOpenTime):
        add(closed, utc(2025, 1, 1), dt.timedelta(minutes=1))
    # A bounded question has an answer: nothing counted.
    assert elapsed(closed, utc(2025, 1, 1), utc(2026, 1, 1)) == dt.timedelta(0)
    with pytest.raises(NoOpenTime):
        add(Schedule("UTC"), utc(2025, 1, 1), dt.timedelta(minutes=1))
    # Open one minute a week: 100 years hold about 5,200 minutes, so 10,000 are out of reach.
    sparse = Schedule("UTC", (WeeklyInterval(0, 0, 1),))
    with pytest.raises(NoOpenTime):
        add(sparse, utc(2025, 1, 1), dt.timedelta(minutes=10_000))


def _valid(month: int, day: int) -> bool:
    try:
        dt.date(2000, month, day)
    except ValueError:
        return False
    return True


def test_bad_input_is_refused():
    with pytest.raises(BusinessTimeError):
        add(NINE_TO_FIVE_NY, dt.datetime(2025, 1, 1), dt.timedelta(hours=1))  # naive
    with pytest.raises(BusinessTimeError):
        add(NINE_TO_FIVE_NY, utc(2025, 1, 1), dt.timedelta(hours=-1))
    with pytest.raises(BusinessTimeError):
        elapsed(NINE_TO_FIVE_NY, utc(2025, 1, 2), utc(2025, 1, 1))
    with pytest.raises(BusinessTimeError):
        elapsed(NINE_TO_FIVE_NY, utc(2025, 1, 1), utc(2025, 1, 2), [(utc(2025, 1, 2), utc(2025, 1, 1))])
    with pytest.raises(OutOfRange):
        add(NINE_TO_FIVE_NY, dt.datetime(1, 1, 1, tzinfo=UTC), dt.timedelta(hours=1))
    with pytest.raises(OutOfRange):
        add(NINE_TO_FIVE_NY, dt.datetime(9999, 12, 31, tzinfo=UTC), dt.timedelta(hours=1))
    with pytest.raises(OutOfRange):
        elapsed(NINE_TO_FIVE_NY, utc(1950, 1, 1), utc(2890, 1, 1))


def test_invalid_schedules():
    with pytest.raises(ScheduleError, match="time zone"):
        Schedule("Mars/Olympus")
    assert weekly_problems(week(0, start="09:00", end="09:00")) == [
        (0, "the interval is empty (start equals end)")
    ]
    assert weekly_problems([*week(0), *week(0, start="16:00", end="18:00")]) == [(1, "overlaps interval 0")]
    assert weekly_problems([*week(0), *week(0, start="17:00", end="18:00")]) == []  # touching is fine
    # Sunday's overnight shift runs into Monday morning.
    assert weekly_problems([*week(0, start="05:00", end="08:00"), *week(6, start="22:00", end="06:00")]) == [
        (0, "overlaps interval 1")
    ]
    assert weekly_problems([*week(6, start="22:00", end="06:00"), *week(0, start="06:00", end="08:00")]) == []
    with pytest.raises(ScheduleError, match="overlaps"):
        Schedule("UTC", (*week(0), *week(0, start="10:00", end="11:00")))
    with pytest.raises(ScheduleError, match="not a date"):
        Schedule("UTC", week(0), yearly_holidays=frozenset({(2, 30)}))


def test_intervals_that_overlap_once_resolved_count_once():
    # 01:00-02:30 and 03:00-05:00 do not overlap on the wall clock, but on the night New York skips
    # 02:00-03:00, 02:30 resolves to 03:30 EDT (07:30Z) while 03:00 EDT is 07:00Z: the half hour in both
    # counts once. 01:00 EST (06:00Z) to 05:00 EDT (09:00Z) is three real hours.
    schedule = Schedule(
        "America/New_York", (*week(6, start="01:00", end="02:30"), *week(6, start="03:00", end="05:00"))
    )
    sunday = at("America/New_York", 2025, 3, 9, 0, 0)
    assert elapsed(schedule, sunday, sunday + dt.timedelta(days=1)) == dt.timedelta(hours=3)
    assert add(schedule, sunday, dt.timedelta(hours=3)) == utc(2025, 3, 9, 9, 0)
    assert [(s.reason, s.duration) for s in explain(schedule, sunday, utc(2025, 3, 9, 10))] == [
        ("outside_hours", dt.timedelta(hours=1)),
        ("counted", dt.timedelta(hours=3)),
        ("outside_hours", dt.timedelta(hours=1)),
    ]
