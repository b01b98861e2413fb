"""The retry schedule: about three days, jitter within ±20%, Retry-After clamped."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.webhooks.retry import SCHEDULE_SECONDS, next_delay
from api.webhooks.sender import parse_retry_after


def test_schedule_spans_about_three_days():
    total = sum(SCHEDULE_SECONDS)
    assert 2.5 * 86400 <= total <= 3.5 * 86400
    assert next_delay(len(SCHEDULE_SECONDS) + 1) is None


@given(failures=st.integers(1, len(SCHEDULE_SECONDS)), seed=st.integers())
def test_jitter_stays_within_bounds(failures, seed):
    delay = next_delay(failures, rng=random.Random(seed))
    base = SCHEDULE_SECONDS[failures - 1]
    assert delay is not None
    assert base * 0.8 <= delay <= base * 1.2


@pytest.mark.parametrize(("retry_after", "expected"), [(0, 1.0), (30, 30.0), (10**9, 86400.0)])
def test_retry_after_is_honoured_within_bounds(retry_after, expected):
    assert next_delay(1, retry_after) == expected


def test_retry_after_does_not_extend_the_horizon():
    assert next_delay(len(SCHEDULE_SECONDS) + 1, 5) is None


def test_parse_retry_after():
    assert parse_retry_after("120", 0) == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 60) == pytest.approx(60)
    assert parse_retry_after("soon", 0) is None
    assert parse_retry_after(None, 0) is None
