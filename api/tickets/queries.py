"""Ticket lists: combinable filters, keyset pagination in three sort orders, full-text search."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import asyncpg
import msgspec

from api.errors import FieldError, Unprocessable
from api.pagination import decode_cursor, encode_cursor, render_page
from api.tickets import lifecycle, search, store
from api.tickets.schemas import Sort

# Sort keys; a ticket without a running SLA metric sorts after every due instant.
_SORT_KEYS = {
    "created": "t.created_at",
    "updated": "t.updated_at",
    "priority": "t.priority_rank",
    "sla_due": "coalesce(t.sla_due_at, 'infinity'::timestamptz)",
}


class TicketFilters(msgspec.Struct, kw_only=True):
    status: list[str] | None = None
    priority: list[str] | None = None
    assignee: list[str] | None = None
    """Agent ids, ``none`` (unassigned) and ``me`` (the calling agent); any of them matches."""
    group_id: list[uuid.UUID] | None = None
    requester_id: uuid.UUID | None = None
    tag: list[str] | None = None
    tag_mode: Literal["all", "any"] = "all"
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    updated_after: dt.datetime | None = None
    updated_before: dt.datetime | None = None
    q: str | None = None
    sla_breached: bool | None = None
    sla_due_before: dt.datetime | None = None


def _assignee_condition(p: store.Params, values: list[str], me: uuid.UUID | None) -> str:
    ids: list[uuid.UUID] = []
    unassigned = False
    for value in values:
        if value == "none":
            unassigned = True
        elif value == "me":
            if me is None:
                raise Unprocessable(
                    "assignee=me needs an API key that acts for an agent.",
                    errors=[FieldError("query", "assignee", "this key acts for no agent")],
                )
            ids.append(me)
        else:
            try:
                ids.append(uuid.UUID(value))
            except ValueError:
                raise Unprocessable(
                    "assignee takes agent ids, 'none' or 'me'.",
                    errors=[FieldError("query", "assignee", f"not an agent id, 'none' or 'me': {value!r}")],
                ) from None
    parts = []
    if ids:
        parts.append(_in("t.assignee_id", ids, "::uuid[]", p))
    if unassigned:
        parts.append("t.assignee_id IS NULL")
    return "(" + " OR ".join(parts) + ")"


def _in(column: str, values: list[Any], cast: str, p: store.Params) -> str:
    """``= $n`` for one value (the planner then uses indexes for ordering), ``= ANY($n)`` for several."""
    if len(values) == 1:
        return f"{column} = {p.add(values[0])}"
    return f"{column} = ANY({p.add(values, cast)})"


def where(filters: TicketFilters, p: store.Params, me: uuid.UUID | None) -> list[str]:
    conditions = []
    if filters.status:
        conditions.append(_in("t.status", filters.status, "::text[]", p))
    if filters.priority:
        conditions.append(_in("t.priority", filters.priority, "::text[]", p))
    if filters.assignee:
        conditions.append(_assignee_condition(p, filters.assignee, me))
    if filters.group_id:
        conditions.append(_in("t.group_id", filters.group_id, "::uuid[]", p))
    if filters.requester_id:
        conditions.append(f"t.requester_id = {p.add(filters.requester_id)}")
    if filters.tag:
        operator = "@>" if filters.tag_mode == "all" else "&&"
        conditions.append(f"t.tags {operator} {p.add(filters.tag, '::text[]')}")
    for column, bound, op in (
        ("created_at", filters.created_after, ">="),
        ("created_at", filters.created_before, "<"),
        ("updated_at", filters.updated_after, ">="),
        ("updated_at", filters.updated_before, "<"),
    ):
        if bound is not None:
            conditions.append(f"t.{column} {op} {p.add(bound)}")
    if filters.sla_breached is not None:
        conditions.append(f"t.sla_breached = {p.add(filters.sla_breached)}")
    if filters.sla_due_before is not None:
        conditions.append(f"{_SORT_KEYS['sla_due']} < {p.add(filters.sla_due_before)}")
    if filters.q:
        conditions.append(f"t.search @@ to_tsquery('english', {p.add(search.tsquery_text(filters.q))})")
    return conditions


def _keyset(sort: Sort, cursor: str, p: store.Params, key_sql: str, id_sql: str) -> str:
    """The condition for the rows after ``cursor``'s, with the sort key and id as ``key_sql``, ``id_sql``."""
    name = sort.lstrip("-")
    saved_sort, value, last_id = decode_cursor(cursor, tuple[str, str, int])
    if saved_sort != sort:
        raise Unprocessable(
            "The cursor belongs to another sort order.",
            errors=[FieldError("query", "cursor", "not a cursor returned for this sort")],
        )
    try:
        key: object = int(value) if name == "priority" else dt.datetime.fromisoformat(value)
    except ValueError:
        raise Unprocessable(
            "The cursor is not valid for this list.",
            errors=[FieldError("query", "cursor", "not a cursor returned by this list")],
        ) from None
    operator = "<" if sort.startswith("-") else ">"
    return f"({key_sql}, {id_sql}) {operator} ({p.add(key)}, {p.add(last_id)})"


# The filters ticket_tags can answer by itself (see _tag_order_page); any other one set, and the page is
# read from tickets.
_TAG_ORDER_FILTERS = frozenset({"status", "tag", "tag_mode", "created_after", "created_before"})


def _tag_order(filters: TicketFilters, sort: Sort) -> bool:
    """Whether the page is one tag's tickets in creation order, with at most statuses and a date range."""
    if sort.lstrip("-") != "created" or not filters.tag or len(set(filters.tag)) != 1:
        return False
    return all(
        value is None
        for name, value in msgspec.structs.asdict(filters).items()
        if name not in _TAG_ORDER_FILTERS
    )


def _tag_order_page(
    filters: TicketFilters, sort: Sort, cursor: str | None, p: store.Params, fetched: str
) -> str:
    """The page's ids from ticket_tags: one index range per status, newest (or oldest) first, merged.

    A page costs about its own rows, however many of the tag's tickets have other statuses and however
    many tickets without the tag are newer (walking tickets in creation order and filtering by tag costs
    those). PostgreSQL reads ``status = ANY(…)`` as one range per status but does not merge them in
    creation order; a ``UNION ALL`` of one limited range per status is merged (Merge Append), so each
    status is its own branch. No status filter means every status.
    """
    assert filters.tag is not None
    d = "DESC" if sort.startswith("-") else "ASC"
    tag = p.add(filters.tag[0])
    bounds = ""
    if filters.created_after is not None:
        bounds += f" AND g.created_at >= {p.add(filters.created_after)}"
    if filters.created_before is not None:
        bounds += f" AND g.created_at < {p.add(filters.created_before)}"
    if cursor is not None:
        bounds += " AND " + _keyset(sort, cursor, p, "g.created_at", "g.ticket_id")
    branches = " UNION ALL ".join(
        f"(SELECT g.ticket_id AS id, g.created_at AS sort_key FROM ticket_tags g "
        f"WHERE g.tag = {tag} AND g.status = {p.add(status)}{bounds} "
        f"ORDER BY g.created_at {d}, g.ticket_id {d} LIMIT {fetched})"
        for status in dict.fromkeys(filters.status or lifecycle.STATUSES)
    )
    return f"SELECT id, sort_key FROM ({branches}) s ORDER BY sort_key {d}, id {d} LIMIT {fetched}"


def _plan_reusable(filters: TicketFilters) -> bool:
    """Whether one cached plan suits every value of these filters (see :func:`list_tickets`)."""
    return not (
        filters.q
        or filters.tag
        or filters.created_after
        or filters.created_before
        or filters.updated_after
        or filters.updated_before
        or filters.sla_due_before
    )


async def list_tickets(
    pool: asyncpg.Pool,
    filters: TicketFilters,
    *,
    sort: Sort,
    limit: int,
    cursor: str | None,
    include_total: bool,
    me: uuid.UUID | None,
) -> bytes:
    """The page as the JSON of a ``TicketPage``."""
    p = store.Params()
    conditions = where(filters, p, me)
    total = None
    if include_total:
        count_sql = "SELECT count(*) FROM tickets t" + (
            " WHERE " + " AND ".join(conditions) if conditions else ""
        )
        total = await pool.fetchval(count_sql, *p.values)
    name = sort.lstrip("-")
    key_sql = _SORT_KEYS[name]
    d = "DESC" if sort.startswith("-") else "ASC"
    in_order = f"ORDER BY shown.sort_key {d}, shown.id {d}"
    tag_order = _tag_order(filters, sort)
    # Plan caching: with the page size written into the statement, PostgreSQL plans a filter combination
    # once and reuses the plan (a plan cost ~0.4 ms, as much as running a page). That suits equality
    # filters, whose best plan hardly depends on the values, and ticket_tags' ranges. Full-text search,
    # tags and date ranges read from tickets do depend on them (a rare word wants the search index, a
    # common one the date order), so there the page size stays a parameter, and a plan that cannot know
    # the page size is never preferred over planning each request with the actual values.
    if tag_order or _plan_reusable(filters):
        shown, fetched = str(limit), str(limit + 1)
    else:
        shown = p.add(limit, "::int")
        fetched = f"{shown} + 1"
    # The page's ids (often an index-only scan; one more than shown tells whether a next page exists),
    # then those tickets with their requester, assignee and group, rendered as the page's JSON array by
    # PostgreSQL (1.5x the pages/s of decoding and encoding the rows in Python, bench/RESULTS.md), and
    # the last shown key for the next cursor.
    if tag_order:
        p = store.Params()  # the conditions on tickets above are not this statement's
        page_sql = _tag_order_page(filters, sort, cursor, p, fetched)
    else:
        if cursor is not None:
            conditions.append(_keyset(sort, cursor, p, key_sql, "t.id"))
        where_sql = "WHERE " + " AND ".join(conditions) if conditions else ""
        page_sql = f"""SELECT t.id, {key_sql} AS sort_key FROM tickets t {where_sql}
    ORDER BY {key_sql} {d}, t.id {d} LIMIT {fetched}"""
    sql = f"""
WITH page AS (
    {page_sql}
), shown AS (SELECT * FROM page ORDER BY sort_key {d}, id {d} LIMIT {shown})
SELECT (SELECT count(*) FROM page) AS found,
       coalesce(json_agg({store.JSON_OBJECT} {in_order}), '[]')::text AS data,
       (array_agg(shown.sort_key {in_order}))[{shown}] AS last_key,
       (array_agg(shown.id {in_order}))[{shown}] AS last_id
FROM shown JOIN tickets t ON t.id = shown.id {store.JOINS}"""
    row = await pool.fetchrow(sql, *p.values)
    next_cursor = None
    if row["found"] > limit:
        key = row["last_key"]
        value = str(key) if name == "priority" else key.isoformat()
        next_cursor = encode_cursor((sort, value, row["last_id"]))
    return render_page(row["data"], next_cursor, total)
