"""The change feed: every event, in an order readers can follow without ever missing one."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import QueryParameter

from api.auth.guards import ANY_ROLE
from api.consistency import Reads
from api.events import service
from api.events.schemas import EventFeedPage, EventType
from api.pagination import DEFAULT_LIMIT, Limit


@get("/v1/events", operation_id="listEvents", tags=["Events"], opt=ANY_ROLE)
async def list_events(
    reads: Reads,
    after: Annotated[
        str | None,
        QueryParameter(description="`next_cursor` of the previous page; omit to start at the beginning."),
    ] = None,
    types: Annotated[
        list[EventType] | None,
        QueryParameter(
            description="Only these event types: repeat the parameter or separate them with commas."
        ),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> EventFeedPage:
    """Read the change feed.

    Events appear in commit order and never behind a cursor already handed out: keep polling with
    `next_cursor` (it is returned even when the page is empty) and you see every event exactly once.
    """
    return await service.feed(reads, after=after, types=types, limit=limit)
