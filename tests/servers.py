"""Real servers for deployment tests: PgBouncer in transaction mode, and a primary with a streaming replica.

Both run as the ``postgres`` OS user (PgBouncer refuses root, PostgreSQL too) from a private temporary
directory, listen on 127.0.0.1 only, and are stopped by the PID they were started with.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

PG_BIN = Path(os.environ.get("HELPDESK_PG_BIN", "/usr/lib/postgresql/15/bin"))


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _private_dir(prefix: str, owner: str = "postgres") -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    shutil.chown(path, owner)
    return path


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text() if log.exists() else ''}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {within} s")


@contextmanager
def pgbouncer(target_url: str, *, pool_size: int = 2) -> Iterator[str]:
    """PgBouncer in transaction mode in front of ``target_url``'s server; yields the same URL through it.

    A small server pool makes clients share server connections, which is what breaks named prepared
    statements and session state: the setting under test has to cope with it.
    """
    binary = pgbouncer_binary()
    assert binary is not None
    target = urlsplit(target_url)
    # The embedded server is reached by its socket directory (``?host=/dir``), DATABASE_URL by TCP.
    host = parse_qs(target.query).get("host", [target.hostname or "127.0.0.1"])[0]
    # Run as the server's owner, who can reach its socket directory (the embedded server's is private).
    runas = pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/") else "postgres"
    user = unquote(target.username or "postgres")
    password = unquote(target.password or "")
    workdir = _private_dir("helpdesk-pgbouncer-", runas)
    port = free_port()
    (workdir / "userlist.txt").write_text(f'"{user}" "{password}"\n')
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={host} port={target.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {workdir / 'userlist.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
        f"logfile = {workdir / 'pgbouncer.log'}\npidfile = {workdir / 'pgbouncer.pid'}\n"
    )
    for path in workdir.iterdir():
        shutil.chown(path, runas)
    proc = subprocess.Popen(
        [binary, str(workdir / "pgbouncer.ini")],
        user=runas,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc, workdir / "pgbouncer.log")
        netloc = f"{target.username or 'postgres'}{':' + target.password if target.password else ''}"
        yield f"postgresql://{netloc}@127.0.0.1:{port}{target.path}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _pg(*args: object, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(a) for a in args], check=check, capture_output=True, user="postgres")


class ReplicatedCluster:
    """A private primary (``wal_level=replica``) and a hot standby made by ``pg_basebackup -R``."""

    def __init__(self) -> None:
        self.root = _private_dir("helpdesk-replica-")
        self.primary_dir = self.root / "primary"
        self.standby_dir = self.root / "standby"
        self.primary_port = free_port()
        self.standby_port = free_port()

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    def start(self) -> None:
        _pg(PG_BIN / "initdb", "-D", self.primary_dir, "-U", "postgres", "--auth=trust")
        with (self.primary_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.primary_port}\nlisten_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\nwal_level = replica\nmax_wal_senders = 4\nfsync = off\n"
            )
        self._start(self.primary_dir)
        _pg(
            PG_BIN / "pg_basebackup", "-h", "127.0.0.1", "-p", self.primary_port, "-U", "postgres",
            "-D", self.standby_dir, "-R", "-X", "stream",
        )  # fmt: skip
        with (self.standby_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {self.standby_port}\nhot_standby = on\n")
        self.start_standby()

    def _start(self, data: Path) -> None:
        _pg(PG_BIN / "pg_ctl", "-D", data, "-l", data / "log", "-w", "start")

    def start_standby(self) -> None:
        self._start(self.standby_dir)

    def stop_standby(self) -> None:
        _pg(PG_BIN / "pg_ctl", "-D", self.standby_dir, "-m", "immediate", "-w", "stop", check=False)

    def stop(self) -> None:
        self.stop_standby()
        _pg(PG_BIN / "pg_ctl", "-D", self.primary_dir, "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)
