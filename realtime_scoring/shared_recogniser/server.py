"""One recogniser for all the workers of a node: their decodes merged into shared batches, on one copy of the model.

    worker 1 ─┐ (each of its decode threads: one connection, one request at a time)
    worker 2 ─┼─▶ Unix socket ─▶ queue (most urgent first) ─▶ batches of alike requests ─▶ Whisper, `threads` at once
    worker N ─┘

Each worker keeps its own queue, priorities, beam choice and shedding (`TranscriptionService`); what it would run on
its own threads it sends here instead. A request carries its batch's priority, and requests of the same language,
prompt and beam run as one batch (up to `max_batch` clips): on a GPU that is what makes one model serve many
processes, and on a CPU the node holds one copy of the model instead of one a worker. A clip's transcript is the one
it gets alone (the transcriber guarantees it), so merging changes when a transcript comes, never what it says.
With several threads, partials (priority PARTIAL) run one batch at a time on a thread of their own at a lower OS
priority, as a worker runs them on its own (`TranscriptionService`): they use what CPU the finals leave and never
hold a thread a final is waiting for.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import struct
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from realtime_scoring.shared_recogniser.wire import (
    FRAME,
    Request,
    WireError,
    check_lengths,
    decode_request,
    encode_results,
    frame,
    parse_header,
)
from realtime_scoring.transcription_service import PARTIAL, lower_thread_priority
from realtime_scoring.whisper.transcriber import Transcript

logger = logging.getLogger(__name__)

MAX_CONNECTIONS = 64  # each worker holds one a decode thread (4 at most): 16 workers


class BatchTranscriber(Protocol):
    def transcribe_batch(
        self, clips: Sequence[np.ndarray], language: str | None = None, prompt: str | None = None, beam_size: int = 1
    ) -> Sequence[Transcript]: ...


@dataclass
class RecogniserStats:
    requests: int = 0
    clips: int = 0
    batches: int = 0
    merged: int = 0  # requests that ran in a batch with another request
    refused: int = 0  # connections closed for breaking the protocol or its limits, or over MAX_CONNECTIONS
    failed: int = 0  # requests whose decode raised
    busy_s: float = 0.0
    client_processes: set[int] = field(default_factory=set)  # the workers (their pids) that sent a request

    def as_dict(self) -> dict[str, Any]:
        counts = {k: v for k, v in vars(self).items() if k != "client_processes"}
        return {**counts, "busy_s": round(self.busy_s, 3), "client_processes": len(self.client_processes)}


@dataclass(order=True)
class _Pending:
    priority: int
    seq: int
    request: Request = field(compare=False)
    future: asyncio.Future[list[Transcript]] = field(compare=False)

    @property
    def partial(self) -> bool:
        return self.priority >= PARTIAL

    def alike(self, other: _Pending) -> bool:
        a, b = self.request, other.request
        return (a.language, a.prompt, a.beam_size, self.partial) == (b.language, b.prompt, b.beam_size, other.partial)


class RecogniserServer:
    def __init__(self, transcriber: BatchTranscriber, *, threads: int = 1, max_batch: int = 8) -> None:
        self._transcriber = transcriber
        self._threads = max(1, threads)
        self._max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="recogniser")
        self._partial_executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="recogniser-partial", initializer=lower_thread_priority)
            if self._threads > 1
            else None
        )
        self._queue: list[_Pending] = []
        self._seq = itertools.count()
        self._running = 0
        self._partial_running = False
        self._wakeup = asyncio.Event()
        self._connections: set[asyncio.Task[Any]] = set()
        self._batches: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self.stats = RecogniserStats()

    async def start(self, path: Path) -> None:
        """Listen on `path` (in a directory only the service user may enter; the socket itself is the user's alone)."""
        self._server = await asyncio.start_unix_server(self._serve, sock=_listening_socket(path))
        self._dispatcher = asyncio.create_task(self._dispatch(), name="recogniser-dispatch")

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [*self._connections, *self._batches, *([self._dispatcher] if self._dispatcher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for pending in self._queue:
            if not pending.future.done():
                pending.future.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._partial_executor is not None:
            self._partial_executor.shutdown(wait=False, cancel_futures=True)

    # -- connections ---------------------------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= MAX_CONNECTIONS:
            self.stats.refused += 1
            writer.close()
            return
        self._connections.add(task)
        pid = _peer_pid(writer)
        try:
            while True:
                try:
                    head_bytes, payload_bytes = FRAME.unpack(await reader.readexactly(FRAME.size))
                except asyncio.IncompleteReadError:
                    return  # the worker closed its connection
                check_lengths(head_bytes, payload_bytes)
                header = parse_header(await reader.readexactly(head_bytes))
                payload = await reader.readexactly(payload_bytes)
                if header.get("stats") is True:
                    writer.write(frame({"stats": self.stats.as_dict()}))
                else:
                    if pid is not None:
                        self.stats.client_processes.add(pid)
                    writer.write(await self._answer(decode_request(header, payload)))
                await writer.drain()
        except WireError as exc:
            self.stats.refused += 1
            logger.warning("recogniser: a client broke the protocol (%s); its connection is closed", exc)
            with contextlib.suppress(OSError, WireError):
                writer.write(frame({"error": str(exc), "invalid": True}))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self._connections.discard(task)
            writer.close()

    async def _answer(self, request: Request) -> bytes:
        self.stats.requests += 1
        self.stats.clips += len(request.clips)
        pending = _Pending(request.priority, next(self._seq), request, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        self._wakeup.set()
        try:
            return encode_results(await pending.future)
        except ValueError as exc:  # the transcriber refused what was asked (an unknown language, say)
            self.stats.failed += 1
            return frame({"error": str(exc), "invalid": True})
        except Exception as exc:
            self.stats.failed += 1
            logger.exception("recogniser: a decode failed")
            return frame({"error": f"the decode failed: {type(exc).__name__}"})

    # -- batches -------------------------------------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._running < self._threads and (batch := self._next_batch(partial=False if self._partial_executor else None)):
                self._start(batch, self._executor, own_lane=False)
            if self._partial_executor is not None and not self._partial_running and (batch := self._next_batch(partial=True)):
                self._start(batch, self._partial_executor, own_lane=True)

    def _start(self, batch: list[_Pending], executor: ThreadPoolExecutor, *, own_lane: bool) -> None:
        self._running += not own_lane
        self._partial_running = self._partial_running or own_lane
        task = asyncio.create_task(self._run(batch, executor))
        self._batches.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._batches.discard(task)
            self._running -= not own_lane
            if own_lane:
                self._partial_running = False
            self._wakeup.set()

        task.add_done_callback(done)

    def _next_batch(self, partial: bool | None) -> list[_Pending]:
        """The most urgent queued request (of partials alone, or of the rest, or of all when `partial` is None) and
        every queued one alike, up to max_batch clips (the first whole)."""
        self._queue = [p for p in self._queue if not p.future.done()]
        runnable = sorted(p for p in self._queue if partial is None or p.partial == partial)
        if not runnable:
            return []
        first, clips = runnable[0], len(runnable[0].request.clips)
        batch = [first]
        for pending in runnable[1:]:
            if pending.alike(first) and clips + len(pending.request.clips) <= self._max_batch:
                batch.append(pending)
                clips += len(pending.request.clips)
        chosen = {id(p) for p in batch}
        self._queue = [p for p in self._queue if id(p) not in chosen]
        return batch

    async def _run(self, batch: list[_Pending], executor: ThreadPoolExecutor) -> None:
        request = batch[0].request
        clips = [clip for pending in batch for clip in pending.request.clips]
        started = time.perf_counter()
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                executor, self._transcriber.transcribe_batch, clips, request.language, request.prompt, request.beam_size
            )
        except Exception as exc:  # noqa: BLE001 - each request of the batch gets it
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        finally:
            self.stats.busy_s += time.perf_counter() - started
        self.stats.batches += 1
        self.stats.merged += len(batch) if len(batch) > 1 else 0
        at = 0
        for pending in batch:
            n = len(pending.request.clips)
            if not pending.future.done():
                pending.future.set_result(list(results[at : at + n]))
            at += n


def _listening_socket(path: Path) -> socket.socket:
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    path.chmod(0o600)
    sock.listen(128)
    return sock


def _peer_pid(writer: asyncio.StreamWriter) -> int | None:
    """The connecting process's pid (Linux's SO_PEERCRED), to count the workers served."""
    sock = writer.get_extra_info("socket")
    peercred = getattr(socket, "SO_PEERCRED", None)
    if sock is None or peercred is None:
        return None
    try:
        pid, _, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, peercred, struct.calcsize("3i")))
    except OSError:
        return None
    return int(pid)
