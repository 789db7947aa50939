"""A worker's side of the hand-off: uvicorn serving the connections the supervisor passes it, one request each.

The worker binds no port. Each connection arrives as a file descriptor over a Unix socket (SCM_RIGHTS) with its
request still unread, and becomes a uvicorn protocol as if uvicorn had accepted it, so its limits, keep-alive timer,
websockets and graceful shutdown are uvicorn's. Every response says `Connection: close`: the next request on the
same connection may belong to an interview another worker runs, and only the supervisor can route it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.types import Message, Receive, Scope, Send

from server.ops.draining_server import DrainingServer

logger = logging.getLogger(__name__)

STARTUP_FAILURE = 3


class OneRequestPerConnection:
    """ASGI wrapper: every HTTP response closes its connection (websockets are one request already)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)


class HandedOffServer(DrainingServer):
    """uvicorn without a listening socket: `handoff_fd` delivers accepted connections."""

    def __init__(self, config: uvicorn.Config, app: Starlette, drain_timeout_s: float, handoff_fd: int) -> None:
        super().__init__(config, app, drain_timeout_s)
        self._handoff = socket.socket(fileno=handoff_fd)
        self._handoff.setblocking(False)
        self._starting: set[asyncio.Task[None]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        self.servers = []
        asyncio.get_running_loop().add_reader(self._handoff, self._take_connections)
        self.started = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().remove_reader(self._handoff)
        self._handoff.close()
        await super().shutdown(sockets)

    def _take_connections(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                _, fds, _, _ = socket.recv_fds(self._handoff, 1, 1)
            except BlockingIOError:
                return
            except OSError as exc:
                logger.error("the supervisor's hand-off socket failed (%s)", exc)
                loop.remove_reader(self._handoff)
                return
            if not fds:  # the supervisor closed its end
                loop.remove_reader(self._handoff)
                return
            for fd in fds:
                sock = socket.socket(fileno=fd)
                task = loop.create_task(self._serve_connection(sock))
                self._starting.add(task)
                task.add_done_callback(self._starting.discard)

    async def _serve_connection(self, sock: socket.socket) -> None:
        config = self.config
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: config.http_protocol_class(  # type: ignore[call-arg]
                    config=config, server_state=self.server_state, app_state=self.lifespan.state
                ),
                sock,
            )
        except OSError as exc:  # the client left while the socket was passed
            logger.debug("a handed-over connection closed before it was served (%s)", exc)
            sock.close()
