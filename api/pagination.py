"""Opaque cursor pagination shared by every list route.

A cursor is the sort key of the last row a client saw, encoded so clients treat it as a token. Keyset
pagination (``WHERE (sort, id) > cursor``) stays stable when rows are inserted concurrently, unlike
offsets, and costs one index range scan per page however deep the client goes.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import QueryParameter

from api.errors import FieldError, Unprocessable

T = TypeVar("T")
K = TypeVar("K")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size (1-200).")]
Cursor = Annotated[
    str | None, QueryParameter(description="`next_cursor` from the previous page; omit for the first page.")
]
IncludeTotal = Annotated[
    bool, QueryParameter(description="Also count every matching row (costs a second query).")
]


class Page(msgspec.Struct, Generic[T], omit_defaults=True):
    """One page of results; pass ``next_cursor`` back as ``cursor`` for the next page (null at the end)."""

    data: list[T]
    next_cursor: str | None
    total: int | None = None
    """Exact count of all matching rows, present only when the client asked with ``include_total=true``."""


def render_page(data: str, next_cursor: str | None, total: int | None = None) -> bytes:
    """The JSON of a :class:`Page` whose ``data`` array PostgreSQL already rendered."""
    tail = b"" if total is None else b',"total":%d' % total
    return b"".join(
        (b'{"data":', data.encode(), b',"next_cursor":', _encoder.encode(next_cursor), tail, b"}")
    )


_encoder = msgspec.json.Encoder()


def encode_cursor(values: tuple[Any, ...]) -> str:
    raw = msgspec.json.encode(values)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, shape: type[K], parameter: str = "cursor") -> K:
    """Decode a cursor into ``shape`` (a tuple type); a tampered cursor is a 422 naming the query
    ``parameter`` it came in."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=shape)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise Unprocessable(
            f"The {parameter} cursor is not valid for this list.",
            errors=[FieldError("query", parameter, "not a cursor returned by this list")],
        ) from None
