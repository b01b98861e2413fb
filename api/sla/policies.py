"""Which SLA policy applies to a ticket: pure functions over the ticket and the active policies."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
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


def _holds(condition: Condition, ticket: Mapping[str, Any]) -> bool:
    if condition.field == "tags":
        present = condition.value in ticket["tags"]
        return present if condition.operator == "includes" else not present
    value = ticket[condition.field]
    equal = value is not None and str(value).lower() == condition.value.lower()
    return equal if condition.operator == "is" else not equal


def matches(policy: Policy, ticket: Mapping[str, Any]) -> bool:
    conditions = policy.conditions
    if not all(_holds(c, ticket) for c in conditions.all):
        return False
    return not conditions.any or any(_holds(c, ticket) for c in conditions.any)


def select(policies: Sequence[Policy], ticket: Mapping[str, Any]) -> Policy | None:
    """The first active policy (in position order) whose conditions the ticket meets."""
    return next((p for p in policies if matches(p, ticket)), None)


# Fields a policy's conditions read: a change of one of them re-selects the policy.
CONDITION_FIELDS = ("priority", "group_id", "tags", "channel", "requester_id")
