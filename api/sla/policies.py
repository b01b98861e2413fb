"""Which SLA policy applies to a ticket: pure functions over the ticket and the active policies."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from api.conditions.compile import state_test
from api.conditions.fields import FIELDS
from api.conditions.tree import Constant, Leaf
from api.sla import clocks
from api.sla.schemas import (
    Condition,
    Conditions,
    PriorityTargets,
    Target,
    TargetInput,
    Targets,
    TargetsInput,
)

Test = Callable[[Mapping[str, Any]], bool]
"""A policy condition, compiled (see :func:`_test`)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """An active policy version, ready to match tickets and give their targets."""

    id: uuid.UUID
    version: int
    calendar_id: uuid.UUID | None
    conditions: Conditions
    targets: Mapping[str, PriorityTargets]
    # Derived once per policy version, since every ticket write asks: the conditions as functions, and
    # the clock targets of each priority.
    all_of: tuple[Test, ...] = field(init=False, compare=False, repr=False)
    any_of: tuple[Test, ...] = field(init=False, compare=False, repr=False)
    _by_priority: dict[str, dict[clocks.MetricName, clocks.Target]] = field(
        init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "all_of", tuple(_test(c) for c in self.conditions.all))
        object.__setattr__(self, "any_of", tuple(_test(c) for c in self.conditions.any))
        by_priority = {priority: _clock_targets(found) for priority, found in self.targets.items()}
        object.__setattr__(self, "_by_priority", by_priority)

    def targets_for(self, priority: str) -> Mapping[clocks.MetricName, clocks.Target]:
        return self._by_priority.get(priority, {})


def _clock_targets(found: PriorityTargets) -> dict[clocks.MetricName, clocks.Target]:
    result: dict[clocks.MetricName, clocks.Target] = {}
    for name in clocks.METRICS:
        target = getattr(found, name)
        if target is not None:
            business = target.time == "business"
            result[name] = clocks.Target(target.seconds, business, target.warning_seconds)
    return result


def target_seconds(given: TargetInput) -> tuple[int | None, int]:
    """A written target's length and warning lead in seconds (``seconds`` wins over the older
    ``minutes``); the length is None when neither is given."""
    seconds = given.seconds if given.seconds is not msgspec.UNSET else None
    if seconds is None and given.minutes is not msgspec.UNSET:
        seconds = given.minutes * 60
    lead = 0
    if given.warning_seconds is not msgspec.UNSET:
        lead = given.warning_seconds
    elif given.warning_minutes is not msgspec.UNSET:
        lead = given.warning_minutes * 60
    return seconds, lead


def stored_targets(given: TargetsInput) -> Targets:
    """Targets as a policy keeps and shows them: in seconds (a target without a length is dropped)."""
    result: Targets = {}
    for priority, metrics in given.items():
        converted: dict[str, Target] = {}
        for name in clocks.METRICS:
            target = getattr(metrics, name)
            if target is None:
                continue
            seconds, lead = target_seconds(target)
            if seconds is not None:
                converted[name] = Target(seconds=seconds, time=target.time, warning_seconds=lead)
        result[priority] = PriorityTargets(**converted)
    return result


def decode_targets(document: str | bytes) -> Targets:
    """Stored targets: in seconds since migration 0340_sla_results; a policy written in minutes (by an
    older process during a rolling deploy) reads the same."""
    return stored_targets(msgspec.json.decode(document, type=TargetsInput))


def _test(condition: Condition) -> Test:
    """A condition as a function of the ticket, decided once per policy version: every ticket write
    matches the ticket against the active policies in order. Compiled by the condition language rules
    use too (``api/conditions``), with the SLA's own value rules (see :func:`_leaf`)."""
    return state_test(_leaf(condition))


def _leaf(condition: Condition) -> Leaf | Constant:
    """An SLA condition in the condition language. Policies keep their stored values as they were
    accepted: ``is``/``is_not`` compare case-insensitively, and a value that is not an id in its usual
    form matches no ticket (so ``is`` never holds and ``is_not`` always does)."""
    field, value = FIELDS[condition.field], condition.value
    if field.type == "tags":
        return Leaf("", field, condition.operator, value)
    if field.type == "id":
        try:
            parsed = uuid.UUID(value)
        except ValueError:
            parsed = None
        if parsed is None or str(parsed) != value.lower():
            return Constant("", condition.operator == "is_not")
        return Leaf("", field, condition.operator, parsed)
    return Leaf("", field, condition.operator, value.lower())


def matches(policy: Policy, ticket: Mapping[str, Any]) -> bool:
    for test in policy.all_of:
        if not test(ticket):
            return False
    if not policy.any_of:
        return True
    for test in policy.any_of:  # noqa: SIM110 (a loop: this runs for every policy on every write)
        if test(ticket):
            return True
    return False


def select(policies: Sequence[Policy], ticket: Mapping[str, Any]) -> Policy | None:
    """The first active policy (in position order) whose conditions the ticket meets and that sets a
    target for its priority: a policy with nothing to measure for the ticket never leaves it silently
    without clocks, the next one applies."""
    priority = ticket["priority"]
    for policy in policies:
        if policy.targets_for(priority) and matches(policy, ticket):
            return policy
    return None


# Fields a policy's conditions read: a change of one of them re-selects the policy.
CONDITION_FIELDS = ("priority", "group_id", "tags", "channel", "requester_id")
