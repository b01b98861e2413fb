"""What a rule's actions do to a ticket, worked out purely: the field changes (through the lifecycle, so a
refused transition is reported, not raised), the system comments, the events.

:func:`plan` is what a preview shows, and what firing applies: it needs the ticket row and a
:class:`Directory` of the agents and groups the actions name (loaded once per preview or firing). It
changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from api.errors import FieldError, InvalidTransition
from api.rules import templates
from api.rules.schemas import (
    Action,
    AddInternalNote,
    AddPublicMessage,
    AddTags,
    AssignAgent,
    AssignGroup,
    EmitRuleTriggered,
    EmitTicketEscalated,
    PlannedChange,
    PlannedComment,
    PlannedEvent,
    RefusedAction,
    RemoveTags,
    SetPriority,
    SetStatus,
)
from api.tickets import lifecycle

Row = Mapping[str, Any]


def template_errors(actions: Sequence[Action], path: str = "$.actions") -> list[FieldError]:
    errors = []
    for i, action in enumerate(actions):
        if isinstance(action, (AddInternalNote, AddPublicMessage)):
            for problem in templates.problems(action.template):
                errors.append(FieldError("body", f"{path}[{i}].template", problem))
    return errors


def referenced(actions: Sequence[Action]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """The agents and the groups the actions name."""
    agents = {a.agent_id for a in actions if isinstance(a, AssignAgent)}
    groups = {a.group_id for a in actions if isinstance(a, AssignGroup)}
    return agents, groups


@dataclass(frozen=True, slots=True)
class Member:
    id: uuid.UUID
    name: str
    email: str
    open_tickets: int


@dataclass(slots=True)
class Directory:
    """The agents and groups actions name: agents by id (name, email), each group's name and its active
    members in order (by name), with their open tickets, which a ``least_open`` assignment counts, and
    whose turn it is for ``round_robin``. Plans update the counts and turns as they assign, so a
    preview of many tickets hands them out as firing one after another would."""

    agents: dict[uuid.UUID, tuple[str, str]] = field(default_factory=dict)
    groups: dict[uuid.UUID, str] = field(default_factory=dict)
    members: dict[uuid.UUID, list[Member]] = field(default_factory=dict)
    turns: dict[uuid.UUID, int] = field(default_factory=dict)

    def pick(self, group_id: uuid.UUID, strategy: str) -> Member | None:
        members = self.members.get(group_id) or []
        if not members:
            return None
        if strategy == "least_open":
            chosen = min(members, key=lambda m: (m.open_tickets, m.name, str(m.id)))
        else:
            turn = self.turns.get(group_id, 0)
            chosen = members[turn % len(members)]
            self.turns[group_id] = turn + 1
        index = members.index(chosen)
        members[index] = Member(chosen.id, chosen.name, chosen.email, chosen.open_tickets + 1)
        return chosen


@dataclass(slots=True)
class Plan:
    fields: dict[str, Any]
    """The columns the actions set (``priority``, ``status``, ``assignee_id``, ``group_id``, ``tags``)."""
    changes: list[PlannedChange]
    comments: list[PlannedComment]
    events: list[PlannedEvent]
    refused: list[RefusedAction]


def _wire(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


class _Planner:
    def __init__(self, row: Row, directory: Directory) -> None:
        self.row = row
        self.directory = directory
        self.current: dict[str, Any] = {
            k: row[k] for k in ("status", "priority", "assignee_id", "group_id", "tags")
        }
        self.current["tags"] = list(self.current["tags"])
        self.names: dict[str, Any] = {
            k: row.get(k) for k in ("assignee_name", "assignee_email", "group_name")
        }
        self.comments: list[PlannedComment] = []
        self.events: list[PlannedEvent] = []
        self.refused: list[RefusedAction] = []

    def _lifecycle(
        self,
        path: str,
        *,
        status: str | None = None,
        assignee_id: Any = lifecycle.UNCHANGED,
        other_fields: bool = False,
    ) -> lifecycle.Outcome | None:
        state = lifecycle.State(self.current["status"], self.current["assignee_id"])
        try:
            return lifecycle.apply_update(
                state, status=status, assignee_id=assignee_id, other_fields=other_fields
            )
        except InvalidTransition as refusal:
            self.refused.append(RefusedAction(path=path, rule=refusal.rule or "", detail=refusal.detail))
            return None

    def apply(self, path: str, action: Action) -> None:
        current = self.current
        if isinstance(action, SetPriority):
            if action.priority != current["priority"] and self._lifecycle(path, other_fields=True):
                current["priority"] = action.priority
        elif isinstance(action, SetStatus):
            outcome = self._lifecycle(path, status=action.status)
            if outcome is not None:
                current["status"], current["assignee_id"] = outcome.status, outcome.assignee_id
        elif isinstance(action, AssignAgent):
            self._assign(path, action.agent_id, self.directory.agents.get(action.agent_id))
        elif isinstance(action, AssignGroup):
            if self._lifecycle(path, other_fields=True) is None:
                return
            current["group_id"] = action.group_id
            self.names["group_name"] = self.directory.groups.get(action.group_id)
            member = self.directory.pick(action.group_id, action.strategy)
            if member is not None:
                self._assign(path, member.id, (member.name, member.email))
        elif isinstance(action, AddTags):
            current["tags"] = list(dict.fromkeys([*current["tags"], *action.tags]))
        elif isinstance(action, RemoveTags):
            current["tags"] = [tag for tag in current["tags"] if tag not in action.tags]
        elif isinstance(action, (AddInternalNote, AddPublicMessage)):
            if current["status"] == lifecycle.CLOSED:
                self.refused.append(
                    RefusedAction(
                        path=path,
                        rule=lifecycle.CLOSED_IS_TERMINAL,
                        detail="A closed ticket takes no more comments.",
                    )
                )
                return
            body = templates.render(action.template, {**self.row, **current, **self.names})
            self.comments.append(PlannedComment(public=isinstance(action, AddPublicMessage), body=body))
        elif isinstance(action, EmitTicketEscalated):
            self.events.append(
                PlannedEvent(type="ticket.escalated", data={"level": action.level, "reason": action.reason})
            )
        elif isinstance(action, EmitRuleTriggered):
            self.events.append(PlannedEvent(type="rule.triggered", data={"label": action.label}))

    def _assign(self, path: str, agent_id: uuid.UUID, person: tuple[str, str] | None) -> None:
        outcome = self._lifecycle(path, assignee_id=agent_id)
        if outcome is not None:
            self.current["status"], self.current["assignee_id"] = outcome.status, outcome.assignee_id
            name, email = person or (None, None)
            self.names.update(assignee_name=name, assignee_email=email)


def plan(row: Row, actions: Sequence[Action], directory: Directory, path: str = "$.actions") -> Plan:
    """The actions applied in order to the ticket, each seeing the result of those before it."""
    planner = _Planner(row, directory)
    for i, action in enumerate(actions):
        planner.apply(f"{path}[{i}]", action)
    fields = {k: v for k, v in planner.current.items() if v != row[k]}
    changes = [PlannedChange(field=k, previous=_wire(row[k]), current=_wire(v)) for k, v in fields.items()]
    return Plan(fields, changes, planner.comments, planner.events, planner.refused)
