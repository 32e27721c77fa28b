"""The webhook SSRF guard: which addresses a webhook may reach, and a transport that connects
to exactly the address that was checked.

A host is resolved once; every address it resolves to must be public (or inside an
allow-listed network), and the request then goes to that checked address while keeping the
original Host header and TLS server name, so a second DNS answer can never redirect it."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class DestinationRefused(ValueError):
    """The webhook's host is, or resolves to, an address it may not reach."""


class HostUnresolvable(ValueError):
    """The webhook's host does not resolve (perhaps only for now)."""


async def resolve_with_system(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _own_refusal(address: IPAddress) -> str | None:
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def refusal_reason(address: IPAddress, allowed: Iterable[IPNetwork]) -> str | None:
    """Why a webhook may not connect to `address`, or None when it may."""
    allowed = list(allowed)
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        candidates += _embedded_ipv4(address)
    if any(candidate in net for candidate in candidates for net in allowed
           if candidate.version == net.version):
        return None
    for candidate in candidates:
        reason = _own_refusal(candidate)
        if reason is not None:
            shown = "" if candidate is address else f" (it carries {candidate})"
            return f"{address} is {reason}{shown}"
    return None


async def checked_address(host: str, port: int, allowed: Iterable[IPNetwork],
                          resolver: Resolver = resolve_with_system) -> str:
    """Resolve `host`, refuse it unless every address may be reached, return one to use."""
    allowed = list(allowed)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            answers = await resolver(host, port)
        except (OSError, UnicodeError) as error:
            raise HostUnresolvable(f"{host} does not resolve: {error}") from error
        addresses = []
        for answer in answers:
            parsed = ipaddress.ip_address(answer.split("%", 1)[0])
            if parsed not in addresses:
                addresses.append(parsed)
        if not addresses:
            raise HostUnresolvable(f"{host} does not resolve")
    for address in addresses:
        reason = refusal_reason(address, allowed)
        if reason is not None:
            via = "" if literal is not None else f"{host} resolves to "
            raise DestinationRefused(
                f"{via}{reason}; webhooks may only reach public addresses "
                "(allow a network with TOCSIN_WEBHOOK_ALLOWED_NETWORKS)"
            )
    return str(addresses[0])


class PinnedTransport(httpx.AsyncBaseTransport):
    """Sends every request to one already-checked IP address. The Host header and the TLS
    server name (SNI and certificate check) stay those of the URL's host name."""

    def __init__(self, address: str, inner: httpx.AsyncBaseTransport) -> None:
        self._address = address
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        request.url = request.url.copy_with(host=self._address)
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
