"""SSRF guard: webhook URLs may only reach public addresses, unless an operator allowed a network.

The guard judges what the HTTP client (aiohttp) will really do, not what the URL looks like:

* URLs are parsed by yarl, as aiohttp parses them, so the host checked is the host the client uses after
  its normalisation (IDNA/UTS #46 mapping turns 127.0.0.1 written in fullwidth digits into ``127.0.0.1``,
  an IP literal that aiohttp connects to without asking any resolver).
* Host names are resolved once by :class:`GuardedResolver`, every answer is checked, and aiohttp connects
  to exactly those addresses, so a DNS answer that changes between check and connect (rebinding) cannot
  smuggle a private address in.
* Every socket the client opens comes from :func:`guarded_socket_factory`, which checks the address the
  socket is about to connect to: the last word, whatever path led there (IP literals skip resolvers).

Registration (:func:`validate_url`) runs the same parsing, the same name rules and the same resolver, and
refuses hosts that do not resolve; every delivery checks again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import yarl
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.helpers import is_ip_address

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AddrInfo = tuple[Any, ...]

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

    def check_text(self, address: str) -> None:
        """Check an address as sockets report it (IPv6 may carry a ``%zone``)."""
        try:
            parsed = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            raise SsrfRefused(address, "unparsable") from None
        self.check(parsed)

    def check_all(self, addresses: Sequence[str]) -> None:
        if not addresses:
            raise SsrfRefused("(none)", "unresolvable")
        for address in addresses:
            self.check_text(address)


class UrlProblem(ValueError):
    pass


# A DNS label as resolvers take it once yarl has IDNA-encoded the host (underscores occur in real names).
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
# WHATWG URL parsing (browsers, and glibc's inet_aton) reads a host ending in a numeric label as IPv4.
_NUMERIC_LABEL = re.compile(r"^(?:0[xX][0-9A-Fa-f]*|[0-9]+)$")


def _check_dns_name(host: str) -> None:
    """Refuse host names the client would choke on (empty or over-long labels make the socket module's
    IDNA codec raise) or read as something else (``127.1``, ``0x7f.1``: legacy IPv4 forms)."""
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253:
        raise UrlProblem("the host name is empty or longer than 253 characters")
    labels = name.split(".")
    for label in labels:
        if not _LABEL.match(label):
            raise UrlProblem(f"the host name has an invalid label {label[:70]!r} (1-63 letters, digits, -)")
    if _NUMERIC_LABEL.match(labels[-1]):
        raise UrlProblem("the host is neither a DNS name nor a canonical IP address")
    try:
        name.encode("idna")  # what getaddrinfo does to the name before asking the resolver
    except UnicodeError:
        raise UrlProblem("the host name is not valid IDNA") from None


def parse_url(url: str, policy: SsrfPolicy) -> yarl.URL:
    """The URL as aiohttp will use it (parsed and normalised by yarl), after the static rules: scheme,
    host syntax, no credentials. Addresses are judged by :func:`validate_url` and at connection time."""
    try:
        parsed = yarl.URL(url)
        parsed.port  # noqa: B018 - raises on an invalid port
    except (ValueError, UnicodeError, TypeError) as exc:
        raise UrlProblem(f"not a valid URL: {str(exc)[:200]}") from None
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parsed.scheme == "http" and not policy.allow_http:
        # Local development usually starts with an http receiver: say which setting allows it.
        raise UrlProblem(
            "the URL must use https; plain http is refused unless the operator sets "
            "HELPDESK_WEBHOOK_ALLOW_HTTP=true (e.g. for local development)"
        )
    if parsed.scheme not in schemes or not parsed.absolute:
        raise UrlProblem("the URL must use " + " or ".join(schemes))
    host = parsed.raw_host
    if not host:
        raise UrlProblem("the URL has no host")
    if parsed.raw_user is not None or parsed.raw_password is not None:
        raise UrlProblem("credentials in the URL are not allowed; use custom headers")
    if literal_address(host) is None:
        _check_dns_name(host)
    return parsed


def literal_address(host: str) -> IPAddress | None:
    """The address when aiohttp would treat ``host`` as an IP literal (it then asks no resolver)."""
    if not is_ip_address(host):
        return None
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


async def lookup(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[AddrInfo]:
    """The system resolver, as the event loop exposes it (tests stub the loop's ``getaddrinfo``)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
    return list(infos)


async def validate_url(url: str, policy: SsrfPolicy, resolve_timeout: float = 3.0) -> None:
    """Registration-time check: the static rules, then every address the host resolves to now.

    A host that does not resolve (or not in time) is refused: it could not be delivered to either, and an
    admin finds the typo now rather than in a failed delivery three days later.
    """
    parsed = parse_url(url, policy)
    host = parsed.raw_host or ""
    literal = literal_address(host)
    try:
        if literal is not None:
            policy.check(literal)
            return
        await asyncio.wait_for(GuardedResolver(policy).resolve(host, parsed.port or 443), resolve_timeout)
    except SsrfRefused as exc:
        if exc.reason == "unresolvable" and literal is None:
            raise UrlProblem("the host name does not resolve") from None
        verb = "is" if literal is not None else "resolves to"
        raise UrlProblem(
            f"the host {verb} a refused address ({exc.reason}: {exc.address}); an operator can allow "
            "such networks with HELPDESK_WEBHOOK_ALLOW_CIDRS (e.g. 127.0.0.0/8 for local development)"
        ) from None
    except TimeoutError:
        raise UrlProblem("the host name did not resolve in time") from None


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that resolves once and returns only checked addresses, which aiohttp connects to."""

    def __init__(self, policy: SsrfPolicy) -> None:
        self._policy = policy

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        try:
            infos = await lookup(host, port, family)
        except (OSError, UnicodeError):
            # UnicodeError: the socket module's IDNA codec refused the name (an empty or long label).
            raise SsrfRefused(host[:100], "unresolvable") from None
        self._policy.check_all([str(info[4][0]) for info in infos])
        return [_result(host, info) for info in infos]

    async def close(self) -> None:
        return None


def _result(host: str, info: AddrInfo) -> ResolveResult:
    family, _, proto, _, sockaddr = info
    return {
        "hostname": host,
        "host": str(sockaddr[0]),
        "port": int(sockaddr[1]),
        "family": family,
        "proto": proto,
        "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
    }


def guarded_socket_factory(policy: SsrfPolicy) -> Callable[[AddrInfo], socket.socket]:
    """A socket factory for aiohttp's connector that refuses to open a socket towards a refused address.

    aiohttp hands it the address it is about to connect to, after every URL normalisation and resolution
    step, so this is the one check no parsing difference can get around.
    """

    def create(addr_info: AddrInfo) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        policy.check_text(str(sockaddr[0]))
        return socket.socket(family=family, type=type_, proto=proto)

    return create
