"""How long the webhook history is kept: events whose deliveries are all final are removed, with their deliveries and
attempts, once they are older than the retention period, so the outbox (SQLite's tables, or Redis's memory) does not
grow with every interview ever held. Pending deliveries are never removed, however old."""

from __future__ import annotations

import asyncio
import logging
import time

from server.storage.webhook_deliveries import Deliveries

logger = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0
PRUNE_BATCH = 500


async def prune_webhook_history(deliveries: Deliveries, retention_s: float, now: float | None = None) -> int:
    """Remove every finished event older than `retention_s`, a batch at a time; returns how many went."""
    before = (time.time() if now is None else now) - retention_s
    total = 0
    while (pruned := await deliveries.prune(before, PRUNE_BATCH)) > 0:
        total += pruned
    return total


async def prune_webhook_history_forever(deliveries: Deliveries, retention_s: float, every_s: float = PRUNE_EVERY_S) -> None:
    """`prune_webhook_history` at start and then every `every_s`; a failure (the store away) waits for the next round."""
    task = asyncio.current_task()
    while True:
        try:
            if pruned := await prune_webhook_history(deliveries, retention_s):
                logger.info("removed %d webhook event(s) older than %.0f days, with their deliveries", pruned, retention_s / 86400)
        except Exception:  # the store away: the next round tries again
            logger.warning("webhook history pruning failed", exc_info=True)
        if task is not None and task.cancelling():  # a Redis call swallowed the cancellation (redis-py's pipelines do)
            return
        await asyncio.sleep(every_s)
