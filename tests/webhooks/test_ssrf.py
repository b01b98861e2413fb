"""The SSRF guard: every refused address class, the allow-list, URL rules, the pinned resolver."""

from __future__ import annotations

import ipaddress

import pytest

from api.webhooks.ssrf import (
    GuardedResolver,
    SsrfPolicy,
    SsrfRefused,
    UrlProblem,
    parse_cidrs,
    parse_url,
    refusal_reason,
    validate_url,
)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "cgnat"),
        ("100.127.255.254", "cgnat"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "private"),  # documentation (TEST-NET-1)
        ("198.18.0.1", "private"),  # benchmarking
        ("::ffff:127.0.0.1", "ipv4-mapped"),
        ("::ffff:8.8.8.8", "ipv4-mapped"),
        ("64:ff9b::a00:1", "nat64"),
        ("2002:a00:1::1", "6to4"),
        ("2001:0:4136:e378::1", "teredo"),
        ("::127.0.0.1", "ipv4-compatible"),
        ("fec0::1", "site-local"),
        ("2001:db8::1", "private"),  # documentation
    ],
)
def test_refused_address_classes(address, reason):
    assert refusal_reason(ipaddress.ip_address(address)) == reason
    with pytest.raises(SsrfRefused):
        SsrfPolicy().check(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert refusal_reason(ipaddress.ip_address(address)) is None
    SsrfPolicy().check(ipaddress.ip_address(address))


def test_allow_list_admits_only_its_networks():
    policy = SsrfPolicy(allowed=parse_cidrs("127.0.0.0/8, 10.1.0.0/16"))
    policy.check(ipaddress.ip_address("127.0.0.1"))
    policy.check(ipaddress.ip_address("10.1.2.3"))
    with pytest.raises(SsrfRefused):
        policy.check(ipaddress.ip_address("10.2.0.1"))
    with pytest.raises(SsrfRefused):
        policy.check(ipaddress.ip_address("::1"))


def test_every_resolved_address_must_pass():
    with pytest.raises(SsrfRefused):
        SsrfPolicy().check_all(["8.8.8.8", "10.0.0.1"])
    with pytest.raises(SsrfRefused):
        SsrfPolicy().check_all([])


@pytest.mark.parametrize(
    ("url", "allow_http"),
    [
        ("http://example.com/x", False),
        ("ftp://example.com/x", True),
        ("https:///nohost", False),
        ("https://u:p@example.com/", False),
        ("https://example.com:99999/", False),
    ],
)
def test_static_url_rules(url, allow_http):
    with pytest.raises(UrlProblem):
        parse_url(url, SsrfPolicy(allow_http=allow_http))


async def test_registration_validation_resolves_the_host():
    with pytest.raises(UrlProblem, match="loopback"):
        await validate_url("https://localhost/x", SsrfPolicy())
    with pytest.raises(UrlProblem, match="private"):
        await validate_url("https://10.0.0.1/x", SsrfPolicy())
    await validate_url("https://93.184.216.34/x", SsrfPolicy())


async def test_pinned_resolver_refuses_private_answers_and_returns_checked_addresses():
    with pytest.raises(SsrfRefused) as refused:
        await GuardedResolver(SsrfPolicy()).resolve("localhost", 80)
    assert refused.value.reason == "loopback"
    allowed = GuardedResolver(SsrfPolicy(allowed=parse_cidrs("127.0.0.0/8")))
    results = await allowed.resolve("127.0.0.1", 80)
    assert [r["host"] for r in results] == ["127.0.0.1"]
    assert results[0]["hostname"] == "127.0.0.1"


def test_settings_refuse_bad_allow_list_and_short_leases():
    from api.settings import load_settings

    assert load_settings({"HELPDESK_WEBHOOK_ALLOW_CIDRS": "127.0.0.0/8, ::1/128"}).webhook_allow_cidrs
    with pytest.raises(SystemExit, match="ALLOW_CIDRS"):
        load_settings({"HELPDESK_WEBHOOK_ALLOW_CIDRS": "127.0.0.0/8,not-a-network"})
    with pytest.raises(SystemExit, match="LEASE"):
        load_settings({"HELPDESK_WEBHOOK_LEASE_SECONDS": "10", "HELPDESK_WEBHOOK_TIMEOUT_SECONDS": "15"})
