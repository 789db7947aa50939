"""Delivers outbox events to webhook endpoints: Standard Webhooks signatures, retries, Retry-After, 410, dead letters.

outbox_events ─fan_out─▶ webhook_deliveries ─due─▶ POST (signed, same webhook-id every attempt)
                               ▲                      │ 2xx: delivered · 410: endpoint disabled
                               └── next attempt ◀─────┘ else: backoff with jitter (or Retry-After), then dead
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook

from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.retrying import CLAIM_MARGIN_S, RetryingSender, next_delay
from server.storage.webhook_deliveries import DEAD, DELIVERED, PENDING, Deliveries, Delivery

logger = logging.getLogger(__name__)


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,<base64>` per secret, space-separated, so a receiver can rotate."""
    return " ".join(Webhook(secret).sign(msg_id, timestamp, body) for secret in secrets)


class WebhookDispatcher(RetryingSender[Delivery]):
    """Fans new outbox events out to endpoints and delivers them; `start()`, `wake()` when events were written, `close()`."""

    name = "webhook-dispatcher"
    user_agent = "interview-server-webhooks/1"

    def __init__(
        self,
        store: Deliveries,
        policy: DestinationPolicy,
        retry_schedule_s: Sequence[float],
        timeout_s: float = 15.0,
    ) -> None:
        super().__init__(policy, retry_schedule_s, timeout_s)
        self.store = store
        self.outcomes: Counter[str] = Counter()  # attempts by outcome since start, for metrics

    async def due(self, now: float) -> list[Delivery]:
        await self.store.fan_out()
        return await self.store.due(now)

    async def next_due_at(self) -> float | None:
        return await self.store.next_due_at()

    def key(self, item: Delivery) -> str:
        return item.id

    async def attempt(self, delivery: Delivery) -> None:
        # The due list may be stale (an attempt can finish while it is read): only a successful claim sends.
        if not await self.store.claim(delivery, time.time(), self.timeout_s + CLAIM_MARGIN_S):
            return
        endpoint = delivery.endpoint
        started = time.perf_counter()
        timestamp = datetime.now(tz=UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature_header(endpoint.secrets, delivery.event_id, timestamp, delivery.payload),
        }
        outcome = await self.call(
            endpoint.url, lambda client: client.post(endpoint.url, content=delivery.payload.encode(), headers=headers)
        )
        status_code, error = outcome.status_code, outcome.error
        self.outcomes["delivered" if outcome.success else "gone" if status_code == 410 else "failed"] += 1
        duration_ms = 1000 * (time.perf_counter() - started)

        if outcome.success:
            await self.store.record_attempt(delivery, status_code, None, duration_ms, outcome=DELIVERED, next_attempt_at=None)
            return
        if status_code == 410:
            # The receiver says the endpoint is gone for good: stop sending it anything.
            await self.store.record_attempt(
                delivery, status_code, "410 Gone: endpoint disabled", duration_ms, outcome=DEAD, next_attempt_at=None
            )
            await self.store.set_enabled(endpoint.id, False, "the receiver answered 410 Gone")
            logger.warning("webhook endpoint %s disabled: 410 Gone", endpoint.id)
            return
        delay = next_delay(self.retry_schedule_s, delivery.attempts + 1, outcome.retry_after_s)
        if delay is None:
            await self.store.record_attempt(delivery, status_code, error, duration_ms, outcome=DEAD, next_attempt_at=None)
            logger.warning("webhook delivery %s is dead after %d attempts: %s", delivery.id, delivery.attempts + 1, error)
            return
        await self.store.record_attempt(delivery, status_code, error, duration_ms, outcome=PENDING, next_attempt_at=time.time() + delay)
