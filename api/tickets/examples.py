"""OpenAPI examples for the ticket routes (frontend teams generate clients and mocks from these)."""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import Example

TICKET: dict[str, Any] = {
    "id": 1042,
    "subject": "Cannot log in since Monday",
    "status": "open",
    "priority": "high",
    "channel": "email",
    "requester": {
        "id": "0b6f6c1e-3f55-4d0e-9a57-5b1f0c9c2f10",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
    },
    "assignee": {
        "id": "5d2c1b0a-8e7f-4a6b-9c3d-2e1f0a9b8c7d",
        "name": "Grace Hopper",
        "email": "grace@example.com",
    },
    "group": {"id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "name": "Accounts"},
    "tags": ["login", "vip"],
    "external_ref": "CRM-7781",
    "follow_up_of": None,
    "version": 3,
    "created_at": "2026-11-20T09:14:03.120000Z",
    "updated_at": "2026-11-20T10:02:44.870000Z",
    "first_agent_reply_at": "2026-11-20T09:31:12.004000Z",
    "resolved_at": None,
    "closed_at": None,
    "sla": {
        "policy_id": "3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        "policy_version": 2,
        "calendar_id": "7e6d5c4b-3a29-4817-9f6e-5d4c3b2a1908",
        "calendar_version": 1,
        "metrics": [
            {
                "metric": "first_response",
                "cycle": 1,
                "state": "fulfilled",
                "target_minutes": 60,
                "target_seconds": 3600,
                "business": True,
                "warning_minutes": 15,
                "warning_seconds": 900,
                "started_at": "2026-11-20T09:14:03.120000Z",
                "running_since": None,
                "consumed_seconds": 1028.884,
                "due_at": None,
                "warned_at": None,
                "breached_at": None,
                "first_breached_at": None,
                "fulfilled_at": "2026-11-20T09:31:12.004000Z",
                "cancelled_at": None,
                "pauses": [],
                "earlier_cycles": [],
                "remaining_seconds": None,
            },
            {
                "metric": "resolution",
                "cycle": 1,
                "state": "running",
                "target_minutes": 480,
                "target_seconds": 28800,
                "business": True,
                "warning_minutes": 60,
                "warning_seconds": 3600,
                "started_at": "2026-11-20T09:14:03.120000Z",
                "running_since": "2026-11-20T10:02:44.870000Z",
                "consumed_seconds": 1800.0,
                "due_at": "2026-11-20T17:32:44.870000Z",
                "warned_at": None,
                "breached_at": None,
                "first_breached_at": None,
                "fulfilled_at": None,
                "cancelled_at": None,
                "pauses": [
                    {
                        "start": "2026-11-20T09:44:03.120000Z",
                        "end": "2026-11-20T10:02:44.870000Z",
                        "reason": "pending",
                    }
                ],
                "earlier_cycles": [],
                "remaining_seconds": 25200.0,
            },
        ],
    },
}

CREATE = [
    Example(
        summary="Requester by email",
        value={
            "subject": "Cannot log in since Monday",
            "message": "Every login attempt says my password is wrong.",
            "requester_email": "ada@example.com",
            "requester_name": "Ada Lovelace",
            "priority": "high",
            "tags": ["login"],
            "channel": "email",
        },
    ),
    Example(
        summary="Requester by id, assigned",
        value={
            "subject": "Invoice 2231 is wrong",
            "message": "I was charged twice.",
            "requester_id": "0b6f6c1e-3f55-4d0e-9a57-5b1f0c9c2f10",
            "assignee_id": "5d2c1b0a-8e7f-4a6b-9c3d-2e1f0a9b8c7d",
            "group_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
        },
    ),
]

UPDATE = [
    Example(summary="Resolve", value={"status": "resolved"}),
    Example(
        summary="Reassign and reprioritise",
        value={"assignee_id": TICKET["assignee"]["id"], "priority": "urgent"},
    ),
]

BULK = [
    Example(
        summary="Put tickets on hold and tag them",
        value={"ids": [1042, 1043], "changes": {"status": "on_hold", "add_tags": ["vendor"]}},
    )
]

COMMENT = [
    Example(summary="Public reply", value={"body": "We reset your password; please try again."}),
    Example(summary="Internal note", value={"body": "Customer is on the legacy plan.", "public": False}),
    Example(
        summary="Customer reply (a key that speaks for customers)",
        value={"body": "Works now, thanks!", "author_type": "customer"},
    ),
]


TICKET_RESPONSE = {"ticket": Example(summary="A ticket", value=TICKET)}


LIST_RESPONSE = {
    "page": Example(
        summary="First page with a total",
        value={"data": [TICKET], "next_cursor": "WyItY3JlYXRlZCIsIjIwMjYtMTEtMjAiLDEwNDJd", "total": 1289},
    )
}
