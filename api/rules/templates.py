"""Message templates of rule actions: text with ``{{placeholder}}`` fields filled from the ticket.

Placeholders are checked when a rule is saved, so a typo is a 422 with the action's path, never a
message that reads "Dear {{requster.name}}" to a customer. A value the ticket lacks (no assignee) renders
as empty text. There is no escaping: a template cannot contain ``{{`` or ``}}`` other than around a
placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Row = Mapping[str, Any]


def _text(column: str) -> Callable[[Row], str]:
    def read(row: Row) -> str:
        value = row.get(column)
        return "" if value is None else str(value)

    return read


PLACEHOLDERS: dict[str, Callable[[Row], str]] = {
    "ticket.id": _text("id"),
    "ticket.subject": _text("subject"),
    "ticket.status": _text("status"),
    "ticket.priority": _text("priority"),
    "ticket.channel": _text("channel"),
    "ticket.tags": lambda row: ", ".join(row.get("tags") or ()),
    "ticket.created_at": lambda row: "" if row.get("created_at") is None else row["created_at"].isoformat(),
    "requester.name": _text("requester_name"),
    "requester.email": _text("requester_email"),
    "assignee.name": _text("assignee_name"),
    "assignee.email": _text("assignee_email"),
    "group.name": _text("group_name"),
}
"""Each placeholder and how it reads a ticket row (``api.tickets.store.COLUMNS``)."""

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def problems(template: str) -> list[str]:
    """What is wrong with a template (empty: nothing)."""
    found = []
    unknown = sorted({m.strip() for m in _PLACEHOLDER.findall(template)} - set(PLACEHOLDERS))
    if unknown:
        found.append(f"unknown placeholders: {', '.join('{{' + name + '}}' for name in unknown)}")
    rest = _PLACEHOLDER.sub("", template)
    if "{{" in rest or "}}" in rest:
        found.append("a {{ without its }} (or the reverse)")
    return found


def render(template: str, row: Row) -> str:
    """The template filled from the ticket; assumes :func:`problems` found nothing."""
    return _PLACEHOLDER.sub(lambda m: PLACEHOLDERS[m.group(1).strip()](row), template)
