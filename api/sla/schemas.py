"""Wire types for SLA policies and for the SLA state every ticket carries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from api.pagination import Page

MetricName = Literal["first_response", "next_response", "periodic_update", "resolution"]
MetricState = Literal["running", "paused", "fulfilled", "breached"]
ConditionField = Literal["priority", "group_id", "tags", "channel", "requester_id"]
Operator = Literal["is", "is_not", "includes", "excludes"]

Minutes = Annotated[int, msgspec.Meta(ge=1, le=525_600, description="At most a year.")]
LeadMinutes = Annotated[int, msgspec.Meta(ge=0, le=525_600)]


class Target(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One SLA target: how many minutes, counted in business or calendar time, warned how long before."""

    minutes: Minutes
    time: Annotated[
        Literal["business", "calendar"],
        msgspec.Meta(
            description="`business` counts only the open hours of the policy's `calendar_id` (required then)."
        ),
    ] = "calendar"
    warning_minutes: LeadMinutes = 0
    """``sla.warning`` fires this many minutes before the due instant (0: no warning)."""


class PriorityTargets(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """The targets for one priority; a metric without a target is not measured."""

    first_response: Target | None = None
    next_response: Target | None = None
    periodic_update: Target | None = None
    resolution: Target | None = None


class Condition(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``tags`` take ``includes``/``excludes``; every other field ``is``/``is_not``."""

    field: ConditionField
    operator: Operator
    value: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=320,
            description="A value the field can hold, else 422: a tag (1 to 64 characters, no white space, "
            "commas or control characters), a priority or channel (any case), or a UUID.",
        ),
    ]


class Conditions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A ticket matches when every ``all`` condition and (if any are given) at least one ``any`` holds."""

    all: Annotated[list[Condition], msgspec.Meta(max_length=50)] = []
    any: Annotated[list[Condition], msgspec.Meta(max_length=50)] = []


Targets = Annotated[
    dict[Literal["low", "normal", "high", "urgent"], PriorityTargets],
    msgspec.Meta(description="Targets per ticket priority: the keys are priorities."),
]

_EXAMPLE_TARGETS = {
    "urgent": {"first_response": {"minutes": 60, "time": "business", "warning_minutes": 15}},
    "normal": {"resolution": {"minutes": 2880, "time": "calendar"}},
}


_CALENDAR = (
    "The business calendar that `business` targets count the open hours of: required when any target "
    "uses business time."
)


class SlaPolicyCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new SLA policy. Policies are tried in ``position`` order; the first that matches applies."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["VIP customers"])]
    position: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0
    active: bool = True
    calendar_id: Annotated[uuid.UUID | None, msgspec.Meta(description=_CALENDAR)] = None
    conditions: Conditions = msgspec.field(default_factory=Conditions)
    targets: Annotated[Targets, msgspec.Meta(examples=[_EXAMPLE_TARGETS])]


class SlaPolicyUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fields to change; each change makes a new version and re-evaluates the open tickets it affects."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    position: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    calendar_id: Annotated[uuid.UUID | None, msgspec.Meta(description=_CALENDAR)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    conditions: Conditions | msgspec.UnsetType = msgspec.UNSET
    targets: Targets | msgspec.UnsetType = msgspec.UNSET


class SlaPolicyRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    version: int
    name: str
    position: int
    active: bool
    calendar_id: uuid.UUID | None
    conditions: Conditions
    targets: Targets
    created_at: dt.datetime
    updated_at: dt.datetime


class SlaPolicyPage(Page[SlaPolicyRead]):
    pass


class SlaPause(msgspec.Struct, kw_only=True):
    """A stretch of the cycle that did not count: ``reason`` is the ticket status that paused it."""

    start: dt.datetime
    end: dt.datetime | None
    reason: str


class SlaCycle(msgspec.Struct, kw_only=True):
    """An earlier cycle of the metric (the last 20 are kept; the ticket's history has every one)."""

    cycle: int
    target_minutes: int
    started_at: dt.datetime
    fulfilled_at: dt.datetime | None
    breached_at: dt.datetime | None


class SlaMetric(msgspec.Struct, kw_only=True):
    """One SLA metric of a ticket, as of its last change (``due_at`` is null while paused)."""

    metric: MetricName
    cycle: int
    """1 for the first cycle; next response and periodic update start a new cycle each time."""
    state: MetricState
    target_minutes: int
    business: bool
    warning_minutes: int
    started_at: dt.datetime
    running_since: dt.datetime | None
    consumed_seconds: float
    """SLA time used before ``running_since`` (all of it while paused or fulfilled)."""
    due_at: dt.datetime | None
    warned_at: dt.datetime | None
    breached_at: dt.datetime | None
    fulfilled_at: dt.datetime | None
    pauses: list[SlaPause]
    earlier_cycles: list[SlaCycle]
    remaining_seconds: float | None
    """SLA time left when the response was made (business time for business targets); negative once
    overdue (the time past due); null when fulfilled."""


class TicketSla(msgspec.Struct, kw_only=True):
    """The SLA policy version that applies to a ticket and the state of each of its metrics."""

    policy_id: uuid.UUID
    policy_version: int
    calendar_id: uuid.UUID | None
    calendar_version: int | None
    """The version of the business calendar the business-time metrics were last computed with."""
    metrics: list[SlaMetric]


class SlaStretch(msgspec.Struct, kw_only=True):
    """A span of a cycle and why it counted or not; ``status`` is the ticket status that paused it."""

    start: dt.datetime
    end: dt.datetime
    reason: Literal["counted", "outside_hours", "holiday", "paused"]
    status: str | None


class SlaInterval(msgspec.Struct, kw_only=True):
    start: dt.datetime
    end: dt.datetime


class SlaMetricExplanation(msgspec.Struct, kw_only=True):
    """How one metric's current cycle stands and how its due instant was computed."""

    metric: MetricName
    cycle: int
    state: MetricState
    target_minutes: int
    business: bool
    started_at: dt.datetime
    due_at: dt.datetime | None
    fulfilled_at: dt.datetime | None
    breached_at: dt.datetime | None
    consumed_seconds: float
    """SLA time counted so far (up to ``computed_at``, or to fulfilment)."""
    remaining_seconds: float | None
    stretches: list[SlaStretch]
    """From the cycle's start to fulfilment (or ``computed_at``): what counted and what did not, why."""
    until_due: list[SlaInterval]
    """The open intervals still to count before ``due_at`` (running metrics)."""
    earlier_cycles: list[SlaCycle]


class TicketSlaExplanation(msgspec.Struct, kw_only=True):
    """A ticket's SLA, explained: the policy and calendar versions used, and every metric's arithmetic."""

    ticket_id: int
    policy_id: uuid.UUID
    policy_version: int
    calendar_id: uuid.UUID | None
    calendar_version: int | None
    time_zone: str | None
    """The business calendar's time zone (its open hours are local to it)."""
    computed_at: dt.datetime
    metrics: list[SlaMetricExplanation]
