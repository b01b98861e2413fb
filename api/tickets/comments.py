"""Comments: public replies and internal notes, and what they do to their ticket's status."""

from __future__ import annotations

import uuid

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from api.context import Actor, Context
from api.db import raw_connection, raw_transaction, utcnow
from api.errors import FieldError, Forbidden, NotFound, Unprocessable
from api.pagination import decode_cursor, encode_cursor
from api.tickets import lifecycle, seam, service, store, writer
from api.tickets.schemas import CommentCreate, CommentPage, CommentRead, TicketCreate

_COMMENT_COLUMNS = (
    "id, ticket_id, author_type, coalesce(author_agent_id, author_customer_id) AS author_id, "
    "public, body, created_at"
)


def _to_read(row: asyncpg.Record) -> CommentRead:
    return CommentRead(
        id=row["id"],
        ticket_id=row["ticket_id"],
        author_type=row["author_type"],
        author_id=row["author_id"],
        public=row["public"],
        body=row["body"],
        created_at=row["created_at"],
    )


def _author_error(message: str) -> Unprocessable:
    return Unprocessable(message, errors=[FieldError("body", "$.author_id", message)])


async def _author(
    raw: asyncpg.Connection, ctx: Context, ticket: asyncpg.Record, data: CommentCreate
) -> Context:
    """Who writes the comment, as the context its events are recorded with.

    An agent writes only as themselves, through their own key; only a key allowed to speak for
    customers writes as a customer, and only as the ticket's requester; ``system`` is never a client's
    (the schema does not offer it).
    """
    author_type = data.author_type or ("agent" if ctx.agent_id is not None else None)
    if author_type is None:
        raise Unprocessable(
            "This API key acts for no agent; say who writes the comment with author_type.",
            errors=[FieldError("body", "$.author_type", "required for integration keys")],
        )
    if author_type == "agent":
        if ctx.agent_id is None:
            raise Forbidden("Only an agent's own API key writes as that agent; this key acts for no agent.")
        if data.author_id is not None and data.author_id != ctx.agent_id:
            raise Forbidden("Agents write as themselves: author_id must be the key's own agent.")
        return ctx
    if not ctx.speaks_for_customers:
        raise Forbidden("This API key may not write as a customer (it does not speak for customers).")
    requester = ticket["requester_id"]
    if data.author_id is not None and data.author_id != requester:
        raise _author_error("Only the ticket's requester writes as its customer.")
    name = await raw.fetchval("SELECT name FROM customers WHERE id = $1", requester)
    return Context(Actor("customer", str(requester), name, ctx.actor.api_key_id), ctx.request_id, None)


def _author_ids(author: Context) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    author_id = uuid.UUID(author.actor.id) if author.actor.id else None
    if author.actor.type == "agent":
        return author_id, None
    if author.actor.type == "customer":
        return None, author_id
    return None, None


async def _follow_up(
    tx: AsyncConnection, author: Context, config: seam.Config, ticket: asyncpg.Record, body: str
) -> CommentRead:
    """A customer wrote on a closed ticket: their message opens a new ticket linked to it."""
    data = TicketCreate(
        subject=ticket["subject"],
        message=body,
        requester_id=uuid.UUID(author.actor.id) if author.actor.id else ticket["requester_id"],
        priority=ticket["priority"],
        group_id=ticket["group_id"],
        tags=list(ticket["tags"]),
        channel=ticket["channel"],
    )
    raw = await raw_transaction(tx)
    row = await service.insert_ticket(raw, author, config, data, follow_up_of=ticket["id"])
    comment = await raw.fetchrow(f"SELECT {_COMMENT_COLUMNS} FROM comments WHERE id = $1", row["comment_id"])
    return _to_read(comment)


async def add_comment(
    tx: AsyncConnection,
    ctx: Context,
    config: seam.Config,
    ticket_id: int,
    data: CommentCreate,
    expected_version: int | None,
) -> CommentRead:
    raw = await raw_transaction(tx)
    ticket = await service.lock_ticket(raw, ticket_id, expected_version)
    author = await _author(raw, ctx, ticket, data)
    outcome = lifecycle.apply_comment(
        lifecycle.State(ticket["status"], ticket["assignee_id"]),
        author_type=author.actor.type,
        public=data.public,
        first_agent_reply_done=ticket["first_agent_reply_at"] is not None,
    )
    if outcome.follow_up:
        return await _follow_up(tx, author, config, ticket, data.body)
    agent_id, customer_id = _author_ids(author)
    at = utcnow()
    comment = await raw.fetchrow(
        "INSERT INTO comments (ticket_id, author_type, author_agent_id, author_customer_id, public, body, "
        f"created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COMMENT_COLUMNS}",
        ticket_id,
        "agent" if author.actor.type == "agent" else author.actor.type,
        agent_id,
        customer_id,
        data.public,
        data.body,
        at,
    )
    facts = seam.CommentFacts(
        id=comment["id"],
        author_type=comment["author_type"],
        author_id=str(comment["author_id"]) if comment["author_id"] else None,
        public=data.public,
        body=data.body,
        created_at=comment["created_at"],
    )
    write = service.Write(fields={}, status=outcome.status, params=store.Params(ticket_id))
    writer.index_comment(write, data.body)
    if outcome.first_agent_reply:
        write.fields["first_agent_reply_at"] = at
    writer.count_comment(write, ticket, author_type=facts.author_type, public=data.public, at=at)
    await service.apply(tx, raw, author, config, ticket, write, cause="commented", at=at, comment=facts)
    return _to_read(comment)


async def get_comment(tx: AsyncConnection, ticket_id: int, comment_id: int) -> CommentRead:
    raw = await raw_connection(tx)
    row = await raw.fetchrow(
        f"SELECT {_COMMENT_COLUMNS} FROM comments WHERE ticket_id = $1 AND id = $2", ticket_id, comment_id
    )
    if row is None:
        raise NotFound(f"Ticket {ticket_id} has no comment {comment_id}.")
    return _to_read(row)


async def list_comments(
    tx: AsyncConnection, ticket_id: int, *, limit: int, cursor: str | None, public: bool | None
) -> CommentPage:
    raw = await raw_connection(tx)
    after = decode_cursor(cursor, tuple[int])[0] if cursor else 0
    rows = await raw.fetch(
        f"SELECT {_COMMENT_COLUMNS} FROM comments WHERE ticket_id = $1 AND id > $2 "
        "AND ($3::boolean IS NULL OR public = $3) ORDER BY id LIMIT $4",
        ticket_id,
        after,
        public,
        limit + 1,
    )
    if not rows and not await raw.fetchval("SELECT EXISTS (SELECT 1 FROM tickets WHERE id = $1)", ticket_id):
        raise NotFound(f"Ticket {ticket_id} does not exist.")
    items = [_to_read(row) for row in rows[:limit]]
    return CommentPage(data=items, next_cursor=encode_cursor((items[-1].id,)) if len(rows) > limit else None)
