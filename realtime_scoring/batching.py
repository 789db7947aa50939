"""A micro-batcher: gathers inference requests from all live sessions and runs them as one batch."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

Req = TypeVar("Req")
Res = TypeVar("Res")


@dataclass
class BatcherStats:
    """Counters for one model's batcher (exported as metrics and printed by benchmarks)."""

    requests: int = 0
    batches: int = 0
    max_batch: int = 0
    queue_wait_s: float = 0.0
    max_queue_wait_s: float = 0.0
    run_s: float = 0.0
    errors: int = 0
    batch_sizes: dict[int, int] = field(default_factory=dict)

    @property
    def mean_batch(self) -> float:
        return self.requests / self.batches if self.batches else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "requests": self.requests,
            "batches": self.batches,
            "mean_batch": round(self.mean_batch, 2),
            "max_batch": self.max_batch,
            "mean_queue_wait_ms": round(1000 * self.queue_wait_s / self.requests, 3) if self.requests else 0.0,
            "max_queue_wait_ms": round(1000 * self.max_queue_wait_s, 3),
            "mean_run_ms": round(1000 * self.run_s / self.batches, 3) if self.batches else 0.0,
            "errors": self.errors,
        }


class MicroBatcher(Generic[Req, Res]):
    """Runs `run_batch` over requests submitted concurrently, on one worker thread per model.

    The first request of a batch waits at most `max_wait_s` for company; while a
    batch runs, new requests queue up and form the next one, so under load the
    batch grows by itself and the wait costs nothing. Inference never runs on
    the event loop.
    """

    def __init__(
        self,
        name: str,
        run_batch: Callable[[Sequence[Req]], Sequence[Res]],
        *,
        max_batch: int = 64,
        max_wait_s: float = 0.002,
    ) -> None:
        self.name = name
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._pending: list[tuple[Req, asyncio.Future[Res], float]] = []
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"infer-{name}")
        self._worker: asyncio.Task[None] | None = None
        self.stats = BatcherStats()

    async def submit(self, request: Req) -> Res:
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name=f"batcher-{self.name}")
        future: asyncio.Future[Res] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future, time.perf_counter()))
        self._wakeup.set()
        return await future

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._pending:
                continue
            if len(self._pending) < self._max_batch and self._max_wait_s > 0:
                await asyncio.sleep(self._max_wait_s)
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            if self._pending:
                self._wakeup.set()
            live = [(r, f, t) for r, f, t in batch if not f.cancelled()]
            if not live:
                continue
            started = time.perf_counter()
            outcomes: Sequence[Res | Exception]
            try:
                outcomes = await loop.run_in_executor(self._executor, self._run_batch, [r for r, _, _ in live])
            except Exception as exc:  # the callers get the error, the worker lives on
                self.stats.errors += 1
                if len(live) == 1:
                    logger.exception("a request to %s failed", self.name)
                    outcomes = [exc]
                else:
                    # One bad request (a corrupt frame) must not fail the other sessions batched with it.
                    logger.warning("batch of %d for %s failed (%s); running its requests one by one", len(live), self.name, exc)
                    outcomes = await loop.run_in_executor(self._executor, self._run_alone, [r for r, _, _ in live])
            finished = time.perf_counter()
            self._record(live, started, finished)
            for (_, future, _), outcome in zip(live, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _run_alone(self, requests: list[Req]) -> list[Res | Exception]:
        outcomes: list[Res | Exception] = []
        for request in requests:
            try:
                (result,) = self._run_batch([request])
                outcomes.append(result)
            except Exception as exc:  # this request's caller gets it
                logger.exception("a request to %s failed", self.name)
                outcomes.append(exc)
        return outcomes

    def _record(self, batch: list[tuple[Req, asyncio.Future[Res], float]], started: float, finished: float) -> None:
        s = self.stats
        n = len(batch)
        s.requests += n
        s.batches += 1
        s.max_batch = max(s.max_batch, n)
        s.batch_sizes[n] = s.batch_sizes.get(n, 0) + 1
        s.run_s += finished - started
        for _, _, queued in batch:
            wait = started - queued
            s.queue_wait_s += wait
            s.max_queue_wait_s = max(s.max_queue_wait_s, wait)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        for _, future, _ in self._pending:
            if not future.done():
                future.cancel()
        self._pending.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)
