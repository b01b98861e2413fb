"""A client that goes away in the middle of sending its request is not a server error.

Through a real ``helpdesk serve`` (uvicorn): the request's headers promise a body the client never
finishes sending before it closes the connection. The ASGI server reports the disconnect; the service
records it as ``499`` (the status nginx gives a request its client closed) at info level, and never as an
unhandled error with a stack trace that would page someone.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx

from api.cli import _create_key
from tests.conftest import embedded_data_dir
from tests.test_cli import Serve


def _send_half_a_body(port: int, token: str) -> None:
    head = (
        "POST /v1/tickets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: 1000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + b'{"subject": "half a tic')


def _access_lines(log: str) -> list[dict[str, object]]:
    lines = []
    for line in log.splitlines():
        if line.startswith("{") and '"api.access"' in line:
            lines.append(json.loads(line))
    return lines


async def test_a_client_gone_mid_body_is_logged_as_499_not_as_an_error(database_url):
    token = await _create_key(database_url, "disconnect test", "agent")
    serve = Serve(
        embedded_data_dir(),
        DATABASE_URL=database_url,
        HELPDESK_RUN_WORKER="false",
        HELPDESK_ACCESS_LOG="true",
    )
    try:
        await asyncio.to_thread(serve.wait_ready)
        await asyncio.to_thread(_send_half_a_body, serve.port, token)
        # Metrics count a request once it is over: wait for the server to have finished this one.
        counted = 'helpdesk_http_requests_total{method="POST",route="/v1/tickets",status="499"} 1.0'
        deadline = time.monotonic() + 10
        async with httpx.AsyncClient(base_url=serve.base, timeout=5) as client:
            while counted not in (await client.get("/metrics")).text:
                assert time.monotonic() < deadline, "the request was never counted as 499"
                await asyncio.sleep(0.05)
    finally:
        serve.stop()
    statuses = [(line.get("route"), line.get("status")) for line in _access_lines(serve.log)]
    assert ("/v1/tickets", 499) in statuses, serve.log[-3000:]
    assert "unhandled error" not in serve.log
    assert "Traceback" not in serve.log
