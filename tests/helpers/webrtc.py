"""Helpers for tests that open real peer connections: capture consumers, counting tracks, sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamTrack
from websockets.asyncio.client import ClientConnection, connect

from media.frames import AudioChunk, VideoFrame
from media.ingest import MediaIngest


class CapturingConsumer:
    """A media consumer that keeps everything it reads, so tests can inspect what the server decoded."""

    def __init__(self) -> None:
        self.ingests: list[MediaIngest] = []
        self.chunks: list[AudioChunk] = []
        self.frames: list[VideoFrame] = []

    async def __call__(self, ingest: MediaIngest, emit: Callable[[Any], None], context: object) -> None:
        self.ingests.append(ingest)

        async def audio() -> None:
            while (chunk := await ingest.audio.get()) is not None:
                self.chunks.append(chunk)

        async def video() -> None:
            while (frame := await ingest.video.get()) is not None:
                self.frames.append(frame)

        await asyncio.gather(audio(), video())


class CountingTrack(MediaStreamTrack):
    """Passes another track's frames through and counts them (what the client really sent)."""

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self.frames = 0

    async def recv(self):  # type: ignore[no-untyped-def]
        frame = await self.source.recv()
        self.frames += 1
        return frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()


class CandidateSocket:
    """The candidate's websocket, with every received message kept and timestamped."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self._reader = asyncio.create_task(self._read())
        self._arrived = asyncio.Event()

    @classmethod
    async def open(cls, base_url: str, interview_id: str, token: str) -> CandidateSocket:
        url = base_url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}"
        return cls(await connect(url))

    async def _read(self) -> None:
        async for raw in self.ws:
            self.messages.append((time.monotonic(), json.loads(raw)))
            self._arrived.set()

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps({"v": 1, **message}))

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for at, message in self.messages[seen:]:
                if predicate(message):
                    return at, message
            seen = len(self.messages)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._reader.done():
                raise TimeoutError(f"no matching message; got {[m for _, m in self.messages]}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
