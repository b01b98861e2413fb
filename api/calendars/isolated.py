"""Run a costly function on untrusted input in a child process that can be stopped.

Expanding an uploaded iCalendar file happens inside third-party code (icalendar, dateutil) whose cost a
hostile or merely odd file can make unbounded: a rule that never matches iterates to the year 9999, a
time zone whose rules repeat every minute fills memory. A thread cannot be stopped and would hold the
GIL; a child process can. Each call runs in a fresh child forked from a ``forkserver`` (a clean process
that has already imported the modules, so a call costs milliseconds, not an interpreter start), with an
address-space cap and a CPU limit, and is killed when its deadline passes.
"""

from __future__ import annotations

import multiprocessing
import resource
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")

# Imported once in the fork server, so a child starts with them loaded.
_PRELOAD = ["api.calendars.ical"]
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(_PRELOAD)


class TooCostly(Exception):
    """The work took longer than its deadline or more memory than its cap, and was stopped."""


def run(function: Callable[..., T], *args: Any, seconds: float, memory_bytes: int) -> T:
    """``function(*args)`` in a child process; its result, or the exception it raised (which must pickle).

    Blocking: call it from a worker thread (``asyncio.to_thread``), never on the event loop.
    """
    receiver, sender = _context.Pipe(duplex=False)
    child = _context.Process(target=_child, args=(sender, function, args, seconds, memory_bytes), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            raise TooCostly(f"it took more than {seconds:g} s")
        try:
            kind, value = receiver.recv()
        except EOFError:  # the child died without an answer: its CPU or memory limit, or a crash
            raise TooCostly("it needed more than the memory or CPU time allowed") from None
    finally:
        child.kill()
        child.join()
        child.close()
        receiver.close()
    if kind == "raised":
        raise value
    if kind == "memory":
        raise TooCostly("it needed more memory than allowed")
    return value  # type: ignore[no-any-return]


def _child(
    sender: Connection, function: Callable[..., Any], args: tuple[Any, ...], seconds: float, memory: int
) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # A backstop for the parent's deadline: the kernel stops a child that outlives its parent's wait.
    cpu = int(seconds) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    try:
        outcome: tuple[str, Any] = ("returned", function(*args))
    except MemoryError:
        outcome = ("memory", None)
    except Exception as exc:  # handed to the caller, who decides what it means
        outcome = ("raised", exc)
    try:
        sender.send(outcome)
    except Exception as exc:  # an exception that does not pickle: say what it was
        sender.send(("raised", RuntimeError(f"{outcome[1]!r} ({exc})")))
    sender.close()
