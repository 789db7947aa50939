"""A real webhook receiver for tests: a small Starlette app on loopback that records what it gets and answers as told.

Every event it is sent whose `type` is one of the server's event types is validated against the documented schemas
(`server/web/event_schemas.py`: the Standard Webhooks envelope and the event's `data`); a mismatch is recorded in
`schema_errors`, and `wait_for`, `assert_events_match_schemas` and the end of `receiving` fail the test with it, so a
schema that disagrees with the code the events come from cannot pass unnoticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol, TypeVar

from jsonschema import Draft202012Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.storage.outbox import EventType
from server.web.event_schemas import EVENT_DATA
from tests.helpers.asgi_server import serving_app

EVENT_TYPES = frozenset(event.value for event in EventType)


@cache
def event_validator(event_type: str) -> Draft202012Validator:
    """The whole body of one event type: `{type, timestamp, data}`, with `data` as EVENT_DATA describes it."""
    _, data = EVENT_DATA[EventType(event_type)]
    envelope = {
        "type": "object",
        "required": ["type", "timestamp", "data"],
        "properties": {"type": {"const": event_type}, "timestamp": {"type": "string", "format": "date-time"}, "data": data},
    }
    Draft202012Validator.check_schema(envelope)
    return Draft202012Validator(envelope)


def schema_errors_of(body: bytes) -> list[str]:
    """Where an event's body disagrees with its type's schema (nothing for a body that is not one of our events)."""
    try:
        event = json.loads(body)
    except ValueError:
        return []
    if not isinstance(event, dict) or event.get("type") not in EVENT_TYPES:
        return []
    event_type = event["type"]
    return [
        f"{event_type} event does not match its schema at {error.json_path}: {error.message}"
        for error in sorted(event_validator(event_type).iter_errors(event), key=lambda e: e.json_path)
    ]


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
    """`responses` are answered in order (status, headers), then `then`; every request is kept, every event checked
    against its schema (`schema_errors`)."""

    port: int
    responses: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    then: int = 204
    requests: list[Received] = field(default_factory=list)
    schema_errors: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.requests if r.event["type"] == event_type]

    def assert_events_match_schemas(self) -> None:
        """Fail when any event received so far disagreed with its documented schema."""
        if self.schema_errors:
            found = list(dict.fromkeys(self.schema_errors))  # retries repeat the same bytes: say each once
            raise AssertionError("webhook events that do not match server/web/event_schemas.py:\n" + "\n".join(found))

    async def wait_for(self, predicate, timeout: float = 15.0) -> list[Received]:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not predicate(self.requests):
            self.assert_events_match_schemas()
            if time.monotonic() > deadline:
                raise TimeoutError(f"receiver got {[(r.event['type'], r.id) for r in self.requests]}")
            await asyncio.sleep(0.05)
        self.assert_events_match_schemas()
        return self.requests

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            received = Received(time.monotonic(), dict(request.headers), await request.body())
            self.requests.append(received)
            self.schema_errors += [
                f"{error} (webhook-id {received.headers.get('webhook-id')})" for error in schema_errors_of(received.body)
            ]
            status, headers = self.responses.pop(0) if self.responses else (self.then, {})
            return Response(status_code=status, headers=headers)

        return Starlette(routes=[Route("/hooks", hook, methods=["POST"])])


class Serves(Protocol):
    """What `receiving` serves: a port and an app (the webhook `Receiver`, or another test's stand-in)."""

    port: int

    def app(self) -> Starlette: ...


S = TypeVar("S", bound=Serves)


@contextlib.asynccontextmanager
async def receiving(receiver: S) -> AsyncIterator[S]:
    """Serve `receiver` while the block runs; a `Receiver` then fails the block if any event disagreed with its schema."""
    async with serving_app(receiver.app(), receiver.port, "webhook receiver"):
        yield receiver
        if isinstance(receiver, Receiver):
            receiver.assert_events_match_schemas()
