"""What already happened to a ticket, as clock facts, for a policy that starts applying to it late.

A policy created or activated after a ticket was, or a ticket moved into a policy by a later change
(tags, priority, group…), must see the facts that already happened: the first public agent reply, every
status change (pauses, resolution, reopen), public customer messages. They are read from the ticket's
own records — its public comments and its ``ticket.status_changed`` events — in one statement for any
number of tickets, and only for the changes that need them (``hook.late_targets``): a ticket that keeps
its policy version and priority never pays for it. The hook then replays them (``clocks.catch_up``).

Instants are exact: a comment's ``created_at`` and a status change's ``updated_at`` are the instant of
the change that wrote them, the same one the SLA hook was given then.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable, Sequence

import asyncpg

from api.sla import clocks
from api.sla.hook import FEATURE, SlaConfig, late_targets
from api.tickets.seam import Config, Row

# Public replies and customer messages, and status changes (with the status before, for the first one),
# strictly before the change being made (a comment is inserted before its change runs the hooks).
_HISTORY = """
SELECT ticket_id, created_at AS at, author_type, NULL::text AS previous, NULL::text AS current
FROM comments
WHERE ticket_id = ANY($1::bigint[]) AND public AND author_type IN ('agent', 'customer') AND created_at < $2
UNION ALL
SELECT ticket_id, at, NULL, changes -> 0 ->> 'previous', changes -> 0 ->> 'current'
FROM (
    SELECT ticket_id, (data -> 'ticket' ->> 'updated_at')::timestamptz AS at, changes
    FROM events WHERE ticket_id = ANY($1::bigint[]) AND type = 'ticket.status_changed'
) status_changes
WHERE at < $2
ORDER BY ticket_id, at
"""


def facts_of(
    created_at: dt.datetime, status: str, rows: Iterable[asyncpg.Record]
) -> tuple[clocks.Facts, ...]:
    """A ticket's clock facts from its history rows (in instant order); ``status`` is the ticket's status
    before the change, which it was created with when no status change is recorded. Rows of one instant
    are one change (a customer reply and the reopen it caused)."""
    rows = list(rows)
    initial = next((r["previous"] for r in rows if r["current"] is not None), status)
    history = [clocks.Facts(at=created_at, created_at=created_at, status=initial, previous_status=None)]
    current = initial
    for at, same_instant in itertools.groupby(rows, key=lambda r: r["at"]):
        previous, replied, customer = current, False, False
        for row in same_instant:
            if row["current"] is not None:
                current = row["current"]
            elif row["author_type"] == "agent":
                replied = True
            elif at > created_at:  # the message the ticket was created with is not a later message
                customer = True
        if current == previous and not (replied or customer):
            continue  # nothing the clocks see
        history.append(
            clocks.Facts(
                at=at,
                created_at=created_at,
                status=current,
                previous_status=previous,
                public_agent_reply=replied,
                public_customer_message=customer,
            )
        )
    return tuple(history)


async def attach(
    raw: asyncpg.Connection, config: Config, changes: Sequence[tuple[Row | None, Row]], until: dt.datetime
) -> Config:
    """The hooks' configuration with the histories of the tickets whose changes make a policy apply
    late (``(before, after)`` pairs, the ticket as stored and as the change leaves it before hooks),
    read up to ``until`` (the change's instant); the configuration itself when none does."""
    sla = config.value(FEATURE)
    if not isinstance(sla, SlaConfig) or not sla.policies:
        return config
    wanted = {
        after["id"]: (after["created_at"], before["status"])
        for before, after in changes
        if before is not None and late_targets(sla, before, after)
    }
    if not wanted:
        return config
    rows = await raw.fetch(_HISTORY, list(wanted), until)
    by_ticket = {key: list(group) for key, group in itertools.groupby(rows, key=lambda r: r["ticket_id"])}
    histories = {
        ticket_id: facts_of(created_at, status, by_ticket.get(ticket_id, ()))
        for ticket_id, (created_at, status) in wanted.items()
    }
    with_histories = dataclasses.replace(sla, histories={**sla.histories, **histories})
    return dataclasses.replace(config, values={**config.values, FEATURE: with_histories})
