"""Optimistic concurrency over HTTP, shared by every resource with a version: the ``ETag`` a response
carries, the ``If-Match`` a change sends back, and what that header expects."""

from __future__ import annotations

from typing import Any

from litestar.datastructures import ResponseHeader
from litestar.params import HeaderParameter

from api.errors import PreconditionFailed


def if_match(noun: str) -> Any:
    """The optional ``If-Match`` header of a change to a ``noun``: ``Annotated[str | None, if_match(…)]``."""
    return HeaderParameter(
        name="If-Match",
        required=False,
        description=f'The {noun}\'s `ETag` (e.g. `"3"`) as you last read it; a stale one is refused '
        "with 412.",
    )


def etag_header(noun: str) -> list[ResponseHeader]:
    """The documented ``ETag`` response header of a ``noun``."""
    return [
        ResponseHeader(
            name="ETag",
            description=f'The {noun}\'s version, e.g. `"3"`; send it as `If-Match`.',
            documentation_only=True,
        )
    ]


def expected_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header expects; ``*`` or no header accepts any.

    A ticket's ``ETag`` may carry, after its version, a revision of what changes without anyone editing
    the ticket (``"4.2"``: an SLA moment since version 4, see ``tickets/store.etag``); ``If-Match``
    guards what clients edit, so only the version counts."""
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    version, _, revision = value.partition(".")
    try:
        if revision:
            int(revision)
        return int(version)
    except ValueError:
        raise PreconditionFailed('If-Match must be an ETag returned by this API, such as "3".') from None
