"""Wire types for SLA policies and for the SLA state every ticket carries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from api.pagination import Page

MetricName = Literal[
    "first_response",
    "next_response",
    "periodic_update",
    "periodic_update_unpaused",
    "requester_wait",
    "resolution",
    "total_resolution",
]
MetricState = Literal["running", "paused", "fulfilled", "cancelled", "breached"]
ConditionField = Literal["priority", "group_id", "tags", "channel", "requester_id"]
Operator = Literal["is", "is_not", "includes", "excludes"]
TimeKind = Literal["business", "calendar"]
TargetTime = Annotated[
    TimeKind,
    msgspec.Meta(
        description="`business` counts only the open hours of the policy's `calendar_id` (required then)."
    ),
]

MAX_TARGET_SECONDS = 366 * 86_400
Seconds = Annotated[
    int, msgspec.Meta(ge=1, le=MAX_TARGET_SECONDS, description="The target in seconds (at most 366 days).")
]
LeadSeconds = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=MAX_TARGET_SECONDS,
        description="`sla.warning` fires this many seconds (calendar time) before the due instant; "
        "0: no warning. Shorter than the target.",
    ),
]
Minutes = Annotated[
    int,
    msgspec.Meta(
        ge=1,
        le=MAX_TARGET_SECONDS // 60,
        description="Deprecated: the target in whole minutes. Give `seconds` or `minutes`, not both.",
    ),
]
LeadMinutes = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=MAX_TARGET_SECONDS // 60,
        description="Deprecated: the warning lead in whole minutes. Give `warning_seconds` or "
        "`warning_minutes`, not both.",
    ),
]
DeprecatedMinutes = Annotated[
    int, msgspec.Meta(description="Deprecated: the `*_seconds` field beside it in whole minutes, rounded up.")
]


class Target(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One SLA target: how many seconds, counted in business or calendar time, warned how long before."""

    seconds: Seconds
    time: TargetTime = "calendar"
    warning_seconds: LeadSeconds = 0
    """``sla.warning`` fires this long (calendar time) before the due instant (0: no warning); shorter
    than the target."""


class TargetInput(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """One SLA target as written: ``seconds`` (or the older ``minutes``), business or calendar time, and
    an optional warning lead in ``warning_seconds`` (or ``warning_minutes``), shorter than the target.
    Policies read back in seconds."""

    seconds: Seconds | msgspec.UnsetType = msgspec.UNSET
    minutes: Minutes | msgspec.UnsetType = msgspec.UNSET
    """Deprecated: the target in whole minutes (give ``seconds`` or ``minutes``, not both)."""
    time: TargetTime = "calendar"
    warning_seconds: LeadSeconds | msgspec.UnsetType = msgspec.UNSET
    """``sla.warning`` fires this long (calendar time) before the due instant (0 or absent: no warning)."""
    warning_minutes: LeadMinutes | msgspec.UnsetType = msgspec.UNSET
    """Deprecated: the warning lead in whole minutes (give ``warning_seconds`` or this, not both)."""


class PriorityTargets(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """The targets for one priority; a metric without a target is not measured."""

    first_response: Target | None = None
    next_response: Target | None = None
    periodic_update: Target | None = None
    """From a public agent reply to the next, paused while pending or on hold."""
    periodic_update_unpaused: Target | None = None
    """From a public agent reply to the next, never paused."""
    requester_wait: Target | None = None
    """From creation to resolved, paused only while pending (waiting on the customer)."""
    resolution: Target | None = None
    """Agent work time: from creation to resolved, paused while pending or on hold."""
    total_resolution: Target | None = None
    """From creation to the last resolution, never paused."""


class PriorityTargetsInput(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """The targets for one priority, as written; a metric without a target is not measured."""

    first_response: TargetInput | None = None
    next_response: TargetInput | None = None
    periodic_update: TargetInput | None = None
    """From a public agent reply to the next, paused while pending or on hold."""
    periodic_update_unpaused: TargetInput | None = None
    """From a public agent reply to the next, never paused."""
    requester_wait: TargetInput | None = None
    """From creation to resolved, paused only while pending (waiting on the customer)."""
    resolution: TargetInput | None = None
    """Agent work time: from creation to resolved, paused while pending or on hold."""
    total_resolution: TargetInput | None = None
    """From creation to the last resolution, never paused."""


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


PriorityName = Literal["low", "normal", "high", "urgent"]
Targets = Annotated[
    dict[PriorityName, PriorityTargets],
    msgspec.Meta(description="Targets per ticket priority: the keys are priorities."),
]
TargetsInput = Annotated[
    dict[PriorityName, PriorityTargetsInput],
    msgspec.Meta(description="Targets per ticket priority: the keys are priorities."),
]

_EXAMPLE_TARGETS = {
    "urgent": {"first_response": {"seconds": 3600, "time": "business", "warning_seconds": 900}},
    "normal": {"resolution": {"seconds": 172_800, "time": "calendar"}},
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
    targets: Annotated[TargetsInput, msgspec.Meta(examples=[_EXAMPLE_TARGETS])]
    """Per priority and metric. A ticket whose priority has no targets here is not held to this policy:
    the next matching policy applies."""


class SlaPolicyUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fields to change; each change makes a new version and re-evaluates the open tickets it affects."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    position: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    calendar_id: Annotated[uuid.UUID | None, msgspec.Meta(description=_CALENDAR)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    conditions: Conditions | msgspec.UnsetType = msgspec.UNSET
    targets: TargetsInput | msgspec.UnsetType = msgspec.UNSET


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
    target_minutes: DeprecatedMinutes
    target_seconds: int = 0
    started_at: dt.datetime
    fulfilled_at: dt.datetime | None
    breached_at: dt.datetime | None
    cancelled_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if (
            not self.target_seconds
        ):  # stored before targets took seconds (migration 0340_sla_results adds them)
            self.target_seconds = self.target_minutes * 60


class SlaMetric(msgspec.Struct, kw_only=True):
    """One SLA metric of a ticket, as of its last change (``due_at`` is null while paused)."""

    metric: MetricName
    cycle: int
    """1 for the first cycle; next response and periodic updates start a new cycle each time."""
    state: MetricState
    """``cancelled``: the cycle ended without an answer because the ticket was resolved (next response,
    periodic updates): neither met nor breached."""
    target_minutes: DeprecatedMinutes
    target_seconds: int = 0
    business: bool
    warning_minutes: DeprecatedMinutes
    warning_seconds: int = 0
    started_at: dt.datetime
    running_since: dt.datetime | None
    consumed_seconds: float
    """SLA time used before ``running_since`` (all of it while paused or ended)."""
    due_at: dt.datetime | None
    warned_at: dt.datetime | None
    breached_at: dt.datetime | None
    """When the cycle went overdue under its current target (null again when a relaxed target puts the
    due instant ahead)."""
    first_breached_at: dt.datetime | None = None
    """When the cycle first went overdue; ``sla.breached`` is sent once per cycle, for this instant."""
    fulfilled_at: dt.datetime | None
    cancelled_at: dt.datetime | None = None
    pauses: list[SlaPause]
    earlier_cycles: list[SlaCycle]
    remaining_seconds: float | None
    """SLA time left when the response was made (business time for business targets); negative once
    overdue (the time past due); null when ended."""

    def __post_init__(self) -> None:
        if (
            not self.target_seconds
        ):  # stored before targets took seconds (migration 0340_sla_results adds them)
            self.target_seconds = self.target_minutes * 60
            self.warning_seconds = self.warning_minutes * 60


class TicketSla(msgspec.Struct, kw_only=True):
    """The SLA policy version that applies to a ticket and the state of each of its metrics."""

    policy_id: uuid.UUID
    policy_version: int
    calendar_id: uuid.UUID | None
    calendar_version: int | None
    """The version of the business calendar the business-time metrics were last computed with."""
    measured: list[MetricName] | None = None
    """The metrics the policy sets targets for at the ticket's priority, started or not (next response
    and periodic updates have no entry in ``metrics`` until their first cycle starts)."""
    metrics: list[SlaMetric]


class SlaStretch(msgspec.Struct, kw_only=True):
    """A span of a cycle and why it counted or not; ``status`` is the ticket status that paused it and
    ``holiday`` the name of the holiday that closed it (several, comma-separated, when it spans more)."""

    start: dt.datetime
    end: dt.datetime
    start_local: dt.datetime
    """``start`` in the explanation's ``local_time_zone``."""
    end_local: dt.datetime
    reason: Literal["counted", "outside_hours", "holiday", "paused"]
    status: str | None
    holiday: str | None = None


class SlaInterval(msgspec.Struct, kw_only=True):
    start: dt.datetime
    end: dt.datetime
    start_local: dt.datetime
    """``start`` in the explanation's ``local_time_zone``."""
    end_local: dt.datetime


class SlaMetricExplanation(msgspec.Struct, kw_only=True):
    """How one metric's current cycle stands and how its due instant was computed. Every instant is
    given in UTC and, as ``*_local``, in the explanation's ``local_time_zone``."""

    metric: MetricName
    cycle: int
    state: MetricState
    summary: str
    """One line for people, e.g. ``first response: due Tue 11:00 Europe/Berlin, 1 h 30 min of business
    time left``."""
    target_minutes: DeprecatedMinutes
    target_seconds: int
    warning_seconds: int
    business: bool
    started_at: dt.datetime
    started_at_local: dt.datetime
    due_at: dt.datetime | None
    due_at_local: dt.datetime | None
    warn_at: dt.datetime | None
    """When ``sla.warning`` is (or was) due: ``warning_seconds`` before ``due_at``; null without a
    warning lead, or while paused."""
    warn_at_local: dt.datetime | None
    warned_at: dt.datetime | None
    fulfilled_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    breached_at: dt.datetime | None
    first_breached_at: dt.datetime | None
    consumed_seconds: float
    """SLA time counted so far (up to ``computed_at``, or to the cycle's end)."""
    remaining_seconds: float | None
    stretches: list[SlaStretch]
    """From the cycle's start to its end (or ``computed_at``): what counted and what did not, why."""
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
    local_time_zone: str
    """The zone of every ``*_local`` instant: the calendar's, or UTC for a policy without a calendar."""
    computed_at: dt.datetime
    summary: str
    """The most pressing metric in one line (the running one due first, else a paused one, else the
    last to end), e.g. ``first response: due Tue 11:00 Europe/Berlin, 1 h 30 min of business time
    left``."""
    metrics: list[SlaMetricExplanation]
