"""Where webhooks may go: https only, and never into loopback, private or link-local networks unless allowed.

A webhook sender that posts wherever a tenant points it is a way into the operator's internal
network (SSRF). URLs are checked when an endpoint is registered and, because DNS answers change,
again before every attempt.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


class DestinationRefused(ValueError):
    """The URL is not one this server will post to; the message says why."""


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

    async def check(self, url: str) -> None:
        """Scheme and every address the host resolves to; raises DestinationRefused."""
        host = self.check_url(url)
        if self.allow_private:
            return
        try:
            addresses = {ipaddress.ip_address(host)}
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise DestinationRefused(f"{host!r} does not resolve: {exc.strerror}") from exc
            addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
        blocked = sorted(str(a) for a in addresses if not a.is_global)
        if blocked:
            raise DestinationRefused(f"{host!r} resolves to non-public addresses ({', '.join(blocked)})")
