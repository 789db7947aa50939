"""A bounded asyncio queue that drops the oldest item when full, and counts what it dropped."""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """Bounded FIFO between a real-time producer and a consumer that may fall behind.

    A live stream cannot wait for a slow consumer, so a full queue discards its
    oldest item rather than blocking the producer; `dropped` tells how much was lost.
    `close()` wakes the consumer, whose `get()` then returns None once drained.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._queue: asyncio.Queue[T | None] = asyncio.Queue(maxsize + 1)
        self._maxsize = maxsize
        self._closed = False
        self.put_count = 0
        self.dropped = 0

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @property
    def closed(self) -> bool:
        return self._closed

    def qsize(self) -> int:
        return self._queue.qsize() - (1 if self._closed else 0)

    def put_nowait(self, item: T) -> None:
        if self._closed:
            return
        if self._queue.qsize() >= self._maxsize:
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)
        self.put_count += 1

    async def get(self) -> T | None:
        """Next item, or None once the queue is closed and drained."""
        item = await self._queue.get()
        if item is None:
            # Leave the sentinel for any other waiting consumer.
            self._queue.put_nowait(None)
        return item

    def get_ready(self, limit: int) -> list[T]:
        """Up to `limit` items that are already queued, without waiting (none once closed and drained)."""
        items: list[T] = []
        while len(items) < limit and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                self._queue.put_nowait(None)  # the end stays queued for `get`
                break
            items.append(item)
        return items

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)
