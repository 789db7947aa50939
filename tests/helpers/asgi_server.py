"""Serve a test's own ASGI app (an HR system's webhook receiver, a stand-in for WeChat) on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.types import ASGIApp


@contextlib.asynccontextmanager
async def serving_app(app: ASGIApp, port: int, name: str) -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            raise RuntimeError(f"{name} did not start")
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        await task
