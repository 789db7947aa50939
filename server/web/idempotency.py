"""Idempotency keys on create calls: a retried request with the same key gets the first answer, not a second resource."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from server.web.auth import require_api_key
from server.web.context import services_of
from server.web.problems import Problem

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
Handler = Callable[[Request], Awaitable[Response]]


def idempotent(handler: Handler) -> Handler:
    """Wrap a create handler: with an `Idempotency-Key`, the first response (below 500) is stored for 24 hours and replayed.

    The same key with a different request (method, path or body) is a client error, not a replay.
    """
    locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def wrapped(request: Request) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return await handler(request)
        if not key or len(key) > MAX_KEY_LENGTH:
            raise Problem(422, "invalid_idempotency_key", f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters")
        services = services_of(request)
        tenant = require_api_key(request.headers, services.api_keys)
        body = await request.body()  # Starlette keeps it for the handler
        fingerprint = hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + body).hexdigest()
        lock = locks.setdefault((tenant, key), asyncio.Lock())
        try:
            async with lock:  # two concurrent retries: the second waits and replays the first
                stored = await services.store.idempotent_response(tenant, key)
                if stored is not None:
                    if stored.fingerprint != fingerprint:
                        raise Problem(422, "idempotency_key_reused", "this Idempotency-Key was used for a different request")
                    headers = {**json.loads(stored.headers), "Idempotent-Replayed": "true"}
                    return Response(stored.body, status_code=stored.status, headers=headers, media_type=stored.media_type)
                response = await handler(request)
                if response.status_code < 500:
                    kept = {k: v for k, v in response.headers.items() if k.lower() in ("location",)}
                    await services.store.remember_response(
                        tenant, key, fingerprint, response.status_code, bytes(response.body), response.media_type or "", json.dumps(kept)
                    )
                return response
        finally:
            if not lock.locked():
                locks.pop((tenant, key), None)

    return wrapped
