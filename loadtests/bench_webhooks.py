"""Webhook throughput: events written to the outbox, delivered to endpoints, as fast as the bridge goes.

    python -m loadtests.bench_webhooks [--store sqlite|redis --redis-url URL] [--events 2000] [--endpoints 10]
                                       [--payload-bytes 2048] [--rate 0] [--writers 1] [--dispatchers 1]
                                       [--loop uvloop|asyncio] [--kill-after S] [--sqlite-synchronous full|normal]

The store, the outbox and the dispatcher are the server's own (as `server/composition.py` wires them); the receiver
is a separate process (so it takes no time from the dispatcher's loop) that answers 200 at once and notes when each
request came. Events are written one commit each, by `--writers` tasks at once (a server's requests write concurrently),
at `--rate` per second in all (0: as fast as the store takes them). `--dispatchers N` runs N-1 more dispatchers, each
in a process of its own on the same store (what `serve --workers N` runs), and each of the N processes writes a share of
the events with `--writers` tasks (as each worker writes those of the requests it serves; until 2026-12-07 the first
process wrote them all).
Prints delivered events and requests per second, outbox-to-receiver latency (p50, p95, max) and the CPU time each
process took per request delivered (the node, which writes the events and sends them; the receiver; redis-server when it
runs on this machine; any extra dispatchers), and writes loadtests/results/bench_webhooks-<store>-<cores>core[-rate<R>].json.
CPU time per request moves less than the rate with the VM's speed and with what else shares its cores: it is the figure
to compare two versions by, and the rate these cores could carry at those costs is their sum divided into the cores.

`--kill-after S`: the store and dispatcher run in a node process of their own, which is SIGKILLed S seconds into the
run (events still being written, requests on the wire, results not yet recorded) and started again; the bench counts
what each endpoint received: events lost (committed before the kill and never received) and duplicates (received
twice, with the same webhook-id). A delivery claimed when the node died goes out again after its lease (the
dispatcher's timeout plus a margin, 40 s here). Writes loadtests/results/bench_webhooks-<store>-<cores>core-kill.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import uvloop

from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.dispatcher import WebhookDispatcher
from hrms_bridge.retrying import CLAIM_MARGIN_S
from hrms_bridge.stream import StreamWebhookDispatcher, WebhookStream
from loadtests.webhook_receiver import start_process, start_receiver
from server.storage.contract import Store
from server.storage.outbox import EventType
from server.storage.redis_client import Keys, glob_escape
from server.storage.redis_store import RedisInterviewStore
from server.storage.redis_webhook_deliveries import RedisDeliveryStore
from server.storage.sealed import Sealer
from server.storage.sqlite_store import InterviewStore
from server.storage.webhook_deliveries import Deliveries, DeliveryStore

RESULTS_DIR = Path(__file__).resolve().parent / "results"
TENANT = "bench"
RETRIES = [1.0] * 10
TIMEOUT_S = 10.0
LEASE_S = TIMEOUT_S + CLAIM_MARGIN_S  # how long a claim holds a delivery: the dispatcher's timeout and a margin


# ---- the bench ---------------------------------------------------------------------------------------------------------


async def _pipeline(args: argparse.Namespace, data_dir: Path) -> tuple[Store, Deliveries, WebhookDispatcher, Any]:
    policy = DestinationPolicy(allow_http=True, allow_private=True)
    sealer = Sealer.from_file(data_dir / "secrets.key")
    if args.store == "sqlite":
        store: Store = await InterviewStore.open(data_dir / "interviews.sqlite3", args.sqlite_synchronous)
        deliveries = await DeliveryStore.open(data_dir / "interviews.sqlite3", sealer, args.sqlite_synchronous)
        return store, deliveries, WebhookDispatcher(deliveries, policy, RETRIES, TIMEOUT_S), None
    import redis.asyncio as redis  # only for this store

    client = redis.Redis.from_url(args.redis_url)
    keys = Keys(args.keys_prefix or f"bench-{os.getpid()}:")
    redis_deliveries = RedisDeliveryStore(client, keys, sealer)
    stream = WebhookStream(client, keys.webhook_stream(), f"bench-node-{os.getpid()}", 30.0)
    dispatcher = StreamWebhookDispatcher(redis_deliveries, policy, RETRIES, TIMEOUT_S, stream, 30.0, relay=None)
    return RedisInterviewStore(client, keys), redis_deliveries, dispatcher, client


def _cpu_s(process: psutil.Process | None) -> float:
    """User and system CPU seconds `process` has taken so far (0 once it is gone, or when it is not on this machine)."""
    if process is None:
        return 0.0
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


async def _redis_server(client: Any) -> psutil.Process | None:
    """The redis-server process when it runs on this machine (its pid, as it says, is one of ours to read)."""
    if client is None:
        return None
    info = await client.info("server")
    try:
        process = psutil.Process(int(info["process_id"]))
        return process if "redis" in process.name() else None
    except (psutil.Error, KeyError, ValueError):
        return None


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        log = data_dir / "received.txt"
        port = args.port
        receiver = await start_receiver(port, log, args.answer_after_ms)
        args.keys_prefix = args.keys_prefix or f"bench-{os.getpid()}:"
        # With --dispatchers N each process writes a share of the events, as the workers of `serve --workers N` write
        # those of the requests each serves (all in this one, it was the busier of two and ran out of its core first).
        share = args.events // args.dispatchers
        go = data_dir / "go"
        dispatcher_command = [
            *_node_command(args, data_dir),
            *("--events", str(share), "--writers", str(args.writers), "--rate", str(args.rate / args.dispatchers)),
            *("--payload-bytes", str(args.payload_bytes), "--go", str(go)),
        ]
        try:
            store, deliveries, dispatcher, client = await _pipeline(args, data_dir)
            for n in range(args.endpoints):
                await deliveries.add_endpoint(TENANT, f"http://127.0.0.1:{port}/hook/{n}", [], f"bench {n}", None)
            store.on_event = dispatcher.events_written
            redis_server = await _redis_server(client)
            extra = [
                await start_process(
                    [*dispatcher_command, "--ready", str(data_dir / f"ready-{n}"), "--done", str(data_dir / f"done-{n}")],
                    data_dir / f"ready-{n}",
                    "an extra dispatcher",
                )
                for n in range(args.dispatchers - 1)
            ]
            processes = {"node": psutil.Process(), "receiver": psutil.Process(receiver.pid), "redis_server": redis_server}
            processes.update({f"dispatcher_{n}": psutil.Process(p.pid) for n, p in enumerate(extra, start=2)})
            cpu_before = {name: _cpu_s(process) for name, process in processes.items()}
            dispatcher.start()
            started = time.time()
            go.touch()
            await _write_events(store, args, args.events - share * (args.dispatchers - 1), args.rate / args.dispatchers)
            written = max([time.time()] + [await _written_at(data_dir / f"done-{n}") for n in range(len(extra))]) - started
            expected = args.events * args.endpoints
            deadline = time.time() + args.timeout_s
            count = log.with_suffix(".count")
            while time.time() < deadline:  # the receiver's count: reading the store here would slow what is measured
                if count.exists() and int(count.read_text() or 0) >= expected:
                    break
                await asyncio.sleep(0.2)
            finished = time.time()
            cpu_s = {name: _cpu_s(process) - cpu_before[name] for name, process in processes.items() if process is not None}
            for process in extra:
                process.terminate()
                process.wait(10)
            await dispatcher.close()
            await deliveries.close()
            await store.close()
            if client is not None:
                await client.aclose()
        finally:
            receiver.terminate()
            receiver.wait(10)
            await _forget_run(args)
        lines = [line.split() for line in log.read_text().splitlines() if line]
    latencies = sorted(float(at) - float(sent) for sent, at, *_ in lines)
    last = max((float(at) for _, at, *_ in lines), default=finished)
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
        "cpu_us_per_request": _per_request(cpu_s, len(lines)),
        "cpu_cores": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    return result


def _per_request(cpu_s: dict[str, float], requests: int) -> dict[str, float | None]:
    """Each process's CPU microseconds per request delivered, their sum, and the requests a second that this machine's
    cores could carry at that cost (all of them busy with nothing else)."""
    if not requests:
        return {}
    per = {name: round(1e6 * seconds / requests, 1) for name, seconds in cpu_s.items()}
    total = sum(per.values())
    return {
        **per,
        "total": round(total, 1),
        "requests_per_s_these_cores_could_carry": round((os.cpu_count() or 1) * 1e6 / total) if total else None,
    }


async def _write_events(store: Store, args: argparse.Namespace, events: int, rate: float) -> None:
    """`events` events, one commit each, from `args.writers` tasks at once (as a server's requests write them), at
    `rate` a second in all (0: as fast as the store takes them)."""
    padding = "x" * max(0, args.payload_bytes - 200)
    started = time.time()
    numbers = iter(range(events))

    async def writer() -> None:
        for i in numbers:
            await store.record_tenant_event(TENANT, EventType.CANDIDATE_APPLIED, {"n": i, "sent_at": time.time(), "padding": padding})
            if rate:
                await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.time()))

    await asyncio.gather(*(writer() for _ in range(max(1, args.writers))))


def _node_command(args: argparse.Namespace, data_dir: Path) -> list[str]:
    """The command of a node process on the bench's store (add --events)."""
    command = [sys.executable, "-m", "loadtests.bench_webhooks", "--node", str(data_dir), "--store", args.store]
    command += ["--sqlite-synchronous", args.sqlite_synchronous]
    return [*command, "--redis-url", args.redis_url, "--keys-prefix", args.keys_prefix, "--loop", args.loop]


async def node(args: argparse.Namespace) -> None:
    """A node process (`--kill-after`, and each extra of `--dispatchers`): writes its events, if any (once `--go` is
    there, when given; then notes when it finished in `--done`), and delivers until it is stopped or killed."""
    store, _, dispatcher, _ = await _pipeline(args, args.node)
    store.on_event = dispatcher.events_written
    dispatcher.start()
    if args.ready is not None:
        args.ready.touch()
    while args.go is not None and not args.go.exists():  # noqa: ASYNC110 - the bench's process makes it: no event to wait on
        await asyncio.sleep(0.002)
    await _write_events(store, args, args.events, args.rate)
    if args.done is not None:
        args.done.write_text(repr(time.time()))
    await asyncio.Event().wait()


async def _written_at(done: Path) -> float:
    """When an extra dispatcher finished writing its share (it says so in `done`)."""
    while not done.exists() or not done.read_text():  # noqa: ASYNC110 - another process writes it
        await asyncio.sleep(0.01)
    return float(done.read_text())


async def _committed(args: argparse.Namespace, data_dir: Path) -> int:
    """Events the killed node committed (the ones it must not lose)."""
    if args.store == "sqlite":
        with sqlite3.connect(data_dir / "interviews.sqlite3") as db:
            return int(db.execute("SELECT COUNT(*) FROM outbox_events WHERE tenant = ?", (TENANT,)).fetchone()[0])
    import redis.asyncio as redis  # only for this store

    client = redis.Redis.from_url(args.redis_url)
    try:
        return int(await client.zcard(Keys(args.keys_prefix).events_by_time()))
    finally:
        await client.aclose()


async def _forget_run(args: argparse.Namespace) -> None:
    """Delete what the run wrote to Redis (its keys share the run's prefix). Left behind, each run's 60,000 deliveries
    slowed the next runs' Redis: with 2.2 million keys from earlier runs, redis-server took 100-110 µs a request
    against 73 on an empty database, most of it the due index's one-time scan of the keyspace at start."""
    if args.store != "redis":
        return
    import redis.asyncio as redis  # only for this store

    client = redis.Redis.from_url(args.redis_url)
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=glob_escape(args.keys_prefix) + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await client.unlink(*batch)
                batch.clear()
        if batch:
            await client.unlink(*batch)
    finally:
        await client.aclose()


async def kill_run(args: argparse.Namespace) -> dict[str, Any]:
    args.keys_prefix = f"bench-kill-{os.getpid()}:"
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        log = data_dir / "received.txt"
        receiver = await start_receiver(args.port, log, args.answer_after_ms)
        node_command = [*_node_command(args, data_dir), "--payload-bytes", str(args.payload_bytes), "--rate", str(args.rate)]
        try:
            store, deliveries, dispatcher, client = await _pipeline(args, data_dir)
            for n in range(args.endpoints):
                await deliveries.add_endpoint(TENANT, f"http://127.0.0.1:{args.port}/hook/{n}", [], f"bench {n}", None)
            await dispatcher.close()
            await deliveries.close()
            await store.close()
            if client is not None:
                await client.aclose()
            first = subprocess.Popen([*node_command, "--events", str(args.events)])
            await asyncio.sleep(args.kill_after)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            killed_at = time.time()
            count = log.with_suffix(".count")
            received_before = int(count.read_text() or 0) if count.exists() else 0  # as of the receiver's last note
            committed = await _committed(args, data_dir)
            second = subprocess.Popen([*node_command, "--events", "0"])
            expected = committed * args.endpoints
            unique = log.with_suffix(".unique")
            while time.time() < killed_at + args.timeout_s:
                if unique.exists() and int(unique.read_text() or 0) >= expected:
                    break
                await asyncio.sleep(0.2)
            recovered_s = time.time() - killed_at
            # A request the killed node had sent but not recorded goes out again once its claim's lease has run out: wait
            # for that too, or the duplicates would not be counted.
            await asyncio.sleep(max(2.0, killed_at + LEASE_S + 5.0 - time.time()))
            second.terminate()
            second.wait(10)
        finally:
            receiver.terminate()
            receiver.wait(10)
            await _forget_run(args)
        lines = [line.split() for line in log.read_text().splitlines() if line]
    pairs = [(webhook_id, path) for _, _, webhook_id, path in lines]
    late = [float(at) - killed_at for _, at, _, _ in lines if float(at) > killed_at + 10]
    return {
        "mode": "kill -9",
        "store": args.store,
        "endpoints": args.endpoints,
        "payload_bytes": args.payload_bytes,
        "rate_asked": args.rate or "as fast as possible",
        "kill_after_s": args.kill_after,
        "events_asked": args.events,
        "events_committed_before_the_kill": committed,
        "requests_expected": expected,
        "requests_received_before_the_kill": received_before,
        "requests_received": len(pairs),
        "lost": expected - len(set(pairs)),
        "received_10_s_or_more_after_the_kill": len(late),  # claims of the killed node, sent once their lease ran out
        "duplicates": len(pairs) - len(set(pairs)),
        "all_received_s_after_the_kill": round(recovered_s, 1),
        "loop": args.loop,
        **({"sqlite_synchronous": args.sqlite_synchronous} if args.store == "sqlite" else {}),
        "cpu_cores": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _synchronous_suffix(args: argparse.Namespace) -> str:
    """A results file's mark for SQLite commits synced at checkpoints (none for the default, every commit synced)."""
    return "-synchronous-normal" if args.store == "sqlite" and args.sqlite_synchronous == "normal" else ""


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
    parser.add_argument("--kill-after", type=float, default=0.0, help="SIGKILL the node this many seconds into the run, start it again")
    parser.add_argument("--dispatchers", type=int, default=1, help="dispatchers, each in a process of its own")
    parser.add_argument("--writers", type=int, default=1, help="tasks writing events at once")
    parser.add_argument("--answer-after-ms", type=float, default=0.0, help="the receiver holds each answer this long")
    parser.add_argument(
        "--sqlite-synchronous", choices=["full", "normal"], default="full", help="the SQLite store's commits (INTERVIEW_SQLITE_SYNCHRONOUS)"
    )
    parser.add_argument("--node", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--keys-prefix", help=argparse.SUPPRESS)
    parser.add_argument("--ready", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--go", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--done", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.node is not None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop if args.loop == "uvloop" else None) as runner:
            runner.run(node(args))
        return
    if args.kill_after:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop if args.loop == "uvloop" else None) as runner:
            result = runner.run(kill_run(args))
        print(json.dumps(result, indent=2))
        out = RESULTS_DIR / f"bench_webhooks-{args.store}-{os.cpu_count()}core{_synchronous_suffix(args)}-kill.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written to {out}")
        return
    # The server runs on the loop uvicorn picks ("auto": uvloop, installed with uvicorn[standard]); so does the bench.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop if args.loop == "uvloop" else None) as runner:
        result = runner.run(bench(args))
    result.update(loop=args.loop, writers=args.writers, dispatchers=args.dispatchers)
    if args.store == "sqlite":
        result.update(sqlite_synchronous=args.sqlite_synchronous)
    print(json.dumps(result, indent=2))
    RESULTS_DIR.mkdir(exist_ok=True)
    at_rate = f"-rate{args.rate:g}" if args.rate else ""  # a paced run (latency at that rate) beside the flat-out one
    processes = f"-{args.dispatchers}dispatchers" if args.dispatchers > 1 else ""
    out = RESULTS_DIR / f"bench_webhooks-{args.store}-{os.cpu_count()}core{_synchronous_suffix(args)}{at_rate}{processes}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
