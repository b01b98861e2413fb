"""The seam's writer, tested once against PostgreSQL with hooks written for the test: what any feature
can ask of it — follow-on changes, comments, timer-only effects, timers fired once per episode, effects
on creation — is written in the change's transaction, through the same path as a caller's change."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from api.context import Actor, Context
from api.db import asyncpg_dsn, raw_transaction, utcnow
from api.events.service import NewEvent
from api.sla import hook as sla
from api.sla.cache import load_all
from api.tickets import hooks, lifecycle, service, writer
from api.tickets.schemas import TicketCreate
from api.tickets.seam import Config, Effects, FollowOn, Hook, NewComment, Registry, TicketChange
from api.timers.service import TimerJob
from api.webhooks.catalog import CATALOG
from tests.sla.helpers import URGENT, create_policy, metric_of
from tests.tickets.helpers import create_ticket, events_of

RULE = Context(actor=Actor("rule", f"{uuid.UUID(int=7)}@3", "Escalate VIPs"), request_id=None, agent_id=None)
NUDGE = "nudge"
NUDGE_ACTOR = Context(actor=Actor("system", None, "nudger"), request_id=None, agent_id=None)


def _config(*extra: Hook, sla_config: sla.SlaConfig | None = None) -> Config:
    """The registry of the app with ``extra`` hooks between the features and the ticket's events."""
    registry = Registry(
        (sla.SLA, hooks.AUTO_CLOSE_HOOK, *extra, hooks.TICKET_EVENTS), known_event_types=CATALOG
    )
    return Config(registry, {hooks.AUTO_CLOSE: dt.timedelta(days=4), sla.FEATURE: sla_config})


async def _change(engine, config: Config, ticket_id: int, changes: dict[str, Any], ctx: Context) -> Any:
    async with engine.begin() as conn:
        raw = await raw_transaction(conn)
        row = await service.lock_ticket(raw, ticket_id, None)
        return await writer.apply(conn, raw, ctx, config, row, writer.decide(row, ctx, changes))


async def _agent_ctx(agent_id: uuid.UUID) -> Context:
    return Context(actor=Actor("agent", str(agent_id), "Agent Smith"), request_id="req-1", agent_id=agent_id)


async def _timers(database_url: str, ticket_id: int) -> list[tuple[str, str, dt.datetime, bool]]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT kind, key, due_at, fired_at IS NOT NULL AS fired FROM timers WHERE ticket_id = $1 "
            "ORDER BY kind, key",
            ticket_id,
        )
    finally:
        await conn.close()
    return [(r["kind"], r["key"], r["due_at"], r["fired"]) for r in rows]


# A hook's change is a change ---------------------------------------------------------------------------


def _escalate(change: TicketChange) -> Effects:
    """A rule: a ticket tagged ``vip`` becomes urgent (and, tagged ``reopen-me``, asks for ``new``)."""
    effects = Effects()
    if change.changed("tags") and "vip" in change.after["tags"]:
        effects.follow_ons.append(FollowOn(ctx=RULE, changes={"priority": "urgent"}, reason="Escalate VIPs"))
    if change.changed("tags") and "reopen-me" in change.after["tags"]:
        effects.follow_ons.append(FollowOn(ctx=RULE, changes={"status": "new"}, reason="Back to new"))
    return effects


ESCALATE = Hook(name="escalate", run=_escalate)


async def test_a_hooks_change_goes_through_the_lifecycle_and_the_hooks_as_the_features_own(
    client, admin_headers, agent, engine
):
    """The rule's priority change is a change of its own: recorded as the rule's, and the SLA hook
    re-selects its policy for it (an urgent-only policy now applies), in the caller's transaction."""
    agent_id, headers = agent
    await create_policy(client, admin_headers)  # urgent tickets only
    ticket = await create_ticket(client, headers, priority="normal", assignee_id=str(agent_id))
    assert ticket["sla"] is None
    async with engine.connect() as conn:
        sla_config = await load_all(await raw_transaction(conn))
    new = await _change(
        engine,
        _config(ESCALATE, sla_config=sla_config),
        ticket["id"],
        {"tags": ["vip"]},
        await _agent_ctx(agent_id),
    )
    assert (new["priority"], new["version"]) == ("urgent", ticket["version"] + 2)  # two edits

    got = (await client.get(f"/v1/tickets/{ticket['id']}", headers=headers)).json()
    assert got["priority"] == "urgent"
    assert got["sla"]["policy_id"] is not None
    assert metric_of(got, "first_response")["target_minutes"] == 60
    events = [
        (e["type"], e["actor"]["type"], e["actor"]["id"])
        for e in await events_of(client, headers, ticket["id"])
    ]
    assert events[1:] == [
        ("ticket.updated", "agent", str(agent_id)),  # the tags, by the agent
        ("sla.updated", "rule", RULE.actor.id),  # the policy the rule's change brought
        ("ticket.updated", "rule", RULE.actor.id),  # the priority, by the rule
    ]


async def test_a_refused_follow_on_change_is_recorded_on_the_ticket_and_the_callers_change_stands(
    client, agent, engine
):
    agent_id, headers = agent
    ticket = await create_ticket(client, headers, assignee_id=str(agent_id))
    new = await _change(
        engine, _config(ESCALATE), ticket["id"], {"tags": ["reopen-me"]}, await _agent_ctx(agent_id)
    )
    assert (new["tags"], new["status"]) == (["reopen-me"], "open")
    events = await events_of(client, headers, ticket["id"])
    assert [e["type"] for e in events][-2:] == ["ticket.updated", "ticket.change_refused"]
    refused = events[-1]
    assert refused["actor"] == {
        "type": "rule",
        "id": RULE.actor.id,
        "name": "Escalate VIPs",
        "api_key_id": None,
    }
    assert refused["data"]["rule"] == lifecycle.NEVER_BACK_TO_NEW
    assert refused["data"]["reason"] == "Back to new"
    assert refused["data"]["changes"] == [{"field": "status", "previous": "open", "current": "new"}]


async def test_follow_on_changes_that_keep_triggering_each_other_stop_and_say_so(client, agent, engine):
    def flip(change: TicketChange) -> Effects:
        if change.cause == "follow_on" or change.changed("tags"):
            priority = "high" if change.after["priority"] != "high" else "low"
            return Effects(follow_ons=[FollowOn(ctx=RULE, changes={"priority": priority}, reason="flip")])
        return Effects()

    agent_id, headers = agent
    ticket = await create_ticket(client, headers)
    await _change(
        engine,
        _config(Hook(name="flip", run=flip)),
        ticket["id"],
        {"tags": ["x"]},
        await _agent_ctx(agent_id),
    )
    events = await events_of(client, headers, ticket["id"])
    assert [e["type"] for e in events].count("ticket.updated") == 1 + writer.MAX_FOLLOW_ON_DEPTH
    assert events[-1]["type"] == "ticket.change_refused"
    assert events[-1]["data"]["rule"] == "follow-on-depth"


# Comments as effects -------------------------------------------------------------------------------------


def _notes(change: TicketChange) -> Effects:
    if change.cause == "updated" and change.changed("priority") and change.after["priority"] == "urgent":
        return Effects(
            follow_ons=[
                FollowOn(ctx=RULE, comment=NewComment(body="Escalated: urgent."), reason="note"),
                FollowOn(ctx=RULE, comment=NewComment(body="We are on it.", public=True), reason="message"),
            ]
        )
    return Effects()


async def test_hooks_add_internal_notes_and_system_messages_that_fulfil_no_sla_metric(
    client, admin_headers, agent, engine
):
    agent_id, headers = agent
    await create_policy(client, admin_headers)
    ticket = await create_ticket(client, headers, priority="urgent")
    async with engine.connect() as conn:
        sla_config = await load_all(await raw_transaction(conn))
    config = _config(Hook(name="notes", run=_notes), sla_config=sla_config)
    await _change(engine, config, ticket["id"], {"priority": "low"}, await _agent_ctx(agent_id))
    await _change(engine, config, ticket["id"], {"priority": "urgent"}, await _agent_ctx(agent_id))

    r = await client.get(f"/v1/tickets/{ticket['id']}/comments", headers=headers)
    comments = [(c["author_type"], c["public"], c["body"]) for c in r.json()["data"]]
    assert comments[1:] == [("system", False, "Escalated: urgent."), ("system", True, "We are on it.")]
    got = (await client.get(f"/v1/tickets/{ticket['id']}", headers=headers)).json()
    assert got["status"] == "new"  # a system message is no agent reply: the ticket stays new…
    assert got["first_agent_reply_at"] is None
    assert metric_of(got, "first_response")["fulfilled_at"] is None  # …and first response still runs
    commented = [e for e in await events_of(client, headers, ticket["id"]) if e["type"] == "ticket.commented"]
    assert [(e["actor"]["type"], e["data"]["comment"]["public"]) for e in commented] == [
        ("rule", False),
        ("rule", True),
    ]
    found = (await client.get("/v1/tickets", params={"q": "Escalated"}, headers=headers)).json()["data"]
    assert [t["id"] for t in found] == [ticket["id"]]  # the note is searchable like any comment


# Timer-only effects, one timer handler ------------------------------------------------------------------


def _nudger(
    due: Callable[[TicketChange], dt.datetime | None], seen: list[TicketChange] | None = None
) -> Hook:
    """Declares one ``nudge`` timer at ``due(change)``; records the changes its timer caused."""

    def run(change: TicketChange) -> Effects:
        if seen is not None and change.timer is not None and change.timer.kind == NUDGE:
            seen.append(change)
        instant = due(change)
        return Effects(timers={} if instant is None else {(NUDGE, ""): instant})

    return Hook(name="nudger", run=run, timer_kinds=frozenset({NUDGE}), actor=NUDGE_ACTOR)


async def test_a_change_that_only_moves_a_timer_still_moves_it(client, agent, engine, database_url):
    """Nothing about the ticket changes (same priority sent again), but the hook's timer depends on its
    configuration, which did: the writer syncs timers even when it writes no column and no event."""
    agent_id, headers = agent
    ticket = await create_ticket(client, headers)
    at = utcnow() + dt.timedelta(hours=5)
    await _change(
        engine,
        _config(_nudger(lambda change: at)),
        ticket["id"],
        {"priority": "normal"},
        await _agent_ctx(agent_id),
    )
    assert [t[:3] for t in await _timers(database_url, ticket["id"])] == [(NUDGE, "", at)]


def _job(engine, config: Config) -> TimerJob:
    async def configure(raw: asyncpg.Connection) -> Config:
        return config

    handler = writer.timer_handler(configure)
    return TimerJob(engine, dict.fromkeys(config.hooks.timer_kinds, handler))


async def test_one_handler_runs_the_hooks_at_the_due_instant_as_the_owning_features_actor(
    client, agent, engine, database_url
):
    agent_id, headers = agent
    ticket = await create_ticket(client, headers)
    due = utcnow() - dt.timedelta(seconds=1)
    seen: list[TicketChange] = []
    config = _config(_nudger(lambda change: due, seen))
    await _change(engine, config, ticket["id"], {"tags": ["x"]}, await _agent_ctx(agent_id))
    await _job(engine, config).run_once()
    [fired] = seen
    assert (fired.cause, fired.ctx, fired.timer.kind) == ("timer", NUDGE_ACTOR, NUDGE)  # type: ignore[union-attr]
    assert fired.at >= due


# Once per episode --------------------------------------------------------------------------------------


def _counting_nudger(episode: dict[str, dt.datetime], fired: list[dt.datetime]) -> Hook:
    """Declares its timer at ``episode["due"]`` and counts its firings: no memory of its own."""

    def run(change: TicketChange) -> Effects:
        if change.timer is not None and change.timer.kind == NUDGE:
            fired.append(change.timer.due_at)
        return Effects(timers={(NUDGE, ""): episode["due"]})

    return Hook(name="nudger", run=run, timer_kinds=frozenset({NUDGE}), actor=NUDGE_ACTOR)


async def test_a_fired_timer_does_not_fire_again_in_its_episode(client, agent, engine, database_url):
    """The hook keeps declaring the instant that passed; the timer's trace keeps it from firing again —
    after later changes, with a new runner (a restart) and through a re-evaluation — until the hook
    declares another instant (a new episode)."""
    agent_id, headers = agent
    ticket = await create_ticket(client, headers)
    episode = {"due": utcnow() - dt.timedelta(minutes=1)}
    fired: list[dt.datetime] = []
    config = _config(_counting_nudger(episode, fired))
    ctx = await _agent_ctx(agent_id)
    await _change(engine, config, ticket["id"], {"tags": ["a"]}, ctx)
    await _job(engine, config).run_once()
    assert fired == [episode["due"]]
    assert await _timers(database_url, ticket["id"]) == [(NUDGE, "", episode["due"], True)]

    await _change(engine, config, ticket["id"], {"tags": ["b"]}, ctx)  # a later change re-declares it
    async with engine.begin() as conn:  # a re-evaluation re-declares it
        raw = await raw_transaction(conn)
        rows = await raw.fetch(f"{writer.store.SELECT} WHERE t.id = $1 FOR UPDATE OF t", ticket["id"])
        await writer.apply_hooks(raw, ctx, config, rows, cause="reevaluated")
    assert await _job(engine, config).run_once() is False  # a new runner: nothing due
    assert fired == [episode["due"]]

    episode["due"] = utcnow() - dt.timedelta(seconds=1)  # the hook moves on: a new episode
    await _change(engine, config, ticket["id"], {"tags": ["c"]}, ctx)
    await _job(engine, config).run_once()
    assert fired == [fired[0], episode["due"]]


async def test_a_timer_its_hook_no_longer_declares_is_deleted_with_its_trace(
    client, agent, engine, database_url
):
    agent_id, headers = agent
    ticket = await create_ticket(client, headers)
    episode = {"due": utcnow() - dt.timedelta(minutes=1)}
    config = _config(_counting_nudger(episode, []))
    await _change(engine, config, ticket["id"], {"tags": ["a"]}, await _agent_ctx(agent_id))
    await _job(engine, config).run_once()
    assert len(await _timers(database_url, ticket["id"])) == 1
    quiet = _config(_nudger(lambda change: None))
    await _change(engine, quiet, ticket["id"], {"tags": ["b"]}, await _agent_ctx(agent_id))
    assert await _timers(database_url, ticket["id"]) == []


# Creation -----------------------------------------------------------------------------------------------


def _welcome(change: TicketChange) -> Effects:
    """On creation: an event naming the ticket, a note, and (for ``vip``) a priority change."""
    if change.before is not None:
        return Effects()
    after = change.after
    event = NewEvent(
        type="ticket.updated",
        ticket_id=after["id"],
        ctx=change.ctx,
        data={"ticket": writer.store.summary(after)},
    )
    effects = Effects(
        events=[event], follow_ons=[FollowOn(ctx=RULE, comment=NewComment(body="Welcome note"))]
    )
    if "vip" in after["tags"]:
        effects.follow_ons.append(FollowOn(ctx=RULE, changes={"priority": "urgent"}))
    return effects


WELCOME = Hook(name="welcome", run=_welcome, event_types=frozenset({"ticket.updated"}))


@pytest.mark.parametrize("by", ["requester_email", "requester_id"])
async def test_creation_carries_every_effect_with_the_real_id_and_requester(client, agent, engine, by):
    agent_id, headers = agent
    existing = await create_ticket(client, headers, requester_email="ann@example.com")
    requester = (
        {"requester_email": "ANN@example.com"}
        if by == "requester_email"
        else {"requester_id": existing["requester"]["id"]}
    )
    async with engine.begin() as conn:
        raw = await raw_transaction(conn)
        data = TicketCreate(subject="Hello", message="Hi", tags=["vip"], **requester)  # type: ignore[arg-type]
        row = await service.insert_ticket(raw, await _agent_ctx(agent_id), _config(WELCOME), data)
    assert row["priority"] == "urgent"
    assert row["comment_id"] is not None
    events = await events_of(client, headers, row["id"])
    assert [(e["type"], e["actor"]["type"]) for e in events] == [
        ("ticket.created", "agent"),
        ("ticket.updated", "agent"),
        ("ticket.commented", "rule"),
        ("ticket.updated", "rule"),
    ]
    assert events[1]["data"]["ticket"]["id"] == row["id"]
    assert events[1]["data"]["ticket"]["requester"]["id"] == existing["requester"]["id"]
    r = await client.get(f"/v1/tickets/{row['id']}/comments", headers=headers)
    assert [c["body"] for c in r.json()["data"]] == ["Hi", "Welcome note"]


async def test_a_policy_on_requesters_applies_to_tickets_created_by_email(client, admin_headers, agent):
    """The SLA hook sees who a ticket created by email is from (it said it needs to, since a policy
    names a requester), so the policy applies from creation, not from the ticket's next change."""
    _, headers = agent
    first = await create_ticket(client, headers, requester_email="vip@example.com")
    body = {
        **URGENT,
        "conditions": {
            "all": [{"field": "requester_id", "operator": "is", "value": first["requester"]["id"]}]
        },
    }
    body["targets"] = {"normal": {"first_response": {"minutes": 30}}}
    await create_policy(client, admin_headers, body)
    ticket = await create_ticket(client, headers, requester_email="VIP@example.com")
    assert ticket["requester"]["id"] == first["requester"]["id"]
    assert ticket["sla"] is not None
    assert metric_of(ticket, "first_response")["target_minutes"] == 30
    other = await create_ticket(client, headers, requester_email="someone@example.com")
    assert other["sla"] is None


async def test_a_creation_no_hook_needs_more_of_stays_one_statement(client, agent, database_url, monkeypatch):
    """The common case: hooks see neither id nor requester and need neither; the write is one statement
    (here on a connection outside any transaction, as the route runs it)."""
    agent_id, _ = agent
    calls = []
    real = asyncpg.Connection.fetchrow

    async def counting(self, query, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(query)
        return await real(self, query, *args, **kwargs)

    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        monkeypatch.setattr(asyncpg.Connection, "fetchrow", counting)
        data = TicketCreate(subject="Hello", message="Hi", requester_email="bo@example.com")
        row = await service.insert_ticket(conn, await _agent_ctx(agent_id), _config(), data)
    finally:
        monkeypatch.undo()
        await conn.close()
    assert row["id"] is not None
    assert len(calls) == 1
