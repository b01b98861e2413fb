"""Bulk update: up to 100 tickets changed in one transaction, each by the usual rules and with its events."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from api.context import Context
from api.db import raw_transaction
from api.errors import FieldError, InvalidTransition, NotFound, PreconditionFailed, Unprocessable
from api.tickets import seam, service, store
from api.tickets.schemas import TicketBulkUpdate, TicketList


def _changes_for(row: Any, requested: dict[str, Any]) -> dict[str, Any]:
    changes = {k: v for k, v in requested.items() if k not in ("add_tags", "remove_tags")}
    if "add_tags" in requested or "remove_tags" in requested:
        tags = list(changes.get("tags", row["tags"]))
        tags += [tag for tag in requested.get("add_tags", []) if tag not in tags]
        removed = set(requested.get("remove_tags", []))
        changes["tags"] = [tag for tag in tags if tag not in removed]
    return changes


async def bulk_update(
    tx: AsyncConnection, ctx: Context, config: seam.Config, data: TicketBulkUpdate
) -> TicketList:
    requested = {k: v for k, v in msgspec.structs.asdict(data.changes).items() if v is not msgspec.UNSET}
    if not requested:
        raise Unprocessable(
            "changes is empty; say what to change.",
            errors=[FieldError("body", "$.changes", "give at least one field to change")],
        )
    ids = list(dict.fromkeys(data.ids))
    raw = await raw_transaction(tx)
    # Lock in id order, so concurrent bulk updates of overlapping sets cannot deadlock.
    rows = await raw.fetch(
        f"{store.SELECT} WHERE t.id = ANY($1::bigint[]) ORDER BY t.id FOR UPDATE OF t", ids
    )
    found = {row["id"]: row for row in rows}
    missing = [ticket_id for ticket_id in ids if ticket_id not in found]
    if missing:
        raise NotFound(f"Tickets {', '.join(map(str, missing))} do not exist; nothing was changed.")
    stale = [str(i) for i, version in data.versions.items() if i in found and found[i]["version"] != version]
    if stale:
        raise PreconditionFailed(
            f"Tickets {', '.join(stale)} changed since you read them; nothing was changed."
        )
    results = {}
    for ticket_id in sorted(ids):
        row = found[ticket_id]
        try:
            write = service.decide(row, ctx, _changes_for(row, requested))
        except InvalidTransition as exc:
            raise InvalidTransition(
                f"Ticket {ticket_id}: {exc.detail} Nothing was changed.", rule=exc.rule
            ) from None
        results[ticket_id] = await service.apply(tx, raw, ctx, config, row, write)
    return TicketList(data=[store.to_read(results[ticket_id]) for ticket_id in ids])
