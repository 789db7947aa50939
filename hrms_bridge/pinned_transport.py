"""An HTTP client whose every connection goes to an address the destination policy allowed for it.

Checking a URL and then letting the HTTP library resolve the name again to connect leaves a gap: a
name whose DNS answers a public address to the check and 127.0.0.1 to the connect (DNS rebinding)
gets the signed payload delivered inside the operator's network. Here the name is resolved once per
connection, by the policy, and the connection is opened to one of the addresses it allowed; TLS
still verifies the certificate for the name (SNI and Host are the URL's). Redirects are never
followed, and proxies from the environment are not used: either would connect somewhere unchecked.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore
import httpx

from hrms_bridge.destinations import DestinationPolicy


class PinnedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses that `policy` allowed, resolved for that connection."""

    def __init__(self, policy: DestinationPolicy) -> None:
        self._policy = policy
        self._sockets = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._policy.addresses(host)
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._sockets.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # addresses() returns at least one or raises
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are not sent over unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._sockets.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool on a `PinnedNetworkBackend`."""

    def __init__(self, policy: DestinationPolicy) -> None:
        # As many idle connections kept as may be busy: with httpx's default of 20, a sender with more requests on the wire
        # closed and reopened connections all the time (and httpcore's pool walks every connection per request).
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=5.0)
        super().__init__(trust_env=False, limits=limits)
        if not isinstance(self._pool, httpcore.AsyncConnectionPool):  # httpx builds one when there is no proxy
            raise TypeError(f"unexpected httpx connection pool {type(self._pool).__name__}")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedNetworkBackend(policy),
        )


def pinned_client(policy: DestinationPolicy, timeout_s: float, user_agent: str) -> httpx.AsyncClient:
    """A client for outbound webhooks and callbacks: pinned connections, no redirects, no environment proxies."""
    return httpx.AsyncClient(
        transport=PinnedTransport(policy),
        timeout=timeout_s,
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": user_agent},
    )
