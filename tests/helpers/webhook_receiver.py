"""A real webhook receiver for tests: a small Starlette app on loopback that records what it gets and answers as told."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.helpers.asgi_server import serving_app


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """`responses` are answered in order (status, headers), then `then`; every request is kept."""

    port: int
    responses: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    then: int = 204
    requests: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.requests if r.event["type"] == event_type]

    async def wait_for(self, predicate, timeout: float = 15.0) -> list[Received]:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not predicate(self.requests):
            if time.monotonic() > deadline:
                raise TimeoutError(f"receiver got {[(r.event['type'], r.id) for r in self.requests]}")
            await asyncio.sleep(0.05)
        return self.requests

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.requests.append(Received(time.monotonic(), dict(request.headers), await request.body()))
            status, headers = self.responses.pop(0) if self.responses else (self.then, {})
            return Response(status_code=status, headers=headers)

        return Starlette(routes=[Route("/hooks", hook, methods=["POST"])])


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    async with serving_app(receiver.app(), receiver.port, "webhook receiver"):
        yield receiver
