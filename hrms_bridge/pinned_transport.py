"""An HTTP client whose every connection goes to an address the destination policy allowed for it.

Checking a URL and then letting the HTTP library resolve the name again to connect leaves a gap: a
name whose DNS answers a public address to the check and 127.0.0.1 to the connect (DNS rebinding)
gets the signed payload delivered inside the operator's network. Here the name is resolved once per
connection, by the policy, and the connection is opened to one of the addresses it allowed; TLS
still verifies the certificate for the name (SNI and Host are the URL's). Redirects are never
followed, and proxies from the environment are not used: either would connect somewhere unchecked.

Two clients hold to this. `pinned_client` (httpx) serves the ATS connectors, which read JSON answers at a few calls a
minute. `PinnedSession` serves webhook fan-out, the one outbound path that must carry thousands of requests a second:
on the 2-core machine httpx spent about 2 ms of CPU on each request, aiohttp about 0.07 ms, and `PinnedSession`
(llhttp through httptools, a connection per request on the wire) about 0.017 ms.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, urlsplit

import httpcore
import httptools
import httpx

from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.places import Places


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


MAX_ANSWER_BYTES = 64 * 1024  # of a receiver's answer body read (to keep its connection); a longer one closes it
MAX_HEAD_BYTES = 16 * 1024  # status line and headers of an answer: a receiver that sends more is cut off
KEEPALIVE_S = 5.0  # an idle connection older than this is closed rather than used (receivers drop them about then)
DEADLINE_TICK_S = 0.25  # an exchange times out at its deadline or up to this much later (one timer for all of them)


class ExchangeError(Exception):
    """A webhook POST that got no usable answer; the class name is what a delivery's history calls it."""


class ConnectError(ExchangeError):
    """No connection to any allowed address (refused, unreachable, TLS handshake or certificate refused)."""


class RemoteProtocolError(ExchangeError):
    """The receiver answered something that is not HTTP/1.1, or an answer head over MAX_HEAD_BYTES."""


class ReadError(ExchangeError):
    """The connection closed before the answer was complete."""


class _Stale(ReadError):
    """A kept-alive connection the receiver had closed: nothing was read from it, so the request goes on a new one."""


_CONTROL = frozenset(chr(c) for c in range(33)) | {"\x7f"}


@dataclass(frozen=True)
class _Target:
    key: tuple[str, str, int]  # scheme, host, port: which connections can carry it
    host: str  # for the resolver, SNI and certificate check
    head: bytes  # "POST {path} HTTP/1.1", Host and User-Agent lines


def _target(url: str, host: str, user_agent: str) -> _Target:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~") + (
        f"?{quote(parts.query, safe='/%:@!$&()*+,;=-._~?')}" if parts.query else ""
    )
    authority = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        authority += f":{parts.port}"
    head = f"POST {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {user_agent}\r\nConnection: keep-alive\r\n"
    return _Target((parts.scheme, host, port), host, head.encode("ascii"))


class _Connection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection, one exchange at a time; answers parsed by httptools (llhttp, Node's parser)."""

    def __init__(self, on_lost: Callable[[_Connection], None]) -> None:
        self._on_lost = on_lost
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[tuple[int, str | None]] | None = None
        self._received = 0  # bytes of the current answer
        self._head_done = False
        self._body = 0
        self._retry_after: str | None = None
        self.reusable = False  # set once an answer completed on a connection the receiver keeps open
        self.closed = False
        self.idle_since = 0.0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():  # nothing asked: a receiver talking out of turn
            self.close()
            return
        self._received += len(data)
        try:
            self._parser.feed_data(data)  # a read is at most the transport's buffer: the check below bounds the rest
        except httptools.HttpParserError as exc:
            self._fail(RemoteProtocolError(f"not an HTTP/1.1 answer: {exc}"))
            return
        if not self._head_done and self._received > MAX_HEAD_BYTES:
            self._fail(RemoteProtocolError(f"the answer's head is over {MAX_HEAD_BYTES} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self._answer is not None and not self._answer.done():
            if self._head_done:  # an answer without a length ends with its connection: its status stands
                self._answer.set_result((self._parser.get_status_code(), self._retry_after))
            else:
                error = _Stale if self._received == 0 and self.idle_since else ReadError
                self._answer.set_exception(error("the connection closed before the answer was complete"))
        self._on_lost(self)

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self._retry_after = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._head_done = True

    def on_body(self, body: bytes) -> None:
        self._body += len(body)
        if self._body > MAX_ANSWER_BYTES and self._answer is not None and not self._answer.done():
            # Not worth reading on: the status is known, the connection goes instead.
            self._answer.set_result((self._parser.get_status_code(), self._retry_after))
            self.close()

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # an interim answer (103 Early Hints): the real one follows
            self._head_done, self._retry_after = False, None
            return
        if self._answer is not None and not self._answer.done():
            self.reusable = self._parser.should_keep_alive()
            self._answer.set_result((status, self._retry_after))

    # the exchange

    async def exchange(self, request: list[bytes]) -> tuple[int, str | None]:
        """Writes `request` and waits for its answer, or until `expire()` (then raises TimeoutError): the session
        keeps the deadlines (`_Deadlines`)."""
        assert self._transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._received, self._body, self._head_done, self._retry_after, self.reusable = 0, 0, False, None, False
        self._transport.writelines(request)
        try:
            return await self._answer
        finally:
            if not self.reusable:
                self.close()

    def expire(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(TimeoutError("no complete answer within the deadline"))
        self.close()

    def _fail(self, error: ExchangeError) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
        self.close()

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None and not self.closed:
            self._transport.close()


class _Deadlines:
    """When each exchange on the wire runs out, to the next DEADLINE_TICK_S: connections in a bucket per tick, one timer
    for them all. A timer per request (`loop.call_at`, then cancelled) cost 3 µs of the 130 µs a webhook request took."""

    def __init__(self) -> None:
        self._due: dict[int, set[_Connection]] = {}
        self._sweep: asyncio.TimerHandle | None = None

    def watch(self, connection: _Connection, deadline: float) -> None:
        """`connection.expire()` at `deadline` (the loop's clock) or at most one tick later, unless `forget` comes first."""
        tick = math.ceil(deadline / DEADLINE_TICK_S)
        due = self._due.get(tick)
        if due is None:
            due = self._due[tick] = set()
        due.add(connection)
        if self._sweep is None:
            loop = asyncio.get_running_loop()
            self._sweep = loop.call_at(loop.time() + DEADLINE_TICK_S, self._expire_due)

    def forget(self, connection: _Connection, deadline: float) -> None:
        tick = math.ceil(deadline / DEADLINE_TICK_S)
        due = self._due.get(tick)
        if due is not None:
            due.discard(connection)
            if not due:
                del self._due[tick]

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        self._due.clear()

    def _expire_due(self) -> None:
        loop = asyncio.get_running_loop()
        now_tick = loop.time() / DEADLINE_TICK_S
        for tick in [t for t in self._due if t <= now_tick]:
            for connection in self._due.pop(tick):
                connection.expire()
        self._sweep = loop.call_at(loop.time() + DEADLINE_TICK_S, self._expire_due) if self._due else None


class PinnedSession:
    """Webhook POSTs over kept-alive HTTP/1.1 connections, each opened to an address the destination policy allowed for
    it (resolved once per connection; TLS verifies the certificate for the URL's name with certifi's authorities, as the
    httpx client does). No redirects, no proxies, a deadline on the whole exchange, at most MAX_ANSWER_BYTES of an answer
    read, `max_connections` requests on the wire. Raises `ExchangeError`s, TimeoutError or DestinationRefused.

    Why not aiohttp, which this used before: aiohttp spent about 65-80 µs of CPU on each request here, this about
    16-18 µs (loopback, 2 KB bodies, 64 at once), and webhook fan-out is the one outbound path that carries thousands of
    requests a second. What it does is small: write one request, parse one answer with llhttp, keep the connection.
    """

    def __init__(
        self, policy: DestinationPolicy, timeout_s: float, user_agent: str, max_connections: int, tls: ssl.SSLContext | None = None
    ) -> None:
        """`tls`: whom to trust for https (None: certifi's authorities, as the httpx client)."""
        self._policy = policy
        self._timeout_s = timeout_s
        self._user_agent = user_agent
        self._max_idle = max_connections
        self._slots = Places(max_connections)
        self._deadlines = _Deadlines()
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._targets: dict[str, _Target] = {}  # per URL that the policy allowed: endpoints are few, their URLs fixed
        self._ssl = tls

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, str | None]:
        """The answer's status and Retry-After."""
        target = self._targets.get(url)
        if target is None:  # a URL seen before passed these checks, and the policy does not change
            host = self._policy.check_url(url)
            if _is_ip_literal(host):
                await self._policy.addresses(host)  # raises DestinationRefused
            target = _target(url, host, self._user_agent)
            if len(self._targets) >= 4096:
                self._targets.clear()
            self._targets[url] = target
        lines = [f"Content-Length: {len(body)}\r\n"]
        for name, value in headers.items():
            if _CONTROL.intersection(name) or "\r" in value or "\n" in value:
                raise ValueError("a header name or value with control characters")
            lines.append(f"{name}: {value}\r\n")
        request = [target.head, "".join(lines).encode("latin-1") + b"\r\n", body]
        deadline = asyncio.get_running_loop().time() + self._timeout_s  # on the whole exchange, waits included
        if not await self._slots.take(within_s=self._timeout_s):
            raise TimeoutError("no place on the wire within the deadline")
        try:
            while True:
                connection = await self._connection(target, deadline)
                self._deadlines.watch(connection, deadline)
                try:
                    answer = await connection.exchange(request)
                except _Stale:
                    continue  # the receiver closed it while it was idle: nothing was sent to anyone's knowledge
                finally:
                    self._deadlines.forget(connection, deadline)
                self._release(target, connection)
                return answer
        finally:
            self._slots.give_back()

    async def _connection(self, target: _Target, deadline: float) -> _Connection:
        idle = self._idle.get(target.key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < KEEPALIVE_S:
                return connection
            connection.close()
        async with asyncio.timeout_at(deadline):  # resolving and connecting (TLS included): once per connection
            return await self._connect(target)

    async def _connect(self, target: _Target) -> _Connection:
        scheme, host, port = target.key
        tls = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context(trust_env=False)  # the certificates httpx trusts (certifi's)
            tls = self._ssl
        loop = asyncio.get_running_loop()
        failure: BaseException | None = None
        for address in await self._policy.addresses(host):
            try:
                _, connection = await loop.create_connection(
                    lambda: _Connection(self._forget), str(address), port, ssl=tls, server_hostname=host if tls else None
                )
            except OSError as exc:  # refused, unreachable, TLS (ssl.SSLError is an OSError)
                failure = exc
                continue
            self._open.add(connection)
            return connection
        raise ConnectError(str(failure) or type(failure).__name__)

    def _release(self, target: _Target, connection: _Connection) -> None:
        if not connection.reusable:
            return
        if sum(len(kept) for kept in self._idle.values()) >= self._max_idle:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        self._idle.setdefault(target.key, []).append(connection)

    def _forget(self, connection: _Connection) -> None:
        self._open.discard(connection)
        for key, kept in list(self._idle.items()):
            if connection in kept:
                kept.remove(connection)
            if not kept:
                del self._idle[key]

    async def aclose(self) -> None:
        self._deadlines.close()
        for connection in list(self._open):
            connection.close()
        self._idle.clear()


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def client_error_text(exc: BaseException) -> str:
    """What a failed exchange is called in a delivery's history: the names the httpx client used before, so operators'
    searches keep working (ConnectError, Timeout, ReadError, RemoteProtocolError), with the message."""
    name = type(exc).__name__
    if isinstance(exc, _Stale):
        name = "ReadError"
    elif isinstance(exc, TimeoutError):
        name = "Timeout"
    text = str(exc)
    return f"{name}: {text}" if text else name
