"""The OpenAPI example of a ticket's SLA explanation: the example ticket's SLA as ``explain`` answers it,
so the example is what the code answers (it lives here, not in api/tickets, which imports no feature)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar.openapi.spec import Example

from api.calendars.businesstime import Schedule
from api.sla.explain import explain
from api.sla.hook import BusinessTime
from api.sla.schemas import TicketSla
from api.tickets.examples import TICKET


def _explanation() -> dict[str, Any]:
    """Half an hour after the example ticket's last change (its calendar: always open in Berlin)."""
    sla = msgspec.convert(TICKET["sla"], TicketSla)
    calendar = BusinessTime(Schedule("Europe/Berlin", always_open=True))
    now = dt.datetime(2026, 11, 20, 10, 32, 44, 870000, tzinfo=dt.UTC)
    explained = explain(TICKET["id"], sla, calendar, now, "Europe/Berlin")
    return msgspec.to_builtins(explained)  # type: ignore[no-any-return]


SLA_EXPLANATION_RESPONSE = {"explanation": Example(summary="A ticket's SLA explained", value=_explanation())}
