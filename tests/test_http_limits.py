"""``helpdesk serve`` bounds request heads and slow clients (api/http_limits.py), through a real server.

Raw sockets say exactly what a client sends: an oversized head, a head that never ends, a body that
stalls. Each gets its answer (431, 408, 408) within a deadline instead of holding memory or a connection
for ever, while ordinary requests, large heads under the limit and large bodies sent briskly are served.
"""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from api.cli import _create_key
from tests.conftest import embedded_data_dir
from tests.test_cli import Serve

# Generous: the point is that an answer comes, not how soon.
ANSWER_WITHIN = 30.0


def _exchange(port: int, *parts: bytes) -> bytes:
    """Send ``parts`` and read until the server closes the connection (or the deadline passes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN) as sock:
        for part in parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):  # refused while we were still sending
                break
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received


def _status(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response[9:12])


def _problem(response: bytes) -> dict[str, object]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"application/problem+json" in head.lower(), head
    problem: dict[str, object] = json.loads(body)
    return problem


@pytest.mark.slow
async def test_heads_and_bodies_are_bounded(database_url):
    token = await _create_key(database_url, "http limits test", "agent")
    serve = Serve(
        embedded_data_dir(),
        DATABASE_URL=database_url,
        HELPDESK_RUN_WORKER="false",
        HELPDESK_HTTP_MAX_HEADER_BYTES="32768",
        HELPDESK_HTTP_HEADER_TIMEOUT_SECONDS="1",
        HELPDESK_HTTP_BODY_TIMEOUT_SECONDS="1",
    )
    try:
        await asyncio.to_thread(serve.wait_ready)
        port = serve.port

        def get(extra: bytes = b"") -> bytes:
            return b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra + b"\r\n"

        # Fine: an ordinary request, and a head just under the limit.
        assert _status(await asyncio.to_thread(_exchange, port, get())) == 200
        near = b"X-Padding: " + b"a" * 30_000 + b"\r\n"
        assert _status(await asyncio.to_thread(_exchange, port, get(near))) == 200

        # A head over the limit, sent in pieces as a slow or hostile client would: 431 at once.
        huge = [get()[:-2]] + [b"X-Big: " + b"a" * 60_000 + b"\r\n" for _ in range(20)] + [b"\r\n"]
        response = await asyncio.to_thread(_exchange, port, *huge)
        assert _status(response) == 431
        assert _problem(response)["type"] == "urn:helpdesk:problem:header-fields-too-large"

        # A head that never ends: 408 once the header timeout has passed.
        response = await asyncio.to_thread(_exchange, port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert _status(response) == 408
        assert _problem(response)["type"] == "urn:helpdesk:problem:request-timeout"

        # A body that stalls after a few bytes: 408 once the body timeout has passed.
        head = (
            "POST /v1/tickets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: 1000\r\n\r\n"
        ).encode()
        response = await asyncio.to_thread(_exchange, port, head + b'{"subject": "stal')
        assert _status(response) == 408

        # A large body sent without pauses is read whole (422: it is no ticket, but it was all read).
        body = b'{"subject": "' + b"a" * 600_000 + b'"}'
        head = head.replace(b"Content-Length: 1000", b"Content-Length: %d" % len(body))
        head = head.replace(b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\r\nConnection: close\r\n")
        chunks = [body[i : i + 50_000] for i in range(0, len(body), 50_000)]
        assert _status(await asyncio.to_thread(_exchange, port, head, *chunks)) == 422
    finally:
        serve.stop()
    assert "Traceback" not in serve.log
