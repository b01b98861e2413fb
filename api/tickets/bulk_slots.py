"""How many bulk updates run at once in a process: fewer than its pool has connections.

A bulk update locks up to 100 tickets and holds its connection while it waits for the locks of another
bulk update of the same tickets. Forty at once took every connection of the pool, and unrelated reads
got 503. Bulk updates take a slot before they take a connection; the others wait for a slot, holding
nothing, and the rest of the pool stays free for everything else.
"""

from __future__ import annotations

import asyncio

from litestar.datastructures import State


def bulk_slots(state: State) -> asyncio.Semaphore:
    """The process's slots (made on first use, on the app's event loop): half its connections."""
    slots: asyncio.Semaphore | None = state.get("bulk_slots")
    if slots is None:
        settings = state.settings
        slots = state.bulk_slots = asyncio.Semaphore(
            max(1, (settings.db_pool_size + settings.db_max_overflow) // 2)
        )
    return slots
