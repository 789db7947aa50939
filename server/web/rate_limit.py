"""Rate limits on the HR API: ASGI middleware answering 429 with Retry-After.

Per tenant, for requests with a valid key: the buckets are this node's (`TokenBucket`), or the cluster's in Redis
when the node has them (`Services.shared_rate_limit`, `server/cluster/ratelimit.py`), falling back to its own while
Redis cannot answer. Per client address, for requests refused 401 (credentials that open nothing: guessed API keys,
a dashboard sign-in tried again and again, forged invites): a few at once, then one every few seconds, so guessing
gets nowhere; addresses are counted by /64 for IPv6 (one host has a whole /64), and the table of them is bounded.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.cluster.ratelimit import TokenBucket
from server.domain.invites import InvalidInvite
from server.web.auth import presented_api_key, tenant_of_key
from server.web.problems import Problem, problem_response

FAILED_KEYS_BURST = 10
FAILED_KEYS_PER_S = 0.2  # after the burst, one wrong key every five seconds per address
MAX_TRACKED_CLIENTS = 65_536


def client_group(host: str | None) -> str:
    """Who a limit counts: the address (as trusted proxies report it), IPv6 by its /64."""
    if host is None:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class ClientBuckets:
    """One token bucket per client group, least recently used dropped past `max_clients`."""

    def __init__(self, rate_per_s: float, burst: int, max_clients: int = MAX_TRACKED_CLIENTS) -> None:
        self.rate_per_s, self.burst, self.max_clients = rate_per_s, burst, max_clients
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, client: str, now: float) -> float:
        bucket = self._buckets.pop(client, None) or TokenBucket(self.rate_per_s, self.burst)
        self._buckets[client] = bucket
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return bucket.take(now)

    def wait(self, client: str, now: float) -> float:
        """Seconds until `client` has a token again (0.0: it has one now); takes none."""
        bucket = self._buckets.get(client)
        return 0.0 if bucket is None else bucket.wait(now)


class TenantRateLimit:
    """ASGI middleware for `/api/`: each tenant's budget of requests, and each address's budget of 401s."""

    def __init__(
        self,
        app: ASGIApp,
        rate_per_s: float,
        burst: int,
        failed_keys_per_s: float = FAILED_KEYS_PER_S,
        failed_keys_burst: int = FAILED_KEYS_BURST,
    ) -> None:
        self.app = app
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}
        self._failed_keys = ClientBuckets(failed_keys_per_s, failed_keys_burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        group = client_group(client[0] if client else None)
        refused_for = self._failed_keys.wait(group, time.monotonic())
        if refused_for > 0 and not self._presents_valid_credentials(scope):
            response = problem_response(
                429,
                "too_many_failed_keys",
                "too many requests with credentials that open nothing from this address; wait before trying again",
                headers={"Retry-After": str(math.ceil(refused_for))},
            )
            await response(scope, receive, send)
            return
        if (tenant := self._tenant(scope)) is not None:
            shared = scope["app"].state.services.shared_rate_limit
            wait = await shared.take(tenant) if shared is not None else None
            if wait is None:
                bucket = self._buckets.setdefault(tenant, TokenBucket(self.rate_per_s, self.burst))
                wait = bucket.take(time.monotonic())
            if wait > 0:
                response = problem_response(
                    429,
                    "rate_limited",
                    f"at most {self.rate_per_s:g} requests a second (bursts of {self.burst}) per tenant",
                    headers={"Retry-After": str(math.ceil(wait))},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, self._counting_refusals(send, group))

    def _presents_valid_credentials(self, scope: Scope) -> bool:
        """A tenant's key or a candidate's invite: they pass while others from the same address (a NAT) are held."""
        if self._tenant(scope) is not None:
            return True
        services = getattr(scope["app"].state, "services", None)
        try:
            presented = presented_api_key(Headers(scope=scope))
        except Problem:
            return False
        if services is None or presented is None:
            return False
        try:
            services.signer.verify(presented)  # WHIP and the result page present the invite as a bearer token
        except InvalidInvite:
            return False
        return True

    def _counting_refusals(self, send: Send, group: str) -> Send:
        """`send`, counting a 401 (credentials that open nothing: an API key, an invite, a Greenhouse key) against the
        address's budget of failures."""

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self._failed_keys.take(group, time.monotonic())
            await send(message)

        return counting

    def _tenant(self, scope: Scope) -> str | None:
        services = getattr(scope["app"].state, "services", None)
        if services is None:
            return None
        try:
            presented = presented_api_key(Headers(scope=scope))
        except Problem:  # ambiguous: authentication refuses it (401), nothing to count
            return None
        api_keys: dict[str, str] = services.api_keys
        return tenant_of_key(presented, api_keys) if presented else None
