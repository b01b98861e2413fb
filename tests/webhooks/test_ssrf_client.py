"""The SSRF guard as the HTTP client and the API see it: URLs the client normalises into refused addresses,
host names that resolve to every refused class, and host names the client cannot use — refused at
registration (422 problem+json) and at delivery (``ssrf_refused`` through the real aiohttp client, with
no TCP connection made)."""

from __future__ import annotations

import datetime as dt
import socket
import uuid

import pytest

from api.webhooks.sender import Claim, Sender
from api.webhooks.ssrf import SsrfPolicy, parse_cidrs
from tests.webhooks.helpers import ENDPOINTS
from tests.webhooks.receiver import Receiver

# One address of every refused class (tests/webhooks/test_ssrf.py checks the classification itself).
REFUSED_ADDRESSES = [
    "0.0.0.0",
    "::",
    "127.0.0.1",
    "::1",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "fd00::1",
    "169.254.169.254",
    "fe80::1",
    "100.64.0.1",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",
    "198.18.0.1",
    "::ffff:127.0.0.1",
    "64:ff9b::a00:1",
    "2002:a00:1::1",
    "2001:0:4136:e378::1",
    "::127.0.0.1",
    "fec0::1",
    "2001:db8::1",
]

# Spellings of loopback that the client (yarl's IDNA/UTS #46 mapping) turns into 127.0.0.1 or localhost.
FULLWIDTH_LOOPBACK = "\uff11\uff12\uff17.\uff10.\uff10.\uff11"  # 127.0.0.1 in fullwidth digits
LOOPBACK_SPELLINGS = [
    FULLWIDTH_LOOPBACK,
    "①②⑦.0.0.1",  # circled digits
    "127。0。0。1",  # ideographic full stops
    "ⓛocalhost",
    "LOCALHOST",
    "[::ffff:127.0.0.1]",
    "[::1]",
]

VICTIM = "victim.customer.test"


@pytest.fixture
def victim_resolves_to(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """DNS for ``victim.customer.test``: answers with whatever addresses the test puts in the list."""
    answers: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == VICTIM:
            return [
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
                if ":" in a
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def _claim(url: str) -> Claim:
    return Claim(
        delivery_id=1,
        endpoint_id=uuid.uuid4(),
        message_id="msg_ssrf",
        attempt_count=0,
        retry_count=0,
        body=b"{}",
        url=url,
        headers={},
        secrets=("whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdA==",),
        endpoint_version=dt.datetime.now(dt.UTC),
        endpoint_failing=False,
        lease_token=uuid.uuid4(),
    )


async def _send(url: str, policy: SsrfPolicy):
    sender = Sender(policy, connect_timeout=1.0, timeout=1.5, per_endpoint=2)
    try:
        return await sender.send(_claim(url))
    finally:
        await sender.close()


HTTP_ONLY = SsrfPolicy(allow_http=True)


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
async def test_delivery_refuses_loopback_however_the_client_spells_it(host):
    async with Receiver() as receiver:
        result = await _send(f"http://{host}:{receiver.port}/hook", HTTP_ONLY)
        assert result.error_class == "ssrf_refused", result.error
        assert "refused" in (result.error or "")
        assert receiver.connections == 0


@pytest.mark.parametrize("host", [FULLWIDTH_LOOPBACK, "ⓛocalhost", "[::ffff:127.0.0.1]"])
async def test_the_same_spellings_do_reach_loopback_when_allowed(host):
    """The control: these URLs really lead to the receiver, so the refusals above are the guard's."""
    allowed = SsrfPolicy(parse_cidrs("127.0.0.0/8,::ffff:127.0.0.0/104"), allow_http=True)
    async with Receiver() as receiver:
        result = await _send(f"http://{host}:{receiver.port}/hook", allowed)
        assert result.status_code == 200, result.error
        assert len(receiver.requests) == 1


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
async def test_delivery_refuses_every_class_as_an_ip_literal(address):
    """aiohttp asks no resolver for IP literals: the socket factory is what refuses them."""
    host = f"[{address}]" if ":" in address else address
    result = await _send(f"http://{host}:9/hook", HTTP_ONLY)
    assert result.error_class == "ssrf_refused", result.error
    assert result.status_code is None


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
async def test_delivery_refuses_every_class_behind_a_host_name(address, victim_resolves_to):
    victim_resolves_to.append(address)
    result = await _send(f"http://{VICTIM}:9/hook", HTTP_ONLY)
    assert result.error_class == "ssrf_refused", result.error


async def test_one_refused_answer_among_public_ones_refuses_the_host(victim_resolves_to):
    victim_resolves_to.extend(["93.184.215.14", "127.0.0.1"])
    async with Receiver() as receiver:
        result = await _send(f"http://{VICTIM}:{receiver.port}/hook", HTTP_ONLY)
        assert result.error_class == "ssrf_refused"
        assert receiver.connections == 0


async def test_delivery_to_a_host_that_does_not_resolve_is_a_refusal_not_a_crash(victim_resolves_to):
    result = await _send(f"http://{VICTIM}:9/hook", HTTP_ONLY)
    assert result.error_class == "ssrf_refused"
    assert "unresolvable" in (result.error or "")


# Registration: the same judgement through the API, with the default policy (https only, no allow-list).


async def _register(client, headers, url: str):
    return await client.post(ENDPOINTS, json={"url": url}, headers=headers)


def _assert_url_refused(response, reason: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["errors"][0]["path"] == "$.url"
    assert reason in body["detail"], body["detail"]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
async def test_registration_refuses_loopback_however_spelled(client, admin_headers, host):
    reason = "ipv4-mapped" if "ffff" in host else "loopback"
    _assert_url_refused(await _register(client, admin_headers, f"https://{host}/hook"), reason)


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
async def test_registration_refuses_every_class_literal_and_resolved(
    client, admin_headers, address, victim_resolves_to
):
    host = f"[{address}]" if ":" in address else address
    literal = await _register(client, admin_headers, f"https://{host}/hook")
    assert literal.status_code == 422, literal.text
    victim_resolves_to.append(address)
    resolved = await _register(client, admin_headers, f"https://{VICTIM}/hook")
    _assert_url_refused(resolved, "resolves to")


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("no-such-host.invalid", "does not resolve"),
        ("a..example.com", "invalid label"),
        (".example.com", "invalid label"),
        ("x" * 64 + ".example.com", "invalid label"),
        (("a" * 60 + ".") * 5 + "example.com", "253"),
        ("exa mple.com", "invalid label"),
        ("-bad-.example.com", "invalid label"),
        ("127.1", "neither"),
        ("0x7f.1", "neither"),
        ("2130706433", "neither"),
        ("017700000001", "neither"),
    ],
)
async def test_registration_refuses_hosts_the_client_cannot_use(client, admin_headers, host, reason):
    _assert_url_refused(await _register(client, admin_headers, f"https://{host}/hook"), reason)


async def test_registration_accepts_a_public_host(client, admin_headers, victim_resolves_to):
    victim_resolves_to.append("93.184.215.14")
    response = await _register(client, admin_headers, f"https://{VICTIM}/hook")
    assert response.status_code == 201, response.text
