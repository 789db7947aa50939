"""A claimed delivery goes on the wire only while its claim still covers the whole attempt.

A claim holds a delivery for the dispatcher's timeout plus a margin; after that any node may claim it again. A delivery
that waits for a place at its endpoint (others to it are on the wire) must therefore start within the margin, or be
left for its lease to run out: sent later, it could still be on the wire when another node sends it too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hrms_bridge import dispatcher as dispatcher_module
from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.dispatcher import WebhookDispatcher
from server.storage.outbox import EventType
from server.storage.sealed import Sealer
from server.storage.sqlite_store import InterviewStore
from server.storage.webhook_deliveries import DeliveryStore
from tests.conftest import free_port
from tests.helpers.waiting import wait_until

TIMEOUT_S = 1.0
MARGIN_S = 0.6  # the claim's margin here: a place at the endpoint is waited for half of it


class HangingFirstReceiver:
    """Answers 200 at once, except to the very first request, which it never answers; notes when each webhook-id came."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = {}
        self.first: str | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
                await reader.readexactly(int(fields[b"Content-Length"]))
                webhook_id = fields[b"webhook-id"].decode()
                self.arrivals.setdefault(webhook_id, []).append(time.time())
                if self.first is None:
                    self.first = webhook_id
                    await reader.read()  # until the dispatcher gives up on it and closes the connection
                    return
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[HangingFirstReceiver, int]]:
    found, port = HangingFirstReceiver(), free_port()
    server = await asyncio.start_server(found.handle, "127.0.0.1", port)
    async with server:
        yield found, port


async def test_a_delivery_that_waits_past_half_its_margin_for_its_endpoint_goes_out_only_after_its_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: tuple[HangingFirstReceiver, int]
) -> None:
    found, port = receiver
    monkeypatch.setattr(dispatcher_module, "CLAIM_MARGIN_S", MARGIN_S)
    store = await InterviewStore.open(tmp_path / "interviews.sqlite3")
    deliveries = await DeliveryStore.open(tmp_path / "interviews.sqlite3", Sealer.generate())
    await deliveries.add_endpoint("acme", f"http://127.0.0.1:{port}/hooks", [], "one place at a time", None)
    for n in range(3):
        await store.record_tenant_event("acme", EventType.CANDIDATE_APPLIED, {"n": n})
    dispatcher = WebhookDispatcher(deliveries, DestinationPolicy(allow_http=True, allow_private=True), [0.2] * 3, TIMEOUT_S)
    dispatcher.per_endpoint = 1
    started = time.time()
    dispatcher.start()
    try:
        await wait_until(lambda: len(found.arrivals) == 3 and found.first is not None and len(found.arrivals[found.first]) == 2)
    finally:
        await dispatcher.close()
        await deliveries.close()
        await store.close()
    others = [times for webhook_id, times in found.arrivals.items() if webhook_id != found.first]
    assert dispatcher.outcomes["postponed"] >= 2, "the two behind the hanging request gave up their wait"
    for times in others:
        assert len(times) == 1
        # Claimed at `started` or later, for the timeout and the margin: sent before that ends, it could meet another
        # node's attempt; waiting for the hanging request's timeout, it went out at started + 1.0.
        assert times[0] >= started + TIMEOUT_S + MARGIN_S


def lane_workers() -> int:
    return sum(1 for task in asyncio.all_tasks() if task.get_name() == f"{WebhookDispatcher.name}-lane" and not task.done())


async def test_an_endpoints_workers_stay_while_it_has_deliveries_and_go_once_it_has_had_none_for_a_while(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: tuple[HangingFirstReceiver, int]
) -> None:
    """Workers are kept between claims (a task per delivery cost a tenth of the dispatcher's time), not for good."""
    found, port = receiver
    monkeypatch.setattr(dispatcher_module, "WORKER_IDLE_S", 0.3)
    store = await InterviewStore.open(tmp_path / "interviews.sqlite3")
    deliveries = await DeliveryStore.open(tmp_path / "interviews.sqlite3", Sealer.generate())
    await deliveries.add_endpoint("acme", f"http://127.0.0.1:{port}/hooks", [], "", None)
    dispatcher = WebhookDispatcher(deliveries, DestinationPolicy(allow_http=True, allow_private=True), [0.2] * 3, TIMEOUT_S)
    store.on_event = dispatcher.events_written
    found.first = "nobody"  # no request hangs here
    dispatcher.start()
    try:
        for n in range(3):
            await store.record_tenant_event("acme", EventType.CANDIDATE_APPLIED, {"n": n})
        await wait_until(lambda: len(found.arrivals) == 3 and not dispatcher.sending)
        assert lane_workers() >= 1, "the endpoint's worker waits for what comes next"
        await store.record_tenant_event("acme", EventType.CANDIDATE_APPLIED, {"n": 3})
        await wait_until(lambda: len(found.arrivals) == 4 and not dispatcher.sending)
        await wait_until(lambda: lane_workers() == 0, timeout=5.0, what="the idle workers to go")
    finally:
        await dispatcher.close()
        await deliveries.close()
        await store.close()
    assert all(len(times) == 1 for times in found.arrivals.values())
