"""Where webhooks may go: https only, and never into loopback, private or link-local networks unless allowed.

A webhook sender that posts wherever a tenant points it is a way into the operator's internal
network (SSRF). URLs are checked when an endpoint is registered, and every connection the sender
opens goes to an address checked when it was resolved for that connection (`pinned_transport.py`):
a name that answers a public address to the check and loopback to the connect (DNS rebinding)
reaches nothing. IPv6 forms that carry an IPv4 address (IPv4-mapped, -translated and -compatible,
NAT64, 6to4, Teredo) are judged by the IPv4 address they reach.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: an operator's own translator, never public
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765 (SIIT)
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated (RFC 4291); ::, ::1 and these are never destinations


class DestinationRefused(ValueError):
    """The URL is not one this server will post to; the message says why."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that `address` reaches through a translator or tunnel, where it is such a form."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_WELL_KNOWN or address in IPV4_TRANSLATED or address in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address; the tunnel delivers to it
    return None


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast, also when written as an IPv6 form of an IPv4 address."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address in NAT64_LOCAL_USE or (address in IPV4_COMPATIBLE and address.ipv4_mapped is None):
            return False
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    return True


async def system_resolve(host: str) -> list[str]:
    """The addresses the system resolver gives `host`, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class DestinationPolicy:
    allow_http: bool = False
    allow_private: bool = False

    def check_url(self, url: str) -> str:
        """Syntax and scheme: returns the host; raises DestinationRefused."""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise DestinationRefused(f"{url!r} is not an absolute http(s) URL")
        if parts.scheme == "http" and not self.allow_http:
            raise DestinationRefused("webhook endpoints must use https")
        if parts.username or parts.password:
            raise DestinationRefused("webhook URLs must not carry credentials; the signature authenticates us")
        return parts.hostname

    async def addresses(self, host: str) -> list[IPAddress]:
        """`host`'s addresses, resolved once, each allowed (all of them, or DestinationRefused): connect only to these."""
        found = await self._resolved(host)
        if not self.allow_private:
            blocked = sorted(str(a) for a in found if not is_public(a))
            if blocked:
                raise DestinationRefused(f"{host!r} resolves to non-public addresses ({', '.join(blocked)})")
        return found

    async def _resolved(self, host: str) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            answers = await system_resolve(host)
        except socket.gaierror as exc:
            raise DestinationRefused(f"{host!r} does not resolve: {exc.strerror}") from exc
        found = list(dict.fromkeys(ipaddress.ip_address(a.split("%", 1)[0]) for a in answers))
        if not found:
            raise DestinationRefused(f"{host!r} does not resolve")
        return found

    async def check(self, url: str) -> None:
        """Scheme and every address the host resolves to now; raises DestinationRefused."""
        host = self.check_url(url)
        await self.addresses(host)
