"""Signing: Standard Webhooks libraries verify what we send, including during secret rotation."""

from __future__ import annotations

import base64
import datetime as dt
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from api.webhooks.signing import new_secret, prepared, secret_key, sign, webhook_headers


def test_secret_format():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert new_secret() != secret


@given(
    body=st.binary(max_size=2000).map(lambda b: b.hex().encode()),
    message_id=st.from_regex(r"msg_[a-z0-9]{1,30}", fullmatch=True),
)
def test_standardwebhooks_verifies_our_signature(body, message_id):
    secret = new_secret()
    now = int(time.time())
    headers = webhook_headers([secret_key(secret)], message_id, now, body)
    Webhook(secret).verify(body, headers, json_parse=False)


def test_signature_matches_reference_implementation():
    secret = new_secret()
    ts = 1_700_000_000
    expected = Webhook(secret).sign("msg_1", dt.datetime.fromtimestamp(ts, dt.UTC), '{"a":1}')
    assert sign(secret_key(secret), "msg_1", ts, b'{"a":1}') == expected


def test_rotation_header_verifies_with_either_secret_and_not_others():
    old, new = new_secret(), new_secret()
    body = b'{"type":"webhook.test"}'
    headers = webhook_headers([secret_key(new), secret_key(old)], "msg_x", int(time.time()), body)
    assert headers["webhook-signature"].count("v1,") == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_tampered_body_fails():
    secret = new_secret()
    headers = webhook_headers([secret_key(secret)], "msg_x", int(time.time()), b'{"a":1}')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":2}', headers)


@given(st.binary(min_size=1, max_size=64), st.binary(max_size=2048), st.integers(0, 2**40))
def test_a_prepared_key_signs_exactly_as_its_bytes(key, body, timestamp):
    mac = prepared(key)
    for message_id in ("msg_p", "msg_q"):  # signing must leave the prepared key as it was
        assert sign(mac, message_id, timestamp, body) == sign(key, message_id, timestamp, body)
