"""The ticket lifecycle: every status rule in one place, as pure functions over a ticket's state.

Services ask this module what a change or a comment does to a ticket; it answers with the resulting
status and assignee (and what happened: opened, resolved, reopened, closed) or refuses with
:class:`~api.errors.InvalidTransition` naming the rule (or, for a comment no ticket could take, with
:class:`~api.errors.Unprocessable`). Nothing here touches the database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from api.errors import FieldError, InvalidTransition, Unprocessable

NEW, OPEN, PENDING, ON_HOLD, RESOLVED, CLOSED = "new", "open", "pending", "on_hold", "resolved", "closed"
STATUSES: Final = (NEW, OPEN, PENDING, ON_HOLD, RESOLVED, CLOSED)
REOPENED_BY_CUSTOMER: Final = frozenset({PENDING, ON_HOLD, RESOLVED})

# Rule names, as reported in the 409 problem's ``rule`` field.
NEVER_BACK_TO_NEW = "never-back-to-new"
CLOSED_IS_TERMINAL = "closed-is-terminal"
CLOSE_REQUIRES_RESOLVED = "close-requires-resolved"
RESOLVE_REQUIRES_ASSIGNEE = "resolve-requires-assignee"

UNCHANGED: Final = object()
"""Sentinel: the change does not touch the assignee."""


@dataclass(frozen=True, slots=True)
class State:
    status: str
    assignee_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    assignee_id: uuid.UUID | None
    first_agent_reply: bool = False
    follow_up: bool = False
    """A customer wrote on a closed ticket: open a follow-up ticket instead of changing this one."""


def is_reopen(previous: str, current: str) -> bool:
    return previous == RESOLVED and current in (OPEN, PENDING, ON_HOLD)


def apply_update(
    state: State,
    *,
    status: str | None,
    assignee_id: uuid.UUID | object | None = UNCHANGED,
    other_fields: bool = False,
    acting_agent: uuid.UUID | None = None,
) -> Outcome:
    """A change of status, assignee and/or other fields (``other_fields``: anything but tags)."""
    assignee_changes = assignee_id is not UNCHANGED and assignee_id != state.assignee_id
    new_assignee = state.assignee_id if assignee_id is UNCHANGED else assignee_id
    assert new_assignee is None or isinstance(new_assignee, uuid.UUID)
    new_status = state.status if status is None else status

    if state.status == CLOSED:
        if new_status != CLOSED or assignee_changes or other_fields:
            raise InvalidTransition(
                "A closed ticket cannot change except for its tags.", rule=CLOSED_IS_TERMINAL
            )
        return Outcome(CLOSED, state.assignee_id)
    if new_status == NEW and state.status != NEW:
        raise InvalidTransition("A ticket never goes back to new.", rule=NEVER_BACK_TO_NEW)
    if new_status == CLOSED and state.status != RESOLVED:
        raise InvalidTransition("Only a resolved ticket can be closed.", rule=CLOSE_REQUIRES_RESOLVED)
    if new_status == NEW and new_assignee is not None and assignee_changes:
        new_status = OPEN  # assigning a new ticket opens it
    if new_status in (RESOLVED, CLOSED) and new_assignee is None:
        if acting_agent is None or assignee_changes:
            raise InvalidTransition(
                "A resolved ticket needs an assignee; assign one or resolve with an agent's API key.",
                rule=RESOLVE_REQUIRES_ASSIGNEE,
            )
        new_assignee = acting_agent  # the resolving agent takes the ticket
    return Outcome(new_status, new_assignee)


def apply_comment(state: State, *, author_type: str, public: bool, first_agent_reply_done: bool) -> Outcome:
    """What a comment does to its ticket."""
    if author_type == "customer" and not public:
        # The request asks for something that cannot exist (a customer's internal note): bad input, not
        # a transition the ticket's state refuses.
        raise Unprocessable(
            "Customers only write public replies.",
            errors=[FieldError("body", "$.public", "a customer's comment is a public reply")],
        )
    if state.status == CLOSED:
        if author_type == "customer":
            return Outcome(CLOSED, state.assignee_id, follow_up=True)
        raise InvalidTransition("A closed ticket takes no more comments.", rule=CLOSED_IS_TERMINAL)
    if author_type == "customer":
        status = OPEN if state.status in REOPENED_BY_CUSTOMER else state.status
        return Outcome(status, state.assignee_id)
    if author_type == "agent" and public:
        status = OPEN if state.status == NEW else state.status
        return Outcome(status, state.assignee_id, first_agent_reply=not first_agent_reply_done)
    return Outcome(state.status, state.assignee_id)
