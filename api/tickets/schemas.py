"""Wire types for tickets and comments."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from api.pagination import Page
from api.sla.schemas import TicketSla

Status = Literal["new", "open", "pending", "on_hold", "resolved", "closed"]
Priority = Literal["low", "normal", "high", "urgent"]
Channel = Literal["api", "email", "web", "chat", "phone"]
AuthorType = Literal["agent", "customer", "system"]
CommentAuthorType = Literal["agent", "customer"]
"""Who a client may write a comment as: ``system`` comments are the service's own."""
Sort = Literal["created", "-created", "updated", "-updated", "priority", "-priority", "sla_due", "-sla_due"]

Subject = Annotated[str, msgspec.Meta(min_length=1, max_length=500, examples=["Cannot log in since Monday"])]
Body = Annotated[str, msgspec.Meta(min_length=1, max_length=65_536)]
# Characters a tag may not contain, because two tags that look the same must be the same tag: white space
# and commas, control characters, format characters (Unicode category Cf, Unicode 14: bidi overrides,
# zero-width joiners and spaces, soft hyphen, language tags…) and the 66 noncharacters. Refused, not
# stripped, so every write path and the list filter judge a tag alike. Escapes (not the characters
# themselves) keep the pattern readable in the spec; Python, JSON Schema validators and Hypothesis read them.
_TAG_REFUSED = (
    r"\s,\x00-\x1f\x7f-\x9f"
    r"\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    r"\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    r"\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    r"\U000e0001\U000e0020-\U000e007f"
    r"\ufdd0-\ufdef" + "".join(rf"\U{plane:04x}fffe\U{plane:04x}ffff" for plane in range(17))
)
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=rf"^[^{_TAG_REFUSED}]+$")]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=50, examples=[["billing", "vip"]])]
ExternalRef = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
TicketId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1, extra_json_schema={"format": "int64"})]


class TicketCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new ticket. Name the requester by exactly one of ``requester_id`` and ``requester_email`` (a
    customer created when new)."""

    subject: Subject
    message: Annotated[Body, msgspec.Meta(description="The requester's initial message (a public comment).")]
    requester_id: Annotated[
        uuid.UUID | None, msgspec.Meta(description="An existing customer; give this or `requester_email`.")
    ] = None
    requester_email: Annotated[
        Email | None,
        msgspec.Meta(
            description="The requester's email (a new customer when unknown); or give `requester_id`."
        ),
    ] = None
    requester_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    priority: Priority = "normal"
    group_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    tags: Tags = []
    channel: Channel = "api"
    external_ref: ExternalRef | None = None


class TicketUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fields to change; omitted fields keep their value. Status changes follow the lifecycle rules."""

    subject: Subject | msgspec.UnsetType = msgspec.UNSET
    status: Status | msgspec.UnsetType = msgspec.UNSET
    priority: Priority | msgspec.UnsetType = msgspec.UNSET
    group_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    assignee_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    tags: Tags | msgspec.UnsetType = msgspec.UNSET
    external_ref: ExternalRef | msgspec.UnsetType | None = msgspec.UNSET


class BulkChanges(TicketUpdate, forbid_unknown_fields=True, kw_only=True):
    """Changes applied to every ticket; ``add_tags``/``remove_tags`` edit tags instead of replacing them."""

    add_tags: Tags | msgspec.UnsetType = msgspec.UNSET
    remove_tags: Tags | msgspec.UnsetType = msgspec.UNSET


class TicketBulkUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Up to 100 tickets changed together: all of them or none."""

    ids: Annotated[list[TicketId], msgspec.Meta(min_length=1, max_length=100, examples=[[101, 102]])]
    changes: Annotated[
        BulkChanges,
        msgspec.Meta(description="At least one field to change.", extra_json_schema={"minProperties": 1}),
    ]
    versions: Annotated[
        dict[int, int],
        msgspec.Meta(
            description="Optional `If-Match` per ticket: ticket id → the version you last read. A stale "
            "version refuses the whole call with 412.",
            examples=[{"101": 4}],
        ),
    ] = {}


class PersonSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    email: str


class GroupSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str


class TicketRead(msgspec.Struct, kw_only=True):
    """A ticket. ``version`` increases with every change and is the ``ETag``."""

    id: int
    subject: str
    status: Status
    priority: Priority
    channel: Channel
    requester: PersonSummary
    assignee: PersonSummary | None
    group: GroupSummary | None
    tags: list[str]
    external_ref: str | None
    follow_up_of: int | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    first_agent_reply_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    sla: TicketSla | None
    """The SLA policy version that applies and each metric's state; null when no policy applies."""


class TicketPage(Page[TicketRead]):
    """A page of tickets in the requested order."""


class TicketList(msgspec.Struct, kw_only=True):
    """The tickets a bulk update changed, in the order of ``ids``."""

    data: list[TicketRead]


class CommentCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A comment: a public reply (default) or an internal note (``public: false``, agents only).

    Without ``author_type`` the author is the calling agent: an agent's key writes only as that agent.
    ``author_type: customer`` writes as the ticket's requester, through a key that speaks for customers
    (`speaks_for_customers`), and only as a public reply; a customer reply reopens a pending, on-hold or
    resolved ticket, and on a closed ticket opens a follow-up ticket instead.
    """

    body: Body
    public: bool = True
    author_type: CommentAuthorType | None = None
    author_id: Annotated[
        uuid.UUID | None,
        msgspec.Meta(
            description="Optional: the calling agent (`author_type: agent`) or the ticket's requester "
            "(`author_type: customer`); any other person is refused."
        ),
    ] = None


class CommentRead(msgspec.Struct, kw_only=True):
    id: int
    ticket_id: int
    author_type: AuthorType
    author_id: uuid.UUID | None
    public: bool
    body: str
    created_at: dt.datetime


class CommentPage(Page[CommentRead]):
    """A page of a ticket's comments, oldest first."""
