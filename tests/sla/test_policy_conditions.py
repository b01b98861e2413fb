"""SLA policy conditions compile through the condition language (api/conditions) and still decide exactly
as the policy's own rules always did: held against that earlier implementation, kept here as the oracle."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from api.sla.policies import _test
from api.sla.schemas import Condition

IDS = [uuid.UUID(int=1), uuid.UUID("7d444840-9dc0-11d1-b245-5ffdce74fad2")]


def oracle(condition: Condition, ticket: Mapping[str, Any]) -> bool:
    name, value = condition.field, condition.value
    if name == "tags":
        return (value in ticket["tags"]) == (condition.operator == "includes")
    found = ticket[name]
    equal = found is not None and str(found).lower() == value.lower()
    return equal if condition.operator == "is" else not equal


def id_texts() -> st.SearchStrategy[str]:
    one = st.sampled_from(IDS)
    return st.one_of(
        one.map(str),
        one.map(lambda u: str(u).upper()),
        one.map(lambda u: u.hex),  # parses as a UUID, but is not the form a ticket's id is compared in
        one.map(lambda u: "{" + str(u) + "}"),
        st.text(max_size=40).filter(bool),
    )


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    name = draw(st.sampled_from(["priority", "group_id", "tags", "channel", "requester_id"]))
    if name == "tags":
        value = draw(st.sampled_from(["vip", "VIP", "billing"]))
        return Condition(field=name, operator=draw(st.sampled_from(["includes", "excludes"])), value=value)
    if name in ("group_id", "requester_id"):
        value = draw(id_texts())
    else:
        value = draw(st.sampled_from(["low", "urgent", "URGENT", "Email", "email", "web", "nope"]))
    return Condition(field=name, operator=draw(st.sampled_from(["is", "is_not"])), value=value)


tickets = st.fixed_dictionaries(
    {
        "priority": st.sampled_from(["low", "normal", "high", "urgent"]),
        "channel": st.sampled_from(["api", "email", "web"]),
        "group_id": st.one_of(st.none(), st.sampled_from(IDS)),
        "requester_id": st.one_of(st.none(), st.sampled_from(IDS)),  # None: created by email (see the seam)
        "tags": st.lists(st.sampled_from(["vip", "billing", "Vip"]), unique=True),
    }
)


@settings(max_examples=500, deadline=None)
@given(conditions(), tickets)
def test_policy_conditions_decide_as_they_always_did(condition, ticket):
    assert _test(condition)(ticket) == oracle(condition, ticket)
