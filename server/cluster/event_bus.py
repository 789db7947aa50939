"""Live events between the interviews a node runs and whoever watches them, on this node or (with Redis) any node.

Topics are plain strings: `hr:{tenant}` carries what an HR dashboard shows (captions, questions, scores,
progress), `interview:{id}` carries what must reach the node holding a candidate (an HR chat reply).
Messages are JSON-ready dicts. Publishing never blocks the event loop and never raises: a live event
that cannot be delivered is counted and dropped, the interview goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

logger = logging.getLogger(__name__)

Message = dict[str, Any]
Handler = Callable[[Message], None]


def hr_topic(tenant: str) -> str:
    return f"hr:{tenant}"


def interview_topic(interview_id: str) -> str:
    return f"interview:{interview_id}"


def encode_message(topic: str, message: Message) -> str | None:
    """A message as the buses between processes carry it; None (logged) if it is not JSON."""
    try:
        return json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        logger.exception("event for %s is not JSON; dropped", topic)
        return None


def decode_message(data: bytes) -> Message | None:
    """A message those buses carried; None unless it is a JSON object."""
    try:
        message = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return None
    return message if isinstance(message, dict) else None


class EventBus(Protocol):
    """Publish/subscribe of live events; handlers run on the event loop and must not block."""

    async def start(self) -> None: ...

    def publish(self, topic: str, message: Message) -> None: ...

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        """Call `handler` with every message published on `topic` from now on; returns the unsubscribe function."""
        ...

    async def listening(self, topic: str, timeout_s: float = ...) -> bool:
        """Wait until messages published on `topic` anywhere reach this node's handlers (with Redis, once the
        subscription is active there); False if that took longer than `timeout_s`."""
        ...

    async def close(self) -> None: ...


class Subscriptions:
    """Handlers by topic, shared by the bus implementations; a failing handler is logged, the others still run."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def add(self, topic: str, handler: Handler) -> bool:
        """Add a handler; True when it is the topic's first (a remote bus subscribes then)."""
        handlers = self._handlers.setdefault(topic, [])
        handlers.append(handler)
        return len(handlers) == 1

    def remove(self, topic: str, handler: Handler) -> bool:
        """Remove a handler; True when the topic has none left (a remote bus unsubscribes then)."""
        handlers = self._handlers.get(topic)
        if not handlers or handler not in handlers:
            return False
        handlers.remove(handler)
        if not handlers:
            del self._handlers[topic]
            return True
        return False

    def topics(self) -> list[str]:
        return list(self._handlers)

    def dispatch(self, topic: str, message: Message) -> None:
        for handler in list(self._handlers.get(topic, ())):
            try:
                handler(message)
            except Exception:
                logger.exception("event handler for %s failed", topic)


class LocalEventBus:
    """The bus of a single node: messages go straight to this process's handlers."""

    def __init__(self) -> None:
        self._subscriptions = Subscriptions()
        self.published = 0

    async def start(self) -> None:
        return None

    def publish(self, topic: str, message: Message) -> None:
        self.published += 1
        self._subscriptions.dispatch(topic, message)

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        self._subscriptions.add(topic, handler)

        def unsubscribe() -> None:
            self._subscriptions.remove(topic, handler)

        return unsubscribe

    async def listening(self, topic: str, timeout_s: float = 2.0) -> bool:
        return True  # one process: a handler hears what is published from the moment it subscribes

    async def close(self) -> None:
        return None
