"""The one seam every ticket change passes through: a change described once, pure hooks, one writer.

**The change.** A write path (create, PATCH, status actions, comments, bulk, a timer, a follow-up
ticket, a re-evaluation) first decides what it changes — status rules live in ``lifecycle.py`` — and
then describes the change once, as a :class:`TicketChange`: the ticket before (``None`` for a new one)
and after, the cause, who acts, the comment it carries, the timer that fired it.

**The hooks.** :meth:`Registry.run` runs the registered hooks over that description, in order. A hook
is a pure function (no I/O: tested exhaustively without a database) returning :class:`Effects`:

- ``fields``: values of the columns the hook *owns* (its own state, such as the SLA document);
- ``events``: events of the types it declares;
- ``timers``: the timers of its kinds that should exist now, ``{(kind, key): due}``; the writer makes
  the live ones exactly that (moved, inserted, deleted), so no write path can forget to cancel one;
- ``follow_ons``: changes the feature makes to the ticket — set a status, a priority, an assignee,
  tags, add an internal note or a system message. A follow-on is *a change*, not a column write: the
  writer runs it through the same lifecycle decision, name lookups, resolver and hooks, in the same
  transaction, attributed to the feature's actor; a transition the lifecycle refuses is recorded on
  the ticket (``ticket.change_refused``) instead of failing the change that caused it;
- ``event_data``: data a feature adds to events another hook records in this change (the SLA outcome
  ``ticket.resolved`` carries).

Each hook sees the columns set by the hooks before it. A hook that returns a column, a timer kind or an
event type it did not declare fails loudly (:class:`HookContractError`): ownership is checked on every
change, not by convention.

**The registry** (:class:`Registry`) is built by one composition root outside this package
(``api/features.py``), which lists the hooks in order; the writer (``service.py``) derives what it
writes from it — the hook-owned columns of an update, of a creation's single statement and of a
re-evaluation batch, the timer kinds it syncs, the actor a timer of each kind acts as. ``api/tickets``
imports no feature.

**Once per episode.** A timer that fired leaves a trace (``timers.fired_at``) for as long as its hook
keeps declaring it with the same due instant, so re-declaring it — on a later change, after a restart,
in a re-evaluation — does not fire it again; declaring another instant re-arms it (a new episode), and
declaring nothing deletes it with its trace.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from api.context import Context
from api.events.service import NewEvent
from api.timers.service import FiredTimer, TimerKey

Row = Mapping[str, Any]
"""A ticket as ``store.COLUMNS`` names its columns (requester, assignee and group names included)."""

Cause = Literal["created", "updated", "commented", "timer", "reevaluated", "follow_on"]

# Columns only a decided change sets (through the lifecycle), never a hook: a feature changes them with a
# follow-on change. ``version``/``state_revision``/``updated_at`` are the writer's.
TICKET_COLUMNS = frozenset(
    {
        "subject",
        "status",
        "priority",
        "assignee_id",
        "group_id",
        "tags",
        "external_ref",
        "first_agent_reply_at",
        "resolved_at",
        "closed_at",
        # What rule conditions read (api/conditions), kept by the writer with the change.
        "status_changed_at",
        "last_customer_message_at",
        "last_agent_reply_at",
        "comment_count",
    }
)
_WRITER_COLUMNS = frozenset({"id", "version", "state_revision", "updated_at", "created_at", "requester_id"})

CHANGE_REFUSED = "ticket.change_refused"
"""The event the writer records when the lifecycle refuses a follow-on change (the seam's own type)."""

CREATE_FACTS = frozenset({"id", "requester"})
"""What a hook may need to know of a ticket being created (see :attr:`Hook.needs_on_create`)."""


class HookContractError(ValueError):
    """A hook returned something it does not own (a column, a timer kind, an event type)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentFacts:
    id: int
    author_type: str
    author_id: str | None
    public: bool
    body: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class NewComment:
    """A comment a feature adds: an internal note (``public=False``) or a public system message.

    ``system`` comments never count as an agent's reply (no SLA metric is fulfilled by them)."""

    body: str
    public: bool = False
    author_type: Literal["system", "agent"] = "system"
    author_agent_id: Any = None
    """The agent a note is written as (``author_type="agent"``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowOn:
    """A change a feature makes to the ticket after the change it reacts to (see the module docstring).

    ``changes`` are what a PATCH would send (``status``, ``priority``, ``assignee_id``, ``group_id``,
    ``tags``…); ``comment`` is added with them; ``ctx`` is who the history names (the feature's actor);
    ``reason`` says why, for the record of a refusal."""

    ctx: Context
    changes: Mapping[str, Any] = field(default_factory=dict)
    comment: NewComment | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Config:
    """What hooks need beyond the change itself: the registry, and each feature's configuration by the
    feature's name (settings, per-process cached policies…), built by the composition root."""

    hooks: Registry
    values: Mapping[str, Any] = field(default_factory=dict)
    needs_on_create: frozenset[str] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        object.__setattr__(self, "needs_on_create", self.hooks.needs_on_create(self))

    def value(self, feature: str, default: Any = None) -> Any:
        return self.values.get(feature, default)


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
    depth: int = 0
    """How many follow-on changes deep this change is (0: the change a caller or a timer made)."""

    def changed(self, column: str) -> bool:
        return self.before is None or self.before[column] != self.after[column]

    def resolves(self) -> bool:
        return self.after["status"] == "resolved" and (
            self.before is None or self.before["status"] != "resolved"
        )


@dataclass(slots=True)
class Effects:
    fields: dict[str, Any] = field(default_factory=dict)
    events: list[NewEvent] = field(default_factory=list)
    timers: dict[TimerKey, dt.datetime] = field(default_factory=dict)
    follow_ons: list[FollowOn] = field(default_factory=list)
    event_data: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per event type, data to add to the events of that type this change records (any hook's)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Hook:
    """A feature's reaction to ticket changes, with what it owns."""

    name: str
    run: Callable[[TicketChange], Effects]
    columns: Mapping[str, str] = field(default_factory=dict)
    """The columns it owns and may set, with their SQL types (``jsonb`` values are passed as text)."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Its columns' values on a new ticket before it runs (``None`` when not given)."""
    timer_kinds: frozenset[str] = frozenset()
    """The kinds whose live timers it declares: after each change, exactly the ones it returns."""
    event_types: frozenset[str] = frozenset()
    """The event types it records."""
    actor: Context | None = None
    """Who acts when a timer of its kinds fires (and what the history shows for that change)."""
    needs_on_create: Callable[[Config], Collection[str]] | None = None
    """What of :data:`CREATE_FACTS` it must see when a ticket is created under this configuration; a
    creation nobody needs them for is one statement (the ticket's id and a requester named by email are
    only known once it runs)."""
    prepare: Prepare | None = None
    """Reads what the hook needs beyond the change before it runs (the only I/O a hook has, kept out of
    the pure function): given the changes about to run, ``(before, after)`` before hooks, it returns the
    configuration with that data added — or the same one when no change needs any. The SLA hook reads a
    ticket's history here when a policy starts applying to it late."""


Prepare = Callable[[Any, "Config", Sequence[tuple[Row | None, Row]], dt.datetime], Awaitable["Config"]]
"""``prepare(connection, config, changes, until)``: see :attr:`Hook.prepare`."""


@dataclass(frozen=True, slots=True)
class Outcome:
    after: dict[str, Any]
    events: list[NewEvent]
    owned_timer_kinds: frozenset[str]
    timers: dict[TimerKey, dt.datetime]
    follow_ons: list[FollowOn] = field(default_factory=list)

    def needs_the_ticket(self) -> bool:
        """Whether an effect needs the created ticket's id (anything beyond columns, timers and the
        ``ticket.created`` event a creation's statement renders itself)."""
        return bool(self.follow_ons) or any(event.type != "ticket.created" for event in self.events)


class Registry:
    """The hooks in order, checked once for overlapping ownership, and what the writer derives from them."""

    def __init__(self, hooks: Sequence[Hook], *, known_event_types: Collection[str] | None = None) -> None:
        self.hooks: tuple[Hook, ...] = tuple(hooks)
        columns: dict[str, str] = {}
        owners: dict[str, Hook] = {}
        event_types: set[str] = set()
        for hook in self.hooks:
            for column, sql_type in hook.columns.items():
                if column in TICKET_COLUMNS or column in _WRITER_COLUMNS:
                    raise HookContractError(
                        f"hook {hook.name} cannot own {column}: a feature changes it with a follow-on change"
                    )
                if column in columns:
                    raise HookContractError(f"column {column} is owned by two hooks")
                columns[column] = sql_type
            for kind in hook.timer_kinds:
                if kind in owners:
                    raise HookContractError(
                        f"timer kind {kind} is owned by {owners[kind].name} and {hook.name}"
                    )
                owners[kind] = hook
            event_types |= hook.event_types
        if known_event_types is not None:
            unknown = sorted((event_types | {CHANGE_REFUSED}) - set(known_event_types))
            if unknown:
                raise HookContractError(f"event types missing from the catalog: {unknown}")
        self.columns: Mapping[str, str] = columns
        """Hook-owned columns and their SQL types, in registration order."""
        self.defaults: Mapping[str, Any] = {
            column: hook.defaults.get(column) for hook in self.hooks for column in hook.columns
        }
        self.writable: tuple[str, ...] = (*sorted(TICKET_COLUMNS), *columns)
        """Every column a change may set: the ticket's own and the hooks'."""
        self.timer_kinds: frozenset[str] = frozenset(owners)
        self.event_types: frozenset[str] = frozenset(event_types)
        self._owners = owners
        self._needs = tuple(hook.needs_on_create for hook in self.hooks if hook.needs_on_create is not None)
        self._prepares = tuple(hook.prepare for hook in self.hooks if hook.prepare is not None)

    def owner(self, kind: str) -> Hook | None:
        """The hook that owns a timer kind (a fired timer acts as its actor)."""
        return self._owners.get(kind)

    async def prepare(
        self, conn: Any, config: Config, changes: Sequence[tuple[Row | None, Row]], until: dt.datetime
    ) -> Config:
        """The configuration with what the hooks read before running over these changes."""
        for prepare in self._prepares:
            config = await prepare(conn, config, changes, until)
        return config

    def needs_on_create(self, config: Config) -> frozenset[str]:
        needed: set[str] = set()
        for needs in self._needs:
            needed.update(needs(config))
        return frozenset(needed)

    def run(self, change: TicketChange) -> Outcome:
        """Run the hooks in order. Each hook's columns are merged into ``change.after`` — a dict the caller
        built for this change — so the next hook sees them; hooks read it and never write it themselves."""
        after = change.after
        assert isinstance(after, dict)
        events: list[NewEvent] = []
        timers: dict[TimerKey, dt.datetime] = {}
        follow_ons: list[FollowOn] = []
        event_data: dict[str, dict[str, Any]] = {}
        for hook in self.hooks:
            effects = hook.run(change)
            if effects.fields:
                _check(hook, "columns", effects.fields, hook.columns)
                after.update(effects.fields)
            if effects.events:
                _check(hook, "event types", [e.type for e in effects.events], hook.event_types)
                events.extend(effects.events)
            if effects.timers:
                _check(hook, "timer kinds", [kind for kind, _ in effects.timers], hook.timer_kinds)
                timers.update(effects.timers)
            follow_ons.extend(effects.follow_ons)
            for event_type, data in effects.event_data.items():
                event_data.setdefault(event_type, {}).update(data)
        if event_data:
            events = [
                NewEvent(
                    type=e.type,
                    ticket_id=e.ticket_id,
                    ctx=e.ctx,
                    changes=e.changes,
                    data={**e.data, **event_data[e.type]},
                )
                if e.type in event_data
                else e
                for e in events
            ]
        return Outcome(
            after=after,
            events=events,
            owned_timer_kinds=self.timer_kinds,
            timers=timers,
            follow_ons=follow_ons,
        )


def _check(hook: Hook, what: str, returned: Collection[str], owned: Collection[str]) -> None:
    stray = sorted({item for item in returned if item not in owned})
    if stray:
        raise HookContractError(f"hook {hook.name} returned {what} it does not declare: {stray}")


def run_hooks(change: TicketChange, hooks: Sequence[Hook]) -> Outcome:
    """Run ``hooks`` as a registry would (tests of single hooks)."""
    return Registry(hooks).run(change)
