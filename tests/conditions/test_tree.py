"""Reading condition trees: every problem is reported at its JSON path, and a valid tree is stored
normalised."""

from __future__ import annotations

import uuid

import pytest

from api.conditions.fields import FIELDS
from api.conditions.tree import document, parse
from api.errors import Unprocessable

CAL = str(uuid.uuid4())


def errors(raw: object, trigger: str | None = "on_time") -> list[tuple[str, str]]:
    with pytest.raises(Unprocessable) as caught:
        parse(raw, trigger)  # type: ignore[arg-type]
    return [(e.path, e.message) for e in caught.value.errors or []]


def paths(raw: object, trigger: str | None = "on_time") -> list[str]:
    return [path for path, _ in errors(raw, trigger)]


def leaf(field: str, operator: str, value: object = None) -> dict[str, object]:
    return {"field": field, "operator": operator, "value": value}


OK = leaf("priority", "is", "urgent")


def test_unknown_field_wrong_value_and_unfitting_operator_are_reported_at_their_paths():
    tree = {
        "all": [
            OK,
            leaf("priority", "is", "urgent"),
            leaf("color", "is", "red"),
            leaf("priority", "is", "URGENT"),
            leaf("tags", "is", "vip"),
            leaf("comment_count", "at_least", "3"),
        ]
    }
    assert paths(tree) == [
        "$.conditions.all[2].field",
        "$.conditions.all[3].value",
        "$.conditions.all[4].operator",
        "$.conditions.all[5].value",
    ]
    assert dict(errors(tree))["$.conditions.all[4].operator"] == "tags takes includes, excludes"


def test_time_facts_only_on_time_and_change_facts_only_on_change():
    since = leaf("since_created", "at_least", {"minutes": 60})
    assert paths({"all": [OK, since]}, "on_change") == ["$.conditions.all[1].field"]
    assert "time fact" in errors({"any": [since]}, "on_change")[0][1]
    changed = leaf("status", "changed_to", "resolved")
    assert paths({"all": [changed]}, "on_time") == ["$.conditions.all[0].operator"]
    comment = leaf("comment", "added", {"visibility": "public", "author": "customer"})
    assert paths({"all": [comment]}, "on_time") == ["$.conditions.all[0].field"]
    parse({"all": [changed, comment, OK]}, "on_change")
    parse({"all": [since, OK]}, "on_time")
    # SLA policies (no trigger) take stored facts only.
    assert paths({"all": [since, changed, OK]}, None) == [
        "$.conditions.all[0].field",
        "$.conditions.all[1].operator",
    ]


def test_durations_are_checked_field_by_field():
    tree = {
        "all": [
            leaf("since_updated", "at_least", {"minutes": 0}),
            leaf("since_updated", "at_least", {"minutes": 60, "time": "business"}),
            leaf("since_updated", "at_least", {"minutes": 60, "time": "business", "calendar_id": "nope"}),
            leaf("since_updated", "at_least", {"minutes": 60, "calendar_id": CAL}),
            leaf("since_updated", "at_least", {"minutes": 60, "unit": "hours"}),
            leaf("since_updated", "at_least", 60),
            leaf(
                "until_sla_due.first_response",
                "less_than",
                {"minutes": 30, "time": "business", "calendar_id": CAL},
            ),
        ]
    }
    assert paths(tree) == [
        "$.conditions.all[0].value.minutes",
        "$.conditions.all[1].value.calendar_id",
        "$.conditions.all[2].value.calendar_id",
        "$.conditions.all[3].value.calendar_id",
        "$.conditions.all[4].value.unit",
        "$.conditions.all[5].value",
    ]


def test_groups_nest_one_level():
    inner = {"all": [OK], "any": [leaf("tags", "includes", "vip")]}
    parse({"all": [inner], "any": [inner]}, "on_time")
    too_deep = {"any": [{"all": [OK, {"any": [OK]}]}]}
    assert paths(too_deep) == ["$.conditions.any[0].all[1]"]
    assert paths({"all": [{"any": [leaf("nope", "is", 1)]}]}) == ["$.conditions.all[0].any[0].field"]


def test_malformed_trees():
    assert paths([OK]) == ["$.conditions"]
    assert paths({"all": OK}) == ["$.conditions.all"]
    assert paths({"all": [OK], "none": []}) == ["$.conditions.none"]
    assert paths({"field": "priority", "operator": "is", "value": "low"}) == [
        "$.conditions.field",
        "$.conditions.operator",
        "$.conditions.value",
    ]
    assert paths({"all": ["priority is low", {**OK, "note": "x"}]}) == [
        "$.conditions.all[0]",
        "$.conditions.all[1].note",
    ]
    assert paths({"all": [OK] * 101})[-1] == "$.conditions.all[100]"


def test_lists_ids_and_none():
    group = str(uuid.uuid4()).upper()
    tree = parse(
        {
            "all": [
                leaf("assignee_id", "is", None),
                leaf("group_id", "in", [group, group.lower()]),
                leaf("status", "not_in", ["resolved", "closed", "resolved"]),
            ]
        },
        "on_time",
    )
    assert document(tree) == {
        "all": [
            leaf("assignee_id", "is", None),
            leaf("group_id", "in", [group.lower()]),
            leaf("status", "not_in", ["resolved", "closed"]),
        ],
        "any": [],
    }
    assert paths({"all": [leaf("requester_id", "is", None)]}) == ["$.conditions.all[0].value"]
    assert paths({"all": [leaf("group_id", "in", [])]}) == ["$.conditions.all[0].value"]
    assert paths({"all": [leaf("group_id", "in", ["x"])]}) == ["$.conditions.all[0].value[0]"]


def test_documents_round_trip():
    tree = {
        "all": [
            leaf("since_created", "at_least", {"minutes": 240, "time": "business", "calendar_id": CAL}),
            leaf("since_resolved", "less_than", {"minutes": 60, "time": "calendar"}),
            {
                "all": [],
                "any": [leaf("sla_breached.resolution", "is", True), leaf("subject", "contains", "Refund")],
            },
        ],
        "any": [],
    }
    assert document(parse(tree, "on_time")) == tree
    change = {
        "all": [leaf("status", "changed", None), leaf("comment", "added", {"author": "customer"})],
        "any": [],
    }
    assert document(parse(change, "on_change")) == change


def test_every_field_has_operators_of_one_kind_per_name():
    for field in FIELDS.values():
        assert field.operators, field.name
        for name, operator in field.operators.items():
            assert operator.name == name
