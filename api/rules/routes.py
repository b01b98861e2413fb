"""HTTP routes for rules: admins manage them, agents read, preview and explain them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, Response, get, patch, post
from litestar.datastructures import State
from litestar.params import Body, FromPath, QueryParameter

from api.auth.guards import ADMIN_ONLY, ANY_ROLE
from api.auth.schemas import Principal
from api.calendars.businesstime import Schedule
from api.consistency import Reads
from api.db import Transaction, raw_transaction
from api.etags import etag_header, expected_version, if_match
from api.idempotency import IdempotencyKeyHeader, idempotent, run_once
from api.openapi import created_at_location, problems, response_examples
from api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Limit
from api.rules import examples, preview, service
from api.rules.schemas import (
    DryRun,
    RuleCatalog,
    RuleCreate,
    RuleDraft,
    RuleExplanation,
    RulePage,
    RuleRead,
    RuleUpdate,
)

Req = Request[Principal, Any, Any]
ETAG = etag_header("rule")
IfMatch = Annotated[str | None, if_match("rule")]
TicketId = Annotated[
    int, QueryParameter(ge=1, le=2**63 - 1, description="The ticket to explain the rule for.")
]
PreviewLimit = Annotated[
    int, QueryParameter(ge=1, le=MAX_LIMIT, description="How many matching tickets to show (1-200).")
]


def _with_etag(rule: RuleRead, status_code: int = 200) -> Response[RuleRead]:
    headers = {"ETag": f'"{rule.version}"'}
    if status_code == 201:
        headers["Location"] = f"/v1/rules/{rule.id}"
    return Response(rule, status_code=status_code, headers=headers)


def _schedules(state: State) -> preview.LoadSchedule:
    async def load(raw: asyncpg.Connection, calendar_id: uuid.UUID) -> Schedule | None:
        loaded = await state.calendar_cache.get(raw, calendar_id)
        return None if loaded is None else loaded.schedule

    return load


class RuleController(Controller):
    path = "/v1/rules"
    tags = ["Rules"]
    opt = ANY_ROLE

    @post(
        operation_id="createRule",
        response_headers=ETAG,
        opt={
            **ADMIN_ONLY,
            **problems(409),
            **created_at_location(),
            **response_examples(201, examples.RULE_RESPONSE),
        },
    )
    async def create_rule(
        self,
        request: Req,
        tx: Transaction,
        data: Annotated[RuleCreate, Body(examples=examples.RULE_CREATE)],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[RuleRead]:
        """Create a rule (admin only).

        `conditions` is a tree of `{field, operator, value}` conditions in `all` and `any` lists, with
        one level of nested groups (`GET /v1/rules/fields` lists fields and operators); `actions` run in
        order. `on_change` rules cannot use time facts, `on_time` rules need one and cannot use change
        facts. A condition that does not fit is a 422 at its path (`$.conditions.all[2].value`).
        """

        async def work() -> Response[Any]:
            return _with_etag(await service.create_rule(tx, data), 201)

        return await idempotent(tx, request, idempotency_key, data, work)

    @get(operation_id="listRules")
    async def list_rules(self, reads: Reads, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> RulePage:
        """List rules in the order they run.

        Active rules of a trigger run in `position` order (then by id); inactive rules are listed too.
        """
        return await service.list_rules(reads, limit=limit, cursor=cursor)

    @get("/fields", operation_id="getRuleCatalog")
    async def get_catalog(self) -> RuleCatalog:
        """What conditions can test and message templates can say.

        Every condition field with its type and the operators that fit it (with the kind of each: `state`
        for any rule, `time` for `on_time` rules, `change` for `on_change` rules), and every template
        placeholder.
        """
        return preview.catalog()

    @get(
        "/{rule_id:uuid}",
        operation_id="getRule",
        response_headers=ETAG,
        opt={**problems(404), **response_examples(200, examples.RULE_RESPONSE)},
    )
    async def get_rule(self, tx: Transaction, rule_id: FromPath[uuid.UUID]) -> Response[RuleRead]:
        """Get a rule.

        Its `ETag` is the version: send it back as `If-Match` to change the rule.
        """
        return _with_etag(await service.get_rule(tx, rule_id))

    @patch(
        "/{rule_id:uuid}",
        operation_id="updateRule",
        response_headers=ETAG,
        opt={**ADMIN_ONLY, **problems(404, 412)},
    )
    async def update_rule(
        self,
        tx: Transaction,
        rule_id: FromPath[uuid.UUID],
        data: Annotated[RuleUpdate, Body(examples=examples.RULE_UPDATE)],
        if_match: IfMatch = None,
    ) -> Response[RuleRead]:
        """Change a rule (admin only).

        Omitted fields keep their value; every change is a new `version`, and earlier versions stay
        readable. Deactivate a rule with `active: false`.
        """
        service.check_body(data)
        return _with_etag(await service.update_rule(tx, rule_id, data, expected_version(if_match)))

    @get("/{rule_id:uuid}/versions", operation_id="listRuleVersions", opt=problems(404))
    async def list_versions(
        self,
        tx: Transaction,
        rule_id: FromPath[uuid.UUID],
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> RulePage:
        """List every version of a rule.

        Oldest first, each exactly as it was saved (what a ticket's history refers to).
        """
        return await service.list_versions(tx, rule_id, limit=limit, cursor=cursor)

    @get("/{rule_id:uuid}/versions/{version:int}", operation_id="getRuleVersion", opt=problems(404))
    async def get_version(
        self, tx: Transaction, rule_id: FromPath[uuid.UUID], version: FromPath[int]
    ) -> RuleRead:
        """Get one version of a rule.

        The rule exactly as it was at that version.
        """
        return await service.get_version(tx, rule_id, version)

    @post(
        "/dry-run",
        status_code=200,
        operation_id="dryRunRule",
        opt=response_examples(200, examples.DRY_RUN),
    )
    async def dry_run(
        self,
        request: Req,
        tx: Transaction,
        data: Annotated[RuleDraft, Body(examples=examples.RULE_DRAFT)],
        limit: PreviewLimit = DEFAULT_LIMIT,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[DryRun]:
        """Preview an unsaved rule: which tickets it matches now, and what it would do to them.

        Counts every ticket that is not closed and matches now (exactly), and shows the first `limit`
        by id with the changes, comments and events the actions would make. Nothing is changed.
        """

        async def work() -> DryRun:
            raw = await raw_transaction(tx)
            load = _schedules(request.app.state)
            return await preview.dry_run(raw, load, data.trigger, data.conditions, data.actions, limit)

        return await run_once(tx, request, idempotency_key, {"rule": data, "limit": limit}, work)

    @post(
        "/{rule_id:uuid}/dry-run",
        status_code=200,
        operation_id="dryRunSavedRule",
        opt={**problems(404), **response_examples(200, examples.DRY_RUN)},
    )
    async def dry_run_saved(
        self,
        request: Req,
        tx: Transaction,
        rule_id: FromPath[uuid.UUID],
        limit: PreviewLimit = DEFAULT_LIMIT,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[DryRun]:
        """Preview a saved rule (active or not): which tickets it matches now and what it would do.

        As `dryRunRule`, with the rule's current version. Nothing is changed.
        """

        async def work() -> DryRun:
            rule = await service.get_rule(tx, rule_id)
            raw = await raw_transaction(tx)
            load = _schedules(request.app.state)
            return await preview.dry_run(raw, load, rule.trigger, rule.conditions, rule.actions, limit)

        return await run_once(tx, request, idempotency_key, {"rule_id": rule_id, "limit": limit}, work)

    @get(
        "/{rule_id:uuid}/explain",
        operation_id="explainRule",
        opt={**problems(404), **response_examples(200, examples.EXPLANATION)},
    )
    async def explain(
        self, request: Req, tx: Transaction, rule_id: FromPath[uuid.UUID], ticket_id: TicketId
    ) -> RuleExplanation:
        """Explain a rule for a ticket.

        For each condition (with its path in the rule): the ticket's value now and whether it holds, and
        whether the whole tree holds. Change conditions are decided only by a change (`holds: null`).
        """
        rule = await service.get_rule(tx, rule_id)
        raw = await raw_transaction(tx)
        return await preview.explain(
            raw,
            _schedules(request.app.state),
            rule.trigger,
            rule.conditions,
            ticket_id,
            rule_id=rule.id,
            rule_version=rule.version,
        )

    @post(
        "/explain",
        status_code=200,
        operation_id="explainDraftRule",
        opt={**problems(404), **response_examples(200, examples.EXPLANATION)},
    )
    async def explain_draft(
        self,
        request: Req,
        tx: Transaction,
        data: Annotated[RuleDraft, Body(examples=examples.RULE_DRAFT)],
        ticket_id: TicketId,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[RuleExplanation]:
        """Explain an unsaved rule for a ticket.

        As `explainRule`, for the rule in the body: each condition's value for the ticket now and whether
        it holds.
        """

        async def work() -> RuleExplanation:
            raw = await raw_transaction(tx)
            load = _schedules(request.app.state)
            return await preview.explain(raw, load, data.trigger, data.conditions, ticket_id)

        return await run_once(tx, request, idempotency_key, {"rule": data, "ticket_id": ticket_id}, work)
