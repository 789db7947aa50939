"""Per-tenant rate limit on the HR API: ASGI middleware answering 429 with Retry-After once a tenant's bucket is empty.

The buckets are this node's (`TokenBucket`), or the cluster's in Redis when the node has them
(`Services.shared_rate_limit`, `server/cluster/ratelimit.py`), falling back to its own while Redis cannot answer.
"""

from __future__ import annotations

import math
import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from server.cluster.ratelimit import TokenBucket
from server.web.auth import presented_api_key, tenant_of_key
from server.web.problems import Problem, problem_response


class TenantRateLimit:
    """ASGI middleware for `/api/` requests that present an API key; others pass (auth rejects them on its own)."""

    def __init__(self, app: ASGIApp, rate_per_s: float, burst: int) -> None:
        self.app = app
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/") and (tenant := self._tenant(scope)) is not None:
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
        await self.app(scope, receive, send)

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
