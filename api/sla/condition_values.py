"""Which values a policy condition can name: only values the ticket field can hold.

A condition that no ticket can ever meet (a tag with a space, a priority that does not exist) is a
mistake made at save time and found out weeks later, when tickets were never matched: refuse it then.
Each field is judged by the very type that guards what tickets can hold.
"""

from __future__ import annotations

import typing
import uuid

import msgspec

from api.sla.schemas import Condition
from api.tickets.schemas import Channel, Priority, Tag

# Policies compare these case-insensitively (api.sla.policies).
_CHOICES = {"priority": typing.get_args(Priority), "channel": typing.get_args(Channel)}


def value_problem(condition: Condition) -> str | None:
    """Why no ticket can hold ``condition.value`` in ``condition.field``; None when one can."""
    value = condition.value
    if condition.field == "tags":
        try:
            msgspec.convert(value, Tag)
        except msgspec.ValidationError:
            return (
                "no tag can hold this value: 1 to 64 characters, no white space, commas or control characters"
            )
        return None
    if condition.field in _CHOICES:
        choices = _CHOICES[condition.field]
        return None if value.lower() in choices else f"{condition.field} is one of {', '.join(choices)}"
    try:
        if str(uuid.UUID(value)) == value.lower():
            return None
    except ValueError:
        pass
    return f"{condition.field} is a UUID such as 3f1c8a52-7d0e-4b8e-9a51-2f6c0d9e4b11"
