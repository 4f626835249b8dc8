"""Outbound connections only to public addresses: LMS hosts and webhook URLs must not reach
this machine, its network or a cloud metadata service unless the operator allows it
(``LMSBRIDGE_ALLOW_PRIVATE_HOSTS=true``: the demo and the tests, whose sandbox runs on loopback).

Two checks: ``check_url`` when a URL is entered (a clear error for the API and the CLI), and
``GuardedTransport`` at every connection: it resolves the host once, refuses a non-public address and
connects to the address it checked (TLS still verifies the certificate for the host name), so a DNS
answer that changes between the check and the connection cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedHost(ValueError):
    """The host resolves to an address outbound calls may not reach (message is safe to show)."""


def is_public(address: IPAddress) -> bool:
    """Globally routable: not loopback, private, link-local (cloud metadata: 169.254.169.254),
    shared (100.64/10), multicast, reserved or unspecified; IPv4-mapped IPv6 judged as its IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _kind(address: IPAddress) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback"
    if address.is_link_local:
        return "a link-local (cloud metadata)"
    if address.is_private:
        return "a private"
    return "a non-public"


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise BlockedHost(f"the host {host!r} cannot be resolved ({exc.strerror or exc})") from None
    # scope ids (fe80::1%eth0) are dropped: link-local is refused anyway
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def checked_addresses(host: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """``host``'s addresses, resolved once; ``BlockedHost`` if any is not public (unless allowed)."""
    addresses = _addresses(host, port)
    if not addresses:
        raise BlockedHost(f"the host {host!r} has no address")
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise BlockedHost(
                    f"the host {host!r} resolves to {_kind(address)} address ({address}); outbound calls "
                    "reach public addresses only unless LMSBRIDGE_ALLOW_PRIVATE_HOSTS=true"
                )
    return addresses


def check_url(url: str, *, allow_private: bool) -> None:
    """For input validation: ``BlockedHost`` when ``url``'s host is not public (unless allowed)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise BlockedHost("the URL has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    checked_addresses(parts.hostname, port, allow_private=allow_private)


class BlockedConnection(httpx.TransportError):
    """A connection the address check refused. Not a network failure: retrying cannot help, so it is
    not one of the transport errors clients retry."""


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that connects only to checked addresses (see the module's docstring)."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None, *, allow_private: bool) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()
        self.allow_private = allow_private

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.allow_private:
            return await self._inner.handle_async_request(request)
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = await asyncio.to_thread(checked_addresses, host, port, allow_private=False)
        except BlockedHost as exc:
            raise BlockedConnection(str(exc), request=request) from None
        # connect to the address just checked; the Host header and TLS (SNI, certificate) keep the name
        request.url = request.url.copy_with(host=str(addresses[0]))
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
