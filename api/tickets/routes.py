"""HTTP routes for tickets, their comments and their history (agents and admins)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from litestar import Controller, MediaType, Request, Response, get, patch, post
from litestar.params import Body, FromPath, HeaderParameter, QueryParameter

from api.auth.guards import ANY_ROLE
from api.auth.schemas import Principal
from api.consistency import ConsistencyToken, Reads, token_of
from api.context import request_context
from api.db import Transaction, raw_transaction, statement_pool, unit_of_work, utcnow
from api.errors import NotFound
from api.etags import etag_header, expected_version, if_match
from api.events import service as events
from api.events.schemas import EventPage
from api.idempotency import IdempotencyKeyHeader, created, idempotent
from api.openapi import (
    created_at_location,
    lifecycle_conflicts,
    not_modified,
    problem_notes,
    problems,
    response_examples,
    stale_etag,
)
from api.pagination import DEFAULT_LIMIT, Cursor, IncludeTotal, Limit
from api.replica import read_router
from api.sla import render
from api.sla.examples import SLA_EXPLANATION_RESPONSE
from api.sla.explain import explain
from api.sla.hook import BusinessTime
from api.sla.schemas import TicketSlaExplanation
from api.tickets import bulk, comments, examples, queries, seam, service
from api.tickets.bulk_slots import bulk_slots
from api.tickets.schemas import (
    CommentCreate,
    CommentPage,
    CommentRead,
    Priority,
    Sort,
    Status,
    Tag,
    TicketBulkUpdate,
    TicketCreate,
    TicketList,
    TicketPage,
    TicketRead,
    TicketUpdate,
)

Req = Request[Principal, Any, Any]

IfMatch = Annotated[str | None, if_match("ticket")]


IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match",
        required=False,
        description='The `ETag` of the copy you hold (e.g. `"3"`); when it is still current the answer is '
        "304 with no body.",
    ),
]


def still_current(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names the current ``ETag`` (RFC 9110 weak comparison; ``*`` matches)."""
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def with_etag(ticket: TicketRead, etag: str, status_code: int = 200) -> Response[TicketRead]:
    headers = {"ETag": etag}
    if status_code == 201:
        headers["Location"] = f"/v1/tickets/{ticket.id}"
    return Response(ticket, status_code=status_code, headers=headers)


async def as_of_now(request: Req, tickets: list[TicketRead]) -> None:
    """Complete the tickets' SLA states with the time left at this instant."""
    if any(ticket.sla is not None for ticket in tickets):
        state = request.app.state
        found = render.Clocks(statement_pool(state), state.calendar_cache)
        await render.complete((ticket.sla for ticket in tickets), found, utcnow())


async def _page_as_of_now(request: Req, page: bytes) -> bytes:
    """A list page rendered by PostgreSQL, completed like single tickets when it carries SLA states."""
    if b'"sla" : {' not in page:
        return page
    decoded = msgspec.json.decode(page, type=TicketPage)
    await as_of_now(request, decoded.data)
    return msgspec.json.encode(decoded)


def prerendered(body: bytes) -> Response[Any]:
    """A response whose body PostgreSQL already rendered as the JSON of the route's declared type."""
    return Response(body, media_type=MediaType.JSON)


ETAG = etag_header("ticket")


async def _config(request: Req, raw: asyncpg.Connection | asyncpg.Pool) -> seam.Config:
    """The hooks' configuration, from this process's caches (``api/features.py``, set up by the app)."""
    config: seam.Config = await request.app.state.hook_config.get(raw)
    return config


def _q(description: str, **kwargs: Any) -> QueryParameter:
    return QueryParameter(description=description, **kwargs)


class TicketController(Controller):
    path = "/v1/tickets"
    tags = ["Tickets"]
    opt = ANY_ROLE

    @post(
        operation_id="createTicket",
        opt={**problems(409), **response_examples(201, examples.TICKET_RESPONSE), **created_at_location()},
        response_headers=ETAG,
    )
    async def create_ticket(
        self,
        request: Req,
        data: Annotated[TicketCreate, Body(examples=examples.CREATE)],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[TicketRead]:
        """Create a ticket.

        The requester is named by id or by email (a new customer is created for an unknown email); the
        message becomes the ticket's first public comment. A ticket created with an assignee is `open`.
        """
        ctx = request_context(request)
        state = request.app.state
        # Configuration and SLA clocks read through the statement pool, so never while holding one of its
        # connections (a pool of one would wait for itself).
        config = await _config(request, statement_pool(state))

        async def create(raw: asyncpg.Connection) -> Response[Any]:
            ticket, etag = await service.create_ticket(raw, ctx, config, data)
            await as_of_now(request, [ticket])
            return with_etag(ticket, etag, 201)

        if idempotency_key is None:  # usually one statement, its own transaction: no unit of work needed
            async with statement_pool(state).acquire() as raw:
                ticket, etag = await service.create_ticket(raw, ctx, config, data)
            await as_of_now(request, [ticket])
            return with_etag(ticket, etag, 201)
        async with unit_of_work(state) as tx:
            raw = await raw_transaction(tx)
            return await idempotent(tx, request, idempotency_key, data, lambda: create(raw))

    @get(operation_id="listTickets", opt=response_examples(200, examples.LIST_RESPONSE))
    async def list_tickets(
        self,
        request: Req,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        include_total: IncludeTotal = False,
        sort: Annotated[
            Sort,
            _q(
                "Order: created, updated, priority or sla_due (the next SLA due instant; tickets without "
                "one last); `-` for descending."
            ),
        ] = "-created",
        status: Annotated[
            list[Status] | None, _q("Any of these statuses (repeat the parameter, or separate with commas).")
        ] = None,
        priority: Annotated[list[Priority] | None, _q("Any of these priorities.")] = None,
        assignee: Annotated[
            list[str] | None, _q("Agent ids, `none` (unassigned) or `me`; any matches.")
        ] = None,
        group_id: Annotated[list[uuid.UUID] | None, _q("Any of these groups.")] = None,
        requester_id: Annotated[uuid.UUID | None, _q("Tickets of this customer.")] = None,
        tag: Annotated[list[Tag] | None, _q("Tags to match, see `tag_mode`.")] = None,
        tag_mode: Annotated[Literal["all", "any"], _q("Match all tags (default) or any.")] = "all",
        created_after: Annotated[dt.datetime | None, _q("Created at or after.")] = None,
        created_before: Annotated[dt.datetime | None, _q("Created before.")] = None,
        updated_after: Annotated[dt.datetime | None, _q("Updated at or after.")] = None,
        updated_before: Annotated[dt.datetime | None, _q("Updated before.")] = None,
        q: Annotated[
            str | None,
            _q(
                'Full-text search over subject and comments: every word (`printer fire`), `"a phrase"`, '
                "`-word` to exclude, `or` between alternatives, `pass*` for words starting with `pass`.",
                max_length=500,
            ),
        ] = None,
        sla_breached: Annotated[
            bool | None, _q("Tickets with (true) or without (false) an SLA breach.")
        ] = None,
        sla_due_before: Annotated[
            dt.datetime | None, _q("A running SLA metric falls due before this.")
        ] = None,
        consistency_token: ConsistencyToken = None,
    ) -> Response[TicketPage]:
        """List tickets.

        Filters combine with AND; repeated values of one filter combine with OR. Pages are stable under
        concurrent inserts.
        """
        filters = queries.TicketFilters(
            status=list(status) if status else None,
            priority=list(priority) if priority else None,
            assignee=assignee,
            group_id=group_id,
            requester_id=requester_id,
            tag=tag,
            tag_mode=tag_mode,
            created_after=created_after,
            created_before=created_before,
            updated_after=updated_after,
            updated_before=updated_before,
            q=q,
            sla_breached=sla_breached,
            sla_due_before=sla_due_before,
        )
        page = await read_router(request.app.state).run(
            token_of(consistency_token),
            lambda pool: queries.list_tickets(
                pool,
                filters,
                sort=sort,
                limit=limit,
                cursor=cursor,
                include_total=include_total,
                me=request.user.agent_id,
            ),
        )
        return prerendered(await _page_as_of_now(request, page))

    @get(
        "/{ticket_id:int}",
        operation_id="getTicket",
        opt={**problems(404), **response_examples(200, examples.TICKET_RESPONSE), **not_modified()},
        response_headers=ETAG,
    )
    async def get_ticket(
        self, request: Req, ticket_id: FromPath[int], if_none_match: IfNoneMatch = None
    ) -> Response[TicketRead]:
        """Get a ticket.

        Its `ETag` is what to send back as `If-Match` when changing it (only edits make that fail, not
        its SLA clocks), or as `If-None-Match` to re-read it cheaply (304 while nothing, SLA state
        included, changed).
        """
        ticket, etag = await service.get_ticket(statement_pool(request.app.state), ticket_id)
        if still_current(if_none_match, etag):
            return Response(b"", status_code=304, headers={"ETag": etag})  # type: ignore[arg-type]
        await as_of_now(request, [ticket])
        return with_etag(ticket, etag)

    @get(
        "/{ticket_id:int}/sla",
        operation_id="getTicketSla",
        opt={**problems(404), **response_examples(200, SLA_EXPLANATION_RESPONSE)},
    )
    async def get_ticket_sla(self, request: Req, ticket_id: FromPath[int]) -> TicketSlaExplanation:
        """Explain a ticket's SLA.

        The policy and calendar versions used and, per metric, every stretch of the current cycle that
        counted or did not (outside hours, the holiday by name, paused by a status), the open intervals
        still ahead of the due instant, the warning instant, and a one-line summary; every instant in UTC
        and in the calendar's local time. 404 when no SLA policy applies to the ticket.
        """
        state = request.app.state
        pool = statement_pool(state)
        ticket, _ = await service.get_ticket(pool, ticket_id)
        if ticket.sla is None:
            raise NotFound(f"No SLA policy applies to ticket {ticket_id}.")
        business = await render.Clocks(pool, state.calendar_cache).business(ticket.sla)
        zone = business.schedule.time_zone if isinstance(business, BusinessTime) else None
        names = await render.holiday_names(pool, ticket.sla)
        return explain(ticket_id, ticket.sla, business, utcnow(), zone, names)

    @patch(
        "/{ticket_id:int}",
        operation_id="updateTicket",
        opt={
            **problems(404, 409, 412),
            **response_examples(200, examples.TICKET_RESPONSE),
            **stale_etag(),
            **lifecycle_conflicts(),
        },
        response_headers=ETAG,
    )
    async def update_ticket(
        self,
        tx: Transaction,
        request: Req,
        ticket_id: FromPath[int],
        data: Annotated[TicketUpdate, Body(examples=examples.UPDATE)],
        if_match: IfMatch = None,
    ) -> Response[TicketRead]:
        """Update a ticket.

        Only the fields sent change. Status changes follow the lifecycle; a refused one answers 409 naming
        the rule. Send `If-Match` so a change made meanwhile by someone else is not silently overwritten.
        """
        config = await _config(request, statement_pool(request.app.state))
        ticket, etag = await service.update_ticket(
            tx, request_context(request), config, ticket_id, data, expected_version(if_match)
        )
        await as_of_now(request, [ticket])
        return with_etag(ticket, etag)

    @post(
        "/bulk-update",
        status_code=200,
        operation_id="bulkUpdateTickets",
        opt={**problems(404, 409, 412), **lifecycle_conflicts()},
    )
    async def bulk_update(
        self,
        request: Req,
        data: Annotated[TicketBulkUpdate, Body(examples=examples.BULK)],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[TicketList]:
        """Update up to 100 tickets at once.

        All or nothing: if any ticket is missing or refuses the change, none changes. Each ticket gets its
        own events. Bulk updates queue for one of a few slots per process, so they never take every
        database connection.
        """
        state = request.app.state
        ctx, config = request_context(request), await _config(request, statement_pool(state))
        # The slot before the connection: waiting for one holds nothing (api/tickets/bulk_slots.py).
        async with bulk_slots(state), unit_of_work(state) as tx:

            async def work() -> Response[Any]:
                changed = await bulk.bulk_update(tx, ctx, config, data)
                await as_of_now(request, changed.data)
                return Response(changed, status_code=200)

            return await idempotent(tx, request, idempotency_key, data, work)

    @get("/{ticket_id:int}/comments", operation_id="listComments", opt=problems(404))
    async def list_comments(
        self,
        reads: Reads,
        ticket_id: FromPath[int],
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        public: Annotated[bool | None, _q("Only public replies (true) or internal notes (false).")] = None,
    ) -> CommentPage:
        """List a ticket's comments, oldest first.

        Public replies and internal notes; filter with `public`. Returns 404 when the ticket does not
        exist.
        """
        return await comments.list_comments(reads, ticket_id, limit=limit, cursor=cursor, public=public)

    @get("/{ticket_id:int}/comments/{comment_id:int}", operation_id="getComment", opt=problems(404))
    async def get_comment(
        self, reads: Reads, ticket_id: FromPath[int], comment_id: FromPath[int]
    ) -> CommentRead:
        """Get one comment of a ticket.

        `createComment` answers with its `Location`. Returns 404 when the ticket has no such comment.
        """
        return await comments.get_comment(reads, ticket_id, comment_id)

    @post(
        "/{ticket_id:int}/comments",
        operation_id="createComment",
        opt={
            **problems(404, 409, 412),
            **problem_notes(
                {
                    403: "Forbidden (`urn:helpdesk:problem:forbidden`): the key may not write as the author "
                    "asked. An agent's key writes only as that agent; only a key with `speaks_for_customers` "
                    "writes as the ticket's requester."
                }
            ),
            **stale_etag(),
            **lifecycle_conflicts(),
            **created_at_location(),
        },
    )
    async def create_comment(
        self,
        tx: Transaction,
        request: Req,
        ticket_id: FromPath[int],
        data: Annotated[CommentCreate, Body(examples=examples.COMMENT)],
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[CommentRead]:
        """Add a comment to a ticket.

        The first public agent reply opens a `new` ticket; a customer reply reopens a pending, on-hold or
        resolved one; a customer reply on a closed ticket creates a follow-up ticket (see `ticket_id`).
        """
        ctx, version = request_context(request), expected_version(if_match)
        config = await _config(request, statement_pool(request.app.state))

        async def work() -> Response[Any]:
            comment = await comments.add_comment(tx, ctx, config, ticket_id, data, version)
            # On a closed ticket the comment opened a follow-up ticket: it lives there.
            return created(comment, f"/v1/tickets/{comment.ticket_id}/comments/{comment.id}")

        return await idempotent(tx, request, idempotency_key, data, work)

    @get("/{ticket_id:int}/events", operation_id="listTicketEvents", opt=problems(404))
    async def list_ticket_events(
        self, reads: Reads, ticket_id: FromPath[int], limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> EventPage:
        """A ticket's history: every change, who made it, when and through which request.

        Events are in the order they happened, with the actor, the fields that changed (before and
        after) and the request id. The same events appear in the change feed (`listEvents`).
        """
        page = await events.ticket_history(reads, ticket_id, limit=limit, cursor=cursor)
        if not page.data and not await events.ticket_exists(reads, ticket_id):
            raise NotFound(f"Ticket {ticket_id} does not exist.")
        return page
