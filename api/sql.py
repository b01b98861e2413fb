"""SQL fragments shared by modules that have PostgreSQL render JSON (hot paths forward it as bytes)."""

from __future__ import annotations


def json_timestamp(column: str) -> str:
    """SQL rendering a timestamptz exactly as msgspec encodes it: UTC with ``Z``, microseconds only when
    non-zero (``2026-01-02T03:04:05Z``, ``2026-01-02T03:04:05.120000Z``)."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN date_trunc('second', {column}) = {column} "
        f"""THEN to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') """
        f"""ELSE to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END"""
    )
