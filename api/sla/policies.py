"""Which SLA policy applies to a ticket: pure functions over the ticket and the active policies."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from api.sla import clocks
from api.sla.schemas import Condition, Conditions, PriorityTargets

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
            result[name] = clocks.Target(target.minutes, business, target.warning_minutes)
    return result


def _test(condition: Condition) -> Test:
    """A condition as a function of the ticket, decided once per policy version: every ticket write
    matches the ticket against the active policies in order."""
    name, value = condition.field, condition.value
    if name == "tags":
        if condition.operator == "includes":
            return lambda ticket: value in ticket["tags"]
        return lambda ticket: value not in ticket["tags"]
    wanted = value.lower()

    def equal(ticket: Mapping[str, Any]) -> bool:
        found = ticket[name]
        return found is not None and str(found).lower() == wanted

    if condition.operator == "is":
        return equal
    return lambda ticket: not equal(ticket)


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
    """The first active policy (in position order) whose conditions the ticket meets."""
    for policy in policies:
        if matches(policy, ticket):
            return policy
    return None


# Fields a policy's conditions read: a change of one of them re-selects the policy.
CONDITION_FIELDS = ("priority", "group_id", "tags", "channel", "requester_id")
