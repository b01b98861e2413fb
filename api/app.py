"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager

import asyncpg
from litestar import Litestar, Response
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.middleware import DefineMiddleware
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_204_NO_CONTENT
from litestar.types import ASGIApp, Scope
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth.cache import ApiKeyCache
from api.auth.guards import PUBLIC, ApiKeyAuthenticationMiddleware
from api.auth.routes import ApiKeyController
from api.calendars.cache import CalendarCache
from api.calendars.routes import BusinessCalendarController
from api.consistency import consistency_token_middleware, provide_reads
from api.db import create_engine, create_statement_pool, listen_dsn, provide_transaction
from api.docs import assets_router, problem_404s_under_docs
from api.errors import EXCEPTION_HANDLERS
from api.events.routes import list_events
from api.features import HookConfig
from api.jobs import build_jobs
from api.listener import Listener
from api.observability import RequestContext, configure_logging
from api.openapi import finalize_schema, openapi_config
from api.ops.routes import ROUTES as OPS_ROUTES
from api.people.routes import AgentController, CustomerController, GroupController
from api.replica import ReadRouter
from api.rules.routes import RuleController
from api.runner import Runner
from api.settings import Settings, load_settings
from api.sla.cache import SlaConfigCache
from api.sla.routes import SlaPolicyController
from api.strict_input import QueryRules
from api.tickets.routes import TicketController
from api.webhooks.routes import WebhookEndpointController


def create_litestar(settings: Settings) -> Litestar:
    """The Litestar application itself (tests use this; servers use :func:`create_app`)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        engine = create_engine(settings)
        # One LISTEN connection for the process: every cache and the runner subscribe before it starts.
        listener = Listener(listen_dsn(settings))
        app.state.engine = engine
        app.state.statement_pool = await create_statement_pool(settings)
        app.state.read_router = await _read_router(app.state.statement_pool, engine, settings)
        app.state.api_key_cache = ApiKeyCache(engine, listener, settings.api_key_cache_ttl_seconds)
        calendars = app.state.calendar_cache = CalendarCache(listener)
        sla_cache = app.state.sla_cache = SlaConfigCache(listener)
        app.state.hook_config = HookConfig(settings, sla_cache, calendars)
        runner = (
            Runner(listener, build_jobs(engine, settings, sla_cache, calendars))
            if settings.run_worker
            else None
        )
        app.state.runner = runner
        await listener.start()
        if runner is not None:
            await runner.start()
        try:
            yield
        finally:
            if runner is not None:
                await runner.stop()
            await listener.stop()
            await _close_read_router(app.state.read_router)
            await app.state.statement_pool.close()
            await engine.dispose()

    query_rules = QueryRules()
    app = Litestar(
        route_handlers=[
            *OPS_ROUTES,
            ApiKeyController,
            CustomerController,
            AgentController,
            GroupController,
            TicketController,
            SlaPolicyController,
            RuleController,
            list_events,
            WebhookEndpointController,
            BusinessCalendarController,
            assets_router(),
        ],
        lifespan=[lifespan],
        dependencies={"tx": Provide(provide_transaction), "reads": Provide(provide_reads)},
        middleware=[
            # Tokens exist only with a replica: without one, writes skip the layer altogether.
            *([consistency_token_middleware] if settings.read_database_url else []),
            DefineMiddleware(
                ApiKeyAuthenticationMiddleware, exclude=["^/docs"], exclude_from_auth_key=PUBLIC
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=query_rules.before_request,
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_body_bytes,
        debug=False,
        logging_config=None,  # configure_logging owns the format: one JSON object per line
    )
    app.state.settings = settings
    finalize_schema(app)
    query_rules.load(app)
    _complete_options_allow_headers(app)
    problem_404s_under_docs(app)
    return app


async def _read_router(primary_pool: asyncpg.Pool, engine: AsyncEngine, settings: Settings) -> ReadRouter:
    """Reads go to the primary unless a replica is configured (``HELPDESK_READ_DATABASE_URL``)."""
    url = settings.read_database_url
    if not url:
        return ReadRouter(primary_pool, engine, settings)
    router = ReadRouter(
        primary_pool,
        engine,
        settings,
        replica_pool=await create_statement_pool(settings, url),
        replica_engine=create_engine(settings, url, application_name="helpdesk-api-reads"),
    )
    await router.start()
    return router


async def _close_read_router(router: ReadRouter) -> None:
    await router.stop()
    if router.replica_pool is not None:
        await router.replica_pool.close()
    if router.replica_engine is not None:
        await router.replica_engine.dispose()


def _complete_options_allow_headers(app: Litestar) -> None:
    """Make the automatic ``OPTIONS`` response of every path list all of the path's methods.

    Litestar 2 creates a path's ``OPTIONS`` handler with the first route registered for that path and keeps
    it when later handlers (``PATCH`` after ``GET``) rebuild the route, so its ``Allow`` header names only
    the first handler's methods (litestar-org/litestar#4169, fixed in Litestar 3 only). Rebinding those
    handlers to the final routes costs nothing per request.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.http_methods == {"OPTIONS"} and handler.fn.__qualname__.startswith(
                "HTTPRoute.create_options_handler."
            ):
                handler(_options_handler(", ".join(sorted(route.methods))))


def _options_handler(allow: str) -> Callable[[Scope], Response[None]]:
    def options_handler(scope: Scope) -> Response[None]:
        return Response(
            content=None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": allow}, media_type=MediaType.TEXT
        )

    return options_handler


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The ASGI app servers run: the Litestar app wrapped with request ids, access logs and metrics."""
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    return RequestContext(create_litestar(settings), access_log_enabled=settings.access_log)
