"""SSRF guard: webhook URLs may only reach public addresses, unless an operator allowed a network.

At delivery time the host is resolved once, every address is checked, and the connection goes to one of
exactly those addresses (see :class:`GuardedResolver`), so a DNS answer that changes between check and
connect (rebinding) cannot smuggle a private address in. Registration checks the URL too, as a courtesy.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_V6_EMBEDDING = (
    ("ipv4-mapped", ipaddress.ip_network("::ffff:0:0/96")),
    ("ipv4-translated", ipaddress.ip_network("::ffff:0:0:0/96")),
    ("nat64", ipaddress.ip_network("64:ff9b::/96")),
    ("nat64", ipaddress.ip_network("64:ff9b:1::/48")),
    ("6to4", ipaddress.ip_network("2002::/16")),
    ("teredo", ipaddress.ip_network("2001::/32")),
    ("ipv4-compatible", ipaddress.ip_network("::/96")),
)
_V6_SPECIAL = (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1"))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class SsrfRefused(OSError):
    """The destination is not a public address (raised as OSError so HTTP clients treat it as connect)."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"{address} is refused: {reason} address")
        self.address = address
        self.reason = reason


def refusal_reason(address: IPAddress) -> str | None:
    """Why this address must not be contacted, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        for name, network in _V6_EMBEDDING:
            if address in network and address not in _V6_SPECIAL:
                return name
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("cgnat", isinstance(address, ipaddress.IPv4Address) and address in _CGNAT),
        ("reserved", address.is_reserved),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("private", address.is_private),
    )
    for name, refused in checks:
        if refused:
            return name
    return None if address.is_global else "non-global"


def parse_cidrs(value: str) -> tuple[IPNetwork, ...]:
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()
    )


@dataclass(frozen=True, slots=True)
class SsrfPolicy:
    allowed: tuple[IPNetwork, ...] = ()
    allow_http: bool = False

    def check(self, address: IPAddress) -> None:
        if any(address.version == net.version and address in net for net in self.allowed):
            return
        reason = refusal_reason(address)
        if reason is not None:
            raise SsrfRefused(str(address), reason)

    def check_all(self, addresses: Sequence[str]) -> None:
        if not addresses:
            raise SsrfRefused("(none)", "unresolvable")
        for address in addresses:
            self.check(ipaddress.ip_address(address.split("%", 1)[0]))


class UrlProblem(ValueError):
    pass


def parse_url(url: str, policy: SsrfPolicy) -> SplitResult:
    """Static checks of a webhook URL: scheme, host, no credentials."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on an invalid port
    except ValueError as exc:
        raise UrlProblem(f"not a valid URL: {exc}") from None
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme == "http" and not policy.allow_http:
        # Local development usually starts with an http receiver: say which setting allows it.
        raise UrlProblem(
            "the URL must use https; plain http is refused unless the operator sets "
            "HELPDESK_WEBHOOK_ALLOW_HTTP=true (e.g. for local development)"
        )
    if parts.scheme not in schemes:
        raise UrlProblem("the URL must use " + " or ".join(schemes))
    if not parts.hostname:
        raise UrlProblem("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UrlProblem("credentials in the URL are not allowed; use custom headers")
    return parts


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def validate_url(url: str, policy: SsrfPolicy, resolve_timeout: float = 3.0) -> None:
    """Registration-time check: static rules, then the addresses the host resolves to now."""
    parts = parse_url(url, policy)
    host = parts.hostname or ""
    literal = literal_address(host)
    try:
        if literal is not None:
            policy.check(literal)
            return
        try:
            addresses = await asyncio.wait_for(resolve(host, parts.port or 443), resolve_timeout)
        except (OSError, TimeoutError):
            return  # not resolvable yet; delivery checks again and refuses anything non-public
        policy.check_all(addresses)
    except SsrfRefused as exc:
        raise UrlProblem(
            f"the host resolves to a {exc.reason} address ({exc.address}); an operator can allow "
            "such networks with HELPDESK_WEBHOOK_ALLOW_CIDRS (e.g. 127.0.0.0/8 for local development)"
        ) from None


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that resolves once and returns only checked addresses, which aiohttp connects to."""

    def __init__(self, policy: SsrfPolicy) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, family=family
        )
        self._policy.check_all([str(info[4][0]) for info in infos])
        return [_result(host, info) for info in infos]

    async def close(self) -> None:
        return None


def _result(host: str, info: tuple[Any, ...]) -> ResolveResult:
    family, _, proto, _, sockaddr = info
    return {
        "hostname": host,
        "host": str(sockaddr[0]),
        "port": int(sockaddr[1]),
        "family": family,
        "proto": proto,
        "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
    }
