"""Webhook throughput: events written to the outbox, delivered to endpoints, as fast as the bridge goes.

    python -m loadtests.bench_webhooks [--store sqlite|redis --redis-url URL] [--events 2000] [--endpoints 10]
                                       [--payload-bytes 2048] [--rate 0] [--loop uvloop|asyncio]

The store, the outbox and the dispatcher are the server's own (as `server/composition.py` wires them); the receiver
is a separate process (so it takes no time from the dispatcher's loop) that answers 200 at once and notes when each
request came. Events are written one commit each, at `--rate` per second (0: as fast as the store takes them).
Prints delivered events and requests per second, and outbox-to-receiver latency (p50, p95, max), and writes
loadtests/results/bench_webhooks-<store>-<cores>core[-rate<R>].json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.dispatcher import WebhookDispatcher
from hrms_bridge.stream import StreamWebhookDispatcher, WebhookStream
from server.storage.contract import Store
from server.storage.outbox import EventType
from server.storage.redis_client import Keys
from server.storage.redis_store import RedisInterviewStore
from server.storage.redis_webhook_deliveries import RedisDeliveryStore
from server.storage.sealed import Sealer
from server.storage.sqlite_store import InterviewStore
from server.storage.webhook_deliveries import Deliveries, DeliveryStore

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TENANT = "bench"
RETRIES = [1.0] * 10


# ---- the receiver: its own process, a bare HTTP/1.1 server that answers 200 and notes each request -----------------


async def _serve_receiver(port: int, log: Path) -> None:
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length)
                at = time.time()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                sent_at = json.loads(body)["data"]["sent_at"]
                seen.append(f"{sent_at} {at}")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    count = log.with_suffix(".count")
    async with server:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(15, stop.set)
        while not stop.is_set():  # how many so far, for the bench to wait on without asking the store
            count.write_text(str(len(seen)))
            await asyncio.wait([asyncio.ensure_future(stop.wait())], timeout=0.2)
    log.write_text("\n".join(seen))


def receiver_main(port: int, log: Path) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve_receiver(port, log))


# ---- the bench ---------------------------------------------------------------------------------------------------------


async def _pipeline(args: argparse.Namespace, data_dir: Path) -> tuple[Store, Deliveries, WebhookDispatcher, Any]:
    policy = DestinationPolicy(allow_http=True, allow_private=True)
    sealer = Sealer.from_file(data_dir / "secrets.key")
    if args.store == "sqlite":
        store: Store = await InterviewStore.open(data_dir / "interviews.sqlite3")
        deliveries = await DeliveryStore.open(data_dir / "interviews.sqlite3", sealer)
        return store, deliveries, WebhookDispatcher(deliveries, policy, RETRIES, 10.0), None
    import redis.asyncio as redis  # only for this store

    client = redis.Redis.from_url(args.redis_url)
    keys = Keys(f"bench-{os.getpid()}:")
    redis_deliveries = RedisDeliveryStore(client, keys, sealer)
    stream = WebhookStream(client, keys.webhook_stream(), "bench-node", 30.0)
    dispatcher = StreamWebhookDispatcher(redis_deliveries, policy, RETRIES, 10.0, stream, 30.0, relay=None)
    return RedisInterviewStore(client, keys), redis_deliveries, dispatcher, client


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        log = data_dir / "received.txt"
        port = args.port
        receiver = subprocess.Popen([sys.executable, "-m", "loadtests.bench_webhooks", "--receiver", str(port), "--log", str(log)])
        try:
            await asyncio.sleep(1.0)  # the receiver's socket is listening by then
            store, deliveries, dispatcher, client = await _pipeline(args, data_dir)
            for n in range(args.endpoints):
                await deliveries.add_endpoint(TENANT, f"http://127.0.0.1:{port}/hook/{n}", [], f"bench {n}", None)
            store.on_event = dispatcher.events_written
            dispatcher.start()
            padding = "x" * max(0, args.payload_bytes - 200)
            started = time.time()
            for i in range(args.events):
                await store.record_tenant_event(TENANT, EventType.CANDIDATE_APPLIED, {"n": i, "sent_at": time.time(), "padding": padding})
                if args.rate:
                    await asyncio.sleep(max(0.0, started + (i + 1) / args.rate - time.time()))
            written = time.time() - started
            expected = args.events * args.endpoints
            deadline = time.time() + args.timeout_s
            count = log.with_suffix(".count")
            while time.time() < deadline:  # the receiver's count: reading the store here would slow what is measured
                if count.exists() and int(count.read_text() or 0) >= expected:
                    break
                await asyncio.sleep(0.2)
            finished = time.time()
            await dispatcher.close()
            await deliveries.close()
            await store.close()
            if client is not None:
                await client.aclose()
        finally:
            receiver.terminate()
            receiver.wait(10)
        lines = [line.split() for line in log.read_text().splitlines() if line]
    latencies = sorted(float(at) - float(sent) for sent, at in lines)
    last = max((float(at) for _, at in lines), default=finished)
    elapsed = last - started
    result = {
        "store": args.store,
        "events": args.events,
        "endpoints": args.endpoints,
        "payload_bytes": args.payload_bytes,
        "rate_asked": args.rate or "as fast as possible",
        "requests_received": len(lines),
        "requests_expected": expected,
        "write_s": round(written, 2),
        "events_written_per_s": round(args.events / written, 1),
        "events_delivered_per_s": round(len(lines) / args.endpoints / elapsed, 1) if elapsed > 0 else None,
        "requests_per_s": round(len(lines) / elapsed, 1) if elapsed > 0 else None,
        "latency_s": {
            "p50": round(statistics.median(latencies), 3) if latencies else None,
            "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 3) if latencies else None,
            "max": round(latencies[-1], 3) if latencies else None,
        },
        "cpu_cores": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "redis"], default="sqlite")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--payload-bytes", type=int, default=2048)
    parser.add_argument("--rate", type=float, default=0.0, help="events written per second (0: as fast as the store takes them)")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop", help="the event loop (the server's: uvloop)")
    parser.add_argument("--timeout-s", type=float, default=300.0)
    parser.add_argument("--port", type=int, default=18931)
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver is not None:
        receiver_main(args.receiver, args.log)
        return
    # The server runs on the loop uvicorn picks ("auto": uvloop, installed with uvicorn[standard]); so does the bench.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop if args.loop == "uvloop" else None) as runner:
        result = runner.run(bench(args))
    result["loop"] = args.loop
    print(json.dumps(result, indent=2))
    RESULTS_DIR.mkdir(exist_ok=True)
    at_rate = f"-rate{args.rate:g}" if args.rate else ""  # a paced run (latency at that rate) beside the flat-out one
    out = RESULTS_DIR / f"bench_webhooks-{args.store}-{os.cpu_count()}core{at_rate}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
