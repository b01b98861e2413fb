"""Why a tree holds or not for one ticket now: each condition's path, the ticket's value for it, and
whether it holds (decided by the compiled program itself, so an explanation cannot disagree with it)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api.calendars import businesstime
from api.calendars.businesstime import Schedule
from api.conditions.compile import Bound, ChangeFacts, Row, metric_breached, metric_due
from api.conditions.fields import Duration
from api.conditions.tree import Constant, Group, Leaf, value_document


@dataclass(frozen=True, slots=True)
class ConditionExplanation:
    path: str
    field: str
    operator: str
    value: Any
    """The condition's value, as the rule stores it."""
    actual: Any
    """The ticket's value: the field's value; for durations, minutes (business minutes for business
    time; negative for a due instant already passed); for change facts, what the change did."""
    holds: bool | None
    """None for a change fact when no change is being explained (it is decided only by a change)."""


@dataclass(frozen=True, slots=True)
class GroupExplanation:
    path: str
    holds: bool


@dataclass(frozen=True, slots=True)
class Explanation:
    holds: bool
    conditions: list[ConditionExplanation]
    groups: list[GroupExplanation]


def _wire(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_wire(v) for v in value]
    return value


def _minutes(
    start: dt.datetime, end: dt.datetime, duration: Duration, schedules: Mapping[uuid.UUID, Schedule]
) -> float:
    """Minutes from ``start`` to ``end`` (negative when ``end`` is earlier), in the duration's time."""
    if start > end:
        return -_minutes(end, start, duration, schedules)
    if duration.calendar_id is None:
        return (end - start).total_seconds() / 60
    return businesstime.elapsed(schedules[duration.calendar_id], start, end).total_seconds() / 60


def _actual(
    leaf: Leaf,
    row: Row,
    now: dt.datetime,
    schedules: Mapping[uuid.UUID, Schedule],
    change: ChangeFacts | None,
) -> Any:
    field = leaf.field
    if leaf.kind == "change":
        if change is None:
            return None
        if field.type == "comment":
            comment = change.comment
            if comment is None:
                return None
            return {"visibility": "public" if comment.public else "internal", "author": comment.author_type}
        assert field.column is not None
        before = None if change.before is None else _wire(change.before[field.column])
        return {"previous": before, "current": _wire(row[field.column])}
    if field.type == "boolean":
        return bool(row["sla_breached"]) if field.metric is None else metric_breached(row, field.metric)
    if field.type == "duration":
        if field.name.startswith("since_"):
            assert field.column is not None
            since = row[field.column]
            return None if since is None else round(_minutes(since, now, leaf.value, schedules), 3)
        due = row["sla_due_at"] if field.metric is None else metric_due(row, field.metric)
        return None if due is None else round(_minutes(now, due, leaf.value, schedules), 3)
    assert field.column is not None
    return _wire(row[field.column])


def explain(
    bound: Bound,
    row: Row,
    schedules: Mapping[uuid.UUID, Schedule] | None = None,
    change: ChangeFacts | None = None,
) -> Explanation:
    schedules = schedules or {}
    conditions: list[ConditionExplanation] = []
    groups: list[GroupExplanation] = []

    def visit(group: Group, top: bool) -> None:
        if not top:
            groups.append(GroupExplanation(group.path, bound.node_holds(group, row, change)))
        for node in (*group.all, *group.any):
            if isinstance(node, Group):
                visit(node, False)
            elif isinstance(node, Leaf):
                undecided = node.kind == "change" and change is None
                conditions.append(
                    ConditionExplanation(
                        path=node.path,
                        field=node.field.name,
                        operator=node.operator,
                        value=value_document(node),
                        actual=_actual(node, row, bound.now, schedules, change),
                        holds=None if undecided else bound.node_holds(node, row, change),
                    )
                )
            else:
                assert isinstance(node, Constant)

    visit(bound.program.tree, True)
    return Explanation(bound.holds(row, change), conditions, groups)
