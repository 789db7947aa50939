"""Delivers outbox events to webhook endpoints: Standard Webhooks signatures, retries, Retry-After, 410, dead letters.

outbox_events ─fan_out─▶ webhook_deliveries ─claim due (a batch)─▶ POST (signed, same webhook-id every attempt)
                               ▲                                       │ 2xx: delivered · 410: endpoint disabled
                               └── next attempt ◀── results (a batch) ◀┘ else: backoff with jitter (or Retry-After), then dead

Throughput comes from doing the store's work in batches: each pass claims as many due deliveries as there are free
places (one transaction, or one round trip), and results are recorded together every few milliseconds. A node that
dies between a POST and its record sends that delivery again after its lease, with the same webhook-id (at least
once, as the README says). At most `max_concurrent` requests are on the wire, and `per_endpoint` to any one endpoint;
a claimed delivery that cannot start within half its lease's margin (its endpoint busy with others) is left for the
lease to run out, so that no attempt is still on the wire when another node may claim it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import logging
import time
from collections import Counter, deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from hrms_bridge.destinations import DestinationPolicy, DestinationRefused
from hrms_bridge.pinned_transport import ExchangeError, PinnedSession, client_error_text
from hrms_bridge.retrying import CLAIM_MARGIN_S, POLL_S, Outcome, RetryingSender, next_delay, retry_after_seconds
from server.storage.webhook_deliveries import DEAD, DELIVERED, PENDING, AttemptResult, Deliveries, Delivery

logger = logging.getLogger(__name__)

WORKER_IDLE_S = 2.0  # a lane's workers wait this long for more before they go (claims come every few milliseconds)


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature` as Standard Webhooks v1 has it: one `v1,<base64 of HMAC-SHA256 over "id.timestamp.body">` per
    secret, space-separated, so a receiver can rotate. Signed here with one OpenSSL call, where standardwebhooks'
    `Webhook.sign` built an HMAC object and a datetime per request (a tenth of the dispatcher's CPU per request); the
    tests verify every signature with that library."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join("v1," + base64.b64encode(hmac.digest(_key(secret), signed, "sha256")).decode() for secret in secrets)


_keys: dict[str, bytes] = {}


def _key(secret: str) -> bytes:
    """A `whsec_<base64>` secret's key bytes, kept (a few hundred at most, then decoded afresh)."""
    key = _keys.get(secret)
    if key is None:
        if len(_keys) >= 512:
            _keys.clear()
        key = base64.b64decode(secret.removeprefix("whsec_") + "==")  # as standardwebhooks reads it
        if not key:
            raise ValueError("an empty webhook secret")
        _keys[secret] = key
    return key


@dataclass
class _Lane:
    """One endpoint's claimed deliveries waiting to be sent (with when each was queued), and its workers: how many, and
    the futures of those with nothing to do (True: there is work now; False: retire)."""

    endpoint_id: str
    waiting: deque[tuple[float, Delivery]] = field(default_factory=deque)
    idle: deque[asyncio.Future[bool]] = field(default_factory=deque)
    workers: int = 0
    busy_at: float = 0.0  # when a delivery was last queued (the loop's clock)


class WebhookDispatcher(RetryingSender[Delivery]):
    """Fans new outbox events out to endpoints and delivers them; `start()`, `wake()` when events were written, `close()`."""

    name = "webhook-dispatcher"
    user_agent = "interview-server-webhooks/1"
    # Requests on the wire at once, and to one endpoint. An HR system takes tens of milliseconds to answer: at 64 and 16 a
    # receiver answering in 50 ms held the node to 98 events/s at ten endpoints (1,280 requests a second), 353 at
    # these (loadtests/bench_webhooks.py --answer-after-ms 50, same run). Each request is a socket (plus up to as many kept idle:
    # server/cli.py raises the open-file limit for them); a receiver is still not flooded by a backlog.
    max_concurrent = 512
    per_endpoint = 32
    record_every_s = 0.02  # results wait at most this long to be recorded together
    fan_out_after_s = 0.01  # events written within this long of the first are fanned out and claimed in one pass
    max_record_batch = 500

    def __init__(
        self,
        store: Deliveries,
        policy: DestinationPolicy,
        retry_schedule_s: Sequence[float],
        timeout_s: float = 15.0,
    ) -> None:
        super().__init__(policy, retry_schedule_s, timeout_s)
        self.store = store
        # Attempts by outcome since start, for metrics; "postponed": claimed, then left for the lease to run out (its
        # endpoint had no place in time), so never sent.
        self.outcomes: Counter[str] = Counter()
        self._lanes: dict[str, _Lane] = {}
        self._retiring: asyncio.TimerHandle | None = None
        self._results: list[AttemptResult] = []
        self._recorder: asyncio.Task[None] | None = None
        # Its own client: webhooks are the one outbound path with thousands of requests a second (pinned_transport.py).
        self._session = PinnedSession(policy, timeout_s, self.user_agent, max_connections=self.max_concurrent)
        self._events_written = True  # look for new events on the first pass
        self._looked_for_events_at = 0.0
        self._fan_out_soon: asyncio.TimerHandle | None = None

    def events_written(self) -> None:
        """The store committed new events: fan them out on a pass `fan_out_after_s` from now (which this starts), with
        whatever else is written meanwhile. A pass per commit cost the store a claim, a fan-out and a query for each
        event at a few hundred events a second (SQLite fell behind at 500 a second that way)."""
        self._events_written = True
        if self._fan_out_soon is None:
            self._fan_out_soon = asyncio.get_running_loop().call_later(self.fan_out_after_s, self._wake_for_events)

    def _wake_for_events(self) -> None:
        self._fan_out_soon = None
        self.wake()

    async def fan_out(self, now: float) -> None:
        """New events' deliveries, when some were written (or POLL_S after the last look: another process may have
        written them). A pass woken by an attempt that ended does not ask the store for new events."""
        if self._events_written or now - self._looked_for_events_at >= POLL_S:
            self._events_written, self._looked_for_events_at = False, now
            if await self.store.fan_out():
                self._events_written = True  # a batch at most each time: there may be more, fanned out on the next pass
                self.wake()

    async def due(self, now: float) -> list[Delivery]:
        await self.fan_out(now)
        return await self._claim(now, None)

    async def _claim(self, now: float, event_ids: Collection[str] | None) -> list[Delivery]:
        """As many due deliveries as there are free places, each claimed for this node's attempt."""
        free = self.max_concurrent - self.in_flight
        if free <= 0:
            return []
        return await self.store.claim_due(now, self.timeout_s + CLAIM_MARGIN_S, free, event_ids)

    async def next_due_at(self) -> float | None:
        return await self.store.next_due_at()

    def key(self, item: Delivery) -> str:
        return item.id

    def launch(self, item: Delivery, key: str) -> None:
        """Queue a claimed delivery on its endpoint's lane for one of the lane's workers: one with nothing to do, else a
        new one while the lane has fewer than `per_endpoint` (else a busy one takes it next). A lane's workers send its
        deliveries one after another, first claimed first, and stay for WORKER_IDLE_S after its last. Where each
        attempt was a task of its own that waited for a place at its endpoint, a task, a semaphore and a timer per
        request came to about a tenth of the dispatcher's time."""
        lane = self._lanes.get(item.endpoint.id)
        if lane is None:
            lane = self._lanes[item.endpoint.id] = _Lane(item.endpoint.id)
        lane.busy_at = now = asyncio.get_running_loop().time()
        lane.waiting.append((now, item))
        while lane.idle:
            worker = lane.idle.popleft()
            if not worker.done():
                worker.set_result(True)
                return
        if lane.workers < self.per_endpoint:
            lane.workers += 1
            self._track(asyncio.create_task(self._work(lane), name=f"{self.name}-lane"))
            if self._retiring is None:
                self._retiring = asyncio.get_running_loop().call_later(WORKER_IDLE_S, self._retire_idle_workers)

    async def _work(self, lane: _Lane) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                while lane.waiting:
                    claimed_at, delivery = lane.waiting.popleft()
                    try:
                        if loop.time() - claimed_at > CLAIM_MARGIN_S / 2:
                            # Its endpoint stayed busy with others: it is due again when its lease runs out, for any
                            # node. Sent later than this it could still be on the wire then, and another node would send
                            # it too.
                            self.outcomes["postponed"] += 1
                        else:
                            await self.attempt(delivery)
                    except Exception:
                        logger.exception("%s: attempt for %s failed unexpectedly", self.name, delivery.id)
                    finally:
                        self._in_flight.discard(delivery.id)
                        self.attempt_done()
                more = loop.create_future()
                lane.idle.append(more)
                if not await more and not lane.waiting:  # retired, and nothing came meanwhile
                    return
        finally:
            lane.workers -= 1
            if not lane.workers and not lane.waiting:
                del self._lanes[lane.endpoint_id]  # endpoints come and go: no lane is kept once it has no worker

    def _retire_idle_workers(self) -> None:
        """Every WORKER_IDLE_S while there are lanes: the idle workers of a lane with nothing queued for that long go."""
        loop = asyncio.get_running_loop()
        for lane in self._lanes.values():
            if loop.time() - lane.busy_at >= WORKER_IDLE_S:
                while lane.idle:
                    worker = lane.idle.popleft()
                    if not worker.done():
                        worker.set_result(False)
        self._retiring = loop.call_later(WORKER_IDLE_S, self._retire_idle_workers) if self._lanes else None

    async def attempt(self, delivery: Delivery) -> None:
        """One attempt, sent now (its lane's worker checked it is still within its claim) and its result kept."""
        endpoint = delivery.endpoint
        started = time.perf_counter()
        timestamp = int(time.time())
        body = delivery.payload.encode()  # signed as sent: encoded once
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(endpoint.secrets, delivery.event_id, timestamp, body),
        }
        outcome = await self._post(endpoint.url, body, headers)
        status_code, error = outcome.status_code, outcome.error
        self.outcomes["delivered" if outcome.success else "gone" if status_code == 410 else "failed"] += 1
        duration_ms = 1000 * (time.perf_counter() - started)

        if outcome.success:
            self._record(AttemptResult(delivery, status_code, None, duration_ms, DELIVERED, None))
            return
        if status_code == 410:
            # The receiver says the endpoint is gone for good: stop sending it anything.
            self._record(AttemptResult(delivery, status_code, "410 Gone: endpoint disabled", duration_ms, DEAD, None))
            await self.store.set_enabled(endpoint.id, False, "the receiver answered 410 Gone")
            logger.warning("webhook endpoint %s disabled: 410 Gone", endpoint.id)
            return
        delay = next_delay(self.retry_schedule_s, delivery.attempts + 1, outcome.retry_after_s)
        if delay is None:
            self._record(AttemptResult(delivery, status_code, error, duration_ms, DEAD, None))
            logger.warning("webhook delivery %s is dead after %d attempts: %s", delivery.id, delivery.attempts + 1, error)
            return
        self._record(AttemptResult(delivery, status_code, error, duration_ms, PENDING, time.time() + delay))

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        try:
            status_code, retry_after = await self._session.post(url, body, headers)
        except DestinationRefused as exc:
            return Outcome(None, f"refused destination: {exc}", None)
        except (ExchangeError, TimeoutError) as exc:
            return Outcome(None, client_error_text(exc), None)
        error = None if 200 <= status_code < 300 else f"HTTP {status_code}"
        return Outcome(status_code, error, retry_after_seconds(retry_after, time.time()))

    def attempt_done(self) -> None:
        # A pass claims as many as there are free places: wait until half of them are free (or none is busy), rather
        # than reading the store after every request.
        if self.in_flight <= self.max_concurrent // 2:
            self.wake()

    def _record(self, result: AttemptResult) -> None:
        """Keep a result for the next batch; a batch is recorded `record_every_s` after its first result."""
        self._results.append(result)
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_soon(), name=f"{self.name}-recorder")

    async def _record_soon(self) -> None:
        await asyncio.sleep(self.record_every_s)
        await self.flush()

    async def flush(self) -> None:
        """Record every result kept so far. One that cannot be recorded is sent again after its lease."""
        while self._results:
            batch, self._results = self._results[: self.max_record_batch], self._results[self.max_record_batch :]
            try:
                await self.store.record_attempts(batch)
            except Exception:
                logger.exception(
                    "%s: %d attempt results not recorded; those deliveries go out again after their lease", self.name, len(batch)
                )
        self.wake()

    @property
    def sending(self) -> bool:
        """Deliveries claimed and not yet done, or results not yet recorded (an idle lane worker is not sending)."""
        return bool(self._in_flight) or bool(self._results) or (self._recorder is not None and not self._recorder.done())

    async def close(self) -> None:
        """Stop sending; results already in hand are recorded (the store closes after the dispatcher)."""
        if self._fan_out_soon is not None:
            self._fan_out_soon.cancel()
        if self._retiring is not None:
            self._retiring.cancel()
        await super().close()
        if self._recorder is not None:
            self._recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recorder
        await self.flush()
        await self._session.aclose()
