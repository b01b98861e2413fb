"""Which SLA policy applies to a ticket: pure functions over the ticket and the active policies."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from api.sla import clocks
from api.sla.schemas import Condition, Conditions, PriorityTargets


@dataclass(frozen=True, slots=True)
class Policy:
    """An active policy version, ready to match tickets and give their targets."""

    id: uuid.UUID
    version: int
    calendar_id: uuid.UUID | None
    conditions: Conditions
    targets: Mapping[str, PriorityTargets]
    _by_priority: dict[str, Mapping[clocks.MetricName, clocks.Target]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    """``targets_for`` per priority, computed once per policy version (every ticket write asks)."""
    all_of: tuple[Test, ...] = field(init=False, compare=False, repr=False)
    any_of: tuple[Test, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "all_of", tuple(_test(c) for c in self.conditions.all))
        object.__setattr__(self, "any_of", tuple(_test(c) for c in self.conditions.any))

    def targets_for(self, priority: str) -> Mapping[clocks.MetricName, clocks.Target]:
        found = self._by_priority.get(priority)
        if found is None:
            found = self._by_priority[priority] = self._targets_for(priority)
        return found

    def _targets_for(self, priority: str) -> dict[clocks.MetricName, clocks.Target]:
        found = self.targets.get(priority)
        if found is None:
            return {}
        result: dict[clocks.MetricName, clocks.Target] = {}
        for name in clocks.METRICS:
            target = getattr(found, name)
            if target is not None:
                business = target.time == "business"
                result[name] = clocks.Target(target.minutes, business, target.warning_minutes)
        return result


Test = Callable[[Mapping[str, Any]], bool]


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
