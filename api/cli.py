"""The ``helpdesk`` command: serve, migrate, openapi, api-keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import msgspec

from api.settings import Settings, load_settings

# How long an idle HTTP connection stays open (see serve).
KEEP_ALIVE_SECONDS = 75


def _database_url(settings: Settings) -> str:
    """``DATABASE_URL`` when set; otherwise the embedded server in the data directory (started if needed)."""
    if settings.database_url:
        return settings.database_url
    from api.embedded import start_embedded

    url = start_embedded(settings.data_path, progress=_progress)
    # Child processes (uvicorn workers) inherit the URL instead of starting their own server.
    os.environ["DATABASE_URL"] = url
    return url


def _session_url(settings: Settings, url: str) -> str:
    """Where migrations and one-off commands connect: the direct URL when PgBouncer fronts ``url``
    (migrations hold a session advisory lock, which transaction pooling cannot keep)."""
    return settings.direct_database_url or url


def _progress(message: str) -> None:
    """Progress for the person at the terminal, on stderr (stdout carries only what commands print)."""
    print(message, file=sys.stderr, flush=True)


async def _create_key(
    database_url: str,
    name: str,
    role: str,
    *,
    only_if_first: bool = False,
    agent_email: str | None = None,
    speaks_for_customers: bool = False,
) -> str | None:
    """Create an API key and return its token; with ``only_if_first``, only on a database without keys
    (the admin key ``serve`` prints on first start, so the first user can get in); with ``agent_email``,
    a key that acts as that agent."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from api.auth.schemas import ApiKeyCreate
    from api.auth.service import create_api_key
    from api.db import sqlalchemy_url
    from api.errors import DomainError

    engine = create_async_engine(sqlalchemy_url(database_url), hide_parameters=True)
    try:
        async with engine.begin() as conn:
            if only_if_first:
                # Serialise concurrent first starts so only one of them mints the key.
                await conn.execute(text("LOCK TABLE api_keys IN EXCLUSIVE MODE"))
                if await conn.scalar(text("SELECT EXISTS (SELECT 1 FROM api_keys)")):
                    return None
            agent_id = None
            if agent_email is not None:
                agent_id = await conn.scalar(
                    text("SELECT id FROM agents WHERE lower(email) = lower(:email) AND active"),
                    {"email": agent_email},
                )
                if agent_id is None:
                    raise SystemExit(f"no active agent with the email {agent_email!r}")
            data = ApiKeyCreate(
                name=name,
                role=role,  # type: ignore[arg-type]
                agent_id=agent_id,
                speaks_for_customers=speaks_for_customers,
            )
            try:
                created = await create_api_key(conn, data)
            except DomainError as exc:
                raise SystemExit(exc.detail) from None
            return created.token
    finally:
        await engine.dispose()


def _port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None. Checked before anything starts, so that the
    banner (URL, admin key) is never printed for a server that cannot start."""
    try:
        with socket.create_server((host, port)):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.http_limits import LimitedHttpToolsProtocol
    from api.migrations import upgrade
    from api.observability import configure_logging

    if problem := _port_taken(args.host, args.port):
        _progress(f"helpdesk: cannot listen on {args.host}:{args.port}: {problem} (in use? try --port)")
        return 1
    settings = load_settings()
    configure_logging(settings.log_level)
    url = _database_url(settings)
    follower = None
    if not settings.database_url:
        from api.embedded import follow

        # Stops the embedded server should this process die without cleaning up (SIGKILL, OOM).
        follower = follow(settings.data_path)
    _progress("applying database migrations …")
    session_url = _session_url(settings, url)
    upgrade(session_url)
    token = asyncio.run(_create_key(session_url, "bootstrap admin", "admin", only_if_first=True))
    if args.workers > 1:
        # Each worker keeps its own metrics; this directory lets /metrics add them up.
        metrics_dir = settings.data_path / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)

    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    base = f"http://{shown_host}:{args.port}"
    print(f"helpdesk-api on {base}  (docs: {base}/docs)", flush=True)
    if token:
        print(f"admin API key (shown once, keep it safe): {token}", flush=True)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler found at start; with
    # the default one the process would die there, before the embedded PostgreSQL is stopped.
    signal.signal(signal.SIGTERM, _exit_quietly)
    try:
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            loop="uvloop",
            # httptools with limits on request heads and slow clients (api/http_limits.py).
            http=LimitedHttpToolsProtocol,
            log_config=None,
            access_log=False,
            server_header=False,
            # Longer than the idle timeout of the proxies and clients in front (60 s on common load
            # balancers), so they, not we, close an idle connection: a close from our side can cross a
            # request they just sent on it, which then fails with a reset (uvicorn's default is 5 s).
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    finally:
        if not settings.database_url:
            from api.embedded import stop_embedded

            stop_embedded(settings.data_path)
        if follower is not None and follower.stdin is not None:
            follower.stdin.close()  # the follower finds the server stopped (or still held) and exits
            with contextlib.suppress(subprocess.TimeoutExpired):
                follower.wait(timeout=10)
    return 0


def _exit_quietly(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


async def _run_worker(settings: Settings, database_url: str) -> None:
    from api.calendars.cache import CalendarCache
    from api.db import create_engine, listen_dsn
    from api.jobs import build_jobs
    from api.listener import Listener
    from api.runner import Runner
    from api.sla.cache import SlaConfigCache

    settings = msgspec.structs.replace(settings, database_url=database_url)
    engine = create_engine(settings)
    # The same caches as an API process, so a timer does not reload every policy and calendar.
    listener = Listener(listen_dsn(settings), application_name="helpdesk-worker")
    runner = Runner(listener, build_jobs(engine, settings, SlaConfigCache(listener), CalendarCache(listener)))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await listener.start()
    await runner.start()
    print("helpdesk worker running; Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        await stopping.wait()
    finally:
        await runner.stop()
        await listener.stop()
        await engine.dispose()


def cmd_worker(_: argparse.Namespace) -> int:
    """Run only the background runner (scheduled work, webhook delivery), to scale it out."""
    from api.observability import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    url = _database_url(settings)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(_run_worker(settings, url))
    else:
        # Webhook delivery is CPU-bound at thousands of requests a second; uvloop makes each one cheaper.
        uvloop.run(_run_worker(settings, url))
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from api.migrations import upgrade

    settings = load_settings()
    upgrade(_session_url(settings, _database_url(settings)))
    print("database schema is at head", file=sys.stderr)
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from api.app import create_litestar
    from api.openapi import DEFAULT_SPEC_FILE, render_spec

    spec = render_spec(create_litestar(load_settings()))
    if args.output == "-":
        sys.stdout.write(spec)
        return 0
    path = Path(args.output) if args.output else DEFAULT_SPEC_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_api_keys_create(args: argparse.Namespace) -> int:
    from api.migrations import upgrade

    settings = load_settings()
    url = _session_url(settings, _database_url(settings))
    upgrade(url)
    # Only the token on stdout, so `TOKEN=$(helpdesk api-keys create …)` works.
    token = _create_key(
        url, args.name, args.role, agent_email=args.agent, speaks_for_customers=args.speaks_for_customers
    )
    print(asyncio.run(token))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helpdesk", description="Helpdesk ticketing API")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (on an embedded PostgreSQL without DATABASE_URL)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="API processes")
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser("worker", help="run only the background runner (scale-out)")
    worker.set_defaults(func=cmd_worker)

    migrate = commands.add_parser("migrate", help="upgrade the database schema to the latest migration")
    migrate.set_defaults(func=cmd_migrate)

    openapi = commands.add_parser("openapi", help="write the OpenAPI spec (default ./openapi/openapi.json)")
    openapi.add_argument("--output", "-o", help="file to write, or - for stdout")
    openapi.set_defaults(func=cmd_openapi)

    api_keys = commands.add_parser("api-keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    create = api_keys.add_parser("create", help="create a key and print only its token")
    create.add_argument("--role", choices=("admin", "agent"), required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--agent", metavar="EMAIL", help="bind the key to this agent: it acts as them")
    create.add_argument(
        "--speaks-for-customers",
        action="store_true",
        help="the key may write comments as a ticket's requester (integration keys only)",
    )
    create.set_defaults(func=cmd_api_keys_create)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
