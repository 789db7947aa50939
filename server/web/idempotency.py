"""Idempotency keys on create calls: a retried request with the same key gets the first answer, not a second resource."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from server.storage.rows import StoredResponse
from server.web.auth import require_api_key
from server.web.context import services_of
from server.web.problems import Problem

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
HOLD_S = 60.0  # how long a node that died mid-request keeps a key from being used again
Handler = Callable[[Request], Awaitable[Response]]


def _replayed(stored: StoredResponse, fingerprint: str) -> Response:
    if stored.fingerprint != fingerprint:
        raise Problem(422, "idempotency_key_reused", "this Idempotency-Key was used for a different request")
    headers = {**json.loads(stored.headers), "Idempotent-Replayed": "true"}
    return Response(stored.body, status_code=stored.status, headers=headers, media_type=stored.media_type)


def idempotent(handler: Handler) -> Handler:
    """Wrap a create handler: with an `Idempotency-Key`, the first response (below 500) is stored for 24 hours and replayed.

    The same key with a different request (method, path or body) is a client error, not a replay. Across nodes, the
    first request holds the key in the store while it runs; one arriving on another node meanwhile gets 409 with
    Retry-After, and its retry the first one's answer.
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
            async with lock:  # two concurrent retries on this node: the second waits and replays the first
                stored = await services.store.idempotent_response(tenant, key)
                if stored is not None:
                    return _replayed(stored, fingerprint)
                # On another node at the same moment: only the one that holds the key runs the request.
                token = await services.store.hold_idempotency_key(tenant, key, HOLD_S)
                if token is None:
                    stored = await services.store.idempotent_response(tenant, key)  # it may have finished meanwhile
                    if stored is not None:
                        return _replayed(stored, fingerprint)
                    raise Problem(
                        409,
                        "idempotency_key_in_use",
                        "a request with this Idempotency-Key is still being handled; retry in a moment to get its answer",
                        headers={"Retry-After": "1"},
                    )
                try:
                    stored = await services.store.idempotent_response(tenant, key)  # finished just before the hold
                    if stored is not None:
                        return _replayed(stored, fingerprint)
                    response = await handler(request)
                    if response.status_code < 500:
                        kept = {k: v for k, v in response.headers.items() if k.lower() in ("location",)}
                        await services.store.remember_response(
                            tenant,
                            key,
                            fingerprint,
                            response.status_code,
                            bytes(response.body),
                            response.media_type or "",
                            json.dumps(kept),
                        )
                finally:
                    await services.store.release_idempotency_key(tenant, key, token)
                return response
        finally:
            if not lock.locked():
                locks.pop((tenant, key), None)

    return wrapped
