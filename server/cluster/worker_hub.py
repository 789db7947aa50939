"""A worker's line to its supervisor: the node's event bus when there is no Redis, and what the other workers carry.

    publish ─▶ bounded queue ─▶ sender ─"pub"─▶ supervisor ─"msg"─▶ every worker subscribed to the topic (this one too)
    every 0.5 s: this worker's load and live interviews ─"load"─▶ supervisor ─"node" (all workers, each second)─▶ here

One line a message, `op<TAB>topic<TAB>json`, over a Unix socket pair the supervisor made, so the supervisor routes
without parsing events. As with Redis, a message published here reaches this worker's own handlers through the hub,
so every handler on the node sees one order. A full queue drops the event and counts it. When the supervisor is
gone (the line ends), no new connection can reach this worker: `on_lost` is called (the worker drains and exits).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any

from server.cluster.event_bus import Handler, Message, Subscriptions, decode_message, encode_message

logger = logging.getLogger(__name__)

LINE_LIMIT = 8 << 20
REPORT_EVERY_S = 0.5


def hub_line(op: str, topic: str, payload: str) -> bytes:
    return f"{op}\t{topic}\t{payload}\n".encode()


# Client addresses a worker reports: those holding a 32nd of the per-address cap or more (8 of 256), the busiest
# REPORTED_CLIENTS of them. An address under that on a worker is under-counted there by less than a 32nd of the cap.
REPORTED_FROM_SHARE = 32
REPORTED_CLIENTS = 256


class WorkerHub:
    """`start()` in the lifespan, `close()` after; `report` is called with this worker's load, `siblings()` reads theirs."""

    def __init__(self, index: int, fd: int, queue_size: int = 10_000) -> None:
        self.index = index
        self._fd = fd
        self._subscriptions = Subscriptions()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(queue_size)
        self._active: set[str] = set()
        self._active_changed = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._workers: dict[int, dict[str, Any]] = {}
        self._held: dict[str, int] = {}
        self.on_lost: Callable[[], None] = lambda: None
        self.published = 0
        self.dropped = 0
        self.received = 0
        self.malformed = 0

    async def start(self) -> None:
        sock = socket.socket(fileno=self._fd)
        sock.setblocking(False)
        reader, self._writer = await asyncio.open_unix_connection(sock=sock, limit=LINE_LIMIT)
        self._tasks = [
            asyncio.create_task(self._send_forever(), name="worker-hub-sender"),
            asyncio.create_task(self._read_forever(reader), name="worker-hub-reader"),
        ]

    # -- the event bus ---------------------------------------------------------------------------------------------

    def publish(self, topic: str, message: Message) -> None:
        data = encode_message(topic, message)
        if data is None:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait(hub_line("pub", topic, data))
        except asyncio.QueueFull:
            self.dropped += 1

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        if self._subscriptions.add(topic, handler):
            self._send_now(hub_line("sub", topic, ""))

        def unsubscribe() -> None:
            if self._subscriptions.remove(topic, handler):
                self._active.discard(topic)
                self._send_now(hub_line("unsub", topic, ""))

        return unsubscribe

    async def listening(self, topic: str, timeout_s: float = 2.0) -> bool:
        """True once the supervisor has this worker subscribed to `topic` (it answers each subscription)."""
        try:
            async with asyncio.timeout(timeout_s):
                while topic not in self._active:
                    self._active_changed.clear()
                    await self._active_changed.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    # -- the node's other workers ----------------------------------------------------------------------------------

    def report(self, info: Mapping[str, object], held: set[str], clients: Mapping[str, int] | None = None, taken: int = 0) -> None:
        """This worker's load, its live interviews, and its busiest client addresses once it had taken `taken`
        connections (for the node's per-address cap; kept out of `info`, which the node's listing shows)."""
        report = {"info": info, "held": sorted(held), "clients": dict(clients or {}), "taken": taken}
        self._send_now(hub_line("load", "", json.dumps(report, separators=(",", ":"))))

    def siblings(self) -> list[dict[str, Any]]:
        """The other workers' last reports (each under a second old while they live)."""
        return [info for index, info in sorted(self._workers.items()) if index != self.index]

    def sibling_holding(self, interview_id: str) -> bool:
        index = self._held.get(interview_id)
        return index is not None and index != self.index

    # -- the line --------------------------------------------------------------------------------------------------

    def _send_now(self, line: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(line)

    async def _send_forever(self) -> None:
        assert self._writer is not None
        while True:
            line = await self._queue.get()
            self._writer.write(line)
            self.published += 1
            try:
                await self._writer.drain()
            except OSError:
                self.dropped += self._queue.qsize()
                return

    async def _read_forever(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                self._take(line)
        except (OSError, ValueError) as exc:  # ValueError: a line over the limit
            logger.error("worker %d: the line to the supervisor broke (%s)", self.index, exc)
        else:
            logger.error("worker %d: the supervisor is gone", self.index)
        self.on_lost()

    def _take(self, line: bytes) -> None:
        op, _, rest = line.rstrip(b"\n").partition(b"\t")
        topic_bytes, _, payload = rest.partition(b"\t")
        topic = topic_bytes.decode()
        if op == b"subscribed":
            self._active.add(topic)
            self._active_changed.set()
            return
        message = decode_message(payload)
        if message is None:
            self.malformed += 1
            return
        if op == b"msg":
            self.received += 1
            self._subscriptions.dispatch(topic, message)
        elif op == b"node":
            self._workers = {int(k): v for k, v in message.get("workers", {}).items()}
            self._held = {str(k): int(v) for k, v in message.get("held", {}).items()}
