"""Standard Webhooks secrets and signatures.

A secret is ``whsec_`` + base64 of 32 random bytes; the HMAC key is those bytes. The signature of one
attempt is ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``; during a rotation the header carries
one such value per live secret, space-separated, and consumers accept any that verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


Key = bytes | hmac.HMAC
"""A secret's HMAC key: its bytes, or :func:`prepared` from them."""


def prepared(key: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 with the key already absorbed: each signature copies it instead of hashing the key
    again (4.4 µs instead of 5.7 per signature of a 1 kB body here; ``hmac.digest`` took 6.8)."""
    return hmac.new(key, digestmod=hashlib.sha256)


def sign(key: Key, message_id: str, timestamp: int, body: bytes) -> str:
    signed = b"%s.%d.%s" % (message_id.encode(), timestamp, body)
    mac = key.copy() if isinstance(key, hmac.HMAC) else hmac.new(key, digestmod=hashlib.sha256)
    mac.update(signed)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signature_header(keys: Sequence[Key], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per key, newest key first."""
    return " ".join(sign(key, message_id, timestamp, body) for key in keys)


def webhook_headers(keys: Sequence[Key], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys, message_id, timestamp, body),
    }
