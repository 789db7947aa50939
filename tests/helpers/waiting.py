"""Waiting for what a test expects: a condition polled until it holds, with a deadline that only turns a hang into a
failure naming what never happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as redis


async def wait_until(condition: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def eventually(check: Callable[[], Awaitable[object]], timeout: float = 15.0, what: str = "condition") -> None:
    """Wait until an async check holds (a Redis connection lost to a restart counts as not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await check():
                return
        except redis.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
