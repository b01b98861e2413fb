"""A fast loopback webhook receiver for the benchmarks (its own process, uvloop, raw protocol).

Every request to ``/e/<n>`` is verified (HMAC-SHA256 over ``id.timestamp.body`` with that endpoint's
secret, as a Standard Webhooks library does) and its arrival time recorded on the system-wide monotonic
clock, so the benchmark can compare it with commit times taken in another process. ``/dead/...`` never
answers. ``/flaky/...`` is a flaky consumer (bench/soak.py): of its requests a share ``fail`` is answered
500, a share ``hang`` only after ``hang_seconds`` (longer than the sender's timeout: a timeout), the rest
verified like ``/e/<n>``. Control: ``POST /_secrets`` (JSON {path: secret}), ``POST /_flaky`` (JSON
{"fail": 0.3, "hang": 0.005, "hang_seconds": 20}), ``POST /_reset``, ``GET /_count``, ``GET /_stats``,
``GET /_summary`` (per path: requests, verified, unique ids, bad signatures, injected failures and hangs),
``GET /_ids?path=/e/0`` (the distinct verified webhook ids of that path).

Run: ``python bench/receiver.py`` — prints the port on the first line of stdout; exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import hmac
import json
import random
import sys
import time
from urllib.parse import parse_qs

SECRETS: dict[str, bytes] = {}
RECEIVED: list[tuple[str, str, float]] = []  # (path, webhook-id, monotonic time verified)
BAD: list[str] = []
FLAKY = {"fail": 0.3, "hang": 0.005, "hang_seconds": 20.0}
COUNTS: collections.Counter[tuple[str, str]] = collections.Counter()  # (path, outcome) -> n
UNIQUE: dict[str, set[str]] = collections.defaultdict(set)  # path -> verified webhook ids


def _verify(path: str, headers: dict[bytes, bytes], body: bytes) -> bool:
    key = SECRETS.get(path)
    if key is None:
        return False
    message_id = headers.get(b"webhook-id", b"")
    timestamp = headers.get(b"webhook-timestamp", b"")
    signed = message_id + b"." + timestamp + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for signature in headers.get(b"webhook-signature", b"").split():
        version, _, value = signature.partition(b",")
        if version == b"v1" and hmac.compare_digest(value, expected):
            return True
    return False


def _control(method: bytes, path: str, body: bytes) -> bytes:
    if path == "/_secrets":
        for name, secret in json.loads(body).items():
            SECRETS[name] = base64.b64decode(secret.removeprefix("whsec_"))
        return b"{}"
    if path == "/_flaky":
        FLAKY.update({k: float(v) for k, v in json.loads(body).items() if k in FLAKY})
        return json.dumps(FLAKY).encode()
    if path == "/_reset":
        RECEIVED.clear()
        BAD.clear()
        COUNTS.clear()
        UNIQUE.clear()
        return b"{}"
    if path == "/_count":
        return b"%d" % len(RECEIVED)
    if path == "/_summary":
        summary: dict[str, dict[str, int]] = collections.defaultdict(dict)
        for (where, outcome), n in COUNTS.items():
            summary[where][outcome] = n
        for where, ids in UNIQUE.items():
            summary[where]["unique"] = len(ids)
        return json.dumps(summary).encode()
    if path.startswith("/_ids?"):
        wanted = parse_qs(path.partition("?")[2]).get("path", [""])[0]
        return json.dumps(sorted(UNIQUE.get(wanted, ()))).encode()
    return json.dumps({"received": RECEIVED, "bad": BAD}).encode()


class Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].split(b"\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.handle(head[0], headers, body)

    def handle(self, request_line: bytes, headers: dict[bytes, bytes], body: bytes) -> None:
        method, raw_path, _ = request_line.split(b" ", 2)
        path = raw_path.decode()
        if path.startswith("/dead"):
            return  # never answer: the client times out
        status = b"200 OK"
        if path.startswith("/_"):
            reply = _control(method, path, body)
        else:
            COUNTS[path, "requests"] += 1
            if path.startswith("/flaky"):
                draw = random.random()
                if draw < FLAKY["fail"]:
                    COUNTS[path, "failed_injected"] += 1
                    self.reply(b"500 Internal Server Error", b"injected failure")
                    return
                if draw < FLAKY["fail"] + FLAKY["hang"]:
                    COUNTS[path, "hung_injected"] += 1
                    asyncio.get_running_loop().call_later(
                        FLAKY["hang_seconds"], self.reply, b"200 OK", b"late"
                    )
                    return
            if _verify(path, headers, body):
                message_id = headers[b"webhook-id"].decode()
                RECEIVED.append((path, message_id, time.monotonic()))
                UNIQUE[path].add(message_id)
                COUNTS[path, "verified"] += 1
            else:
                BAD.append(path)
                COUNTS[path, "bad_signature"] += 1
            reply = b"ok"
        self.reply(status, reply)

    def reply(self, status: bytes, body: bytes) -> None:
        assert self.transport is not None
        if self.transport.is_closing():  # a hung reply whose client gave up
            return
        self.transport.write(b"HTTP/1.1 %s\r\ncontent-length: %d\r\n\r\n%s" % (status, len(body), body))


async def main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Protocol, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    # Stop when the benchmark closes our stdin (or dies): never outlive it.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
