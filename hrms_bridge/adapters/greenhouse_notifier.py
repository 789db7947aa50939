"""Greenhouse's "Mark Test as Completed": a PATCH to the callback `url` of Send Test once the interview's report exists.

Greenhouse answers that PATCH by calling our Test Status endpoint, so results show up in Greenhouse without it
polling. Everything is in the store (`server/storage/greenhouse_callbacks.py`), so a restart neither forgets nor repeats a notification:

    send_test ─▶ greenhouse_callbacks (url, the API key Greenhouse sent)
                     │ a `reports` row for the interview appears
                     ▼
                 claim (lease) ─▶ PATCH url, Basic <key>: ─▶ 2xx: notified_at
                     ▲                                      │ else: retry on the schedule (or Retry-After), then give up
                     └──────────────────────────────────────┘

A row goes with its interview (ON DELETE CASCADE), so an erased candidate is never reported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.retrying import CLAIM_MARGIN_S, RetryingSender, next_delay
from server.storage.greenhouse_callbacks import Callback, Callbacks, CallbackStore
from server.storage.sealed import Sealer

logger = logging.getLogger(__name__)


class GreenhouseNotifier(RetryingSender[Callback]):
    """Runs in the server's lifespan: `await open(...)`, `start()`, `wake()` when a report may have been saved, `close()`."""

    name = "greenhouse-notifier"
    user_agent = "interview-server-greenhouse/1"
    max_concurrent = 4

    def __init__(
        self,
        store: Callbacks,
        policy: DestinationPolicy,
        retry_schedule_s: Sequence[float],
        timeout_s: float = 15.0,
    ) -> None:
        super().__init__(policy, retry_schedule_s, timeout_s)
        self.store = store

    @classmethod
    async def open(
        cls,
        db_path: Path,
        sealer: Sealer,
        policy: DestinationPolicy,
        retry_schedule_s: Sequence[float],
        timeout_s: float = 15.0,
    ) -> GreenhouseNotifier:
        """On the interview database (opened by the interview store first, so `interviews` and `reports` exist)."""
        return cls(await CallbackStore.open(db_path, sealer), policy, retry_schedule_s, timeout_s)

    async def register(self, interview_id: str, url: str, api_key: str) -> bool:
        """Send Test's callback `url` for the interview, to PATCH with `api_key` once its report exists."""
        added = await self.store.add(interview_id, url, api_key)
        self.wake()
        return added

    async def due(self, now: float) -> list[Callback]:
        return await self.store.due(now)

    async def next_due_at(self) -> float | None:
        return await self.store.next_due_at()

    def key(self, item: Callback) -> str:
        return item.interview_id

    async def close(self) -> None:
        await super().close()
        await self.store.close()

    async def attempt(self, callback: Callback) -> None:
        # The due list may be stale: only a successful claim sends, so one completion is PATCHed once.
        if not await self.store.claim(callback, time.time(), self.timeout_s + CLAIM_MARGIN_S):
            return
        # "No parameters are necessary"; Basic auth with the key as username and an empty password.
        auth = httpx.BasicAuth(callback.api_key, "")
        outcome = await self.call(callback.url, lambda client: client.patch(callback.url, auth=auth))
        status_code, error = outcome.status_code, outcome.error
        if outcome.success:
            await self.store.record(callback, status_code, None, notified=True, next_attempt_at=None)
            return
        delay = next_delay(self.retry_schedule_s, callback.attempts + 1, outcome.retry_after_s)
        if delay is None:
            await self.store.record(callback, status_code, error, notified=False, next_attempt_at=None)
            logger.warning(
                "gave up signalling Greenhouse that interview %s is complete after %d attempts: %s",
                callback.interview_id,
                callback.attempts + 1,
                error,
            )
            return
        await self.store.record(callback, status_code, error, notified=False, next_attempt_at=time.time() + delay)
