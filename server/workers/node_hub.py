"""The supervisor's end of the workers' lines: it routes their events by topic and keeps what each reports.

Each worker has one line (`server/cluster/worker_hub.py` is the other end). A `pub` goes, unparsed, to every
worker subscribed to its topic; a `load` updates the routing table; once a second every worker hears the others'
loads and which interviews each runs. A worker that stops reading has its events dropped past `max_buffer_bytes`
(counted), so one stuck worker never holds the others' events back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from server.cluster.worker_hub import hub_line
from server.workers.routing import ClientCounts, WorkerTable

logger = logging.getLogger(__name__)

BROADCAST_EVERY_S = 1.0


class NodeHub:
    def __init__(self, table: WorkerTable, clients: ClientCounts | None = None, max_buffer_bytes: int = 16 << 20) -> None:
        self.table = table
        self.clients = clients
        self.max_buffer_bytes = max_buffer_bytes
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._subscribers: dict[str, set[int]] = {}
        self._infos: dict[int, dict[str, Any]] = {}
        self._broadcaster: asyncio.Task[None] | None = None
        self.dropped = 0

    def start(self) -> None:
        self._broadcaster = asyncio.create_task(self._broadcast_forever(), name="node-hub-broadcast")

    async def close(self) -> None:
        if self._broadcaster is not None:
            self._broadcaster.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._broadcaster

    async def serve(self, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one worker's line until it ends; then forget the worker."""
        self._writers[index] = writer
        try:
            while line := await reader.readline():
                self._take(index, line)
        except (OSError, ValueError) as exc:  # ValueError: a line over the limit
            logger.warning("worker %d: its line broke (%s)", index, exc)
        finally:
            self._forget(index)
            writer.close()

    def _forget(self, index: int) -> None:
        self._writers.pop(index, None)
        self._infos.pop(index, None)
        for workers in self._subscribers.values():
            workers.discard(index)
        self.table.gone(index)
        if self.clients is not None:
            self.clients.gone(index)

    def _take(self, index: int, line: bytes) -> None:
        op, _, rest = line.partition(b"\t")
        topic_bytes, _, payload = rest.partition(b"\t")
        if op == b"pub":
            out = b"msg\t" + rest
            for subscriber in self._subscribers.get(topic_bytes.decode(), ()):
                self._write(subscriber, out)
        elif op == b"sub":
            topic = topic_bytes.decode()
            self._subscribers.setdefault(topic, set()).add(index)
            self._write(index, hub_line("subscribed", topic, "{}"))
        elif op == b"unsub":
            topic = topic_bytes.decode()
            if (workers := self._subscribers.get(topic)) is not None:
                workers.discard(index)
                if not workers:
                    del self._subscribers[topic]
        elif op == b"load":
            try:
                report = json.loads(payload)
                info = dict(report["info"])
                held = frozenset(str(i) for i in report["held"])
                clients = {str(address): int(n) for address, n in dict(report.get("clients") or {}).items()}
                taken = int(report.get("taken", 0))
            except (ValueError, KeyError, TypeError):
                logger.warning("worker %d: a load report that is not one; ignored", index)
                return
            self._infos[index] = info
            self.table.reported(
                index,
                sessions=int(info.get("media_sessions", 0)),
                accepting=bool(info.get("accepting_interviews", True)) and not info.get("draining", False),
                held=held,
            )
            if self.clients is not None:
                self.clients.reported(index, clients, taken)

    def _write(self, index: int, line: bytes) -> None:
        writer = self._writers.get(index)
        if writer is None or writer.is_closing():
            return
        if writer.transport.get_write_buffer_size() > self.max_buffer_bytes:
            self.dropped += 1
            if self.dropped % 10_000 == 1:
                logger.warning("worker %d does not read its events: %d dropped so far (others unaffected)", index, self.dropped)
            return
        writer.write(line)

    async def _broadcast_forever(self) -> None:
        while True:
            await asyncio.sleep(BROADCAST_EVERY_S)
            held = {interview_id: index for index, load in self.table.loads.items() for interview_id in load.held}
            line = hub_line("node", "", json.dumps({"workers": self._infos, "held": held}, separators=(",", ":")))
            for index in list(self._writers):
                self._write(index, line)
