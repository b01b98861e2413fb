"""A condition tree compiled twice from one description: to a Python predicate over a ticket row and to a
SQL condition over ``tickets t`` with bound parameters.

Each condition's Python test and SQL text are written side by side below, so the two can be read against
each other (and ``tests/conditions/test_agreement.py`` holds them together on random tickets and trees
against PostgreSQL). The SQL's text depends only on the tree's shape — fields, operators, null or not —
never on its values, which are all parameters.

Time facts compare a column with an instant computed once, in Python, from *now* (and a business
calendar): "at least 4 business hours since created" holds exactly when ``created_at`` is at or before
the latest instant from which 4 business hours have passed by now
(:func:`api.calendars.businesstime.latest_start`). So the SQL stays an index-friendly comparison of a
column with a parameter, and business hours cost one calendar walk per query, not one per row.

Change facts (``status changed_to``, ``comment added``) describe a change; without one — a preview of
which tickets match now — they count as holding, in both compilations (``Program.change_paths`` names
them so a caller can say so).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from api.calendars import businesstime
from api.calendars.businesstime import Schedule
from api.conditions.fields import PRIORITY_RANK, CommentMatch, Duration
from api.conditions.tree import Constant, Group, Leaf, Node

Row = Mapping[str, Any]
"""A ticket as ``api.tickets.store.COLUMNS`` names its columns (or a hook's ``after`` dict)."""


class Params(Protocol):
    """Collects bound parameters and hands out their placeholders (``api.tickets.store.Params``)."""

    def add(self, value: Any, cast: str = "") -> str: ...


class CommentLike(Protocol):
    @property
    def public(self) -> bool: ...

    @property
    def author_type(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ChangeFacts:
    """What a change did, for change facts: the ticket before it (None: the change created it) and the
    comment it carries. To ask whether conditions held *before* a change, evaluate the earlier row with
    ``ChangeFacts(before=earlier_row)``: nothing changed there, so no change fact holds."""

    before: Row | None
    comment: CommentLike | None = None


class MissingCalendar(LookupError):
    """A condition counts business hours of a calendar that was not given (deleted since, say)."""

    def __init__(self, calendar_id: uuid.UUID) -> None:
        super().__init__(f"business calendar {calendar_id} does not exist")
        self.calendar_id = calendar_id


Instants = tuple[dt.datetime, ...]
PyTest = Callable[[Row, ChangeFacts | None, Instants], bool]
SqlText = Callable[[Params, Instants], str]


# -- The SLA document ---------------------------------------------------------------------------------


class _Metric(msgspec.Struct):
    metric: str
    due_at: dt.datetime | None = None
    fulfilled_at: dt.datetime | None = None
    breached_at: dt.datetime | None = None


class _Sla(msgspec.Struct):
    metrics: list[_Metric] = []


_decode_sla = msgspec.json.Decoder(_Sla).decode


def _metrics(row: Row) -> list[_Metric]:
    document = row["sla"]
    if document is None:
        return []
    if isinstance(document, (str, bytes)):
        return _decode_sla(document).metrics
    return msgspec.convert(document, _Sla).metrics


def metric_due(row: Row, metric: str) -> dt.datetime | None:
    """When the metric falls due; None when paused or fulfilled (or the ticket has no such metric)."""
    for found in _metrics(row):
        if found.metric == metric and found.fulfilled_at is None:
            return found.due_at
    return None


def metric_breached(row: Row, metric: str) -> bool:
    return bool(row["sla_breached"]) and any(
        m.metric == metric and m.breached_at is not None for m in _metrics(row)
    )


# The same facts in SQL: the first entry of the metric that is not fulfilled, as metric_due reads it.
_METRIC_DUE_SQL = (
    "(SELECT (m->>'due_at')::timestamptz FROM jsonb_array_elements(t.sla->'metrics') m "
    "WHERE m->>'metric' = {metric} AND m->>'fulfilled_at' IS NULL LIMIT 1)"
)
_METRIC_BREACHED_SQL = (
    "(t.sla_breached AND EXISTS (SELECT 1 FROM jsonb_array_elements(t.sla->'metrics') m "
    "WHERE m->>'metric' = {metric} AND m->>'breached_at' IS NOT NULL))"
)


# -- Conditions, one by one ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compiled:
    python: PyTest
    sql: SqlText


def _constant(holds: bool) -> Compiled:
    return Compiled(lambda row, change, instants: holds, lambda p, instants: "TRUE" if holds else "FALSE")


_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# Only ASCII letters fold: PostgreSQL's lower() depends on the database's collation, Python's does not,
# and a rule must match the same tickets in a preview (SQL) as when it fires (Python).
_FOLD_SQL = "translate(t.subject, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"


def _state(leaf: Leaf) -> Compiled:
    field, op, value = leaf.field, leaf.operator, leaf.value
    assert field.column is not None
    name: str = field.column
    column = f"t.{name}"
    if field.type == "enum" and field.name == "priority" and op in ("at_least", "less_than"):
        rank = PRIORITY_RANK[value]
        if op == "at_least":
            return Compiled(
                lambda r, c, i: PRIORITY_RANK[r["priority"]] >= rank,
                lambda p, i: f"t.priority_rank >= {p.add(rank)}",
            )
        return Compiled(
            lambda r, c, i: PRIORITY_RANK[r["priority"]] < rank,
            lambda p, i: f"t.priority_rank < {p.add(rank)}",
        )
    if field.type in ("enum", "id", "count"):
        cast = {"enum": "::text", "id": "::uuid", "count": "::integer"}[field.type]
        if op == "is" and value is None:
            return Compiled(lambda r, c, i: r[name] is None, lambda p, i: f"{column} IS NULL")
        if op == "is_not" and value is None:
            return Compiled(lambda r, c, i: r[name] is not None, lambda p, i: f"{column} IS NOT NULL")
        if op == "is":
            return Compiled(lambda r, c, i: r[name] == value, lambda p, i: f"{column} = {p.add(value, cast)}")
        if op == "is_not":
            return Compiled(
                lambda r, c, i: r[name] != value,
                lambda p, i: f"{column} IS DISTINCT FROM {p.add(value, cast)}",
            )
        if op == "in":
            return Compiled(
                lambda r, c, i: r[name] in value,
                lambda p, i: f"{column} = ANY({p.add(list(value), cast + '[]')})",
            )
        if op == "not_in":
            return Compiled(
                lambda r, c, i: r[name] not in value,
                lambda p, i: f"({column} IS NULL OR {column} <> ALL({p.add(list(value), cast + '[]')}))",
            )
        if op == "at_least":
            return Compiled(
                lambda r, c, i: r[name] >= value, lambda p, i: f"{column} >= {p.add(value, cast)}"
            )
        if op == "less_than":
            return Compiled(lambda r, c, i: r[name] < value, lambda p, i: f"{column} < {p.add(value, cast)}")
    if field.type == "tags":
        if op == "includes":
            return Compiled(
                lambda r, c, i: value in r["tags"], lambda p, i: f"t.tags @> ARRAY[{p.add(value, '::text')}]"
            )
        return Compiled(
            lambda r, c, i: value not in r["tags"],
            lambda p, i: f"NOT (t.tags @> ARRAY[{p.add(value, '::text')}])",
        )
    if field.type == "text":
        folded = value.translate(_FOLD)
        if op == "contains":
            return Compiled(
                lambda r, c, i: folded in r["subject"].translate(_FOLD),
                lambda p, i: f"strpos({_FOLD_SQL}, {p.add(folded, '::text')}) > 0",
            )
        return Compiled(
            lambda r, c, i: folded not in r["subject"].translate(_FOLD),
            lambda p, i: f"strpos({_FOLD_SQL}, {p.add(folded, '::text')}) = 0",
        )
    if field.type == "boolean":
        metric = field.metric
        test: Callable[[Row], bool]
        if metric is None:
            test = lambda r: bool(r["sla_breached"])  # noqa: E731
            sql: SqlText = lambda p, i: "t.sla_breached"  # noqa: E731
        else:
            test = lambda r: metric_breached(r, metric)  # noqa: E731
            sql = lambda p, i: _METRIC_BREACHED_SQL.format(metric=p.add(metric, "::text"))  # noqa: E731
        if value:
            return Compiled(lambda r, c, i: test(r), sql)
        return Compiled(lambda r, c, i: not test(r), lambda p, i: f"NOT {sql(p, i)}")
    raise AssertionError(f"no compilation for {field.name} {op}")


def _since(leaf: Leaf, k: int) -> Compiled:
    """``since_*``: at least / less than a duration since an instant ⇔ the instant is at or before / after
    the threshold ``instants[k]``. A ticket without the instant (never resolved, say) matches neither."""
    column = leaf.field.column
    assert column is not None
    if leaf.operator == "at_least":
        return Compiled(
            lambda r, c, i: r[column] is not None and r[column] <= i[k],
            lambda p, i: f"t.{column} <= {p.add(i[k], '::timestamptz')}",
        )
    return Compiled(
        lambda r, c, i: r[column] is not None and r[column] > i[k],
        lambda p, i: f"t.{column} > {p.add(i[k], '::timestamptz')}",
    )


def _until_due(leaf: Leaf, k: int) -> Compiled:
    """``until_sla_due*``: time left until the due instant is at least / less than a duration ⇔ the due
    instant is at or after / before the threshold ``instants[k]`` (now plus the duration)."""
    metric = leaf.field.metric
    at_least = leaf.operator == "at_least"
    if metric is None:
        if at_least:
            return Compiled(
                lambda r, c, i: r["sla_due_at"] is not None and r["sla_due_at"] >= i[k],
                lambda p, i: f"t.sla_due_at >= {p.add(i[k], '::timestamptz')}",
            )
        # The expression of ix_tickets_sla_due, so the planner can range-scan it.
        return Compiled(
            lambda r, c, i: r["sla_due_at"] is not None and r["sla_due_at"] < i[k],
            lambda p, i: f"coalesce(t.sla_due_at, 'infinity'::timestamptz) < {p.add(i[k], '::timestamptz')}",
        )

    def due(row: Row) -> dt.datetime | None:
        return metric_due(row, metric)

    if at_least:

        def at_least_sql(p: Params, i: Instants) -> str:
            return (
                f"{_METRIC_DUE_SQL.format(metric=p.add(metric, '::text'))} >= {p.add(i[k], '::timestamptz')}"
            )

        return Compiled(lambda r, c, i: (d := due(r)) is not None and d >= i[k], at_least_sql)

    def less_than_sql(p: Params, i: Instants) -> str:
        # A metric due before the threshold makes the ticket's earliest due instant earlier still: the
        # indexed column narrows the rows whose SLA document is read.
        threshold = p.add(i[k], "::timestamptz")
        due_sql = _METRIC_DUE_SQL.format(metric=p.add(metric, "::text"))
        return f"(coalesce(t.sla_due_at, 'infinity'::timestamptz) < {threshold} AND {due_sql} < {threshold})"

    return Compiled(
        lambda r, c, i: (
            r["sla_due_at"] is not None and r["sla_due_at"] < i[k] and (d := due(r)) is not None and d < i[k]
        ),
        less_than_sql,
    )


def _comment_matches(match: CommentMatch, comment: CommentLike | None) -> bool:
    if comment is None:
        return False
    if match.visibility is not None and comment.public != (match.visibility == "public"):
        return False
    return match.author is None or comment.author_type == match.author


def _change(leaf: Leaf) -> Compiled:
    """Change facts: decided by the change (``ChangeFacts``); without one they hold (see the module)."""
    op, value, column = leaf.operator, leaf.value, leaf.field.column

    def decide(row: Row, change: ChangeFacts) -> bool:
        if leaf.field.type == "comment":
            added = _comment_matches(value, change.comment)
            return added if op == "added" else not added
        assert column is not None
        before = change.before
        changed = before is None or before[column] != row[column]
        if op == "changed":
            return changed
        if op == "not_changed":
            return not changed
        if op == "changed_to":
            return changed and bool(row[column] == value)
        return before is not None and changed and bool(before[column] == value)  # changed_from

    return Compiled(lambda r, c, i: True if c is None else decide(r, c), lambda p, i: "TRUE")


# -- Trees ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Threshold:
    """How ``instants[k]`` is computed for a time condition."""

    duration: Duration
    backwards: bool
    """``since_*``: back from now; ``until_sla_due*``: forward from now."""

    def at(self, now: dt.datetime, schedules: Mapping[uuid.UUID, Schedule]) -> dt.datetime:
        duration = self.duration
        if duration.calendar_id is None:
            return now - duration.amount if self.backwards else now + duration.amount
        schedule = schedules.get(duration.calendar_id)
        if schedule is None:
            raise MissingCalendar(duration.calendar_id)
        try:
            if self.backwards:
                return businesstime.latest_start(schedule, now, duration.amount)
            return businesstime.add(schedule, now, duration.amount)
        except businesstime.NoOpenTime:
            # So little open time that the duration never passes: no instant is far enough.
            return businesstime.MIN_INSTANT if self.backwards else businesstime.MAX_INSTANT


class Program:
    """A compiled tree. ``at(now, schedules)`` fixes the instants its time facts compare with and gives
    a :class:`Bound` that decides rows in Python and renders SQL."""

    def __init__(self, tree: Group) -> None:
        self.tree = tree
        self._thresholds: list[_Threshold] = []
        self._compiled: dict[str, Compiled] = {}
        self._groups: dict[str, PyTest] = {}
        self.change_paths: tuple[str, ...] = tuple(
            leaf.path for leaf in tree.leaves() if leaf.kind == "change"
        )
        """Paths of change facts: decided only by a change (they hold in a preview)."""
        self._python = self._compile_python(tree)

    @property
    def calendar_ids(self) -> frozenset[uuid.UUID]:
        return frozenset(t.duration.calendar_id for t in self._thresholds if t.duration.calendar_id)

    def leaf(self, node: Leaf | Constant) -> Compiled:
        return self._compiled[node.path]

    def _compile_leaf(self, node: Leaf | Constant) -> Compiled:
        if isinstance(node, Constant):
            compiled = _constant(node.holds)
        elif node.kind == "change":
            compiled = _change(node)
        elif node.kind == "time":
            k = len(self._thresholds)
            since = node.field.name.startswith("since_")
            self._thresholds.append(_Threshold(node.value, backwards=since))
            compiled = _since(node, k) if since else _until_due(node, k)
        else:
            compiled = _state(node)
        self._compiled[node.path] = compiled
        return compiled

    def _compile_python(self, group: Group) -> PyTest:
        def compiled(node: Node) -> PyTest:
            return self._compile_python(node) if isinstance(node, Group) else self._compile_leaf(node).python

        all_of = tuple(compiled(n) for n in group.all)
        any_of = tuple(compiled(n) for n in group.any)

        def holds(row: Row, change: ChangeFacts | None, instants: Instants) -> bool:
            for test in all_of:
                if not test(row, change, instants):
                    return False
            if not any_of:
                return True
            return any(test(row, change, instants) for test in any_of)

        self._groups[group.path] = holds
        return holds

    def at(self, now: dt.datetime, schedules: Mapping[uuid.UUID, Schedule] | None = None) -> Bound:
        """Raises :class:`MissingCalendar` when a business-time condition's calendar is not given."""
        instants = tuple(t.at(now, schedules or {}) for t in self._thresholds)
        return Bound(self, now, instants)


@dataclass(frozen=True, slots=True)
class Bound:
    """A program at one instant: its time thresholds computed."""

    program: Program
    now: dt.datetime
    instants: Instants

    def holds(self, row: Row, change: ChangeFacts | None = None) -> bool:
        return self.program._python(row, change, self.instants)

    def node_holds(self, node: Node, row: Row, change: ChangeFacts | None = None) -> bool:
        if isinstance(node, Group):
            return self.program._groups[node.path](row, change, self.instants)
        return self.program.leaf(node).python(row, change, self.instants)

    def sql(self, params: Params) -> str:
        """The tree as a SQL condition over ``tickets t``, its values added to ``params``."""
        return self._group_sql(self.program.tree, params)

    def _group_sql(self, group: Group, params: Params) -> str:
        def text(node: Node) -> str:
            if isinstance(node, Group):
                return self._group_sql(node, params)
            return self.program.leaf(node).sql(params, self.instants)

        parts = []
        if group.all:
            parts.append("(" + " AND ".join(text(n) for n in group.all) + ")")
        if group.any:
            parts.append("(" + " OR ".join(text(n) for n in group.any) + ")")
        return "(" + " AND ".join(parts) + ")" if parts else "TRUE"


def compile_tree(tree: Group) -> Program:
    return Program(tree)


def state_test(node: Leaf | Constant) -> Callable[[Row], bool]:
    """A condition on stored facts alone, as a function of the ticket (SLA policies' conditions)."""
    if isinstance(node, Leaf) and node.kind != "state":
        raise ValueError(f"{node.field.name} {node.operator} is not decided by the ticket alone")
    python = _constant(node.holds).python if isinstance(node, Constant) else _state(node).python
    return lambda row: python(row, None, ())


def leaves_in_order(tree: Group) -> Sequence[Leaf | Constant]:
    found: list[Leaf | Constant] = []
    for node in (*tree.all, *tree.any):
        if isinstance(node, Group):
            found.extend(leaves_in_order(node))
        else:
            found.append(node)
    return found
