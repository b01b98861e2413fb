"""An open-loop, fixed-rate HTTP/1.1 load generator (what wrk2 does), for loopback benchmarks.

    .venv/bin/python bench/open_loop.py http://127.0.0.1:8000 --rate 1000 --duration 30 --warmup 5 \\
        --path /healthz [-H 'Authorization: Bearer …'] [--json out.json]
    ... --gen ticket:1000000                         # GET /v1/tickets/<random id in 1..N>
    ... --gen list:status_tag --agents-file F        # the list pages of bench/wrk/list.lua
    ... --paths-file paths.txt                       # a random line per request
    ... --gen mymodule:factory                       # factory() returns a zero-argument path function

Why hand-written: wrk (closed loop) measures what a fixed set of connections gets through, and its
latencies leave out the time requests *would* have waited while the server stalled (coordinated
omission). Gil Tene's wrk2 fixes both, but it is not packaged in Debian, PyPI or npm (the only
registries this project's machines reach), and neither is vegeta; an httpx-based generator stalled in an
earlier run (bench/RESULTS.md, SLA section). So this is a small generator on asyncio + uvloop with
httptools' C response parser (both come with ``uvicorn[standard]``, a dependency already):

- Request *i* is due at ``start + i / rate``, whatever happened to request *i - 1*; a scheduler task
  dispatches every due request, and its latency is measured from that **intended** instant (as wrk2
  does), so a stall shows up as latency of everything scheduled during it.
- Keep-alive connections in a pool: a due request takes an idle connection, or opens a new one when all
  are busy, up to ``--max-conns``. When the cap is hit the request waits for the next free connection
  (its latency still counts from the intended instant) and is counted as **generator saturated**: the
  report says so instead of silently offering less.
- Also reported, to tell a slow server from a slow generator: how late the scheduler dispatched
  (``dispatch_lag_ms``) and the generator's own CPU use. If the generator runs near 100 % of a core or
  its dispatch lag grows, the numbers describe the generator, not the server.

Output: offered and achieved rate, status counts, transport errors, latency p50/p90/p99/p99.9/max as JSON
(``--json``) and one human line. Used as a library by bench/list_floor.py and bench/soak.py
(:func:`run_open_loop`, with per-kind and per-window statistics).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import importlib
import json
import random
import resource
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httptools

# A request factory returns (kind, raw request bytes). ``kind`` groups the statistics (e.g. "create").
Factory = Callable[[], tuple[str, bytes]]

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
KEEP_ERROR_SAMPLES = 5


def build_request(
    method: str, path: str, host: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
) -> bytes:
    """The raw bytes of one HTTP/1.1 request (keep-alive; Content-Length whenever there is a body)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def percentiles(values: Sequence[float] | array[float]) -> dict[str, float | None]:
    """p50/p90/p99/p99.9/max/mean in ms of latencies given in seconds (nearest rank)."""
    if not values:
        return {"p50": None, "p90": None, "p99": None, "p99.9": None, "max": None, "mean": None, "n": 0}
    ordered = sorted(values)
    n = len(ordered)
    out: dict[str, float | None] = {}
    for p in PERCENTILES:
        rank = max(1, -(-int(p * n * 10) // 1000))  # ceil(p/100 * n) without float surprises
        out[f"p{p:g}"] = round(ordered[min(n, rank) - 1] * 1000, 3)
    out["max"] = round(ordered[-1] * 1000, 3)
    out["mean"] = round(sum(ordered) / n * 1000, 3)
    out["n"] = n
    return out


@dataclass
class _Bucket:
    latencies: array[float] = field(default_factory=lambda: array("d"))
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)


class Recorder:
    """Latencies, statuses and transport errors per (window, kind), for requests intended after warm-up."""

    def __init__(self, measure_start: float, window_seconds: float | None) -> None:
        self.measure_start = measure_start
        self.window_seconds = window_seconds
        self.buckets: dict[tuple[int, str], _Bucket] = collections.defaultdict(_Bucket)
        self.error_samples: list[dict[str, Any]] = []

    def _window(self, intended: float) -> int:
        if self.window_seconds is None:
            return 0
        return int((intended - self.measure_start) // self.window_seconds)

    def response(self, kind: str, intended: float, latency: float, status: int, body: bytes) -> None:
        if intended < self.measure_start:
            return
        bucket = self.buckets[self._window(intended), kind]
        bucket.latencies.append(latency)
        bucket.statuses[status] += 1
        if status >= 500 and len(self.error_samples) < KEEP_ERROR_SAMPLES:
            self.error_samples.append(
                {"kind": kind, "status": status, "body": body[:500].decode(errors="replace")}
            )

    def error(self, kind: str, intended: float, name: str) -> None:
        if intended < self.measure_start:
            return
        self.buckets[self._window(intended), kind].errors[name] += 1
        if len(self.error_samples) < KEEP_ERROR_SAMPLES:
            self.error_samples.append({"kind": kind, "error": name})

    def summary(
        self, windows: Sequence[int] | None = None, kinds: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Merged statistics over the given windows and kinds (all when None)."""
        latencies: array[float] = array("d")
        statuses: collections.Counter[int] = collections.Counter()
        errors: collections.Counter[str] = collections.Counter()
        for (window, kind), bucket in self.buckets.items():
            if (windows is None or window in windows) and (kinds is None or kind in kinds):
                latencies.extend(bucket.latencies)
                statuses.update(bucket.statuses)
                errors.update(bucket.errors)
        return {
            "requests": len(latencies) + sum(errors.values()),
            "status_counts": {str(k): v for k, v in sorted(statuses.items())},
            "transport_errors": dict(errors),
            "latency_ms": percentiles(latencies),
        }

    def kinds(self) -> list[str]:
        return sorted({kind for _, kind in self.buckets})

    def window_indexes(self) -> list[int]:
        return sorted({window for window, _ in self.buckets})


class _Conn(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time."""

    def __init__(self, gen: OpenLoop) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.job: tuple[str, float, bytes] | None = None
        self.body = bytearray()
        self.complete = False
        self.keep_alive = True
        self.timer: asyncio.TimerHandle | None = None
        self.dropped = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen._lost(self, "connection_closed" if exc is None else type(exc).__name__)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.gen._failed(self, "bad_response")
            return
        if self.complete:
            self.complete = False
            status = self.parser.get_status_code()
            keep = self.keep_alive
            body = bytes(self.body)
            self.body.clear()
            self.gen._completed(self, status, body, keep)

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        if len(self.body) < 2048:
            self.body += body[: 2048 - len(self.body)]

    def on_message_complete(self) -> None:
        self.complete = True
        # Only meaningful here: after the callback returns, llhttp has reset it for the next message.
        self.keep_alive = self.parser.should_keep_alive()

    def send(self, job: tuple[str, float, bytes]) -> None:
        assert self.transport is not None
        self.job = job
        self.transport.write(job[2])


@dataclass
class Result:
    """What :meth:`OpenLoop.run` measured; ``recorder`` holds the per-window, per-kind details."""

    recorder: Recorder
    report: dict[str, Any]


class OpenLoop:
    """Requests from ``factory`` at ``rate`` per second for ``warmup + duration`` seconds."""

    def __init__(
        self,
        url: str,
        factory: Factory,
        rate: float,
        duration: float,
        *,
        warmup: float = 0.0,
        initial_conns: int = 16,
        max_conns: int = 512,
        timeout: float = 30.0,
        window_seconds: float | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("only http://host:port URLs")
        self.host, self.port = parts.hostname, parts.port or 80
        self.factory = factory
        self.rate = rate
        self.duration = duration
        self.warmup = warmup
        self.initial_conns = min(initial_conns, max_conns)
        self.max_conns = max_conns
        self.timeout = timeout
        self.window_seconds = window_seconds
        self.idle: list[_Conn] = []
        self.conns: set[_Conn] = set()
        self.waiting: collections.deque[tuple[str, float, bytes]] = collections.deque()
        self.open_conns = 0  # connected or connecting
        self.peak_conns = 0
        self.opened_during_run = 0
        self.saturated = 0  # requests that found every connection busy with the cap reached
        self.in_flight = 0
        self.sent = 0
        self.completed_in_window = 0
        self.dispatch_lag: array[float] = array("d")
        self.recorder = Recorder(0.0, window_seconds)
        self.measure_start = self.measure_end = 0.0
        self._drained: asyncio.Event | None = None
        self.scheduled = asyncio.Event()
        """Set once the schedule (and ``measure_start``) is fixed."""

    # -- connection pool -------------------------------------------------------------------------
    def _reserve(self) -> None:
        """Count a connection about to be opened (synchronously, so a batch cannot overshoot the cap)."""
        self.open_conns += 1
        self.peak_conns = max(self.peak_conns, self.open_conns)

    async def _open(self) -> _Conn | None:
        """Open a connection already counted by :meth:`_reserve`."""
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: _Conn(self), self.host, self.port)
        except OSError as exc:
            self.open_conns -= 1
            name = type(exc).__name__
            # Every request waiting for this connection fails the same way; keep one to retry later.
            if self.waiting:
                kind, intended, _ = self.waiting.popleft()
                self.recorder.error(kind, intended, f"connect:{name}")
                self._done_one()
            return None
        self.conns.add(conn)
        return conn

    def _dispatch(self, job: tuple[str, float, bytes]) -> None:
        self.sent += 1
        self.in_flight += 1
        if self.idle:
            self._send(self.idle.pop(), job)
        elif self.open_conns < self.max_conns:
            self.waiting.append(job)
            self.opened_during_run += 1
            self._reserve()
            asyncio.get_running_loop().create_task(self._open_and_serve())
        else:
            self.saturated += 1
            self.waiting.append(job)

    async def _open_and_serve(self) -> None:
        conn = await self._open()
        if conn is not None:
            self._next(conn)

    def _send(self, conn: _Conn, job: tuple[str, float, bytes]) -> None:
        conn.timer = asyncio.get_running_loop().call_later(self.timeout, self._timed_out, conn)
        conn.send(job)

    def _next(self, conn: _Conn) -> None:
        """A free connection: serve the oldest waiting request, else park it."""
        if self.waiting:
            self._send(conn, self.waiting.popleft())
        else:
            self.idle.append(conn)

    def _finish(self, conn: _Conn) -> tuple[str, float] | None:
        job, conn.job = conn.job, None
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None
        if job is None:
            return None
        return job[0], job[1]

    def _completed(self, conn: _Conn, status: int, body: bytes, keep_alive: bool) -> None:
        now = time.monotonic()
        job = self._finish(conn)
        if job is None:
            return
        kind, intended = job
        self.recorder.response(kind, intended, now - intended, status, body)
        if self.measure_start <= now <= self.measure_end:
            self.completed_in_window += 1
        self._done_one()
        if keep_alive:
            self._next(conn)
        else:
            self._drop(conn)

    def _failed(self, conn: _Conn, name: str) -> None:
        job = self._finish(conn)
        if job is not None:
            self.recorder.error(job[0], job[1], name)
            self._done_one()
        self._drop(conn)

    def _timed_out(self, conn: _Conn) -> None:
        conn.timer = None
        self._failed(conn, "timeout")

    def _lost(self, conn: _Conn, name: str) -> None:
        if conn.job is not None:
            self._failed(conn, name)
        else:
            self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.transport is not None and not conn.transport.is_closing():
            conn.transport.close()
        if conn.dropped:
            return
        conn.dropped = True
        self.conns.discard(conn)
        self.open_conns -= 1
        if self.waiting and self.open_conns < self.max_conns:  # a replacement for the waiting requests
            self._reserve()
            asyncio.get_running_loop().create_task(self._open_and_serve())

    def _done_one(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._drained is not None:
            self._drained.set()

    # -- the run ---------------------------------------------------------------------------------
    async def run(self, ticker: Callable[[float], None] | None = None) -> Result:
        """Run the schedule; ``ticker(elapsed_measured_seconds)`` is called about once a second."""
        for _ in range(self.initial_conns):
            self._reserve()
            conn = await self._open()
            if conn is None:
                raise ConnectionError(f"cannot connect to {self.host}:{self.port}")
            self.idle.append(conn)
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.monotonic() + 0.05
        self.measure_start = start + self.warmup
        self.measure_end = self.measure_start + self.duration
        self.recorder = Recorder(self.measure_start, self.window_seconds)
        self.scheduled.set()
        total = int((self.warmup + self.duration) * self.rate)
        interval = 1.0 / self.rate
        measured_lag = self.dispatch_lag
        next_tick = self.measure_start + 1.0
        i = 0
        while i < total:
            now = time.monotonic()
            due = start + i * interval
            if due > now:
                # uvloop's timers have millisecond resolution and a shorter sleep turns into a busy
                # spin (a whole core at 2,000 req/s): sleep at least 1 ms and send what fell due as a batch.
                await asyncio.sleep(max(due - now, 0.001))
                continue
            while i < total and due <= now:
                kind, raw = self.factory()
                if due >= self.measure_start:
                    measured_lag.append(now - due)
                self._dispatch((kind, due, raw))
                i += 1
                due = start + i * interval
            if ticker is not None and now >= next_tick:
                ticker(now - self.measure_start)
                next_tick += 1.0
        scheduled_until = time.monotonic()
        if self.in_flight:
            self._drained = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), self.timeout + 1)
        unfinished = self.in_flight
        for job in self.waiting:
            self.recorder.error(job[0], job[1], "unfinished")
        for conn in list(self.conns):
            if conn.job is not None:
                self.recorder.error(conn.job[0], conn.job[1], "unfinished")
                conn.job = None
            self._drop(conn)
        usage_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
        wall = max(1e-9, scheduled_until - start)
        overall = self.recorder.summary()
        lag = percentiles(self.dispatch_lag)
        report = {
            "url": f"http://{self.host}:{self.port}",
            "rate": self.rate,
            "duration_s": self.duration,
            "warmup_s": self.warmup,
            "sent": self.sent,
            "offered_rate": round(overall["requests"] / self.duration, 1),
            "achieved_rate": round(self.completed_in_window / self.duration, 1),
            **overall,
            "per_kind": {kind: self.recorder.summary(kinds=[kind]) for kind in self.recorder.kinds()},
            "generator": {
                "cpu_pct": round(cpu / wall * 100, 1),
                "dispatch_lag_ms": {k: lag[k] for k in ("p50", "p99", "max")},
                "initial_conns": self.initial_conns,
                "max_conns": self.max_conns,
                "peak_conns": self.peak_conns,
                "opened_during_run": self.opened_during_run,
                "saturated_requests": self.saturated,
                "unfinished_at_end": unfinished,
            },
            "error_samples": self.recorder.error_samples,
        }
        return Result(self.recorder, report)


async def run_open_loop(url: str, factory: Factory, rate: float, duration: float, **kwargs: Any) -> Result:
    """Convenience wrapper: ``OpenLoop(url, factory, rate, duration, **kwargs).run()``."""
    return await OpenLoop(url, factory, rate, duration, **kwargs).run()


def human_line(report: dict[str, Any], label: str = "") -> str:
    lat = report["latency_ms"]
    gen = report["generator"]
    errors = sum(report["transport_errors"].values())
    non2xx = sum(v for k, v in report["status_counts"].items() if not k.startswith("2"))

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    line = (
        f"{label}{report['rate']:.0f}/s offered, {report['achieved_rate']:.1f}/s achieved; "
        f"p50 {ms(lat['p50'])} p90 {ms(lat['p90'])} p99 {ms(lat['p99'])} p99.9 {ms(lat['p99.9'])} "
        f"max {ms(lat['max'])} ms; non-2xx {non2xx}, transport errors {errors}; "
        f"generator cpu {gen['cpu_pct']}%, dispatch lag p99 {ms(gen['dispatch_lag_ms']['p99'])} ms, "
        f"conns peak {gen['peak_conns']}"
    )
    if gen["saturated_requests"]:
        line += f"; GENERATOR SATURATED: {gen['saturated_requests']} requests waited for a connection"
    if gen["cpu_pct"] > 90:
        line += "; GENERATOR CPU-BOUND (numbers describe the generator)"
    return line


# -- path generators -------------------------------------------------------------------------------

# The same choices as bench/wrk/list.lua.
LIST_TAGS = ("vip", "bug", "billing", "churn-risk", "tag3", "tag17")
LIST_STATUSES = ("open", "pending", "new", "open&status=pending")
LIST_WORDS = ("printer", "refund", "password", "invoice", "vpn", "login", "outage", "wallet", "tax", "sync")


def list_paths(mode: str, agents: Sequence[str], prefix: str = "/v1/tickets") -> Callable[[], str]:
    """Random list pages as bench/wrk/list.lua makes them: status_assignee, status_tag or search."""
    choice = random.choice
    if mode == "status_assignee":
        return lambda: f"{prefix}?status={choice(LIST_STATUSES)}&assignee={choice(agents)}&limit=50"
    if mode == "status_tag":
        return lambda: f"{prefix}?status={choice(LIST_STATUSES)}&tag={choice(LIST_TAGS)}&limit=50"
    if mode == "search":
        return lambda: f"{prefix}?q={choice(LIST_WORDS)}+{choice(LIST_WORDS)}&limit=50"
    raise ValueError(f"unknown list mode {mode!r}")


def _path_function(args: argparse.Namespace) -> Callable[[], str]:
    if args.path:
        paths = list(args.path)
        return paths[0].__str__ if len(paths) == 1 else lambda: random.choice(paths)
    if args.paths_file:
        lines = [line.strip() for line in Path(args.paths_file).read_text().splitlines() if line.strip()]
        return lambda: random.choice(lines)
    if args.gen:
        name, _, arg = args.gen.partition(":")
        if name == "ticket":
            top = int(arg or "1000000")
            return lambda: f"/v1/tickets/{random.randint(1, top)}"
        if name == "list":
            agents = Path(args.agents_file).read_text().split()
            return list_paths(arg or "status_assignee", agents, args.list_prefix)
        module, _, func = args.gen.partition(":")
        return getattr(importlib.import_module(module), func)()  # type: ignore[no-any-return]
    raise SystemExit("give --path, --paths-file or --gen")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", help="http://host:port (paths come from --path/--paths-file/--gen)")
    parser.add_argument("--rate", type=float, required=True, help="requests per second, fixed")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds at the same rate, not measured")
    parser.add_argument("--path", action="append", help="a path (repeat for a random choice)")
    parser.add_argument("--paths-file", help="one path per line, a random one per request")
    parser.add_argument("--gen", help="ticket:N | list:MODE | module:function (returns a path function)")
    parser.add_argument(
        "--agents-file", default="/tmp/bench-agents.txt", help="agent ids for list:status_assignee"
    )
    parser.add_argument("--list-prefix", default="/v1/tickets", help="path of list pages for --gen list:…")
    parser.add_argument("-H", "--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default="", help="request body (with --method POST/PATCH)")
    parser.add_argument("--conns", type=int, default=16, help="connections opened before the run")
    parser.add_argument("--max-conns", type=int, default=512, help="cap on connections")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("--json", help="write the JSON report here ('-' for stdout)")
    args = parser.parse_args(argv)

    paths = _path_function(args)
    host = urlsplit(args.url).netloc
    headers = [tuple(h.split(":", 1)) for h in args.header]
    headers = [(name.strip(), value.strip()) for name, value in headers]
    body = args.body.encode()
    if body:
        headers.append(("Content-Type", "application/json"))
    method = args.method.upper()

    def factory() -> tuple[str, bytes]:
        return "req", build_request(method, paths(), host, headers, body)

    gen = OpenLoop(
        args.url,
        factory,
        args.rate,
        args.duration,
        warmup=args.warmup,
        initial_conns=args.conns,
        max_conns=args.max_conns,
        timeout=args.timeout,
    )
    result = _run(gen.run())
    report = result.report
    report.pop("per_kind", None)
    print(human_line(report), flush=True)
    if args.json == "-":
        print(json.dumps(report, indent=2))
    elif args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


def _run(coro: Any) -> Any:
    """asyncio.run on uvloop when it is installed (it is, with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    main(sys.argv[1:])
