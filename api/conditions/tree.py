"""A condition tree read from JSON and checked against the field catalog, every node with its JSON path.

    {"all": [{"field": "priority", "operator": "is", "value": "urgent"},
             {"any": [{"field": "tags", "operator": "includes", "value": "vip"},
                      {"field": "since_created", "operator": "at_least", "value": {"minutes": 240}}]}],
     "any": []}

A tree (and each group in it) holds when every ``all`` node holds and, if ``any`` is not empty, at least
one ``any`` node does. Groups nest one level: a group's nodes are conditions. Everything wrong with a tree
is reported at once, each problem at its JSON path (``$.conditions.all[1].any[0].value.minutes``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from api.conditions.fields import FIELDS, AnyTrigger, BadValue, Field, Trigger, allowed
from api.errors import FieldError, Unprocessable

MAX_CONDITIONS = 100
"""Conditions in one tree, groups' included."""


@dataclass(frozen=True, slots=True)
class Leaf:
    """One condition: ``field operator value``, with its normalised value and its JSON path."""

    path: str
    field: Field
    operator: str
    value: Any

    @property
    def kind(self) -> str:
        return self.field.operators[self.operator].kind


@dataclass(frozen=True, slots=True)
class Constant:
    """A condition decided when read (an SLA policy naming an id that cannot exist)."""

    path: str
    holds: bool


@dataclass(frozen=True, slots=True)
class Group:
    path: str
    all: tuple[Node, ...] = ()
    any: tuple[Node, ...] = ()

    def leaves(self) -> list[Leaf]:
        found: list[Leaf] = []
        for node in (*self.all, *self.any):
            if isinstance(node, Group):
                found.extend(node.leaves())
            elif isinstance(node, Leaf):
                found.append(node)
        return found


Node = Leaf | Constant | Group
EMPTY = Group("$.conditions")


class _Reader:
    def __init__(self, trigger: Trigger | AnyTrigger | None) -> None:
        self.trigger = trigger
        self.errors: list[FieldError] = []
        self.count = 0

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError("body", path, message))

    def group(self, raw: Any, path: str, *, nested: bool) -> Group:
        if not isinstance(raw, dict):
            self.error(path, 'must be an object: {"all": [...], "any": [...]}')
            return Group(path)
        for key in sorted(set(raw) - {"all", "any"}):
            if key in ("field", "operator", "value") and not nested:
                self.error(f"{path}.{key}", 'a tree holds conditions in "all" and "any" lists')
            else:
                self.error(f"{path}.{key}", "unknown field")
        lists: dict[str, tuple[Node, ...]] = {}
        for name in ("all", "any"):
            items = raw.get(name, [])
            if not isinstance(items, list):
                self.error(f"{path}.{name}", "must be a list")
                items = []
            lists[name] = tuple(
                self.node(item, f"{path}.{name}[{i}]", nested) for i, item in enumerate(items)
            )
        return Group(path, lists["all"], lists["any"])

    def node(self, raw: Any, path: str, nested: bool) -> Node:
        if isinstance(raw, dict) and ("all" in raw or "any" in raw) and "field" not in raw:
            if nested:
                self.error(path, "groups nest one level: a group's entries are conditions")
                return Constant(path, True)
            return self.group(raw, path, nested=True)
        return self.leaf(raw, path)

    def leaf(self, raw: Any, path: str) -> Node:
        self.count += 1
        if self.count == MAX_CONDITIONS + 1:
            self.error(path, f"a tree holds at most {MAX_CONDITIONS} conditions")
        if not isinstance(raw, dict):
            self.error(path, 'must be a condition {"field", "operator", "value"} or a group {"all", "any"}')
            return Constant(path, True)
        for key in sorted(set(raw) - {"field", "operator", "value"}):
            self.error(f"{path}.{key}", "unknown field")
        name, operator_name = raw.get("field"), raw.get("operator")
        field = FIELDS.get(name) if isinstance(name, str) else None
        if field is None:
            self.error(f"{path}.field", "unknown field name (GET /v1/rules/fields lists them)")
            return Constant(path, True)
        if not any(allowed(kind, self.trigger) for kind in field.kinds):
            self.error(f"{path}.field", _refused(field, self.trigger))
            return Constant(path, True)
        operator = field.operators.get(operator_name) if isinstance(operator_name, str) else None
        if operator is None:
            fitting = [op.name for op in field.operators.values() if allowed(op.kind, self.trigger)]
            self.error(f"{path}.operator", f"{field.name} takes {', '.join(fitting)}")
            return Constant(path, True)
        if not allowed(operator.kind, self.trigger):
            self.error(f"{path}.operator", _refused(field, self.trigger, operator.name))
            return Constant(path, True)
        try:
            value = operator.read(raw.get("value"))
        except BadValue as error:
            self.error(f"{path}.value{error.where}", f"{field.name} {operator.name}: {error.message}")
            return Constant(path, True)
        return Leaf(path, field, operator.name, value)


def _refused(field: Field, trigger: Trigger | AnyTrigger | None, operator: str | None = None) -> str:
    what = f"{field.name} {operator}" if operator else field.name
    if trigger == "on_change":
        return f"{what} is a time fact: on_change rules fire on changes, use an on_time rule"
    if trigger == "on_time":
        return f"{what} is a fact about a change: only on_change rules can use it"
    return f"{what} cannot be used here (only facts stored on the ticket)"


def parse(raw: Any, trigger: Trigger | None, path: str = "$.conditions") -> Group:
    """Read and check a condition tree for a rule of ``trigger``; raises :class:`Unprocessable` listing
    every problem with its path."""
    reader = _Reader(trigger)
    tree = reader.group(raw if raw is not None else {}, path, nested=False)
    if reader.errors:
        raise Unprocessable("The conditions are not valid.", errors=reader.errors)
    return tree


def errors_of(raw: Any, trigger: Trigger | AnyTrigger | None, path: str = "$.conditions") -> list[FieldError]:
    """The problems :func:`parse` would report (empty: the tree is valid); with ``trigger="any"``, the
    problems a tree has whatever its rule's trigger."""
    reader = _Reader(trigger)
    reader.group(raw if raw is not None else {}, path, nested=False)
    return reader.errors


def value_document(leaf: Leaf) -> Any:
    value = leaf.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, tuple):
        return [str(v) if isinstance(v, uuid.UUID) else v for v in value]
    if hasattr(value, "document"):
        return value.document()
    return value


def document(tree: Group) -> dict[str, Any]:
    """The tree as stored and answered: normalised (ids lower-case, durations with ``time``, lists
    without repeats), so equal trees are equal documents."""

    def node(item: Node) -> dict[str, Any]:
        if isinstance(item, Group):
            return {"all": [node(n) for n in item.all], "any": [node(n) for n in item.any]}
        assert isinstance(item, Leaf)
        return {"field": item.field.name, "operator": item.operator, "value": value_document(item)}

    return node(tree)


def calendar_ids(tree: Group) -> frozenset[uuid.UUID]:
    """The business calendars the tree's time facts count in."""
    return frozenset(
        leaf.value.calendar_id
        for leaf in tree.leaves()
        if leaf.field.type == "duration" and leaf.value.calendar_id is not None
    )
