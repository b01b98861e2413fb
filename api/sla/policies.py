"""Which SLA policy applies to a ticket: pure functions over the ticket and the active policies."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from api.conditions.compile import state_test
from api.conditions.fields import FIELDS
from api.conditions.tree import Constant, Leaf
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
    """The first active policy (in position order) whose conditions the ticket meets."""
    for policy in policies:
        if matches(policy, ticket):
            return policy
    return None


# Fields a policy's conditions read: a change of one of them re-selects the policy.
CONDITION_FIELDS = ("priority", "group_id", "tags", "channel", "requester_id")
