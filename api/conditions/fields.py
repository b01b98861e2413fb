"""The field catalog: every field a condition can name, the operators that fit it, and the value each
operator takes.

Three kinds of operator, by what they need to be decided:

- ``state``: the ticket row alone (status, tags, stored SLA breach flags…); any rule, and SLA policies.
- ``time``: the row and *now* (hours since created, minutes until an SLA metric falls due); ``on_time``
  rules only, because an ``on_change`` rule fires on the change that makes its conditions hold, and time
  passing is not a change.
- ``change``: what the change being made did (status changed to…, carries a public customer message);
  ``on_change`` rules only.

Each operator reads its JSON value with a :data:`Reader` that returns the normalised value or raises
:class:`BadValue`; the catalog is data, so the validation, the compilers and the published list of fields
(``GET /v1/rules/fields``) cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import msgspec

from api.tickets.schemas import Channel, Priority, Status, Tag

Kind = Literal["state", "time", "change"]
Trigger = Literal["on_change", "on_time"]
AnyTrigger = Literal["any"]
"""For checking a tree before its rule's trigger is known: facts of every kind are accepted."""

STATUSES: tuple[str, ...] = get_args(Status)
PRIORITIES: tuple[str, ...] = get_args(Priority)
CHANNELS: tuple[str, ...] = get_args(Channel)
PRIORITY_RANK = {name: rank for rank, name in enumerate(PRIORITIES)}
"""As ``tickets.priority_rank`` stores it (``api.tickets.models.PRIORITY_RANK_SQL``)."""
METRICS = ("first_response", "next_response", "periodic_update", "resolution")
"""The SLA metrics a ticket's ``sla`` document can hold (``api.sla.schemas.MetricName``)."""
AUTHORS = ("customer", "agent", "system")

MAX_MINUTES = 5 * 525_600
"""Durations up to five years: far enough back for "since resolved", near enough to walk a calendar."""
MAX_LIST = 50


class BadValue(ValueError):
    """A value that does not fit its operator; ``where`` is the JSON path below ``value`` (``.minutes``)."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where


Reader = Callable[[Any], Any]
"""Reads an operator's JSON value into its normalised form, or raises :class:`BadValue`."""


@dataclass(frozen=True, slots=True)
class Duration:
    """A span of calendar time, or of the open hours of a business calendar."""

    minutes: int
    calendar_id: uuid.UUID | None = None
    """None: calendar time."""

    @property
    def amount(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.minutes)

    def document(self) -> dict[str, Any]:
        if self.calendar_id is None:
            return {"minutes": self.minutes, "time": "calendar"}
        return {"minutes": self.minutes, "time": "business", "calendar_id": str(self.calendar_id)}


@dataclass(frozen=True, slots=True)
class CommentMatch:
    """Which comment a change must carry: ``public``/``internal`` (None: either), by whom (None: anyone)."""

    visibility: Literal["public", "internal"] | None = None
    author: str | None = None

    def document(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if self.visibility is not None:
            found["visibility"] = self.visibility
        if self.author is not None:
            found["author"] = self.author
        return found


# -- Readers ---------------------------------------------------------------------------------------------


def _one_of(values: tuple[str, ...]) -> Reader:
    def read(raw: Any) -> str:
        if not isinstance(raw, str) or raw not in values:
            raise BadValue(f"must be one of {', '.join(values)}")
        return raw

    return read


def _list_of(item: Reader) -> Reader:
    def read(raw: Any) -> tuple[Any, ...]:
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_LIST:
            raise BadValue(f"must be a list of 1 to {MAX_LIST} values")
        found = []
        for i, value in enumerate(raw):
            try:
                found.append(item(value))
            except BadValue as error:
                raise BadValue(error.message, f"[{i}]{error.where}") from None
        return tuple(dict.fromkeys(found))

    return read


def _uuid(raw: Any) -> uuid.UUID:
    if isinstance(raw, str):
        try:
            return uuid.UUID(raw)
        except ValueError:
            pass
    raise BadValue("must be an id (a UUID)")


def _uuid_or_none(raw: Any) -> uuid.UUID | None:
    return None if raw is None else _uuid(raw)


def _nothing(raw: Any) -> None:
    if raw is not None:
        raise BadValue("takes no value (omit it or send null)")


def _tag(raw: Any) -> str:
    try:
        return msgspec.convert(raw, Tag)
    except msgspec.ValidationError:
        raise BadValue(
            "must be a tag: 1 to 64 characters, no white space, commas or control characters"
        ) from None


def _text(raw: Any) -> str:
    if not isinstance(raw, str) or not 1 <= len(raw) <= 200 or "\x00" in raw:
        raise BadValue("must be text of 1 to 200 characters")
    return raw


def _count(raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= 1_000_000:
        raise BadValue("must be a whole number from 0 to 1000000")
    return raw


def _boolean(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise BadValue("must be true or false")
    return raw


def _duration(raw: Any) -> Duration:
    if not isinstance(raw, dict):
        raise BadValue('must be an object such as {"minutes": 240, "time": "business", "calendar_id": "…"}')
    unknown = sorted(set(raw) - {"minutes", "time", "calendar_id"})
    if unknown:
        raise BadValue("unknown field", f".{unknown[0]}")
    minutes = raw.get("minutes")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= MAX_MINUTES:
        raise BadValue(f"must be a whole number of minutes from 1 to {MAX_MINUTES}", ".minutes")
    time = raw.get("time", "calendar")
    if time not in ("calendar", "business"):
        raise BadValue("must be calendar or business", ".time")
    calendar_id = raw.get("calendar_id")
    if time == "calendar":
        if calendar_id is not None:
            raise BadValue("only business time names a calendar", ".calendar_id")
        return Duration(minutes)
    if calendar_id is None:
        raise BadValue("business time needs the business calendar's id", ".calendar_id")
    try:
        return Duration(minutes, _uuid(calendar_id))
    except BadValue as error:
        raise BadValue(error.message, ".calendar_id") from None


def _comment(raw: Any) -> CommentMatch:
    if raw is None:
        return CommentMatch()
    if not isinstance(raw, dict):
        raise BadValue('must be an object such as {"visibility": "public", "author": "customer"}')
    unknown = sorted(set(raw) - {"visibility", "author"})
    if unknown:
        raise BadValue("unknown field", f".{unknown[0]}")
    visibility, author = raw.get("visibility"), raw.get("author")
    if visibility not in (None, "public", "internal"):
        raise BadValue("must be public or internal (omit it for either)", ".visibility")
    if author is not None and author not in AUTHORS:
        raise BadValue(f"must be one of {', '.join(AUTHORS)} (omit it for anyone)", ".author")
    return CommentMatch(visibility, author)


# -- The catalog -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    kind: Kind
    read: Reader
    value: str
    """What the value is, for people and the published catalog."""


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str
    """``enum``, ``id``, ``tags``, ``text``, ``count``, ``boolean``, ``duration`` or ``comment``."""
    description: str
    operators: Mapping[str, Operator]
    column: str | None = None
    """The ticket column the field reads (None for facts computed from the SLA document or a change)."""
    values: tuple[str, ...] = ()
    """An enum's values."""
    metric: str | None = None
    """For SLA facts: the metric (None: any metric, from the ticket's summary columns)."""
    kinds: frozenset[Kind] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(op.kind for op in self.operators.values()))


def _ops(*operators: Operator) -> dict[str, Operator]:
    return {op.name: op for op in operators}


def _changes(read: Reader, value: str) -> tuple[Operator, ...]:
    return (
        Operator("changed", "change", _nothing, "none"),
        Operator("not_changed", "change", _nothing, "none"),
        Operator("changed_to", "change", read, value),
        Operator("changed_from", "change", read, value),
    )


def _enum(name: str, values: tuple[str, ...], description: str, *, ordered: bool = False) -> Field:
    one, many = _one_of(values), _list_of(_one_of(values))
    operators = [
        Operator("is", "state", one, "one value"),
        Operator("is_not", "state", one, "one value"),
        Operator("in", "state", many, "a list of values"),
        Operator("not_in", "state", many, "a list of values"),
    ]
    if ordered:
        operators += [
            Operator("at_least", "state", one, "one value (compared in the order listed)"),
            Operator("less_than", "state", one, "one value (compared in the order listed)"),
        ]
    if name != "channel":
        operators += _changes(one, "one value")
    return Field(name, "enum", description, _ops(*operators), column=name, values=values)


def _reference(name: str, description: str, *, nullable: bool, changes: bool) -> Field:
    one = _uuid_or_none if nullable else _uuid
    shape = "an id, or null for none" if nullable else "an id"
    operators = [
        Operator("is", "state", one, shape),
        Operator("is_not", "state", one, shape),
        Operator("in", "state", _list_of(_uuid), "a list of ids"),
        Operator("not_in", "state", _list_of(_uuid), "a list of ids"),
    ]
    if changes:
        operators += _changes(one, shape)
    return Field(name, "id", description, _ops(*operators), column=name)


_DURATION = "a duration: {minutes, time: calendar|business, calendar_id}"


def _since(name: str, column: str, description: str) -> Field:
    operators = _ops(
        Operator("at_least", "time", _duration, _DURATION),
        Operator("less_than", "time", _duration, _DURATION),
    )
    return Field(name, "duration", description, operators, column=column)


def _until_due(metric: str | None) -> Field:
    operators = _ops(
        Operator("at_least", "time", _duration, _DURATION),
        Operator("less_than", "time", _duration, _DURATION),
    )
    which = "any running SLA metric" if metric is None else f"the SLA metric {metric}"
    name = "until_sla_due" if metric is None else f"until_sla_due.{metric}"
    description = (
        f"Time left until {which} falls due (negative once overdue); a paused or fulfilled metric has "
        "no due instant, and then neither operator holds."
    )
    return Field(name, "duration", description, operators, column="sla_due_at", metric=metric)


def _breached(metric: str | None) -> Field:
    which = "any SLA metric" if metric is None else f"the SLA metric {metric}"
    name = "sla_breached" if metric is None else f"sla_breached.{metric}"
    description = f"Whether {which} passed its due instant unfulfilled (the ticket's stored SLA state)."
    return Field(
        name,
        "boolean",
        description,
        _ops(Operator("is", "state", _boolean, "true or false")),
        column="sla_breached",
        metric=metric,
    )


_FIELDS: tuple[Field, ...] = (
    _enum("status", STATUSES, "The ticket's status."),
    _enum(
        "priority", PRIORITIES, "The ticket's priority; ordered low < normal < high < urgent.", ordered=True
    ),
    _enum("channel", CHANNELS, "How the ticket reached the helpdesk."),
    _reference("group_id", "The ticket's group (null: none).", nullable=True, changes=True),
    _reference("assignee_id", "The ticket's assignee (null: unassigned).", nullable=True, changes=True),
    _reference("requester_id", "The ticket's requester.", nullable=False, changes=False),
    Field(
        "tags",
        "tags",
        "The ticket's tags (exact, case-sensitive).",
        _ops(Operator("includes", "state", _tag, "a tag"), Operator("excludes", "state", _tag, "a tag")),
        column="tags",
    ),
    Field(
        "subject",
        "text",
        "The ticket's subject; compared ignoring the case of ASCII letters.",
        _ops(Operator("contains", "state", _text, "text"), Operator("not_contains", "state", _text, "text")),
        column="subject",
    ),
    Field(
        "comment_count",
        "count",
        "How many comments the ticket has (the initial message, replies and internal notes).",
        _ops(
            Operator("is", "state", _count, "a whole number"),
            Operator("is_not", "state", _count, "a whole number"),
            Operator("at_least", "state", _count, "a whole number"),
            Operator("less_than", "state", _count, "a whole number"),
        ),
        column="comment_count",
    ),
    _breached(None),
    *(_breached(metric) for metric in METRICS),
    _since("since_created", "created_at", "Time since the ticket was created."),
    _since("since_updated", "updated_at", "Time since the ticket was last updated."),
    _since(
        "since_resolved",
        "resolved_at",
        "Time since the ticket was resolved; only resolved and closed tickets have it (a reopen clears it).",
    ),
    _since("since_status_changed", "status_changed_at", "Time since the ticket's status last changed."),
    _since(
        "since_last_customer_message",
        "last_customer_message_at",
        "Time since the customer's last message (the initial one included).",
    ),
    _since(
        "since_last_agent_reply",
        "last_agent_reply_at",
        "Time since an agent's last public reply; tickets without one have none.",
    ),
    _until_due(None),
    *(_until_due(metric) for metric in METRICS),
    Field(
        "comment",
        "comment",
        "Whether the change carries a comment, optionally only a public or internal one, by whom.",
        _ops(
            Operator(
                "added", "change", _comment, "{visibility?: public|internal, author?: customer|agent|system}"
            ),
            Operator(
                "not_added",
                "change",
                _comment,
                "{visibility?: public|internal, author?: customer|agent|system}",
            ),
        ),
    ),
)

FIELDS: Mapping[str, Field] = {f.name: f for f in _FIELDS}


def allowed(kind: Kind, trigger: Trigger | AnyTrigger | None) -> bool:
    """Whether an operator of ``kind`` may be used by a rule of ``trigger`` (None: SLA policies)."""
    if kind == "state" or trigger == "any":
        return True
    return (kind == "time" and trigger == "on_time") or (kind == "change" and trigger == "on_change")
