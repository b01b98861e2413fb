"""The retry schedule: exponential backoff with jitter over about three days, and Retry-After bounds."""

from __future__ import annotations

import random

# Delay before retry n (after the n-th failure): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
# Ten attempts over ~3.2 days: a consumer outage of a day or two loses nothing.
SCHEDULE_SECONDS = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
JITTER = 0.2
"""Each delay is spread ±20% so retries after an outage do not arrive as one thundering herd."""
RETRY_AFTER_MIN_SECONDS = 1.0
RETRY_AFTER_MAX_SECONDS = 24 * 3600.0


def next_delay(
    failures: int, retry_after: float | None = None, rng: random.Random | None = None
) -> float | None:
    """Seconds until the next attempt after ``failures`` consecutive failures, or None to give up.

    A ``Retry-After`` from the receiver replaces the schedule's delay, clamped to [1 s, 24 h].
    """
    if failures < 1:
        raise ValueError("failures starts at 1")
    if failures > len(SCHEDULE_SECONDS):
        return None
    if retry_after is not None:
        return min(max(retry_after, RETRY_AFTER_MIN_SECONDS), RETRY_AFTER_MAX_SECONDS)
    base = SCHEDULE_SECONDS[failures - 1]
    spread = (rng or random).uniform(-JITTER, JITTER)
    return base * (1 + spread)
