"""The published schema of rule conditions and actions.

Requests carry a rule's condition tree as a JSON object that :mod:`api.conditions.tree` reads itself (so
every problem is reported at its path, and one schema serves rules and previews); the spec describes
the tree exactly: ``RuleConditions`` (``all``/``any`` lists of conditions or one level of groups),
``RuleCondition`` (the field names and operators of the catalog) and the value shapes. Actions are a
union tagged by ``type``; the spec says so with a discriminator, for client generators.
"""

from __future__ import annotations

from typing import Any

import msgspec

from api.conditions.fields import FIELDS, MAX_MINUTES
from api.rules import examples, preview, schemas

SCHEMAS = "#/components/schemas/"
TREE_DESCRIPTION = "The rule's condition tree."


def _ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS + name}


def _components() -> dict[str, Any]:
    operators = sorted({op for field in FIELDS.values() for op in field.operators})
    condition_list = {"type": "array", "items": _ref("RuleCondition"), "maxItems": 100}
    return {
        "RuleDuration": {
            "title": "RuleDuration",
            "type": "object",
            "description": "A span of calendar time, or of a business calendar's open hours.",
            "properties": {
                "minutes": {"type": "integer", "minimum": 1, "maximum": MAX_MINUTES},
                "time": {"type": "string", "enum": ["calendar", "business"], "default": "calendar"},
                "calendar_id": {
                    "type": "string",
                    "format": "uuid",
                    "description": "The business calendar whose open hours count (business time only).",
                },
            },
            "required": ["minutes"],
            "additionalProperties": False,
        },
        "RuleCommentMatch": {
            "title": "RuleCommentMatch",
            "type": "object",
            "description": "Which comment a change must carry; an omitted field matches any.",
            "properties": {
                "visibility": {"type": "string", "enum": ["public", "internal"]},
                "author": {"type": "string", "enum": ["customer", "agent", "system"]},
            },
            "additionalProperties": False,
        },
        "RuleCondition": {
            "title": "RuleCondition",
            "type": "object",
            "description": "One condition. `GET /v1/rules/fields` lists each field's operators and the value "
            "each takes: a value of the field (a list for `in`/`not_in`), a `RuleDuration` for time facts, "
            "a `RuleCommentMatch` for `comment`, nothing for `changed`/`not_changed`.",
            "properties": {
                "field": {"type": "string", "enum": sorted(FIELDS)},
                "operator": {"type": "string", "enum": operators},
                "value": {
                    "anyOf": [
                        {"type": "string"},
                        {"type": "integer"},
                        {"type": "boolean"},
                        {"type": "array", "items": {"type": "string"}},
                        _ref("RuleDuration"),
                        _ref("RuleCommentMatch"),
                        {"type": "null"},
                    ]
                },
            },
            "required": ["field", "operator"],
            "additionalProperties": False,
            "examples": [{"field": "priority", "operator": "is", "value": "urgent"}],
        },
        "RuleConditionGroup": {
            "title": "RuleConditionGroup",
            "type": "object",
            "description": "A nested group: it holds when every `all` condition and (if any are given) at "
            "least one `any` condition holds. Groups nest one level.",
            "properties": {"all": condition_list, "any": condition_list},
            "additionalProperties": False,
        },
        "RuleConditions": {
            "title": "RuleConditions",
            "type": "object",
            "description": "A ticket matches when every `all` entry and (if any are given) at least one "
            "`any` entry holds; an entry is a condition or a group of conditions.",
            "properties": {
                name: {
                    "type": "array",
                    "items": {"oneOf": [_ref("RuleCondition"), _ref("RuleConditionGroup")]},
                    "maxItems": 100,
                }
                for name in ("all", "any")
            },
            "additionalProperties": False,
            "examples": [examples.ESCALATION["conditions"]],
        },
    }


_ACTION_TAGS = {cls.__name__: cls.__struct_config__.tag for cls in schemas.Action.__args__}


def publish(spec: dict[str, Any]) -> None:
    """Describe condition trees and tag the action union (applied to the finished document)."""
    found: dict[str, Any] = spec["components"]["schemas"]
    found.update(_components())
    # Whole-object examples, so derived examples (list pages, versions) read like real rules.
    found["RuleRead"]["examples"] = [examples.READ]
    catalog = msgspec.to_builtins(preview.catalog())
    catalog["fields"] = [
        f for f in catalog["fields"] if f["name"] in ("priority", "since_created", "comment")
    ]
    found["RuleCatalog"]["examples"] = [catalog]
    for schema in found.values():
        for name, prop in (schema.get("properties") or {}).items():
            if name == "conditions" and prop.get("description") == TREE_DESCRIPTION:
                schema["properties"][name] = {**_ref("RuleConditions"), "description": TREE_DESCRIPTION}
            items = prop.get("items") if name == "actions" else None
            if isinstance(items, dict) and "oneOf" in items:
                refs = [branch.get("$ref", "").removeprefix(SCHEMAS) for branch in items["oneOf"]]
                if set(refs) == set(_ACTION_TAGS):
                    mapping = {_ACTION_TAGS[ref]: SCHEMAS + ref for ref in refs}
                    items["discriminator"] = {"propertyName": "type", "mapping": mapping}
