"""The compiled Python predicate: time facts mean what they say (the threshold instant is exact, in
calendar and business time), change facts are decided by the change, and SLA facts read the document."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.calendars import businesstime
from api.conditions.compile import ChangeFacts, MissingCalendar, compile_tree
from api.conditions.explain import explain
from api.conditions.tree import parse
from tests.calendars.test_businesstime import minute_instants, schedules

UTC = dt.UTC
CAL = uuid.uuid4()
NOW = dt.datetime(2025, 6, 4, 15, 0, tzinfo=UTC)  # a Wednesday
FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def leaf(field: str, operator: str, value: object = None) -> dict[str, object]:
    return {"field": field, "operator": operator, "value": value}


def ticket(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": 1,
        "subject": "Cannot log in",
        "status": "open",
        "priority": "normal",
        "channel": "email",
        "group_id": None,
        "assignee_id": None,
        "requester_id": uuid.uuid4(),
        "tags": [],
        "comment_count": 1,
        "created_at": NOW - dt.timedelta(days=1),
        "updated_at": NOW - dt.timedelta(hours=1),
        "resolved_at": None,
        "status_changed_at": NOW - dt.timedelta(days=1),
        "last_customer_message_at": NOW - dt.timedelta(days=1),
        "last_agent_reply_at": None,
        "sla": None,
        "sla_due_at": None,
        "sla_breached": False,
    }
    row.update(fields)
    return row


def holds(
    tree: dict[str, Any], row: dict[str, Any], *, trigger: str = "on_time", now: dt.datetime = NOW, **kw: Any
) -> bool:
    program = compile_tree(parse(tree, trigger))  # type: ignore[arg-type]
    return program.at(now, kw.pop("schedules", None)).holds(row, kw.pop("change", None))


def signed_elapsed(schedule: businesstime.Schedule, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    if start > end:
        return -businesstime.elapsed(schedule, end, start)
    return businesstime.elapsed(schedule, start, end)


@FAST
@given(st.data(), schedules(), minute_instants(), st.integers(1, 3 * 1440), st.integers(-(10**12), 10**11))
def test_business_time_since_holds_exactly_when_that_much_business_time_passed(
    data, schedule, now, minutes, offset
):
    """``since_* at_least D`` ⇔ the business time from the instant to now is at least D; ``less_than`` is
    its complement for a ticket that has the instant."""
    if data.draw(st.booleans()):  # right at the threshold, or a microsecond either side
        try:
            start = businesstime.latest_start(schedule, now, dt.timedelta(minutes=minutes))
        except businesstime.NoOpenTime:
            start = now
        start += dt.timedelta(microseconds=data.draw(st.sampled_from([-1, 0, 1])))
    else:
        start = now + dt.timedelta(microseconds=offset)
    duration = {"minutes": minutes, "time": "business", "calendar_id": str(CAL)}
    row = ticket(updated_at=start)
    at_least = holds(
        {"all": [leaf("since_updated", "at_least", duration)]}, row, now=now, schedules={CAL: schedule}
    )
    less = holds(
        {"all": [leaf("since_updated", "less_than", duration)]}, row, now=now, schedules={CAL: schedule}
    )
    assert at_least == (signed_elapsed(schedule, start, now) >= dt.timedelta(minutes=minutes))
    assert less == (not at_least)


@FAST
@given(st.data(), schedules(), minute_instants(), st.integers(1, 3 * 1440), st.integers(-(10**11), 10**12))
def test_business_time_until_due_holds_exactly_when_that_much_business_time_is_left(
    data, schedule, now, minutes, offset
):
    if data.draw(st.booleans()):
        try:
            due = businesstime.add(schedule, now, dt.timedelta(minutes=minutes))
        except businesstime.NoOpenTime:
            due = now
        due += dt.timedelta(microseconds=data.draw(st.sampled_from([-1, 0, 1])))
    else:
        due = now + dt.timedelta(microseconds=offset)
    duration = {"minutes": minutes, "time": "business", "calendar_id": str(CAL)}
    row = ticket(sla_due_at=due)
    less = holds(
        {"all": [leaf("until_sla_due", "less_than", duration)]}, row, now=now, schedules={CAL: schedule}
    )
    at_least = holds(
        {"all": [leaf("until_sla_due", "at_least", duration)]}, row, now=now, schedules={CAL: schedule}
    )
    assert less == (signed_elapsed(schedule, now, due) < dt.timedelta(minutes=minutes))
    assert at_least == (not less)


def test_calendar_time_thresholds_are_exact_to_the_microsecond():
    tree = {"all": [leaf("since_created", "at_least", {"minutes": 60})]}
    hour_ago = NOW - dt.timedelta(hours=1)
    assert holds(tree, ticket(created_at=hour_ago))
    assert not holds(tree, ticket(created_at=hour_ago + dt.timedelta(microseconds=1)))
    # Without the instant, neither operator holds.
    for operator in ("at_least", "less_than"):
        assert not holds({"all": [leaf("since_resolved", operator, {"minutes": 1})]}, ticket())
        assert not holds({"all": [leaf("until_sla_due", operator, {"minutes": 1})]}, ticket())


def test_a_calendar_that_is_not_given_is_missing():
    program = compile_tree(
        parse(
            {
                "all": [
                    leaf(
                        "since_created",
                        "at_least",
                        {"minutes": 5, "time": "business", "calendar_id": str(CAL)},
                    )
                ]
            },
            "on_time",
        )
    )
    assert program.calendar_ids == {CAL}
    with pytest.raises(MissingCalendar):
        program.at(NOW, {})


def _sla(*metrics: dict[str, Any]) -> str:
    return msgspec.json.encode({"policy_id": str(uuid.uuid4()), "metrics": list(metrics)}).decode()


def test_sla_facts_per_metric():
    due = NOW + dt.timedelta(minutes=20)
    row = ticket(
        sla=_sla(
            {"metric": "first_response", "due_at": due, "fulfilled_at": None, "breached_at": None},
            {
                "metric": "resolution",
                "due_at": NOW - dt.timedelta(hours=1),
                "fulfilled_at": None,
                "breached_at": NOW - dt.timedelta(hours=1),
            },
            {"metric": "next_response", "due_at": NOW, "fulfilled_at": NOW, "breached_at": None},
        ),
        sla_due_at=NOW - dt.timedelta(hours=1),
        sla_breached=True,
    )
    half_hour = {"minutes": 30}
    assert holds({"all": [leaf("until_sla_due.first_response", "less_than", half_hour)]}, row)
    assert not holds({"all": [leaf("until_sla_due.first_response", "at_least", half_hour)]}, row)
    assert holds({"all": [leaf("until_sla_due.first_response", "at_least", {"minutes": 20})]}, row)
    # Fulfilled: no due instant.
    assert not holds({"all": [leaf("until_sla_due.next_response", "less_than", half_hour)]}, row)
    assert holds({"all": [leaf("sla_breached.resolution", "is", True)]}, row)
    assert holds({"all": [leaf("sla_breached.first_response", "is", False)]}, row)
    assert holds({"all": [leaf("sla_breached", "is", True)]}, row)
    assert not holds({"all": [leaf("sla_breached.periodic_update", "is", True)]}, row)


def test_change_facts_are_decided_by_the_change():
    before = ticket(status="open", assignee_id=None)
    after = ticket(status="resolved", assignee_id=uuid.uuid4())

    class Comment:
        public = True
        author_type = "customer"

    def on_change(tree: dict[str, Any], row: dict[str, Any], change: ChangeFacts | None) -> bool:
        return holds(tree, row, trigger="on_change", change=change)

    change = ChangeFacts(before=before, comment=Comment())
    assert on_change({"all": [leaf("status", "changed_to", "resolved")]}, after, change)
    assert on_change({"all": [leaf("status", "changed_from", "open")]}, after, change)
    assert not on_change({"all": [leaf("status", "changed_from", "pending")]}, after, change)
    assert on_change({"all": [leaf("assignee_id", "changed_from", None)]}, after, change)
    assert on_change({"all": [leaf("priority", "not_changed")]}, after, change)
    assert on_change(
        {"all": [leaf("comment", "added", {"visibility": "public", "author": "customer"})]}, after, change
    )
    assert not on_change({"all": [leaf("comment", "added", {"visibility": "internal"})]}, after, change)
    assert on_change({"all": [leaf("comment", "not_added", {"author": "agent"})]}, after, change)
    # Before the change nothing changed: no change fact holds.
    nothing = ChangeFacts(before=before)
    assert not on_change({"all": [leaf("status", "changed")]}, before, nothing)
    assert not on_change({"all": [leaf("comment", "added")]}, before, nothing)
    # Creation: every field changed from nothing.
    created = ChangeFacts(before=None)
    assert on_change({"all": [leaf("status", "changed_to", "resolved")]}, after, created)
    assert not on_change({"all": [leaf("status", "changed_from", "open")]}, after, created)
    # A preview (no change): change facts count as holding.
    assert on_change({"all": [leaf("status", "changed_to", "new")]}, after, None)


def test_state_fields():
    agent, group = uuid.uuid4(), uuid.uuid4()
    row = ticket(
        priority="high",
        assignee_id=agent,
        group_id=None,
        tags=["vip"],
        subject="REFUND für Straße",
        comment_count=3,
    )
    cases = [
        (leaf("priority", "at_least", "high"), True),
        (leaf("priority", "less_than", "high"), False),
        (leaf("priority", "in", ["low", "high"]), True),
        (leaf("group_id", "is", None), True),
        (leaf("group_id", "is_not", str(group)), True),
        (leaf("group_id", "not_in", [str(group)]), True),
        (leaf("group_id", "in", [str(group)]), False),
        (leaf("assignee_id", "is", str(agent).upper()), True),
        (leaf("tags", "includes", "vip"), True),
        (leaf("tags", "excludes", "VIP"), True),
        (leaf("subject", "contains", "refund"), True),
        (leaf("subject", "contains", "FÜR"), False),  # only ASCII letters fold
        (leaf("subject", "not_contains", "strasse"), True),
        (leaf("comment_count", "at_least", 3), True),
        (leaf("comment_count", "less_than", 3), False),
    ]
    for condition, expected in cases:
        assert holds({"all": [condition]}, row) == expected, condition
    assert holds({"all": [], "any": [c for c, expected in cases if not expected] + [cases[0][0]]}, row)
    assert not holds({"any": [c for c, expected in cases if not expected]}, row)


def test_explain_gives_each_conditions_value_and_verdict():
    row = ticket(created_at=NOW - dt.timedelta(minutes=90), sla_due_at=NOW - dt.timedelta(minutes=5))
    tree = parse(
        {
            "all": [leaf("since_created", "at_least", {"minutes": 60})],
            "any": [
                {"all": [leaf("until_sla_due", "less_than", {"minutes": 10})], "any": []},
                leaf("tags", "includes", "vip"),
            ],
        },
        "on_time",
    )
    found = explain(compile_tree(tree).at(NOW), row)
    assert found.holds
    assert [(c.path, c.actual, c.holds) for c in found.conditions] == [
        ("$.conditions.all[0]", 90.0, True),
        ("$.conditions.any[0].all[0]", -5.0, True),
        ("$.conditions.any[1]", [], False),
    ]
    assert [(g.path, g.holds) for g in found.groups] == [("$.conditions.any[0]", True)]
