"""What the candidate's and HR's websockets share: typed JSON messages in, a bounded outbox out, clear closes.

Incoming frames are checked in one place: text only (else close 1003), at most `max_bytes` (else 1009),
JSON objects with a known `type` (else 1003), valid for that type (else an error message, socket open).
Outgoing messages queue in a bounded outbox; a client that cannot keep up is closed with 1013 and reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from server.web.problems import Problem, problem_response

CLOSE_UNSUPPORTED = 1003
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013

# fail(code, message, close): send an error message; with `close`, close the socket with that code after it.
Fail = Callable[[str, str, int | None], None]


class ClosingSocket(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


async def deny_handshake(websocket: WebSocket, problem: Problem) -> None:
    """Refuse the handshake with an HTTP status where the server supports it, else close with 1008."""
    response = problem_response(problem.status, problem.code, problem.detail)
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:
        await websocket.close(code=1008, reason=problem.code)


class Outbox:
    """JSON texts waiting to be sent; `overflowed` is set when the client falls too far behind."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(size)
        self.overflowed = asyncio.Event()
        self.ended = asyncio.Event()

    def end(self) -> None:
        """Close the socket normally once what is queued has been sent."""
        self.ended.set()

    def put(self, text: str) -> None:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed.set()


async def serve_socket(websocket: WebSocket, outbox: Outbox, receive: Awaitable[None]) -> None:
    """Send the outbox while `receive` reads the client, until either ends; then close with the right code."""
    sender = asyncio.create_task(_send_forever(websocket, outbox.queue))
    overflow = asyncio.create_task(outbox.overflowed.wait())
    ended = asyncio.create_task(outbox.ended.wait())
    receiver = asyncio.ensure_future(receive)
    close_code = 1000
    try:
        done, _ = await asyncio.wait({sender, receiver, overflow, ended}, return_when=asyncio.FIRST_COMPLETED)
        closing = receiver.exception() if receiver in done else None
        if overflow in done:
            close_code = CLOSE_TRY_AGAIN
        elif ended in done or isinstance(closing, ClosingSocket):
            if isinstance(closing, ClosingSocket):
                close_code = closing.code
            # Let the last messages (an error, the interview's end) reach the client before closing.
            joined = asyncio.ensure_future(outbox.queue.join())
            await asyncio.wait({joined, sender}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            joined.cancel()
    finally:
        for task in (sender, receiver, overflow, ended):
            task.cancel()
        await asyncio.gather(sender, receiver, overflow, ended, return_exceptions=True)
    if websocket.client_state == WebSocketState.CONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=close_code)


async def _send_forever(websocket: WebSocket, queue: asyncio.Queue[str]) -> None:
    while True:
        text = await queue.get()
        try:
            await websocket.send_text(text)
        finally:
            queue.task_done()


async def receive_messages(
    websocket: WebSocket,
    max_bytes: int,
    known_types: frozenset[str],
    adapter: TypeAdapter[Any],
    fail: Fail,
    handle: Callable[[Any], Awaitable[None]],
) -> None:
    """Read the client's messages until it leaves, passing each valid one to `handle` in order."""

    def refuse(code: str, message: str, close: int | None = None) -> None:
        fail(code, message, close)
        if close is not None:
            raise ClosingSocket(close)

    while True:
        event = await websocket.receive()
        if event["type"] == "websocket.disconnect":
            return
        text = event.get("text")
        if text is None:
            refuse("binary_not_supported", "send JSON text messages", CLOSE_UNSUPPORTED)
            continue
        if len(text.encode("utf-8")) > max_bytes:
            refuse("message_too_large", f"messages are limited to {max_bytes} bytes", CLOSE_TOO_BIG)
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: nested deeper than Python parses
            refuse("invalid_json", "messages must be JSON objects", CLOSE_UNSUPPORTED)
            continue
        kind = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(kind, str) or kind not in known_types:
            refuse("unknown_type", f"unknown message type {kind!r}; expected one of {sorted(known_types)}", CLOSE_UNSUPPORTED)
            continue
        try:
            message = adapter.validate_python(raw)
        except ValidationError as exc:
            refuse("invalid_message", "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]))
            continue
        await handle(message)
