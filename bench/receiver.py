"""A fast loopback webhook receiver for the benchmarks (its own process, uvloop, raw protocol).

Every request to ``/e/<n>`` is verified (HMAC-SHA256 over ``id.timestamp.body`` with that endpoint's
secret, as a Standard Webhooks library does) and its arrival time recorded on the system-wide monotonic
clock, so the benchmark can compare it with commit times taken in another process. ``/dead/...`` never
answers. Control: ``POST /_secrets`` (JSON {path: secret}), ``POST /_reset``, ``GET /_count``,
``GET /_stats``.

Run: ``python bench/receiver.py`` — prints the port on the first line of stdout; exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import sys
import time

SECRETS: dict[str, bytes] = {}
RECEIVED: list[tuple[str, str, float]] = []  # (path, webhook-id, monotonic time verified)
BAD: list[str] = []


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
    if path == "/_reset":
        RECEIVED.clear()
        BAD.clear()
        return b"{}"
    if path == "/_count":
        return b"%d" % len(RECEIVED)
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
        if path.startswith("/_"):
            reply = _control(method, path, body)
        else:
            if _verify(path, headers, body):
                RECEIVED.append((path, headers[b"webhook-id"].decode(), time.monotonic()))
            else:
                BAD.append(path)
            reply = b"ok"
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(reply), reply))


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
