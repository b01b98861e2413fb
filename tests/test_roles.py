"""Every route of the people, tickets, events, business calendar, SLA policy and rule features, called
with each role and without a key."""

import uuid

import pytest

from api.app import create_litestar

BOTH = {"admin", "agent"}
ADMIN = {"admin"}
X = str(uuid.uuid4())

# (operationId, method, path, body, roles allowed)
ROUTES = [
    ("createCustomer", "POST", "/v1/customers", {"name": "A", "email": "a@b.c"}, BOTH),
    ("listCustomers", "GET", "/v1/customers", None, BOTH),
    ("getCustomer", "GET", f"/v1/customers/{X}", None, BOTH),
    ("updateCustomer", "PATCH", f"/v1/customers/{X}", {}, BOTH),
    ("createAgent", "POST", "/v1/agents", {"name": "A", "email": "a@b.c"}, ADMIN),
    ("listAgents", "GET", "/v1/agents", None, BOTH),
    ("getAgent", "GET", f"/v1/agents/{X}", None, BOTH),
    ("updateAgent", "PATCH", f"/v1/agents/{X}", {}, ADMIN),
    ("createGroup", "POST", "/v1/groups", {"name": "G"}, ADMIN),
    ("listGroups", "GET", "/v1/groups", None, BOTH),
    ("getGroup", "GET", f"/v1/groups/{X}", None, BOTH),
    ("updateGroup", "PATCH", f"/v1/groups/{X}", {}, ADMIN),
    (
        "createTicket",
        "POST",
        "/v1/tickets",
        {"subject": "s", "message": "m", "requester_email": "a@b.c"},
        BOTH,
    ),
    ("listTickets", "GET", "/v1/tickets", None, BOTH),
    ("getTicket", "GET", "/v1/tickets/1", None, BOTH),
    ("updateTicket", "PATCH", "/v1/tickets/1", {}, BOTH),
    (
        "bulkUpdateTickets",
        "POST",
        "/v1/tickets/bulk-update",
        {"ids": [1], "changes": {"priority": "low"}},
        BOTH,
    ),
    ("listComments", "GET", "/v1/tickets/1/comments", None, BOTH),
    ("getComment", "GET", "/v1/tickets/1/comments/1", None, BOTH),
    ("createComment", "POST", "/v1/tickets/1/comments", {"body": "b"}, BOTH),
    ("listTicketEvents", "GET", "/v1/tickets/1/events", None, BOTH),
    ("getTicketSla", "GET", "/v1/tickets/1/sla", None, BOTH),
    (
        "createSlaPolicy",
        "POST",
        "/v1/sla-policies",
        {"name": "P", "targets": {"urgent": {"resolution": {"minutes": 60}}}},
        ADMIN,
    ),
    ("listSlaPolicies", "GET", "/v1/sla-policies", None, ADMIN),
    ("getSlaPolicy", "GET", f"/v1/sla-policies/{X}", None, ADMIN),
    ("updateSlaPolicy", "PATCH", f"/v1/sla-policies/{X}", {}, ADMIN),
    (
        "createRule",
        "POST",
        "/v1/rules",
        {
            "name": "R",
            "trigger": "on_change",
            "conditions": {},
            "actions": [{"type": "add_tags", "tags": ["x"]}],
        },
        ADMIN,
    ),
    ("listRules", "GET", "/v1/rules", None, BOTH),
    ("getRuleCatalog", "GET", "/v1/rules/fields", None, BOTH),
    ("getRule", "GET", f"/v1/rules/{X}", None, BOTH),
    ("updateRule", "PATCH", f"/v1/rules/{X}", {}, ADMIN),
    ("listRuleVersions", "GET", f"/v1/rules/{X}/versions", None, BOTH),
    ("getRuleVersion", "GET", f"/v1/rules/{X}/versions/1", None, BOTH),
    ("dryRunRule", "POST", "/v1/rules/dry-run", {"trigger": "on_change", "conditions": {}}, BOTH),
    ("dryRunSavedRule", "POST", f"/v1/rules/{X}/dry-run", None, BOTH),
    ("explainRule", "GET", f"/v1/rules/{X}/explain?ticket_id=1", None, BOTH),
    (
        "explainDraftRule",
        "POST",
        "/v1/rules/explain?ticket_id=1",
        {"trigger": "on_change", "conditions": {}},
        BOTH,
    ),
    ("listEvents", "GET", "/v1/events", None, BOTH),
    (
        "createBusinessCalendar",
        "POST",
        "/v1/business-calendars",
        {"name": "C", "time_zone": "UTC", "always_open": True},
        ADMIN,
    ),
    ("listBusinessCalendars", "GET", "/v1/business-calendars", None, ADMIN),
    ("getBusinessCalendar", "GET", f"/v1/business-calendars/{X}", None, ADMIN),
    ("updateBusinessCalendar", "PATCH", f"/v1/business-calendars/{X}", {}, ADMIN),
    (
        "replaceBusinessCalendar",
        "PUT",
        f"/v1/business-calendars/{X}",
        {"name": "C", "time_zone": "UTC", "always_open": True},
        ADMIN,
    ),
    ("deleteBusinessCalendar", "DELETE", f"/v1/business-calendars/{X}", None, ADMIN),
    (
        "importBusinessCalendarHolidays",
        "POST",
        f"/v1/business-calendars/{X}/holidays/import",
        {"country": "DE", "years": [2025]},
        ADMIN,
    ),
    (
        "uploadBusinessCalendarHolidays",
        "POST",
        f"/v1/business-calendars/{X}/holidays/ical",
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nEND:VCALENDAR\r\n",
        ADMIN,
    ),
    (
        "computeBusinessCalendarDue",
        "POST",
        f"/v1/business-calendars/{X}/due",
        {"start": "2025-01-01T00:00:00Z", "minutes": 60},
        BOTH,
    ),
    (
        "computeBusinessCalendarElapsed",
        "POST",
        f"/v1/business-calendars/{X}/elapsed",
        {"from": "2025-01-01T00:00:00Z", "to": "2025-01-02T00:00:00Z"},
        BOTH,
    ),
]


def test_every_feature_route_has_a_role_case(settings):
    app = create_litestar(settings)
    covered = {route[0] for route in ROUTES}
    operations = {
        handler.operation_id
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        if isinstance(handler.operation_id, str)
        if any(
            str(route.path).startswith(p)
            for p in (
                "/v1/customers",
                "/v1/agents",
                "/v1/groups",
                "/v1/tickets",
                "/v1/events",
                "/v1/business-calendars",
                "/v1/sla-policies",
                "/v1/rules",
            )
        )
    }
    assert operations == covered


@pytest.mark.parametrize(
    ("operation", "method", "path", "body", "allowed"), ROUTES, ids=[r[0] for r in ROUTES]
)
async def test_roles(client, admin_headers, agent, operation, method, path, body, allowed):
    _, agent_headers = agent
    kwargs: dict[str, object] = {}
    content_headers: dict[str, str] = {}
    if isinstance(body, bytes):  # an upload: the raw body with its media type
        kwargs["content"], content_headers = body, {"Content-Type": "text/calendar"}
    elif body is not None:
        kwargs["json"] = body
    r = await client.request(method, path, headers=content_headers, **kwargs)
    assert r.status_code == 401, operation
    for role, headers in (("admin", admin_headers), ("agent", agent_headers)):
        r = await client.request(method, path, headers={**headers, **content_headers}, **kwargs)
        if role in allowed:
            # Allowed: anything the route itself answers (2xx, or 404/409 for the made-up ids), never 401/403.
            assert r.status_code in (200, 201, 404, 409), (operation, role, r.status_code, r.text)
        else:
            assert r.status_code == 403, (operation, role, r.status_code)
            assert r.json()["type"] == "urn:helpdesk:problem:forbidden"
