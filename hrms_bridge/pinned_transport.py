"""An HTTP client whose every connection goes to an address the destination policy allowed for it.

Checking a URL and then letting the HTTP library resolve the name again to connect leaves a gap: a
name whose DNS answers a public address to the check and 127.0.0.1 to the connect (DNS rebinding)
gets the signed payload delivered inside the operator's network. Here the name is resolved once per
connection, by the policy, and the connection is opened to one of the addresses it allowed; TLS
still verifies the certificate for the name (SNI and Host are the URL's). Redirects are never
followed, and proxies from the environment are not used: either would connect somewhere unchecked.

Two clients hold to this. `pinned_client` (httpx) serves the ATS connectors, which read JSON answers at a few calls a
minute. `PinnedSession` (aiohttp) serves webhook fan-out, the one outbound path that must carry thousands of requests
a second: on the 2-core machine httpx spent about 2 ms of CPU on each request, aiohttp (its C parser, a lighter
connection pool) about 0.09 ms.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping

import aiohttp
import httpcore
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

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


class PinnedResolver(AbstractResolver):
    """aiohttp's resolver, asked once per new connection (no DNS cache): only addresses `policy` allowed come back."""

    def __init__(self, policy: DestinationPolicy) -> None:
        self._policy = policy

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in await self._policy.addresses(host)
        ]

    async def close(self) -> None:
        """Holds nothing to release."""


MAX_ANSWER_BYTES = 64 * 1024  # of a receiver's answer body read (to keep its connection); a longer one closes it


class PinnedSession:
    """POSTs on aiohttp with pinned connections, no redirects, no environment proxies, a deadline on the whole exchange.

    aiohttp connects to an IP-literal host without asking the resolver, so such a URL is checked against the policy
    before each request (no lookup, microseconds). Made on first use: an aiohttp session belongs to a running loop.
    """

    def __init__(self, policy: DestinationPolicy, timeout_s: float, user_agent: str, max_connections: int) -> None:
        self._policy = policy
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._headers = {"user-agent": user_agent}
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._allowed_literals: set[str] = set()  # IP-literal hosts the policy allowed (it cannot change its mind)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=PinnedResolver(self._policy),
                ssl=httpx.create_ssl_context(trust_env=False),  # the certificates httpx trusts (certifi's): one trust store
                use_dns_cache=False,
                limit=self._max_connections,
                keepalive_timeout=5.0,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, headers=self._headers, trust_env=False, auto_decompress=False
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, str | None]:
        """The answer's status and Retry-After; raises DestinationRefused, aiohttp.ClientError or TimeoutError."""
        host = self._policy.check_url(url)
        if host not in self._allowed_literals and _is_ip_literal(host):
            await self._policy.addresses(host)  # raises DestinationRefused
            if len(self._allowed_literals) < 1024:
                self._allowed_literals.add(host)
        async with self._open().post(url, data=body, headers=headers, allow_redirects=False) as response:
            read = 0
            while read <= MAX_ANSWER_BYTES and (chunk := await response.content.readany()):
                read += len(chunk)
            if read > MAX_ANSWER_BYTES:
                response.close()  # not worth reading on: the connection goes instead
            return response.status, response.headers.get("retry-after")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def client_error_text(exc: BaseException) -> str:
    """What a failed exchange is called in a delivery's history: the names the httpx client used before, so operators'
    searches keep working (ConnectError, Timeout), else the exception's own name, with its message."""
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        name = "ConnectError"
    elif isinstance(exc, TimeoutError):
        name = "Timeout"
    text = str(exc)
    return f"{name}: {text}" if text else name
