"""The loop behind every outbound call the bridge must not lose: due items, a claim, an attempt, a retry schedule.

due items ─claim (lease)─▶ attempt ─▶ done · or next attempt after schedule[n] ±jitter (never before Retry-After) · or give up
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import httpx

from hrms_bridge.destinations import DestinationPolicy, DestinationRefused
from hrms_bridge.pinned_transport import pinned_client
from hrms_bridge.places import Places

logger = logging.getLogger(__name__)

POLL_S = 1.0
JITTER = 0.2  # each delay is scaled by a random factor in [1 - JITTER, 1 + JITTER]
MAX_RETRY_AFTER_S = 24 * 3600.0
CLAIM_MARGIN_S = 30.0  # a claimed attempt that never records (the process died) is retried this long after its timeout

Item = TypeVar("Item")
Send = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]  # one request, made with the sender's pinned client


@dataclass(frozen=True)
class Outcome:
    status_code: int | None  # None: no answer (refused destination, timeout, connection error)
    error: str | None
    retry_after_s: float | None
    refused: bool = False  # a 2xx answer whose body says the call failed (an API with error codes in its body)

    @property
    def success(self) -> bool:
        return not self.refused and self.status_code is not None and 200 <= self.status_code < 300


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After as delay-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - now), MAX_RETRY_AFTER_S)


def next_delay(schedule_s: Sequence[float], failed_attempts: int, retry_after_s: float | None) -> float | None:
    """Seconds until the next attempt after `failed_attempts` failures, or None when the schedule is spent."""
    if failed_attempts > len(schedule_s):
        return None
    delay = schedule_s[failed_attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    return delay if retry_after_s is None else max(delay, retry_after_s)


class RetryingSender(Generic[Item]):
    """Runs in the server's lifespan: `start()`, `wake()` when new work may be due, `close()`.

    Subclasses say what is due (`due`, `next_due_at`), which item is which (`key`) and how one attempt
    goes (`attempt`, which claims the item, sends, and records the outcome).
    """

    name = "sender"
    user_agent = "interview-server/1"
    max_concurrent = 8

    def __init__(self, policy: DestinationPolicy, retry_schedule_s: Sequence[float], timeout_s: float) -> None:
        self.policy = policy
        self.retry_schedule_s = list(retry_schedule_s)
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None  # made on the first call: the webhook dispatcher never makes one
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._slots = Places(self.max_concurrent)
        self._in_flight: set[str] = set()
        self._attempts: set[asyncio.Task[None]] = set()
        # Passes over what is due since start: with `sending`, how a test (or an operator) tells the sender has looked
        # again since something happened, rather than guessing how long that takes.
        self.passes = 0

    @property
    def in_flight(self) -> int:
        """Attempts under way (or, with a subclass that queues them, taken on and not yet done)."""
        return len(self._in_flight)

    @property
    def sending(self) -> bool:
        return bool(self._in_flight) or bool(self._attempts)

    async def due(self, now: float) -> list[Item]:
        raise NotImplementedError

    async def next_due_at(self) -> float | None:
        raise NotImplementedError

    def key(self, item: Item) -> str:
        raise NotImplementedError

    async def attempt(self, item: Item) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        """Stop sending; attempts cut short stay claimed and go out again after their lease, from the next start."""
        # The flag ends the pass loop even where a cancellation gets lost (a store or client call that swallows it).
        self._closing = True
        self._wake.set()
        tasks = [t for t in (self._task, *self._attempts) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def call(self, url: str, send: Send) -> Outcome:
        """One request to `url`, as an outcome; the client connects only to addresses the destination policy allows."""
        return (await self.exchange(url, send))[0]

    async def exchange(self, url: str, send: Send) -> tuple[Outcome, httpx.Response | None]:
        """`call`, with the response where there was one (for a caller that must read its body)."""
        try:
            self.policy.check_url(url)
            if self._client is None:
                self._client = pinned_client(self.policy, self.timeout_s, self.user_agent)
            response = await send(self._client)
        except DestinationRefused as exc:
            return Outcome(None, f"refused destination: {exc}", None), None
        except httpx.HTTPError as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, None), None
        error = None if response.is_success else f"HTTP {response.status_code}"
        return Outcome(response.status_code, error, retry_after_seconds(response.headers.get("retry-after"), time.time())), response

    async def _run(self) -> None:
        while not self._closing:
            self._wake.clear()
            try:
                for item in await self.due(time.time()):
                    key = self.key(item)
                    if key in self._in_flight:
                        continue
                    self._in_flight.add(key)
                    self.launch(item, key)
                # With every place taken, an attempt that ends wakes the loop: asking the store when the next item is due
                # would only keep the claim that refills the places waiting behind that query.
                next_at = None if self.in_flight >= self.max_concurrent else await self.next_due_at()
            except Exception:  # a database hiccup must not stop sending for good
                logger.exception("%s pass failed", self.name)
                next_at = None
            self.passes += 1
            wait = POLL_S if next_at is None else min(POLL_S, max(0.01, next_at - time.time()))
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that arrives as the event is
            # set, and close() would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    def launch(self, item: Item, key: str) -> None:
        """Start the attempt for `item` (in `_in_flight` now): a task of its own. When it ends, `key` leaves `_in_flight`
        and `attempt_done` is called (a subclass that runs attempts otherwise does both itself)."""
        self._track(asyncio.create_task(self._guarded(item, key)))

    def _track(self, task: asyncio.Task[None]) -> None:
        """A task that `close()` cancels and waits for."""
        self._attempts.add(task)
        task.add_done_callback(self._attempts.discard)

    async def _guarded(self, item: Item, key: str) -> None:
        try:
            await self._slots.take()
            try:
                await self.attempt(item)
            finally:
                self._slots.give_back()
        except Exception:
            logger.exception("%s: attempt for %s failed unexpectedly", self.name, key)
        finally:
            self._in_flight.discard(key)
            self.attempt_done()

    def attempt_done(self) -> None:
        """An attempt ended: by default look again at once (a subclass may wait for more places to free up)."""
        self.wake()
