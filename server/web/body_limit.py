"""No request body larger than the node will use: a 20 MB JSON body was read whole before being refused.

Pure ASGI: a declared Content-Length over the limit is answered 413 before the app runs; a body that grows past it
while streaming (chunked, or lying about its length) is cut off at the limit and answered 413 as well, unless the
app has already begun its answer. Routes read their bodies through Starlette, so this one place covers them all;
WHIP's offers have their own, smaller limit (`max_sdp_bytes`).

Before refusing a body that outgrew the limit while streaming, what the client is still sending is read and thrown
away for a moment (at most `LINGER_BYTES` or `LINGER_S`, never kept): closing with unread data makes the kernel
reset the connection, and the client would see a reset instead of the 413 that says why. (A declared length over
the limit is refused at once: a client that waits with `Expect: 100-continue` never sends the body.)
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.web.problems import problem_response

LINGER_BYTES = 8 << 20
LINGER_S = 2.0


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, f"the body is {int(declared)} bytes")
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LINGER_S):
                    await _discard(receive, LINGER_BYTES)
            await self._refuse(scope, receive, send, "the body is larger")

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, said: str) -> None:
        detail = f"{said}; requests are limited to {self.max_bytes} bytes"
        response = problem_response(413, "body_too_large", detail, {"Connection": "close"})
        await response(scope, receive, send)


async def _discard(receive: Receive, max_bytes: int) -> None:
    """Read what the client is still sending, keeping none of it, up to `max_bytes` or the body's end."""
    discarded = 0
    while discarded < max_bytes:
        message = await receive()
        if message["type"] != "http.request":
            return
        discarded += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
