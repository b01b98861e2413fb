"""The event-type catalog: every webhook event type and the msgspec Struct of its ``data``.

Payloads are versioned data: new fields get defaults and existing fields never change type, so a
consumer written against an older schema keeps decoding newer events. Features add their types with
:func:`register` (SLA and rule events come through the same path).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

from api.context import ActorType
from api.sla.schemas import MetricName, SlaMetric
from api.tickets import store
from api.tickets.schemas import TicketRead


class Person(msgspec.Struct, kw_only=True):
    """A requester or agent, with what a message to them needs."""

    id: uuid.UUID
    name: str
    email: str


class Actor(msgspec.Struct, kw_only=True):
    """Who made a change: an agent, the customer, an integration's API key, or the system."""

    type: ActorType
    """``agent``, ``customer``, ``integration``, ``system`` or ``rule`` (id ``<rule id>@<version>``)."""
    id: str | None = None
    name: str | None = None


def _summary_struct() -> type[msgspec.Struct]:
    """``TicketSummary``: the fields of ``store.FIELDS`` that events carry, typed as ``TicketRead`` types
    them — derived, so the REST document and the event payload cannot drift apart."""
    read_types = {f.name: f.type for f in msgspec.structs.fields(TicketRead)}
    fields = [(f.name, f.type if f.type is not None else read_types[f.name]) for f in store.SUMMARY_FIELDS]
    return msgspec.defstruct(
        "TicketSummary",
        fields,
        kw_only=True,
        module=__name__,
        namespace={
            "__doc__": "The ticket as it is after the change (the fields of `Ticket` that events carry)."
        },
    )


TicketSummary: Any = _summary_struct()


class FieldChange(msgspec.Struct, kw_only=True):
    """One changed field: its value before and after."""

    field: str
    previous: Any
    current: Any


class TicketEventData(msgspec.Struct, kw_only=True):
    """Data of ``ticket.created``, ``.updated``, ``.status_changed``, ``.reopened`` and ``.closed``."""

    ticket: TicketSummary
    changes: list[FieldChange] = []
    actor: Actor | None = None
    """Who made the change."""


class TicketAssignedData(msgspec.Struct, kw_only=True):
    ticket: TicketSummary
    previous_assignee: Person | None
    assignee: Person | None
    changes: list[FieldChange] = []
    actor: Actor | None = None


class CommentSummary(msgspec.Struct, kw_only=True):
    id: int
    author: Actor
    body: str
    public: bool
    created_at: dt.datetime


class TicketCommentedData(msgspec.Struct, kw_only=True):
    ticket: TicketSummary
    comment: CommentSummary


SlaResult = Literal["met", "breached"]
SlaMetricResult = Literal["met", "breached", "cancelled"]


class SlaMetricOutcome(msgspec.Struct, kw_only=True):
    metric: MetricName
    result: SlaMetricResult
    target_minutes: int
    """Deprecated: ``target_seconds`` in whole minutes, rounded up."""
    target_seconds: int = 0
    breached_at: dt.datetime | None
    fulfilled_at: dt.datetime | None


class SlaOutcome(msgspec.Struct, kw_only=True):
    policy_id: uuid.UUID
    policy_version: int
    result: Annotated[
        SlaResult, msgspec.Meta(description="`breached` when any metric was breached, else `met`.")
    ]
    metrics: list[SlaMetricOutcome]


class SlaEventData(msgspec.Struct, kw_only=True):
    """An SLA moment passed: the warning lead time before a due instant, or the due instant itself."""

    ticket: TicketSummary
    policy_id: uuid.UUID
    policy_version: int
    metric: SlaMetric
    """The metric at the moment, as the ticket's ``sla`` shows it."""


class SlaPolicyRef(msgspec.Struct, kw_only=True):
    policy_id: uuid.UUID
    policy_version: int


class SlaUpdatedData(msgspec.Struct, kw_only=True):
    """Another SLA policy or policy version applies to the ticket, or none any more, and why."""

    ticket: TicketSummary
    previous: SlaPolicyRef | None
    current: SlaPolicyRef | None
    reason: str
    """The change that caused it: ``created``, ``updated``, ``commented``, ``timer``, ``follow_on`` (a
    feature's change, such as auto-close) or ``reevaluated`` (a policy was edited, activated or
    deactivated)."""
    metrics: list[SlaMetric]


class TicketResolvedData(msgspec.Struct, kw_only=True):
    """Everything a thank-you or follow-up needs without calling back."""

    ticket: TicketSummary
    resolved_by: Person | None
    resolved_at: dt.datetime
    time_to_resolution_seconds: int
    previous_status: str
    changes: list[FieldChange] = []
    sla_outcome: SlaOutcome | None = None
    """How the ticket fared against its SLA policy (null when none applied)."""
    survey_url: str | None = None
    """Where the requester rates the help they got (filled in by the satisfaction feature)."""


class TicketChangeRefusedData(msgspec.Struct, kw_only=True):
    """A change a feature asked for (auto-close, a rule's action) that the lifecycle refused: the ticket
    stayed as it was, and the change that caused it went through."""

    ticket: TicketSummary
    changes: list[FieldChange] = []
    """What was asked: each field's value now (``previous``) and the refused one (``current``)."""
    comment: Annotated[
        str | None, msgspec.Meta(examples=["We have escalated your request to our team lead."])
    ] = None
    """The comment the change would have added."""
    rule: Annotated[str, msgspec.Meta(examples=["resolve-requires-assignee"])]
    """The lifecycle rule that refused it (as a 409 names it), or ``follow-on-depth`` for a loop."""
    detail: Annotated[
        str,
        msgspec.Meta(
            examples=["A resolved ticket needs an assignee; assign one or resolve with an agent's API key."]
        ),
    ]
    reason: Annotated[str, msgspec.Meta(examples=["Resolve tickets the customer confirmed fixed"])]
    """Why the feature asked for it (``auto-close``, a rule's name)."""
    actor: Actor | None = None


class RuleRef(msgspec.Struct, kw_only=True):
    """The rule (and the version of it) that acted."""

    id: uuid.UUID
    name: Annotated[str, msgspec.Meta(examples=["Escalate urgent tickets left unanswered"])]
    version: Annotated[int, msgspec.Meta(examples=[2])]


class TicketEscalatedData(msgspec.Struct, kw_only=True):
    """A rule escalated a ticket (its ``emit_ticket_escalated`` action)."""

    ticket: TicketSummary
    rule: RuleRef
    level: Annotated[int, msgspec.Meta(examples=[1])]
    """The escalation level the rule gives (1 and up)."""
    reason: Annotated[str, msgspec.Meta(examples=["urgent ticket unanswered for 2 business hours"])]


class RuleTriggeredData(msgspec.Struct, kw_only=True):
    """A rule fired on a ticket and sends its label (its ``emit_rule_triggered`` action), for an
    integration to act on."""

    ticket: TicketSummary
    rule: RuleRef
    label: Annotated[str, msgspec.Meta(examples=["send-feedback-survey"])]


class TicketFollowUpDueData(msgspec.Struct, kw_only=True):
    """A resolved ticket's follow-up is due (it was not reopened meanwhile): the thank-you or "anything
    else?" message. ``ticket`` carries the subject and the requester's name and email."""

    ticket: TicketSummary
    rule: RuleRef
    resolved_by: Person | None
    """The agent who resolved it."""
    resolved_at: dt.datetime


class WebhookTestData(msgspec.Struct, kw_only=True):
    endpoint_id: uuid.UUID
    message: str = "This is a test event from the helpdesk."


class EndpointDisabledData(msgspec.Struct, kw_only=True):
    endpoint_id: uuid.UUID
    url: str
    reason: str
    """``gone`` (the endpoint answered 410) or ``failing`` (it failed continuously for days)."""
    disabled_at: dt.datetime
    failing_since: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    description: str
    data: type[msgspec.Struct]


CATALOG: dict[str, EventType] = {}


def register(name: str, description: str, data: type[msgspec.Struct]) -> None:
    CATALOG[name] = EventType(name, description, data)


for _name, _description, _data in (
    ("ticket.created", "A ticket was created.", TicketEventData),
    ("ticket.updated", "Ticket fields changed (see `changes`).", TicketEventData),
    ("ticket.assigned", "A ticket's assignee changed.", TicketAssignedData),
    ("ticket.commented", "A comment or reply was added to a ticket.", TicketCommentedData),
    ("ticket.status_changed", "A ticket's status changed.", TicketEventData),
    ("ticket.resolved", "A ticket was resolved: time to say thank you.", TicketResolvedData),
    (
        "ticket.reopened",
        "A resolved ticket was reopened: the customer replied, or an agent set it open, pending or on hold "
        "(a customer writing on a closed ticket starts a follow-up ticket instead: `ticket.created` with "
        "`follow_up_of`).",
        TicketEventData,
    ),
    ("ticket.closed", "A ticket was closed.", TicketEventData),
    (
        "ticket.change_refused",
        "A change a feature asked for (auto-close, a rule) was refused by the lifecycle; the ticket is "
        "unchanged.",
        TicketChangeRefusedData,
    ),
    ("sla.warning", "An SLA metric falls due within its warning lead time.", SlaEventData),
    ("sla.breached", "An SLA metric passed its due instant unfulfilled.", SlaEventData),
    ("sla.updated", "Another SLA policy (version) applies to a ticket, or none any more.", SlaUpdatedData),
    ("ticket.escalated", "A rule escalated a ticket, with a level and a reason.", TicketEscalatedData),
    (
        "ticket.follow_up_due",
        'A resolved ticket\'s follow-up is due: time for the thank-you or "anything else?" message.',
        TicketFollowUpDueData,
    ),
    ("rule.triggered", "A rule fired on a ticket and sends the label its admin chose.", RuleTriggeredData),
    ("webhook.test", "A test event sent on request to one endpoint.", WebhookTestData),
    ("endpoint.disabled", "A webhook endpoint was disabled automatically.", EndpointDisabledData),
):
    register(_name, _description, _data)


def data_schema(event_type: EventType) -> dict[str, Any]:
    """A self-contained JSON Schema (with ``$defs``) of the event's ``data``."""
    schema: dict[str, Any] = msgspec.json.schema(event_type.data)
    return schema
