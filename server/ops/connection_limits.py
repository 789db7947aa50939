"""Limits on the connections themselves, before any request reaches the app: a node that faces the internet.

uvicorn alone waits forever for a request's headers (its keep-alive timer stops at the first byte), and accepts
connections until the process runs out of file descriptors: about 21,000 half-open connections did that. Here
each connection must finish a request's headers within `http_header_timeout_s` (then 408, closed), the node holds
at most `max_connections`, and one address at most `max_connections_per_client` (then 503 or 429, closed). A
trusted proxy (`trusted_proxies`, loopback by default) is exempt from the per-address cap, since a crowd of
candidates stands behind it, and it alone may say who the client is (`X-Forwarded-For`). Behind such a proxy the
cap per candidate is the proxy's to enforce (`deploy/`).

uvicorn builds one protocol object per connection (HTTP, then WebSocket after an upgrade): `uvicorn_config` gives
it subclasses of its own protocols that report to one `ConnectionGuard`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import resource
from collections import Counter
from typing import Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

from server.settings import IPNetwork, Settings

logger = logging.getLogger(__name__)

# uvicorn closes larger frames itself (code 1009); smaller ones over our own limit get an error message first.
WS_MAX_FRAME_BYTES = 1 << 20


def raw_problem(status: int, reason: str, title: str, detail: str, *, code: str | None = None, retry_after_s: int | None = None) -> bytes:
    """A whole HTTP/1.1 response carrying a problem document, for a connection answered before (or without) the app."""
    document: dict[str, object] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if code is not None:
        document["code"] = code
    body = json.dumps(document).encode()
    retry = f"retry-after: {retry_after_s}\r\n" if retry_after_s is not None else ""
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\ncontent-length: {len(body)}\r\n"
        f"{retry}connection: close\r\n\r\n"
    )
    return head.encode() + body


NODE_FULL = raw_problem(503, "Service Unavailable", "Node full", "This node holds as many connections as it can; try again shortly.")
CLIENT_FULL = raw_problem(429, "Too Many Requests", "Too many connections", "This address holds too many connections to this node.")
HEADERS_TOO_SLOW = raw_problem(408, "Request Timeout", "Request too slow", "The request's headers did not arrive in time.")


def is_trusted(peer: str | None, trusted_proxies: list[IPNetwork]) -> bool:
    """Whether a connection from `peer` is exempt from the per-address cap: a trusted proxy, or a unix socket."""
    if peer is None:
        return True  # a unix socket: only the machine's own users reach it
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in trusted_proxies)


class ConnectionGuard:
    """Counts the node's open connections, in all and per remote address, and says which may open."""

    def __init__(self, max_connections: int, max_per_client: int, header_timeout_s: float, trusted_proxies: list[IPNetwork]) -> None:
        self.max_connections = max_connections
        self.max_per_client = max_per_client
        self.header_timeout_s = header_timeout_s
        self._trusted = trusted_proxies
        self._open: dict[asyncio.BaseTransport, str | None] = {}
        self._per_client: Counter[str] = Counter()
        self.refused_node_full = 0
        self.refused_client_full = 0
        self.headers_timed_out = 0
        self.opened = 0  # connections offered to this guard, refused or not

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionGuard:
        return cls(settings.max_connections, settings.max_connections_per_client, settings.http_header_timeout_s, settings.trusted_proxies)

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def trusted(self, peer: str | None) -> bool:
        return is_trusted(peer, self._trusted)

    def busy_clients(self, at_least: int, most: int) -> dict[str, int]:
        """The addresses holding `at_least` connections, the `most` busiest: what a worker tells its supervisor, which
        caps an address across the node's workers."""
        return {client: n for client, n in self._per_client.most_common(most) if n >= at_least}

    def open(self, transport: asyncio.BaseTransport, peer: str | None) -> bytes | None:
        """None if this connection may stay open (it is counted until `close`), else the response that refuses it."""
        self.opened += 1
        if len(self._open) >= self.max_connections:
            self.refused_node_full += 1
            return NODE_FULL
        client = None if self.trusted(peer) else peer
        if client is not None and self._per_client[client] >= self.max_per_client:
            self.refused_client_full += 1
            return CLIENT_FULL
        self._open[transport] = client
        if client is not None:
            self._per_client[client] += 1
        return None

    def close(self, transport: asyncio.BaseTransport) -> None:
        """Idempotent: the HTTP protocol and, after an upgrade, the WebSocket one both report the same transport."""
        if transport not in self._open:
            return
        client = self._open.pop(transport)
        if client is not None:
            self._per_client[client] -= 1
            if self._per_client[client] <= 0:
                del self._per_client[client]


def guarded_http_protocol(guard: ConnectionGuard, base: Any = AutoHTTPProtocol) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, counted by `guard`, and closed when a request's headers take too long."""

    class GuardedHTTPProtocol(base):  # type: ignore[misc]
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            peer = self.client[0] if self.client else None
            refusal = guard.open(transport, peer)
            if refusal is not None:
                transport.write(refusal)
                transport.close()
                return
            self._arm_header_timer()

        def _arm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._header_timer = self.loop.call_later(guard.header_timeout_s, self._headers_too_slow, self.cycle)

        def _headers_too_slow(self, cycle_when_armed: object) -> None:
            # A new request's headers made a new cycle; an upgrade handed the transport to the WebSocket protocol.
            self._header_timer = None
            if self.cycle is cycle_when_armed and self.transport.get_protocol() is self and not self.transport.is_closing():
                guard.headers_timed_out += 1
                self.transport.write(HEADERS_TOO_SLOW)
                self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_header_timer()  # the next request on this keep-alive connection gets the same time

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            guard.close(self.transport)
            super().connection_lost(exc)

    return GuardedHTTPProtocol


def guarded_websocket_protocol(guard: ConnectionGuard, base: Any = AutoWebSocketsProtocol) -> type[asyncio.Protocol]:
    """uvicorn's WebSocket protocol, releasing the connection `guard` counted when it was HTTP."""

    class GuardedWebSocketProtocol(base):  # type: ignore[misc]
        def connection_lost(self, exc: Exception | None) -> None:
            guard.close(self.transport)
            super().connection_lost(exc)

    return GuardedWebSocketProtocol


def raise_open_file_limit(max_connections: int, outbound: int = 0) -> None:
    """Each connection is a file descriptor, and so is each media session's UDP socket, file and database handle, and
    each of the `outbound` sockets the node may hold open to other servers (webhooks): raise the soft limit as far as
    the hard one allows, and say so if it still cannot cover `max_connections`."""
    wanted = max_connections * 2 + outbound + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft != resource.RLIM_INFINITY and soft < wanted:
        logger.warning(
            "open-file limit %d is below the %d that INTERVIEW_MAX_CONNECTIONS=%d wants: raise it (LimitNOFILE=) or lower the cap",
            soft,
            wanted,
            max_connections,
        )


def uvicorn_config(app: Starlette, settings: Settings, **options: Any) -> uvicorn.Config:
    """The one uvicorn configuration (the CLI's and the tests'): guarded protocols, keep-alive, trusted proxies. The
    guard is kept on the app (`app.state.connection_guard`) for whoever wants its counts."""
    guard = app.state.connection_guard = ConnectionGuard.from_settings(settings)
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=guarded_http_protocol(guard),
        ws=guarded_websocket_protocol(guard),
        ws_max_size=WS_MAX_FRAME_BYTES,
        timeout_keep_alive=int(max(1, settings.http_keep_alive_s)),
        h11_max_incomplete_event_size=16 * 1024,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=[str(network) for network in settings.trusted_proxies] or None,
        **options,
    )
