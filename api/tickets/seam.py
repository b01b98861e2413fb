"""The one seam every ticket change passes through.

A write path (create, PATCH, status actions, comments, bulk, timers, follow-up tickets, re-evaluation)
first decides what it changes — status rules live in ``lifecycle.py`` — and then describes the change
once, as a :class:`TicketChange`: the ticket before (``None`` for a new one) and after, the cause, who
acts, the comment it carries, the timer that fired it. :func:`run_hooks` runs the registered hooks over
that description. Hooks are pure functions (no I/O: easy to test exhaustively) returning
:class:`Effects` — more column values, events, and the timers of the kinds they own that should exist
— and each hook sees the columns set by the hooks before it. The service then writes the change and
every effect in the request's transaction (``service.write_change`` / ``service.insert_ticket``), so
a change never exists without its events and timers, nor they without it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from api.context import Context
from api.events.service import NewEvent
from api.timers.service import FiredTimer, TimerKey

Row = Mapping[str, Any]
"""A ticket as ``store.COLUMNS`` names its columns (requester, assignee and group names included)."""

Cause = Literal["created", "updated", "commented", "timer", "reevaluated"]


@dataclass(frozen=True, slots=True)
class Config:
    """What hooks need beyond the change itself: settings and, later, per-process cached configuration."""

    auto_close_after: dt.timedelta
    sla: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentFacts:
    id: int
    author_type: str
    author_id: str | None
    public: bool
    body: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketChange:
    cause: Cause
    at: dt.datetime
    ctx: Context
    before: Row | None
    after: Row
    config: Config
    comment: CommentFacts | None = None
    timer: FiredTimer | None = None
    resolver: Mapping[str, Any] | None = None
    """The resolving agent (id, name, email) when this change resolves the ticket."""

    def changed(self, column: str) -> bool:
        return self.before is None or self.before[column] != self.after[column]


@dataclass(slots=True)
class Effects:
    fields: dict[str, Any] = field(default_factory=dict)
    events: list[NewEvent] = field(default_factory=list)
    timers: dict[TimerKey, dt.datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hook:
    name: str
    run: Callable[[TicketChange], Effects]
    timer_kinds: frozenset[str] = frozenset()
    """The kinds whose live timers this hook declares: after each change, exactly the ones it returns."""


@dataclass(frozen=True, slots=True)
class Outcome:
    after: dict[str, Any]
    events: list[NewEvent]
    owned_timer_kinds: frozenset[str]
    timers: dict[TimerKey, dt.datetime]


def run_hooks(change: TicketChange, hooks: Sequence[Hook]) -> Outcome:
    """Run the hooks in order. Each hook's columns are merged into ``change.after`` — a dict the caller
    built for this change — so the next hook sees them; hooks read it and never write it themselves."""
    after = change.after
    assert isinstance(after, dict)
    events: list[NewEvent] = []
    timers: dict[TimerKey, dt.datetime] = {}
    owned: set[str] = set()
    for hook in hooks:
        effects = hook.run(change)
        after.update(effects.fields)
        events.extend(effects.events)
        if effects.timers:
            stray = [key for key in effects.timers if key[0] not in hook.timer_kinds]
            if stray:
                raise ValueError(f"hook {hook.name} declared timers of kinds it does not own: {stray}")
            timers.update(effects.timers)
        owned |= hook.timer_kinds
    return Outcome(after=after, events=events, owned_timer_kinds=frozenset(owned), timers=timers)
