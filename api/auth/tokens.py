"""API key tokens: high-entropy secrets, so a fast SHA-256 is a sufficient hash (no password stretching)."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "hdk_"  # noqa: S105 - a public marker, not a secret
# Characters of the token kept in clear to tell keys apart in lists and logs.
DISPLAY_PREFIX_LEN = len(TOKEN_PREFIX) + 6


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def display_prefix(token: str) -> str:
    return token[:DISPLAY_PREFIX_LEN]
