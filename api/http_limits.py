"""Limits on how a client sends a request, enforced where the bytes arrive: in the HTTP protocol.

uvicorn's httptools protocol takes request heads of any size (a 50 MB header was accepted and held in
memory) and waits forever for a head or a body that trickles in. Neither can be seen from the ASGI app,
which is only called once the head is complete. So ``helpdesk serve`` runs this subclass of uvicorn's
protocol, with three limits that are plain settings, independent of the server (another server takes the
same three numbers):

- ``HELPDESK_HTTP_MAX_HEADER_BYTES``: the request line and headers together; more is 431.
- ``HELPDESK_HTTP_HEADER_TIMEOUT_SECONDS``: from a request's first byte to the end of its head; 408.
- ``HELPDESK_HTTP_BODY_TIMEOUT_SECONDS``: the longest silence while the body is being read; 408 (or the
  connection is closed, when a response has started).

A connection that never sends a byte is closed silently after the keep-alive timeout, like an idle one
between requests (uvicorn would keep it open for ever).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX, PROBLEM_TYPES, Problem
from api.settings import load_settings


class HttpLimits(msgspec.Struct, frozen=True):
    max_header_bytes: int
    header_timeout_seconds: float
    body_timeout_seconds: float


@functools.cache
def limits() -> HttpLimits:
    """The limits of this process (from the environment, like every setting; workers inherit it)."""
    settings = load_settings()
    return HttpLimits(
        max_header_bytes=settings.http_max_header_bytes,
        header_timeout_seconds=settings.http_header_timeout_seconds,
        body_timeout_seconds=settings.http_body_timeout_seconds,
    )


def problem_response(status: int, detail: str) -> bytes:
    """A complete HTTP/1.1 problem+json response that closes the connection."""
    slug, title = PROBLEM_TYPES[status]
    body = msgspec.json.encode(
        Problem(type=PROBLEM_TYPE_PREFIX + slug, title=title, status=status, detail=detail)
    )
    head = (
        f"HTTP/1.1 {status} {title}\r\ncontent-type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`HttpLimits`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits()
        self._awaiting_head = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Idle until the first byte, as between two requests; the first byte cancels it (data_received).
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            if self._head_bytes == 0:
                self._head_timer = self.loop.call_later(
                    self._limits.header_timeout_seconds, self._head_too_slow
                )
            # Count up to the blank line that ends the head; what follows is body (or the next request).
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end + 4
            if self._head_bytes > self._limits.max_header_bytes:
                self._refuse(
                    431,
                    f"The request line and headers exceed {self._limits.max_header_bytes} bytes.",
                )
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()
        self._arm_body_timer()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm_body_timer()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._awaiting_head = True

    def _arm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self.loop.call_later(self._limits.body_timeout_seconds, self._body_too_slow)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        seconds = self._limits.header_timeout_seconds
        self._refuse(408, f"The request's headers did not arrive within {seconds:g} s.")

    def _body_too_slow(self) -> None:
        self._body_timer = None
        if self.flow.read_paused:  # the app, not the client, is behind: reading resumes when it catches up
            self._arm_body_timer()
            return
        cycle = self.cycle
        seconds = self._limits.body_timeout_seconds
        if cycle is not None and not cycle.response_started:
            self._refuse(408, f"The request body stalled for {seconds:g} s.")
        elif not self.transport.is_closing():
            self.transport.close()
        if cycle is not None:
            # The app waiting on the body hears that the client is gone (and answers nothing more).
            cycle.disconnected = True
            cycle.message_event.set()

    def _refuse(self, status: int, detail: str) -> None:
        self._cancel_timers()
        if not self.transport.is_closing():
            self.logger.info("refused a request: %s %s", status, detail)
            self.transport.write(problem_response(status, detail))
            self.transport.close()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
