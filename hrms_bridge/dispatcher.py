"""Delivers outbox events to webhook endpoints: Standard Webhooks signatures, retries, Retry-After, 410, dead letters.

    outbox_events ─fan_out─▶ webhook_deliveries ─due─▶ POST (signed, same webhook-id every attempt)
                                   ▲                      │ 2xx: delivered · 410: endpoint disabled
                                   └── next attempt ◀─────┘ else: backoff with jitter (or Retry-After), then dead
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Sequence
from datetime import datetime, timezone

import httpx
from standardwebhooks import Webhook

from hrms_bridge.deliveries import DEAD, DELIVERED, PENDING, Delivery, DeliveryStore
from hrms_bridge.destinations import DestinationPolicy, DestinationRefused

logger = logging.getLogger(__name__)

USER_AGENT = "interview-server-webhooks/1"
MAX_CONCURRENT = 8
POLL_S = 1.0
JITTER = 0.2  # each delay is scaled by a random factor in [1 - JITTER, 1 + JITTER]
MAX_RETRY_AFTER_S = 24 * 3600.0
CLAIM_MARGIN_S = 30.0  # a claimed attempt that never records (the process died) is retried this long after its timeout


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,<base64>` per secret, space-separated, so a receiver can rotate."""
    return " ".join(Webhook(secret).sign(msg_id, timestamp, body) for secret in secrets)


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


class WebhookDispatcher:
    """Runs in the server's lifespan: `start()`, `wake()` when events were written, `close()`."""

    def __init__(
        self,
        store: DeliveryStore,
        policy: DestinationPolicy,
        retry_schedule_s: Sequence[float],
        timeout_s: float = 15.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.retry_schedule_s = list(retry_schedule_s)
        self.timeout_s = timeout_s
        self._client = client or httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, headers={"user-agent": USER_AGENT})
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._in_flight: set[str] = set()
        self._attempts: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        """Stop sending; attempts cut short stay pending and go out again after the next start."""
        tasks = [t for t in (self._task, *self._attempts) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._client.aclose()

    async def _run(self) -> None:
        attempts = self._attempts
        while True:
            self._wake.clear()
            try:
                await self.store.fan_out()
                for delivery in await self.store.due(time.time()):
                    if delivery.id in self._in_flight:
                        continue
                    self._in_flight.add(delivery.id)
                    task = asyncio.create_task(self._attempt(delivery))
                    attempts.add(task)
                    task.add_done_callback(attempts.discard)
                next_at = await self.store.next_due_at()
            except Exception:  # noqa: BLE001 - a database hiccup must not end delivery for good
                logger.exception("webhook dispatcher pass failed")
                next_at = None
            wait = POLL_S if next_at is None else min(POLL_S, max(0.01, next_at - time.time()))
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            async with self._slots:
                await self._send(delivery)
        except Exception:  # noqa: BLE001
            logger.exception("webhook delivery %s failed unexpectedly", delivery.id)
        finally:
            self._in_flight.discard(delivery.id)
            self.wake()

    async def _send(self, delivery: Delivery) -> None:
        # The due list may be stale (an attempt can finish while it is read): only a successful claim sends.
        if not await self.store.claim(delivery, time.time(), self.timeout_s + CLAIM_MARGIN_S):
            return
        endpoint = delivery.endpoint
        started = time.perf_counter()
        status_code: int | None = None
        retry_after: float | None = None
        try:
            await self.policy.check(endpoint.url)
            timestamp = datetime.now(tz=timezone.utc)
            headers = {
                "content-type": "application/json",
                "webhook-id": delivery.event_id,
                "webhook-timestamp": str(int(timestamp.timestamp())),
                "webhook-signature": signature_header(endpoint.secrets, delivery.event_id, timestamp, delivery.payload),
            }
            response = await self._client.post(endpoint.url, content=delivery.payload.encode("utf-8"), headers=headers)
            status_code = response.status_code
            error = None if response.is_success else f"HTTP {status_code}"
            retry_after = retry_after_seconds(response.headers.get("retry-after"), time.time())
        except DestinationRefused as exc:
            error = f"refused destination: {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        duration_ms = 1000 * (time.perf_counter() - started)

        if status_code is not None and 200 <= status_code < 300:
            await self.store.record_attempt(delivery, status_code, None, duration_ms, outcome=DELIVERED, next_attempt_at=None)
            return
        if status_code == 410:
            # The receiver says the endpoint is gone for good: stop sending it anything.
            await self.store.record_attempt(delivery, status_code, "410 Gone: endpoint disabled", duration_ms, outcome=DEAD, next_attempt_at=None)
            await self.store.set_enabled(endpoint.id, False, "the receiver answered 410 Gone")
            logger.warning("webhook endpoint %s disabled: 410 Gone", endpoint.id)
            return
        retry = delivery.attempts  # this was attempt number retry + 1
        if retry >= len(self.retry_schedule_s):
            await self.store.record_attempt(delivery, status_code, error, duration_ms, outcome=DEAD, next_attempt_at=None)
            logger.warning("webhook delivery %s is dead after %d attempts: %s", delivery.id, retry + 1, error)
            return
        delay = self.retry_schedule_s[retry] * random.uniform(1 - JITTER, 1 + JITTER)
        if retry_after is not None:
            delay = max(delay, retry_after)
        await self.store.record_attempt(delivery, status_code, error, duration_ms, outcome=PENDING, next_attempt_at=time.time() + delay)
