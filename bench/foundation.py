"""Foundation benchmarks (issue 2): startup time and /healthz throughput against a bare Litestar app.

Run by hand:  .venv/bin/python bench/foundation.py   (needs `wrk`; loopback only; stops by itself)

1. `helpdesk serve` on an empty data directory (embedded PostgreSQL: initdb + migrations + key) until
   /readyz answers 200, then a restart on the same directory.
2. wrk -c64 on /healthz of `helpdesk serve` and of bench/hello_app.py, same uvicorn settings
   (1 worker, uvloop, httptools), both running, rounds interleaved, medians compared.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DURATION = os.environ.get("BENCH_DURATION", "10s")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def start_serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {
        "HELPDESK_DATA_DIR": str(data_dir),
        "HELPDESK_ACCESS_LOG": "false",
        "HELPDESK_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)


def wrk(url: str) -> float:
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{DURATION}", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    p99 = re.search(r"99%\s+(\S+)", out)
    print(f"    {url}: {float(match.group(1)):,.0f} req/s, p99 {p99.group(1) if p99 else '?'}")
    return float(match.group(1))


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="helpdesk-bench-"))
    try:
        port = free_port()
        print("startup (time until /readyz is 200):")
        proc = start_serve(tmp / "data", port)
        first = wait_for(f"http://127.0.0.1:{port}/readyz", proc)
        stop(proc)
        print(f"    empty data dir: {first:.2f} s")
        proc = start_serve(tmp / "data", port)
        again = wait_for(f"http://127.0.0.1:{port}/readyz", proc)
        print(f"    restart:        {again:.2f} s")

        hello_port = free_port()
        hello = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.hello_app:app", "--port", str(hello_port),
             "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
            cwd=ROOT,
        )  # fmt: skip
        # Both servers up at once, runs interleaved, medians compared: background load hits both alike.
        print(f"/healthz under wrk -t2 -c64 -d{DURATION}, {ROUNDS} interleaved rounds:")
        try:
            wait_for(f"http://127.0.0.1:{hello_port}/healthz", hello)
            ours, bare = [], []
            for _ in range(ROUNDS):
                ours.append(wrk(f"http://127.0.0.1:{port}/healthz"))
                bare.append(wrk(f"http://127.0.0.1:{hello_port}/healthz"))
        finally:
            stop(proc)
            stop(hello)
        ours_median, bare_median = statistics.median(ours), statistics.median(bare)
        print(f"    median helpdesk {ours_median:,.0f} req/s, bare Litestar {bare_median:,.0f} req/s")
        print(f"    helpdesk /healthz = {ours_median / bare_median:.0%} of bare Litestar")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
