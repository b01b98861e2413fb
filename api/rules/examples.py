"""OpenAPI examples for rules: an escalation and a follow-up, as admins write them."""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import Example

RULE_ID = "3c1e9b7a-52d4-4f8e-9a61-0d2b7c4e8f15"
CALENDAR_ID = "0b6f6c1e-3f55-4d0e-9a57-5b1f0c9c2f10"
GROUP_ID = "9a4d2c71-6e0b-4f3a-8c5d-1b7e2f9a0c46"
AGENT_ID = "5d2c1b0a-8e7f-4a6b-9c3d-2e1f0a9b8c7d"

ESCALATION: dict[str, Any] = {
    "name": "Escalate urgent tickets left unanswered",
    "description": "Urgent tickets without an agent reply for 2 business hours go to the escalation team.",
    "trigger": "on_time",
    "conditions": {
        "all": [
            {"field": "priority", "operator": "is", "value": "urgent"},
            {"field": "status", "operator": "in", "value": ["new", "open"]},
            {
                "field": "since_last_customer_message",
                "operator": "at_least",
                "value": {"minutes": 120, "time": "business", "calendar_id": CALENDAR_ID},
            },
        ],
        "any": [
            {"field": "assignee_id", "operator": "is", "value": None},
            {"field": "tags", "operator": "includes", "value": "vip"},
        ],
    },
    "actions": [
        {"type": "assign_group", "group_id": GROUP_ID, "strategy": "least_open"},
        {"type": "add_tags", "tags": ["escalated"]},
        {
            "type": "add_internal_note",
            "template": 'Escalated: {{requester.name}} has waited 2 business hours on "{{ticket.subject}}".',
        },
        {
            "type": "emit_ticket_escalated",
            "level": 1,
            "reason": "urgent ticket unanswered for 2 business hours",
        },
    ],
    "active": True,
    "position": 10,
}
FOLLOW_UP: dict[str, Any] = {
    "name": "Ask for feedback a day after resolution",
    "trigger": "on_time",
    "conditions": {
        "all": [
            {"field": "status", "operator": "is", "value": "resolved"},
            {
                "field": "since_resolved",
                "operator": "at_least",
                "value": {"minutes": 1440, "time": "calendar"},
            },
        ],
        "any": [],
    },
    "actions": [{"type": "emit_rule_triggered", "label": "send-feedback-survey"}],
}
ON_CHANGE: dict[str, Any] = {
    "name": "Reopened by the customer",
    "trigger": "on_change",
    "conditions": {
        "all": [
            {"field": "status", "operator": "changed_from", "value": "resolved"},
            {
                "field": "comment",
                "operator": "added",
                "value": {"visibility": "public", "author": "customer"},
            },
        ],
        "any": [],
    },
    "actions": [{"type": "set_priority", "priority": "high"}, {"type": "assign_agent", "agent_id": AGENT_ID}],
}

RULE_CREATE = [
    Example(summary="An escalation in business hours", value=ESCALATION),
    Example(summary="A follow-up a day after resolution", value=FOLLOW_UP),
    Example(summary="React to a change", value=ON_CHANGE),
]
RULE_UPDATE = [
    Example(summary="Deactivate", value={"active": False}),
    Example(summary="Run earlier", value={"position": 1}),
]
RULE_DRAFT = [
    Example(
        summary="Preview an escalation",
        value={k: ESCALATION[k] for k in ("trigger", "conditions", "actions")},
    )
]

READ = {
    "id": RULE_ID,
    "version": 2,
    **ESCALATION,
    "created_at": "2026-11-20T09:14:03Z",
    "updated_at": "2026-11-21T16:02:44Z",
}
RULE_RESPONSE = {"An escalation": Example(value=READ)}

DRY_RUN = {
    "Two urgent tickets": Example(
        value={
            "evaluated_at": "2026-11-23T14:00:00Z",
            "matched": 2,
            "tickets": [
                {
                    "ticket": {
                        "id": 1042,
                        "subject": "Checkout fails with card declined",
                        "status": "open",
                        "priority": "urgent",
                        "assignee_id": None,
                        "group_id": None,
                        "tags": ["billing"],
                        "updated_at": "2026-11-23T09:31:12Z",
                    },
                    "changes": [
                        {"field": "assignee_id", "previous": None, "current": AGENT_ID},
                        {"field": "group_id", "previous": None, "current": GROUP_ID},
                        {"field": "tags", "previous": ["billing"], "current": ["billing", "escalated"]},
                    ],
                    "comments": [
                        {
                            "public": False,
                            "body": 'Escalated: Ada Lovelace has waited 2 business hours on "Checkout fails '
                            'with card declined".',
                        }
                    ],
                    "events": [
                        {
                            "type": "ticket.escalated",
                            "data": {"level": 1, "reason": "urgent ticket unanswered for 2 business hours"},
                        }
                    ],
                    "refused": [],
                }
            ],
            "unevaluated": [],
        }
    )
}

EXPLANATION = {
    "Why it matches": Example(
        value={
            "rule_id": RULE_ID,
            "rule_version": 2,
            "ticket_id": 1042,
            "evaluated_at": "2026-11-23T14:00:00Z",
            "holds": True,
            "conditions": [
                {
                    "path": "$.conditions.all[0]",
                    "field": "priority",
                    "operator": "is",
                    "value": "urgent",
                    "actual": "urgent",
                    "holds": True,
                },
                {
                    "path": "$.conditions.all[1]",
                    "field": "status",
                    "operator": "in",
                    "value": ["new", "open"],
                    "actual": "open",
                    "holds": True,
                },
                {
                    "path": "$.conditions.all[2]",
                    "field": "since_last_customer_message",
                    "operator": "at_least",
                    "value": {"minutes": 120, "time": "business", "calendar_id": CALENDAR_ID},
                    "actual": 148.8,
                    "holds": True,
                },
                {
                    "path": "$.conditions.any[0]",
                    "field": "assignee_id",
                    "operator": "is",
                    "value": None,
                    "actual": None,
                    "holds": True,
                },
                {
                    "path": "$.conditions.any[1]",
                    "field": "tags",
                    "operator": "includes",
                    "value": "vip",
                    "actual": ["billing"],
                    "holds": False,
                },
            ],
            "groups": [],
        }
    )
}
