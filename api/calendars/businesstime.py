"""Business-time arithmetic over a weekly schedule in a time zone: pure, exact, no I/O.

The design follows the interval walk of ``zendesk/biz``: the schedule is turned, local day by local
day, into the instants its opening intervals cover, and calculations consume those intervals whole;
nothing ever steps minute by minute. Each schedule also keeps an index of the open intervals the walk
found over a range around the instants asked about, with running totals (:class:`_OpenIndex`): due
instants without pauses and elapsed time are then two binary searches, so a ticket months old costs
no more than a new one. The index holds exactly what the walk yields, and the tests hold the two
against each other. Beyond the index's three years, a table of open time per local day
(:class:`_DayTable`) answers with a bisection and two walks of about a day: the work per answer does
not grow with the distance or with the number of openings a week (a year's target on a calendar of
many short openings is due decades away).

Rules (``docs/calendars.md`` states them for users):

- Only open intervals count. Durations are real elapsed time between instants (``timedelta``, exact to
  the microsecond), so a DST change neither adds nor removes business time, and an always-open
  schedule counts exactly the wall-clock (UTC) difference.
- A local boundary resolves like ``zoneinfo`` with ``fold=0``: inside a spring-forward gap it moves
  forward by the gap (02:30 becomes 03:30 when 02:00-03:00 is skipped); an ambiguous one is its first
  occurrence. An interval whose boundaries resolve to an empty or reversed span counts nothing, and
  where resolved intervals overlap, the time counts once.
- An interval belongs to the local date it *starts* on: a holiday on that date removes it whole,
  including the part of an overnight shift that runs into the next day; a holiday on the next day
  does not shorten it.
- Inputs are aware datetimes in any zone; results are UTC and do not depend on the inputs' zones.
- Pauses are ``(from, to)`` instant pairs; time inside a pause does not count.
- A walk that finds no open time for :data:`MAX_CLOSED_DAYS` days, or would go further than
  :data:`MAX_SPAN` from its start, raises :class:`NoOpenTime` instead of looping forever.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import itertools
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

UTC = dt.UTC
MINUTES_PER_DAY = 1440
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY

MAX_CLOSED_DAYS = 5 * 366
"""A walk that finds no open time for this many consecutive local days gives up (:class:`NoOpenTime`)."""
MAX_SPAN = dt.timedelta(days=100 * 366)
"""The furthest any calculation reaches from its start: due times, and the windows of elapsed/explain."""
MIN_INSTANT = dt.datetime(1900, 1, 1, tzinfo=UTC)
MAX_INSTANT = dt.datetime(2900, 1, 1, tzinfo=UTC)
"""Instants outside [MIN_INSTANT, MAX_INSTANT) are refused (:class:`OutOfRange`), so date arithmetic
near ``datetime.min``/``max`` can never overflow."""

# |utcoffset| < 24 h is guaranteed by datetime: a local time maps to an instant within a day of itself.
_OFFSET_BOUND = dt.timedelta(hours=24)
# How many local days before an instant's own local date a walk starts, so that every interval still
# running at that instant is seen: an interval spans at most two local dates and resolves to instants
# within a day of them, so three days back is enough whatever the offsets do.
_DAYS_BEFORE = 3
_DAY_CACHE_SIZE = 2048

Reason = Literal["counted", "outside_hours", "holiday", "paused"]


class BusinessTimeError(ValueError):
    """Input the arithmetic refuses: a naive datetime, an end before its start, a negative amount..."""


class OutOfRange(BusinessTimeError):
    """An instant outside the supported range (:data:`MIN_INSTANT` to :data:`MAX_INSTANT`)."""


class NoOpenTime(BusinessTimeError):
    """The schedule has no open time within reach (every day closed, or the answer beyond
    :data:`MAX_SPAN`)."""


class TooLong(BusinessTimeError):
    """An answer that would list more intervals than the caller allows."""


class ScheduleError(ValueError):
    """An invalid schedule; ``problems`` lists ``(index into weekly or None, message)``."""

    def __init__(self, problems: list[tuple[int | None, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


@dataclass(frozen=True)
class WeeklyInterval:
    """An opening interval on one weekday, in local minutes of the day.

    ``day`` is 0 (Monday) to 6 (Sunday); ``start`` is 0-1439; ``end`` is 1-1440, 1440 meaning 24:00.
    When ``start`` is later than ``end`` the interval is an overnight shift: it runs from ``start`` on
    ``day`` to ``end`` on the following day (Sunday's runs into Monday). ``start == end`` is empty and
    refused.
    """

    day: int
    start: int
    end: int

    @property
    def overnight(self) -> bool:
        return self.start > self.end

    def week_span(self) -> tuple[int, int]:
        """Minutes since Monday 00:00 of the start and end (the end may pass the week's end)."""
        begin = self.day * MINUTES_PER_DAY + self.start
        length = self.end - self.start if self.end > self.start else self.end + MINUTES_PER_DAY - self.start
        return begin, begin + length


def weekly_problems(intervals: Sequence[WeeklyInterval]) -> list[tuple[int | None, str]]:
    """What is wrong with a list of weekly intervals: out-of-range fields, empty or overlapping intervals.

    Each problem names the index of the interval it is about. Intervals that only touch (one ends at
    17:00, the next starts at 17:00) do not overlap.
    """
    problems: list[tuple[int | None, str]] = []
    spans: list[tuple[int, int, int]] = []
    for index, interval in enumerate(intervals):
        if not 0 <= interval.day <= 6:
            problems.append((index, "day must be 0 (Monday) to 6 (Sunday)"))
        elif not 0 <= interval.start < MINUTES_PER_DAY:
            problems.append((index, "start must be 00:00 to 23:59"))
        elif not 0 <= interval.end <= MINUTES_PER_DAY:
            problems.append((index, "end must be 00:00 to 24:00"))
        elif interval.start == interval.end:
            problems.append((index, "the interval is empty (start equals end)"))
        else:
            begin, end = interval.week_span()
            spans.append((begin, end, index))
    spans.sort()
    # The week is a cycle: Sunday's overnight shift may run into Monday morning.
    for (_, end, index), (begin, _, other) in itertools.pairwise(spans):
        if end > begin:
            problems.append((other, f"overlaps interval {index}"))
    if len(spans) > 1 and spans[-1][1] - MINUTES_PER_WEEK > spans[0][0]:
        problems.append((spans[0][2], f"overlaps interval {spans[-1][2]}"))
    return problems


@dataclass(frozen=True)
class Schedule:
    """When business time counts.

    ``time_zone`` is an IANA key. ``weekly`` lists the opening intervals (see :class:`WeeklyInterval`);
    ``always_open`` opens every day 00:00-24:00 instead. ``holidays`` are local dates and
    ``yearly_holidays`` ``(month, day)`` pairs (``(2, 29)`` applies in leap years only); a holiday
    removes every interval that *starts* on its date, so to drop an overnight shift name the date the
    shift starts. Holidays apply to always-open schedules too.
    """

    time_zone: str
    weekly: tuple[WeeklyInterval, ...] = ()
    always_open: bool = False
    holidays: frozenset[dt.date] = frozenset()
    yearly_holidays: frozenset[tuple[int, int]] = frozenset()
    _zone: zoneinfo.ZoneInfo = field(init=False, repr=False, compare=False, hash=False)
    _by_day: tuple[tuple[tuple[int, int], ...], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _days: dict[dt.date, tuple[_Piece, ...]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )
    _index: _OpenIndex | None = field(init=False, repr=False, compare=False, hash=False, default=None)
    _table: _DayTable | None = field(init=False, repr=False, compare=False, hash=False, default=None)

    def __post_init__(self) -> None:
        try:
            zone = zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ScheduleError([(None, f"unknown time zone {self.time_zone!r}")]) from None
        problems = weekly_problems(self.weekly)
        for month, day in sorted(self.yearly_holidays):
            try:
                dt.date(2000, month, day)  # a leap year: 29 February is a valid yearly holiday
            except ValueError:
                problems.append((None, f"yearly holiday {month:02d}-{day:02d} is not a date"))
        if problems:
            raise ScheduleError(problems)
        by_day: tuple[tuple[tuple[int, int], ...], ...]
        if self.always_open:
            by_day = tuple(((0, MINUTES_PER_DAY),) for _ in range(7))
        else:
            by_day = tuple(
                tuple(sorted((i.start, i.end) for i in self.weekly if i.day == day)) for day in range(7)
            )
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_by_day", by_day)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return self._zone

    def is_holiday(self, day: dt.date) -> bool:
        return day in self.holidays or (day.month, day.day) in self.yearly_holidays


@dataclass(frozen=True, order=True)
class _Piece:
    """One scheduled interval resolved to instants; ``holiday`` when its start date is a holiday."""

    start: dt.datetime
    end: dt.datetime
    holiday: bool


@dataclass(frozen=True)
class Interval:
    """A half-open span of instants ``[start, end)``, in UTC."""

    start: dt.datetime
    end: dt.datetime

    @property
    def duration(self) -> dt.timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class Stretch:
    """A span of ``[start, end)`` and why it counted or not.

    ``counted``: open and not paused. ``outside_hours``: no opening interval covers it. ``holiday``:
    an opening interval would cover it but its start date is a holiday. ``paused``: open, but inside a
    pause. Each stretch carries the first of these reasons, in that order, that keeps it from counting,
    so ``paused`` is exactly the business time the pauses took away.
    """

    start: dt.datetime
    end: dt.datetime
    reason: Reason

    @property
    def duration(self) -> dt.timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class Due:
    """The due instant of an amount of business time, and the counted intervals that make it up."""

    due_at: dt.datetime
    intervals: tuple[Interval, ...]


Pause = tuple[dt.datetime, dt.datetime]


_ZERO = dt.timedelta(0)


# -- The walk ------------------------------------------------------------------------------------------


def _instant(value: dt.datetime, what: str = "instant") -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise BusinessTimeError(f"{what} must be an aware datetime (with a time zone)")
    out_of_range = OutOfRange(
        f"{what} must be between {MIN_INSTANT:%Y-%m-%d} and {MAX_INSTANT:%Y-%m-%d} (UTC)"
    )
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is an instant before datetime.min
        raise out_of_range from None
    if not MIN_INSTANT <= utc < MAX_INSTANT:
        raise out_of_range
    return utc


def _resolve(day: dt.date, minutes: int, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The instant of a local wall time (``minutes`` after ``day``'s midnight, fold=0)."""
    naive = dt.datetime(day.year, day.month, day.day) + dt.timedelta(minutes=minutes)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def _day_pieces(schedule: Schedule, day: dt.date) -> tuple[_Piece, ...]:
    """The intervals that start on local date ``day``, resolved to instants (cached per schedule)."""
    cached = schedule._days.get(day)
    if cached is not None:
        return cached
    holiday = schedule.is_holiday(day)
    pieces = []
    for start, end in schedule._by_day[day.weekday()]:
        begin = _resolve(day, start, schedule.zone)
        finish = _resolve(day, end if end > start else end + MINUTES_PER_DAY, schedule.zone)
        if finish > begin:
            pieces.append(_Piece(begin, finish, holiday))
    result = tuple(pieces)
    if len(schedule._days) >= _DAY_CACHE_SIZE:
        schedule._days.clear()
    schedule._days[day] = result
    return result


def _scheduled(
    schedule: Schedule, origin: dt.datetime, limit: dt.datetime, *, open_ended: bool
) -> Iterator[_Piece]:
    """Every scheduled piece ending after ``origin``, ordered by start, holidays included.

    Days are generated in local order, but DST resolution can put a piece of one day before a piece of
    the previous day; a heap holds pieces until no later day can produce an earlier start. Stops after
    the first piece starting at or after ``limit``. An ``open_ended`` walk (looking for a due time)
    raises :class:`NoOpenTime` after :data:`MAX_CLOSED_DAYS` local days without a (non-holiday)
    opening; a bounded one simply reaches its limit.
    """
    day = origin.astimezone(schedule.zone).date() - dt.timedelta(days=_DAYS_BEFORE)
    heap: list[_Piece] = []
    closed_days = 0
    while True:
        pieces = _day_pieces(schedule, day)
        for piece in pieces:
            heapq.heappush(heap, piece)
        closed_days = 0 if any(not piece.holiday for piece in pieces) else closed_days + 1
        if open_ended and closed_days > MAX_CLOSED_DAYS:
            raise NoOpenTime(f"the calendar has no open time for {MAX_CLOSED_DAYS} days after {day}")
        day += dt.timedelta(days=1)
        # Any piece of a later day starts after this instant (offsets are under 24 hours).
        floor = dt.datetime(day.year, day.month, day.day, tzinfo=UTC) - _OFFSET_BOUND
        while heap and heap[0].start <= floor:
            piece = heapq.heappop(heap)
            if piece.end > origin:
                yield piece
            if piece.start >= limit:
                return
        if floor >= limit:
            return


def _open(
    schedule: Schedule, origin: dt.datetime, limit: dt.datetime, *, open_ended: bool = False
) -> Iterator[Interval]:
    """Open (non-holiday) time from ``origin`` on, as disjoint ordered intervals; overlaps count once."""
    covered = origin
    for piece in _scheduled(schedule, origin, limit, open_ended=open_ended):
        if piece.holiday or piece.end <= covered:
            continue
        start = max(piece.start, covered)
        if start >= limit:
            return
        yield Interval(start, piece.end)
        covered = piece.end


def _normalize_pauses(pauses: Iterable[Pause]) -> list[Interval]:
    """Pauses as sorted, disjoint UTC intervals (overlapping or touching pauses merge; empty ones go)."""
    spans = []
    for begin, end in pauses:
        start, stop = _instant(begin, "a pause's start"), _instant(end, "a pause's end")
        if stop < start:
            raise BusinessTimeError("a pause must not end before it starts")
        if stop > start:
            spans.append((start, stop))
    spans.sort()
    merged: list[Interval] = []
    for start, stop in spans:
        if merged and start <= merged[-1].end:
            if stop > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, stop)
        else:
            merged.append(Interval(start, stop))
    return merged


def _minus(intervals: Iterator[Interval], pauses: list[Interval]) -> Iterator[Interval]:
    """``intervals`` (ordered, disjoint) without the parts inside ``pauses`` (ordered, disjoint)."""
    index = 0
    for interval in intervals:
        start = interval.start
        while index < len(pauses) and pauses[index].end <= start:
            index += 1
        probe = index
        while start < interval.end:
            if probe >= len(pauses) or pauses[probe].start >= interval.end:
                yield Interval(start, interval.end)
                break
            pause = pauses[probe]
            if pause.start > start:
                yield Interval(start, pause.start)
            start = max(start, pause.end)
            probe += 1


def counted_intervals(
    schedule: Schedule, start: dt.datetime, pauses: Iterable[Pause] = (), until: dt.datetime | None = None
) -> Iterator[Interval]:
    """The time that counts from ``start`` on (open, not holiday, not paused): ordered, disjoint UTC
    intervals, clipped to ``[start, until)``. Without ``until`` it runs up to :data:`MAX_SPAN` after
    ``start`` (then :class:`NoOpenTime`), so consume it lazily.
    """
    origin = _instant(start, "start")
    bounded = until is not None
    limit = _instant(until, "end") if until is not None else min(origin + MAX_SPAN, MAX_INSTANT)
    if limit < origin:
        raise BusinessTimeError("the end must not be before the start")
    if limit - origin > MAX_SPAN:
        raise OutOfRange(f"the span must not exceed {MAX_SPAN.days} days")
    opened = _open(schedule, origin, limit, open_ended=not bounded)
    for interval in _minus(opened, _normalize_pauses(pauses)):
        if interval.start >= limit:  # a pause can push the rest of an open interval past the limit
            break
        yield Interval(interval.start, min(interval.end, limit))
    if not bounded:
        raise NoOpenTime(f"no due time within {MAX_SPAN.days} days of the start")


# -- Public calculations -------------------------------------------------------------------------------


def due(
    schedule: Schedule,
    start: dt.datetime,
    amount: dt.timedelta,
    pauses: Iterable[Pause] = (),
    *,
    max_intervals: int | None = None,
) -> Due:
    """When ``amount`` of business time after ``start`` is used up, with the intervals that count.

    The due instant is the earliest instant ``t >= start`` with ``elapsed(start, t) == amount``: a
    start outside hours counts from the next opening; an amount used up exactly at an interval's end is
    due at that end (not at the next opening); a zero amount is due at ``start``. An answer that would
    take more than ``max_intervals`` intervals raises :class:`TooLong` instead.
    """
    if amount < dt.timedelta(0):
        raise BusinessTimeError("the amount must not be negative")
    origin = _instant(start, "start")
    remaining = amount
    used: list[Interval] = []
    if remaining == dt.timedelta(0):
        return Due(origin, ())
    for interval in counted_intervals(schedule, origin, pauses):
        if interval.duration >= remaining:
            end = interval.start + remaining
            used.append(Interval(interval.start, end))
            return Due(end, tuple(used))
        used.append(interval)
        remaining -= interval.duration
        if max_intervals is not None and len(used) >= max_intervals:
            raise TooLong(f"the amount takes more than {max_intervals} intervals of this calendar")
    raise AssertionError("counted_intervals ends only by raising")  # pragma: no cover


def add(
    schedule: Schedule, start: dt.datetime, amount: dt.timedelta, pauses: Iterable[Pause] = ()
) -> dt.datetime:
    """The due instant (UTC) of ``amount`` of business time from ``start``; see :func:`due`."""
    index = schedule._index
    if (  # the common case, every ticket write: no pauses, inside the schedule's index (no validation
        # needed: the index lies within the supported range, and aware instants compare in any zone)
        not pauses
        and index is not None
        and start.utcoffset() is not None
        and amount > _ZERO
        and index.covers(start, start + amount)
    ):
        found = index.due(start, amount)
        if found is not None:
            return found
    pauses = list(pauses)
    if not pauses and amount > dt.timedelta(0):
        origin = _instant(start, "start")
        index = _index_for(schedule, origin, origin + amount)
        found = None if index is None else index.due(origin, amount)
        if found is not None:
            return found
        # Further than the index reaches: day totals, so the work does not grow with the distance.
        return _table_due(schedule, origin, amount)
    return due(schedule, start, amount, pauses).due_at


def elapsed(
    schedule: Schedule, start: dt.datetime, end: dt.datetime, pauses: Iterable[Pause] = ()
) -> dt.timedelta:
    """The business time in ``[start, end)``: open, not holiday, not paused."""
    index = schedule._index
    if (  # the common case (every response's remaining time): see add()
        not pauses
        and index is not None
        and start.utcoffset() is not None
        and end.utcoffset() is not None
        and start <= end
        and index.covers(start, end)
    ):
        return index.open_between(start, end)
    origin, limit = _instant(start, "start"), _instant(end, "end")
    if limit >= origin:
        index = schedule._index
        if index is None or not index.covers(origin, limit):
            index = _index_for(schedule, origin, limit) if limit - origin >= _INDEX_FROM else None
        if index is not None:
            total = index.open_between(origin, limit)
            for pause in _normalize_pauses(pauses):
                if pause.start < limit and pause.end > origin:
                    total -= index.open_between(max(pause.start, origin), min(pause.end, limit))
            return total
        if limit - origin >= _INDEX_FROM:  # further than the index reaches: day totals
            if limit - origin > MAX_SPAN:
                raise OutOfRange(f"the span must not exceed {MAX_SPAN.days} days")
            total = _table_elapsed(schedule, origin, limit)
            for pause in _normalize_pauses(pauses):
                if pause.start < limit and pause.end > origin:
                    total -= _table_elapsed(schedule, max(pause.start, origin), min(pause.end, limit))
            return total
    total = dt.timedelta(0)
    for interval in counted_intervals(schedule, start, pauses, until=end):
        total += interval.duration
    return total


def latest_start(schedule: Schedule, end: dt.datetime, amount: dt.timedelta) -> dt.datetime:
    """The latest instant ``t`` with ``elapsed(t, end) >= amount``: business time counted backwards.

    Conditions such as "at least 4 business hours since created" hold exactly when the instant is at or
    before this one, so a query compares a column with one instant computed here instead of measuring
    every row. The answer lies inside an open interval (or at its start) and ``elapsed(t, end) ==
    amount``; a zero amount gives ``end``. Raises :class:`NoOpenTime` when the walk back finds no open
    time for :data:`MAX_CLOSED_DAYS` days or would reach further than :data:`MAX_SPAN`.
    """
    if amount < _ZERO:
        raise BusinessTimeError("the amount must not be negative")
    limit = _instant(end, "end")
    if amount == _ZERO:
        return limit
    index = schedule._index
    if index is not None and index.covers(limit, limit):
        found = index.latest_start(limit, amount)
        if found is not None:
            return found
    remaining, high, window = amount, limit, dt.timedelta(days=7)
    last_open = limit
    while True:
        low = max(high - window, MIN_INSTANT)
        if low >= high or limit - low > MAX_SPAN or last_open - low > dt.timedelta(days=MAX_CLOSED_DAYS):
            raise NoOpenTime(f"no {amount} of open time before {limit:%Y-%m-%d %H:%M} (UTC)")
        # Windows are walked forwards (the walk only goes that way) and consumed from their end.
        for interval in reversed(list(counted_intervals(schedule, low, until=high))):
            last_open = interval.start
            if interval.duration >= remaining:
                return interval.end - remaining
            remaining -= interval.duration
        high, window = low, min(window * 2, dt.timedelta(days=366))


# -- Long spans ----------------------------------------------------------------------------------------

_INDEX_FROM = dt.timedelta(days=7)
"""Spans at least this long are measured with the schedule's :class:`_OpenIndex` (built if need be);
shorter ones use it when it already covers them, and are walked otherwise."""
_INDEX_SPAN = dt.timedelta(days=3 * 366)
"""The most an index covers; longer spans are walked."""
_INDEX_MARGIN = dt.timedelta(days=60)


@dataclass(frozen=True)
class _OpenIndex:
    """The open time of ``[origin, limit)`` as ordered intervals with running totals, so the open time
    between two instants is two binary searches instead of a walk over every day between them.

    Re-evaluating a backlog measures each ticket's time since creation, often months: walking that for
    100,000 tickets took minutes. The index is built by the same walk (:func:`_open`), once per schedule
    and range, so it holds exactly the intervals a walk would count.
    """

    origin: dt.datetime
    limit: dt.datetime
    starts: list[dt.datetime]
    ends: list[dt.datetime]
    before: list[dt.timedelta]
    """``before[i]``: the open time in ``[origin, starts[i])``."""
    used_by_end: list[dt.timedelta]
    """``used_by_end[i]``: the open time in ``[origin, ends[i])``."""

    @classmethod
    def build(cls, schedule: Schedule, origin: dt.datetime, limit: dt.datetime) -> _OpenIndex:
        starts, ends, before, used_by_end = [], [], [], []
        total = dt.timedelta(0)
        for interval in _open(schedule, origin, limit):
            starts.append(interval.start)
            ends.append(interval.end)
            before.append(total)
            total += interval.duration
            used_by_end.append(total)
        return cls(origin, limit, starts, ends, before, used_by_end)

    def covers(self, start: dt.datetime, end: dt.datetime) -> bool:
        return self.origin <= start and end <= self.limit

    def _open_before(self, instant: dt.datetime) -> dt.timedelta:
        i = bisect.bisect_right(self.starts, instant) - 1
        if i < 0:
            return dt.timedelta(0)
        return self.before[i] + (min(instant, self.ends[i]) - self.starts[i])

    def open_between(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        return self._open_before(end) - self._open_before(start)

    def due(self, start: dt.datetime, amount: dt.timedelta) -> dt.datetime | None:
        """The instant ``amount`` (> 0) of open time after ``start`` is used up, as :func:`due` defines
        it (an amount used up exactly at an interval's end is due at that end); None beyond the index."""
        target = self._open_before(start) + amount
        i = bisect.bisect_left(self.used_by_end, target)
        if i == len(self.starts):
            return None
        return self.starts[i] + (target - self.before[i])

    def latest_start(self, end: dt.datetime, amount: dt.timedelta) -> dt.datetime | None:
        """The latest instant with ``amount`` (> 0) of open time between it and ``end``, as
        :func:`latest_start` defines it; None when the index starts too late to hold that much."""
        target = self._open_before(end) - amount
        if target < _ZERO:
            return None
        i = bisect.bisect_right(self.before, target) - 1
        return self.starts[i] + (target - self.before[i])


def _index_for(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> _OpenIndex | None:
    """The schedule's index, extended (rebuilt) to cover ``[start, end)``; None when that would span
    more than :data:`_INDEX_SPAN`, or move an existing index elsewhere (requests far apart in time would
    rebuild it back and forth, a walk each time: the day table answers those instead)."""
    index = schedule._index
    if index is not None and index.covers(start, end):
        return index
    origin, limit = start - _INDEX_MARGIN, end + _INDEX_MARGIN
    if index is not None:
        if index.limit - origin > _INDEX_SPAN or limit - index.origin > _INDEX_SPAN:
            return None
        origin, limit = min(origin, index.origin), max(limit, index.limit)
    if limit - origin > _INDEX_SPAN or origin < MIN_INSTANT or limit > MAX_INSTANT:
        return None
    index = _OpenIndex.build(schedule, origin, limit)
    object.__setattr__(schedule, "_index", index)
    return index


class _DayTable:
    """Open time per local day, with running totals: how :func:`add` and :func:`elapsed` reach far.

    An index of every open interval (:class:`_OpenIndex`) stops at three years; beyond, a walk costs one
    step per scheduled interval, and a calendar of many short openings with a year's business-time target
    made each ticket write walk half a century (seconds of CPU per write). Day ``d`` here holds the open
    time in ``[midnight(d), midnight(d + 1))`` (local midnights, fold=0): where the zone's offset is the
    same from the day before to the day after next, that is the weekday's scheduled minutes (less a
    holiday's, plus the previous evening's overnight shift running past midnight), with no walk at all;
    around offset changes (a few days a year) the walk counts it once, when the table is built. Answers
    then cost a bisection and two walks of about a day, whatever the distance; the table holds one
    integer per day.
    """

    def __init__(self, schedule: Schedule, first: dt.date) -> None:
        self.schedule = schedule
        self.first = first
        zone = schedule.zone
        self.midnights = [_resolve(first, 0, zone)]
        self.before = [0]
        """``before[i]``: the open time in ``[midnights[0], midnights[i])``, in microseconds."""
        self.closed_runs: list[tuple[int, int]] = []
        """``[i, j)`` ranges of more than :data:`MAX_CLOSED_DAYS` days without open time."""
        self._closed_since: int | None = None
        in_day, spill = [], []
        for pieces in schedule._by_day:
            lengths = [(start, end if end > start else end + MINUTES_PER_DAY) for start, end in pieces]
            in_day.append(sum(min(end, MINUTES_PER_DAY) - start for start, end in lengths))
            spill.append(sum(max(end - MINUTES_PER_DAY, 0) for _, end in lengths))
        self._in_day = [dt.timedelta(minutes=m) // _MICROSECOND for m in in_day]
        self._spill = [dt.timedelta(minutes=m) // _MICROSECOND for m in spill]

    @property
    def end(self) -> dt.date:
        """The day after the last one held."""
        return self.first + dt.timedelta(days=len(self.before) - 1)

    def extend(self, until: dt.date) -> None:
        """Hold every day before ``until``."""
        schedule, zone = self.schedule, self.schedule.zone
        start = self.end
        count = (until - start).days
        if count <= 0:
            return
        days = [start + dt.timedelta(days=n) for n in range(-1, count + 2)]
        offsets = [_midnight_offsets(zone, day) for day in days]
        midnights = [_resolve(day, 0, zone) for day in days[1:]]  # start .. until
        totals: list[int | None] = []
        for n in range(count):
            day = days[n + 1]
            if len(set(offsets[n : n + 4])) == 1 and all(a == b for a, b in offsets[n : n + 4]):
                previous = day - dt.timedelta(days=1)
                total = 0 if schedule.is_holiday(day) else self._in_day[day.weekday()]
                if not schedule.is_holiday(previous):
                    total += self._spill[previous.weekday()]
                totals.append(total)
            else:
                totals.append(None)  # an offset changes nearby: walked below
        n = 0
        while n < count:  # each run of days near an offset change, walked once
            if totals[n] is not None:
                n += 1
                continue
            m = n
            while m < count and totals[m] is None:
                m += 1
            walked = [0] * (m - n)
            bounds = midnights[n : m + 1]
            for interval in _open(schedule, bounds[0], bounds[-1]):
                begin, finish = interval.start, min(interval.end, bounds[-1])
                k = bisect.bisect_right(bounds, begin) - 1
                while begin < finish:
                    stop = min(finish, bounds[k + 1])
                    walked[k] += (stop - begin) // _MICROSECOND
                    begin, k = stop, k + 1
            totals[n:m] = walked
            n = m
        for n, counted in enumerate(totals):
            assert counted is not None
            index = len(self.before) - 1
            if counted == 0:
                self._closed_since = index if self._closed_since is None else self._closed_since
                if index + 1 - self._closed_since == MAX_CLOSED_DAYS + 1:
                    self.closed_runs.append((self._closed_since, index + 1))
                elif index + 1 - self._closed_since > MAX_CLOSED_DAYS + 1:
                    self.closed_runs[-1] = (self._closed_since, index + 1)
            else:
                self._closed_since = None
            self.before.append(self.before[-1] + counted)
            self.midnights.append(midnights[n + 1])

    def index_at_or_after(self, instant: dt.datetime) -> int:
        return bisect.bisect_left(self.midnights, instant)

    def index_at_or_before(self, instant: dt.datetime) -> int:
        return bisect.bisect_right(self.midnights, instant) - 1


_MICROSECOND = dt.timedelta(microseconds=1)
_TABLE_CHUNK = dt.timedelta(days=366)


def _midnight_offsets(
    zone: zoneinfo.ZoneInfo, day: dt.date
) -> tuple[dt.timedelta | None, dt.timedelta | None]:
    return _offset(zone, day, 0), _offset(zone, day, 1)


def _table_for(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> _DayTable:
    """The schedule's table, holding at least the days from before ``start`` to after ``end``."""
    first = start.astimezone(schedule.zone).date() - dt.timedelta(days=2)
    last = end.astimezone(schedule.zone).date() + dt.timedelta(days=3)
    table = schedule._table
    if table is None or table.first > first:
        # Tables only grow forwards: one starting later is rebuilt from the earlier day.
        table = _DayTable(schedule, first - dt.timedelta(days=366))
        object.__setattr__(schedule, "_table", table)
    table.extend(last)
    return table


def _walked(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    return sum((i.duration for i in counted_intervals(schedule, start, until=end)), dt.timedelta(0))


def _table_elapsed(schedule: Schedule, origin: dt.datetime, limit: dt.datetime) -> dt.timedelta:
    """:func:`elapsed` without pauses: walks to the first midnight and from the last, totals between."""
    table = _table_for(schedule, origin, limit)
    i, j = table.index_at_or_after(origin), table.index_at_or_before(limit)
    if j <= i:
        return _walked(schedule, origin, limit)
    between = (table.before[j] - table.before[i]) * _MICROSECOND
    return (
        _walked(schedule, origin, table.midnights[i]) + between + _walked(schedule, table.midnights[j], limit)
    )


def _table_due(schedule: Schedule, origin: dt.datetime, amount: dt.timedelta) -> dt.datetime:
    """:func:`add` without pauses, through the day table (same answer as the walk of :func:`due`)."""
    reach = min(origin + MAX_SPAN, MAX_INSTANT)
    table = _table_for(schedule, origin, min(origin + _TABLE_CHUNK, reach))
    i = table.index_at_or_after(origin)
    head = _walked(schedule, origin, table.midnights[i])
    if amount <= head:
        return due(schedule, origin, amount).due_at
    target = table.before[i] + (amount - head) // _MICROSECOND
    while (k := bisect.bisect_left(table.before, target)) == len(table.before):
        if table.midnights[-1] >= reach:
            raise NoOpenTime(f"no due time within {MAX_SPAN.days} days of the start")
        table.extend(table.end + _TABLE_CHUNK)
    k -= 1  # the day within which the amount is used up
    if any(run_start < k and run_end > i for run_start, run_end in table.closed_runs):
        raise NoOpenTime(f"the calendar has no open time for {MAX_CLOSED_DAYS} days")
    found = due(schedule, table.midnights[k], (target - table.before[k]) * _MICROSECOND).due_at
    if found > reach:
        raise NoOpenTime(f"no due time within {MAX_SPAN.days} days of the start")
    return found


_EXPLAIN_WINDOW = dt.timedelta(days=7)
""":func:`explain` works window by window, so a bound on its answer also bounds its work."""
# Touching intervals make one stretch of many intervals: the work has a bound of its own, looser.
_WORK_PER_STRETCH = 10
_MIN_WORK = 20_000


def explain(
    schedule: Schedule,
    start: dt.datetime,
    end: dt.datetime,
    pauses: Iterable[Pause] = (),
    *,
    max_stretches: int | None = None,
) -> list[Stretch]:
    """``[start, end)`` cut into consecutive stretches, each with its reason (see :class:`Stretch`).

    The stretches cover the span exactly, in order, and adjacent stretches have different reasons; the
    ``counted`` ones add up to :func:`elapsed`. With ``max_stretches``, the work stops once more
    stretches than that are known, or ten times as many scheduled intervals (at least 20,000) have been
    looked at, and the answer is the first stretches up to there: at most ``max_stretches``, the last of
    which may be cut short (it then ends before ``end``, where the work stopped).
    """
    origin, limit = _instant(start, "start"), _instant(end, "end")
    if limit < origin:
        raise BusinessTimeError("the end must not be before the start")
    if limit - origin > MAX_SPAN:
        raise OutOfRange(f"the span must not exceed {MAX_SPAN.days} days")
    paused = _normalize_pauses(pauses)
    # Disjoint and ordered: the pauses overlapping a window are a slice, found by bisection.
    pause_starts, pause_ends = [p.start for p in paused], [p.end for p in paused]
    stretches: list[Stretch] = []
    seen = 0
    window = origin
    while window < limit:
        window_end = min(window + _EXPLAIN_WINDOW, limit)
        within = paused[
            bisect.bisect_right(pause_ends, window) : bisect.bisect_left(pause_starts, window_end)
        ]
        found, pieces = _explain_window(schedule, window, window_end, within)
        seen += pieces
        for stretch in found:
            if stretches and stretches[-1].reason == stretch.reason:  # one stretch across windows
                stretches[-1] = Stretch(stretches[-1].start, stretch.end, stretch.reason)
            else:
                stretches.append(stretch)
        window = window_end
        if max_stretches is not None and (
            len(stretches) > max_stretches or seen > max(_WORK_PER_STRETCH * max_stretches, _MIN_WORK)
        ):
            return stretches[:max_stretches]  # the last may be cut short: it ends where the work stopped
    return stretches


def _explain_window(
    schedule: Schedule, origin: dt.datetime, limit: dt.datetime, pauses: list[Interval]
) -> tuple[list[Stretch], int]:
    """The stretches of ``[origin, limit)`` and how many scheduled intervals that took."""
    opened = _Spans(list(_open(schedule, origin, limit)))
    holiday_pieces = [
        Interval(p.start, p.end)
        for p in _scheduled(schedule, origin, limit, open_ended=False)
        if p.holiday and p.start < limit
    ]
    holidays = _Spans(_union(holiday_pieces))
    paused = _Spans(pauses)
    points = sorted(
        {origin, limit}
        | {
            edge
            for spans in (opened, holidays, paused)
            for i in spans.intervals
            for edge in (i.start, i.end)
            if origin < edge < limit
        }
    )
    stretches: list[Stretch] = []
    for left, right in itertools.pairwise(points):
        if opened.covers(left):
            reason: Reason = "paused" if paused.covers(left) else "counted"
        elif holidays.covers(left):
            reason = "holiday"
        else:
            reason = "outside_hours"
        if stretches and stretches[-1].reason == reason:
            stretches[-1] = Stretch(stretches[-1].start, right, reason)
        else:
            stretches.append(Stretch(left, right, reason))
    return stretches, len(opened.intervals) + len(holiday_pieces)


class _Spans:
    """Ordered, disjoint intervals that answer "does one of you cover this instant?" by bisection."""

    def __init__(self, intervals: list[Interval]) -> None:
        self.intervals = intervals
        self._starts = [i.start for i in intervals]

    def covers(self, instant: dt.datetime) -> bool:
        index = bisect.bisect_right(self._starts, instant) - 1
        return index >= 0 and self.intervals[index].end > instant


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for interval in sorted(intervals, key=lambda i: (i.start, i.end)):
        if merged and interval.start <= merged[-1].end:
            if interval.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, interval.end)
        else:
            merged.append(interval)
    return merged


# -- DST warnings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoundaryWarning:
    """A weekly boundary that falls inside a DST transition on some date: ``kind`` is ``gap`` (the local
    time does not exist; it resolves later by the gap) or ``ambiguous`` (it occurs twice; the first
    occurrence counts)."""

    index: int
    boundary: Literal["start", "end"]
    day: dt.date
    local_time: str
    kind: Literal["gap", "ambiguous"]
    resolves_to: dt.datetime


def dst_warnings(schedule: Schedule, from_day: dt.date, days: int = 2 * 366) -> list[BoundaryWarning]:
    """For each weekly boundary, the first date in ``[from_day, from_day + days)`` on which it falls in a
    DST gap, and the first on which it is ambiguous (always-open schedules have no boundaries)."""
    if schedule.always_open or not schedule.weekly:
        return []
    zone = schedule.zone
    found: dict[tuple[int, str, str], BoundaryWarning] = {}
    day = from_day
    for _ in range(days):
        # Offsets can only differ within a day that contains a transition.
        if _offset(zone, day, 0) != _offset(zone, day + dt.timedelta(days=1), 0) or _offset(
            zone, day, 0
        ) != _offset(zone, day, 1):
            for warning in _boundaries_on(schedule, day):
                found.setdefault((warning.index, warning.boundary, warning.kind), warning)
        day += dt.timedelta(days=1)
    return sorted(found.values(), key=lambda w: (w.index, w.boundary, w.day))


def _offset(zone: zoneinfo.ZoneInfo, day: dt.date, fold: int) -> dt.timedelta | None:
    return dt.datetime(day.year, day.month, day.day, fold=fold, tzinfo=zone).utcoffset()


def _boundaries_on(schedule: Schedule, day: dt.date) -> Iterator[BoundaryWarning]:
    """Boundaries whose local time on ``day`` is in a gap or ambiguous (they start on ``day`` or on the
    day before, for ends of overnight shifts and 24:00)."""
    zone = schedule.zone
    for index, interval in enumerate(schedule.weekly):
        for start_day in (day - dt.timedelta(days=1), day):
            if start_day.weekday() != interval.day:
                continue
            end = interval.end if interval.end > interval.start else interval.end + MINUTES_PER_DAY
            bounds: tuple[tuple[Literal["start", "end"], int], ...] = (
                ("start", interval.start),
                ("end", end),
            )
            for boundary, minutes in bounds:
                naive = dt.datetime(start_day.year, start_day.month, start_day.day) + dt.timedelta(
                    minutes=minutes
                )
                if naive.date() != day:
                    continue
                kind = _transition_kind(naive, zone)
                if kind is not None:
                    yield BoundaryWarning(
                        index=index,
                        boundary=boundary,
                        day=day,
                        local_time=f"{minutes // 60 % 24:02d}:{minutes % 60:02d}",
                        kind=kind,
                        resolves_to=naive.replace(tzinfo=zone).astimezone(UTC),
                    )


def _transition_kind(naive: dt.datetime, zone: zoneinfo.ZoneInfo) -> Literal["gap", "ambiguous"] | None:
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    # In a gap, the resolved instant reads back as a different wall time.
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return "gap"
    return "ambiguous"
