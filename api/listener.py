"""One ``LISTEN`` connection per process, shared by every per-process cache and the background runner.

Caches (API keys, calendars, SLA policies, …) keep configuration in memory and drop it when a
transaction that changed it commits and sends ``NOTIFY``; the runner is woken by ``NOTIFY`` when work is
due. They all *subscribe* to channels of this one listener instead of each holding a connection.

What a subscriber can rely on:

- ``listening`` is true only while the connection is up with every channel listened to. While it is
  not, a cache must not answer from memory: a notification it missed could be about that entry.
- Each subscription has a ``generation`` that moves on every notification on its channel and every
  time the connection is lost or made. A cache reads it before loading from the database and keeps
  what it loaded only if ``unchanged_since(generation)`` still holds afterwards: a NOTIFY that lands
  while the load runs is never lost (the load may have read the row before that change committed).
- ``on_reset`` callbacks run when the connection is lost and when it is made again (entries cached
  across the gap may have missed a notification; the runner wakes its jobs).

The connection is owned from the moment asyncpg returns it: if setting it up fails or is cancelled (a
``stop()`` while a slow machine is still connecting), it is terminated on the spot instead of being
left for the garbage collector, which would report it as an unclosed connection much later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

log = logging.getLogger("api.listener")

RECONNECT_DELAY_SECONDS = 1.0
FIRST_CONNECT_WAIT_SECONDS = 5.0
CLOSE_TIMEOUT_SECONDS = 5.0


class Subscription:
    """One subscriber's view of one channel."""

    def __init__(
        self,
        listener: Listener,
        channel: str,
        on_notify: Callable[[str], None] | None,
        on_reset: Callable[[], None] | None,
    ) -> None:
        self._listener = listener
        self.channel = channel
        self._on_notify = on_notify
        self._on_reset = on_reset
        self.generation = 0

    @property
    def listening(self) -> bool:
        return self._listener.listening

    def unchanged_since(self, generation: int) -> bool:
        """Whether nothing was announced on this channel (and no notification could have been missed)
        since ``generation`` was read: what was loaded in between may be kept."""
        return self._listener.listening and self.generation == generation

    def _notified(self, payload: str) -> None:
        self.generation += 1
        if self._on_notify is not None:
            self._on_notify(payload)

    def _reset(self) -> None:
        self.generation += 1
        if self._on_reset is not None:
            self._on_reset()


class Listener:
    def __init__(self, dsn: str, *, application_name: str = "helpdesk-listen") -> None:
        self._dsn = dsn
        self._application_name = application_name
        self._subscriptions: dict[str, list[Subscription]] = {}
        self._conn: asyncpg.Connection | None = None
        self._listening = False
        self._lost = asyncio.Event()
        self._first_attempt_done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def subscribe(
        self,
        channel: str,
        on_notify: Callable[[str], None] | None = None,
        on_reset: Callable[[], None] | None = None,
    ) -> Subscription:
        """Subscribe before :meth:`start` (the channels are listened to when the connection is made)."""
        if self._task is not None:
            raise RuntimeError("subscribe before the listener starts")
        subscription = Subscription(self, channel, on_notify, on_reset)
        self._subscriptions.setdefault(channel, []).append(subscription)
        return subscription

    @property
    def listening(self) -> bool:
        return self._listening

    async def start(self) -> None:
        """Start listening; wait (a bounded time) for the first attempt so caches work from the first
        request. If it fails, subscribers work uncached until the listener reconnects."""
        if not self._subscriptions or self._task is not None:
            return
        self._task = asyncio.create_task(self._keep_listening(), name="listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FIRST_CONNECT_WAIT_SECONDS):
                await self._first_attempt_done.wait()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        conn, self._conn = self._conn, None
        self._set_down()
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=CLOSE_TIMEOUT_SECONDS)
            except BaseException:
                conn.terminate()
                raise

    async def _keep_listening(self) -> None:
        while True:
            self._lost.clear()
            try:
                self._conn = await self._connect()
            except Exception as exc:  # the listener must outlive any failure to connect
                log.warning("cannot LISTEN, caches read the database and the runner polls: %s", exc)
            else:
                self._listening = True
                self._reset_all()
            self._first_attempt_done.set()
            conn = self._conn
            while conn is not None and not self._lost.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(RECONNECT_DELAY_SECONDS):
                        await self._lost.wait()
                if conn.is_closed():  # lost without the termination callback (belt and braces)
                    self._on_terminated(conn)
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)

    async def _connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self._dsn, server_settings={"application_name": self._application_name})
        try:
            for channel in self._subscriptions:
                await conn.add_listener(channel, self._dispatch)
            conn.add_termination_listener(self._on_terminated)
        except BaseException:
            conn.terminate()  # synchronous: nothing can interrupt it and leave the socket open
            raise
        return conn

    def _dispatch(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        for subscription in self._subscriptions.get(channel, ()):
            subscription._notified(payload)

    def _on_terminated(self, conn: Any) -> None:
        if conn is not self._conn:
            return
        self._conn = None
        self._set_down()
        self._lost.set()

    def _set_down(self) -> None:
        if self._listening:
            self._listening = False
            self._reset_all()

    def _reset_all(self) -> None:
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription._reset()
