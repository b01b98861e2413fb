"""Wire types for rules: the rule, its actions, its versions, previews (dry runs) and explanations.

``conditions`` is typed here as a JSON object and read by :mod:`api.conditions.tree`, which reports
problems at their JSON paths; the published schema (``RuleConditions``, see
:mod:`api.rules.openapi`) describes the tree exactly.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec

from api.pagination import Page
from api.tickets.schemas import Priority, Tags

Trigger = Literal["on_change", "on_time"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["Escalate urgent tickets"])]
Description = Annotated[str, msgspec.Meta(max_length=2000)]
Position = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Template = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=10_000,
        description="Text with placeholders such as `{{ticket.subject}}` or `{{requester.name}}` "
        "(`GET /v1/rules/fields` lists them); unknown placeholders are refused when the rule is saved.",
    ),
]
ConditionTree = Annotated[dict[str, Any], msgspec.Meta(description="The rule's condition tree.")]


class _Action(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    pass


class SetPriority(_Action, tag="set_priority"):
    """Set the ticket's priority."""

    priority: Priority


class SetStatus(_Action, tag="set_status"):
    """Set the ticket's status through the lifecycle; a transition it refuses is recorded on the ticket."""

    status: Literal["open", "pending", "on_hold", "resolved", "closed"]


class AssignAgent(_Action, tag="assign_agent"):
    """Assign the ticket to an agent (assigning a new ticket opens it)."""

    agent_id: uuid.UUID


class AssignGroup(_Action, tag="assign_group"):
    """Move the ticket to a group and assign one of its active members: in turn (``round_robin``) or
    the one with the fewest open tickets (``least_open``)."""

    group_id: uuid.UUID
    strategy: Literal["round_robin", "least_open"] = "round_robin"


class AddTags(_Action, tag="add_tags"):
    tags: Annotated[Tags, msgspec.Meta(min_length=1)]


class RemoveTags(_Action, tag="remove_tags"):
    tags: Annotated[Tags, msgspec.Meta(min_length=1)]


class AddInternalNote(_Action, tag="add_internal_note"):
    """Add an internal note written by the system."""

    template: Template


class AddPublicMessage(_Action, tag="add_public_message"):
    """Add a public message written by the system (it never fulfils an SLA metric)."""

    template: Template


class EmitTicketEscalated(_Action, tag="emit_ticket_escalated"):
    """Send the ``ticket.escalated`` event with this level and reason."""

    level: Annotated[int, msgspec.Meta(ge=1, le=10)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class EmitRuleTriggered(_Action, tag="emit_rule_triggered"):
    """Send the ``rule.triggered`` event with a label of your choosing (for integrations to act on)."""

    label: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


Action = (
    SetPriority
    | SetStatus
    | AssignAgent
    | AssignGroup
    | AddTags
    | RemoveTags
    | AddInternalNote
    | AddPublicMessage
    | EmitTicketEscalated
    | EmitRuleTriggered
)
Actions = Annotated[list[Action], msgspec.Meta(min_length=1, max_length=20)]


class RuleCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new rule. ``on_change`` rules run when a ticket changes, ``on_time`` rules when time passes
    (their conditions need a time fact); active rules run in ``position`` order."""

    name: Name
    description: Description = ""
    trigger: Trigger
    conditions: ConditionTree
    actions: Actions
    active: bool = True
    position: Position = 0


class RuleUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fields to change; each change makes a new version. Deactivate a rule with ``active: false``."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    trigger: Trigger | msgspec.UnsetType = msgspec.UNSET
    conditions: ConditionTree | msgspec.UnsetType = msgspec.UNSET
    actions: Actions | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    position: Position | msgspec.UnsetType = msgspec.UNSET


class RuleRead(msgspec.Struct, kw_only=True):
    """A rule as its current (or, under ``/versions``, an earlier) version has it."""

    id: uuid.UUID
    version: int
    name: str
    description: str
    trigger: Trigger
    conditions: ConditionTree
    actions: list[Action]
    active: bool
    position: int
    created_at: dt.datetime
    updated_at: dt.datetime
    """When this version was made."""


class RulePage(Page[RuleRead]):
    """A page of rules in the order they run."""


class RuleDraft(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An unsaved rule to preview or explain: its trigger, conditions and actions."""

    trigger: Trigger
    conditions: ConditionTree
    actions: Annotated[list[Action], msgspec.Meta(max_length=20)] = []


# -- Previews and explanations ----------------------------------------------------------------------------


class PlannedChange(msgspec.Struct, kw_only=True):
    field: str
    previous: Any
    current: Any


class PlannedComment(msgspec.Struct, kw_only=True):
    """A comment an action would add, written by the system."""

    public: bool
    body: str


class PlannedEvent(msgspec.Struct, kw_only=True):
    """An event an action would send."""

    type: Literal["ticket.escalated", "rule.triggered"]
    data: dict[str, Any]
    """The event's rule-specific fields (the ticket and rule are added when it is sent)."""


class RefusedAction(msgspec.Struct, kw_only=True):
    """An action the lifecycle would refuse: the ticket would record it and keep its status."""

    path: str
    """The action's JSON path in the rule (``$.actions[0]``)."""
    rule: str
    """The lifecycle rule that refuses it (as a 409 ``invalid-transition`` names it)."""
    detail: str


class TicketBrief(msgspec.Struct, kw_only=True):
    id: int
    subject: str
    status: str
    priority: str
    assignee_id: uuid.UUID | None
    group_id: uuid.UUID | None
    tags: list[str]
    updated_at: dt.datetime


class TicketPreview(msgspec.Struct, kw_only=True):
    """One matching ticket and what the rule's actions would do to it."""

    ticket: TicketBrief
    changes: list[PlannedChange]
    comments: list[PlannedComment]
    events: list[PlannedEvent]
    refused: list[RefusedAction]


class DryRun(msgspec.Struct, kw_only=True):
    """Which tickets the rule matches now and what it would do to each; nothing was changed.

    Tickets not closed are considered (a closed ticket takes no rule's changes). ``tickets`` is the
    first page in id order; for ``assign_group`` the preview hands the page's tickets out in turn
    (``round_robin``, starting from the member who comes first by name) or by open-ticket counts
    (``least_open``), as firing in that order would."""

    evaluated_at: dt.datetime
    matched: int
    """How many tickets match now (exact)."""
    tickets: list[TicketPreview]
    unevaluated: list[str]
    """Paths of change conditions (``status changed_to``…): decided only by a change, so a preview
    counts them as holding."""


class ConditionResult(msgspec.Struct, kw_only=True):
    path: str
    field: str
    operator: str
    value: Any
    """The condition's value as the rule has it."""
    actual: Any
    """The ticket's value now: the field's value; for durations, minutes (business minutes for business
    time) since the instant or until the due instant (negative once overdue), null when the ticket has
    no such instant; null for change conditions."""
    holds: bool | None
    """Null for change conditions: decided only by a change."""


class GroupResult(msgspec.Struct, kw_only=True):
    path: str
    holds: bool


class RuleExplanation(msgspec.Struct, kw_only=True):
    """Whether the rule's conditions hold for the ticket now, condition by condition."""

    rule_id: uuid.UUID | None
    """Null for an unsaved rule."""
    rule_version: int | None
    ticket_id: int
    evaluated_at: dt.datetime
    holds: bool
    """Whether the whole tree holds now (change conditions counted as holding)."""
    conditions: list[ConditionResult]
    groups: list[GroupResult]
    """Nested groups and whether each holds."""


class OperatorInfo(msgspec.Struct, kw_only=True):
    name: str
    kind: Literal["state", "time", "change"]
    """``state``: any rule; ``time``: ``on_time`` rules; ``change``: ``on_change`` rules."""
    value: str
    """What the value is."""


class FieldInfo(msgspec.Struct, kw_only=True):
    name: str
    type: str
    description: str
    operators: list[OperatorInfo]
    values: list[str] | None = None
    """An enum's values."""


class RuleCatalog(msgspec.Struct, kw_only=True):
    """What rules can test and write: condition fields with their operators, and template placeholders."""

    fields: list[FieldInfo]
    placeholders: list[str]
