"""Ticket lists: combinable filters, keyset pagination in three sort orders, full-text search."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any, Literal

import asyncpg
import msgspec

from api.errors import FieldError, Unprocessable
from api.pagination import decode_cursor, encode_cursor, render_page
from api.tickets import store
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


# A run of negations (``--word``, ``- - word``): each one nests the next term one level deeper, and
# websearch_to_tsquery fails with "tsquery stack too small" (an internal error) from 32 in a row.
_NEGATION_RUN = re.compile(r"-(?:\s*-)+")


def search_text(q: str) -> str:
    """``q`` with every run of negations collapsed to what it means (an even run negates nothing)."""
    return _NEGATION_RUN.sub(lambda run: "-" if run.group().count("-") % 2 else " ", q)


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
        conditions.append(f"t.search @@ websearch_to_tsquery('english', {p.add(search_text(filters.q))})")
    return conditions


def _keyset(sort: Sort, cursor: str, p: store.Params) -> str:
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
    return f"({_SORT_KEYS[name]}, t.id) {operator} ({p.add(key)}, {p.add(last_id)})"


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
    if cursor is not None:
        conditions.append(_keyset(sort, cursor, p))
    name = sort.lstrip("-")
    key_sql = _SORT_KEYS[name]
    d = "DESC" if sort.startswith("-") else "ASC"
    in_order = f"ORDER BY shown.sort_key {d}, shown.id {d}"
    # Plan caching: with the page size written into the statement, PostgreSQL plans a filter combination
    # once and reuses the plan (a plan cost ~0.4 ms, as much as running a page). That suits equality
    # filters, whose best plan hardly depends on the values. Full-text search, tags and date ranges
    # do depend on them (a rare word wants the search index, a common one the date order), so there the
    # page size stays a parameter, and a plan that cannot know the page size is never preferred over
    # planning each request with the actual values.
    if _plan_reusable(filters):
        shown, fetched = str(limit), str(limit + 1)
    else:
        shown = p.add(limit, "::int")
        fetched = f"{shown} + 1"
    # The page's ids (often an index-only scan; one more than shown tells whether a next page exists),
    # then those tickets with their requester, assignee and group, rendered as the page's JSON array by
    # PostgreSQL (1.5x the pages/s of decoding and encoding the rows in Python, bench/RESULTS.md), and
    # the last shown key for the next cursor.
    where_sql = "WHERE " + " AND ".join(conditions) if conditions else ""
    sql = f"""
WITH page AS (
    SELECT t.id, {key_sql} AS sort_key FROM tickets t {where_sql}
    ORDER BY {key_sql} {d}, t.id {d} LIMIT {fetched}
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
