"""Waiting for what a test expects: a condition polled until it holds, with a deadline that only turns a hang into a
failure naming what never happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import redis.asyncio as redis

from hrms_bridge.retrying import RetryingSender


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


async def sender_settled(sender: RetryingSender[Any], passes: int = 2, timeout: float = 15.0) -> None:
    """Wait until `sender` has looked at what is due `passes` more times and has nothing in flight: what it would still
    send (a duplicate, a retry too early) it has sent by then. For tests that check something is *not* sent."""
    start = sender.passes
    await wait_until(lambda: sender.passes >= start + passes and not sender.sending, timeout, what=f"{sender.name}: {passes} passes")


def _metric(exposition: str, name: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


async def node_sender_settled(http: httpx.AsyncClient, base_url: str, passes: int = 2, timeout: float = 15.0) -> None:
    """`sender_settled` for the webhook sender of a node in another process, read from its /metrics."""

    async def reading() -> tuple[float, float]:
        exposition = (await http.get(f"{base_url}/metrics")).text
        return _metric(exposition, "interview_webhook_sender_passes_total"), _metric(exposition, "interview_webhook_attempts_in_flight")

    start, _ = await reading()

    async def settled() -> bool:
        done, in_flight = await reading()
        return done >= start + passes and in_flight == 0

    await eventually(settled, timeout, what=f"{passes} passes of the webhook sender at {base_url}")
