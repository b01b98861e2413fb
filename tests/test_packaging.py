"""The service as an operator installs it: a wheel (not the checkout) in a fresh venv, run elsewhere."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import embedded_data_dir
from tests.test_cli import _free_port

REPO = Path(__file__).resolve().parent.parent
# What a fresh clone has, not what a developer's checkout has accumulated (a stale build/ directory
# would otherwise leak deleted modules into the wheel).
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "*.egg-info",
    "__pycache__",
    ".helpdesk",
    "node_modules",
    ".*_cache",
    ".hypothesis",
    "out",
)


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` directory of a new venv with the built wheel and its dependencies installed."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", source, cwd=work)
    (wheel,) = (work / "dist").glob("helpdesk_api-*.whl")
    _run(sys.executable, "-m", "venv", work / "venv", cwd=work)
    # A full install (dependencies resolved from the wheel's metadata), served from pip's cache.
    _run(work / "venv" / "bin" / "pip", "install", "-q", wheel, cwd=work)
    return work / "venv" / "bin"


def _clean_env(**overrides: str) -> dict[str, str]:
    # Nothing that would point the installed copy back at the checkout or at the test database.
    leaks = ("DATABASE_URL", "PYTHONPATH", "HELPDESK_DATA_DIR")
    env = {k: v for k, v in os.environ.items() if k not in leaks}
    env.update(overrides)
    return env


@pytest.mark.slow
def test_the_wheel_carries_the_migrations_and_runs_from_any_directory(installed: Path) -> None:
    workdir = embedded_data_dir()  # postgres (run as another user under root) must reach the data dir
    try:
        where = _run(installed / "python", "-c", "import api; print(api.__file__)", cwd=workdir)
        assert Path(where.strip()).is_relative_to(installed.parent), where  # not the checkout

        _run(installed / "helpdesk", "openapi", cwd=workdir, env=_clean_env())
        written = workdir / "openapi" / "openapi.json"
        assert written.read_text() == (REPO / "openapi" / "openapi.json").read_text()

        _serve_and_use(installed, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _serve_and_use(installed: Path, workdir: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    stderr_path = workdir / "serve.stderr"
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [installed / "helpdesk", "serve", "--port", str(port)],
            cwd=workdir,
            env=_clean_env(HELPDESK_ACCESS_LOG="false"),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            _wait_ready(proc, base, stderr_path)
            progress = stderr_path.read_text()
            # The first start says what it is doing while initdb runs, instead of seconds of silence.
            assert "first start: creating an embedded PostgreSQL" in progress, progress
            assert "embedded PostgreSQL ready" in progress, progress
            assert "applying database migrations" in progress, progress
            assert httpx.get(f"{base}/docs", timeout=5).status_code == 200
        finally:
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr_path.read_text()[-3000:]
    token = next(word for word in out.split() if word.startswith("hdk_"))
    assert token
    # The data directory defaults to ./.helpdesk of the directory serve was started in.
    assert (workdir / ".helpdesk" / "pg" / "PG_VERSION").exists()


def _wait_ready(proc: subprocess.Popen[str], base: str, stderr_path: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early:\n{stderr_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"serve did not become ready:\n{stderr_path.read_text()[-3000:]}")
