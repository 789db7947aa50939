"""A node of N server processes behind one port: the supervisor accepts each connection, reads (without taking) its
request line, and passes the socket itself to the worker that should serve it; it restarts a worker that dies and
drains them all on SIGTERM.

    client ─TCP─▶ supervisor: accept, peek "POST /api/v1/interviews/{id}/whip" ─SCM_RIGHTS─▶ worker k (uvicorn)
    worker k's media: its own UDP ports, straight to the client (ICE), never through here

One event loop carries every session's RTP, so one process uses about one core; a node with more cores runs more
workers. The socket moves, not the bytes, so the supervisor costs one peek per connection and nothing per message.
Each connection serves one request (the workers answer `Connection: close`), so that a request for another
interview never arrives at a worker on a connection routed for the first. TLS is terminated in front of the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

from server.cluster.worker_hub import LINE_LIMIT
from server.ops.connection_limits import CLIENT_FULL, is_trusted, raw_problem
from server.settings import Settings
from server.workers.node_hub import NodeHub
from server.workers.recogniser import SharedRecogniser, shares_recogniser
from server.workers.routing import ClientCounts, WorkerTable, affinity_key, following_key, metrics_worker, request_target

logger = logging.getLogger(__name__)

PEEK_BYTES = 8192
MAX_WAITING_CONNECTIONS = 1024  # accepted, request line not yet read
MAX_WAITING_PER_CLIENT = 32  # of those, from one address that is not a trusted proxy
RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
STABLE_AFTER_S = 60.0  # a worker that lived this long starts its successor's backoff afresh


UNAVAILABLE = "Service Unavailable"
NOT_READY = raw_problem(
    503, UNAVAILABLE, UNAVAILABLE, "This node's server processes are starting; try again shortly.", code="node_starting", retry_after_s=5
)
BAD_REQUEST = raw_problem(
    400, "Bad Request", "Bad Request", "The request does not start with an HTTP/1.1 request line.", code="bad_request_line"
)
TOO_SLOW = raw_problem(
    408, "Request Timeout", "Request Timeout", "The request's first line did not arrive in time.", code="request_too_slow"
)
TOO_MANY = raw_problem(
    503, UNAVAILABLE, UNAVAILABLE, "This node is taking too many new connections; try again shortly.", code="node_full", retry_after_s=2
)


@dataclass
class Worker:
    index: int
    process: asyncio.subprocess.Process | None = None
    handoff: socket.socket | None = None
    started_at: float = 0.0
    failures: int = 0
    hub_task: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    """`run()` until every worker has exited after SIGTERM (drained) or SIGINT."""

    def __init__(self, settings: Settings, count: int, worker_args: list[str]) -> None:
        self.settings = settings
        self.count = count
        self.worker_args = worker_args
        self.table = WorkerTable()
        self.clients = ClientCounts(settings.max_connections_per_client, min(MAX_WAITING_PER_CLIENT, settings.max_connections_per_client))
        self.hub = NodeHub(self.table, self.clients)
        self.workers = [Worker(i) for i in range(count)]
        self.recogniser = SharedRecogniser.for_node(settings, worker_args) if shares_recogniser(settings, count) else None
        self.stop_requested = asyncio.Event()
        self._waiting = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # -- workers ---------------------------------------------------------------------------------------------------

    def worker_env(self, index: int, handoff_fd: int, hub_fd: int, port: int) -> dict[str, str]:
        """One node to the outside: the node id, port and base URL are the supervisor's; per-process budgets are a share."""
        env = dict(os.environ)
        cores = os.cpu_count() or 1
        env.update(
            INTERVIEW_NODE_ID=self.settings.node_id,
            INTERVIEW_PORT=str(port),
            INTERVIEW_HOST=self.settings.host,
            INTERVIEW_DEMO_INTERVIEW="false",
            INTERVIEW_MAX_LIVE_SESSIONS=str(-(-self.settings.max_live_sessions // self.count)),
            INTERVIEW_MAX_CONNECTIONS=str(max(16, self.settings.max_connections // self.count)),
            INTERVIEW_WORKER_INDEX=str(index),
            INTERVIEW_WORKER_HANDOFF_FD=str(handoff_fd),
            INTERVIEW_WORKER_HUB_FD=str(hub_fd),
        )
        if self.settings.public_url is None:
            env["INTERVIEW_PUBLIC_URL"] = f"http://{self.settings.host}:{port}"
        if self.settings.inference_threads == 0:  # one per core would make every worker claim every core
            env["INTERVIEW_INFERENCE_THREADS"] = str(max(1, min(4, cores // self.count)))
        if self.recogniser is not None:
            env["INTERVIEW_RECOGNISER_SOCKET"] = str(self.recogniser.socket_path)
        return env

    async def start_worker(self, worker: Worker, port: int) -> None:
        handoff_parent, handoff_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        hub_parent, hub_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        handoff_parent.setblocking(False)
        hub_parent.setblocking(False)
        env = self.worker_env(worker.index, handoff_child.fileno(), hub_child.fileno(), port)
        worker.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "worker", *self.worker_args, env=env, pass_fds=(handoff_child.fileno(), hub_child.fileno())
        )
        handoff_child.close()
        hub_child.close()
        worker.handoff = handoff_parent
        worker.started_at = time.monotonic()
        reader, writer = await asyncio.open_unix_connection(sock=hub_parent, limit=LINE_LIMIT)
        worker.hub_task = asyncio.create_task(self.hub.serve(worker.index, reader, writer), name=f"hub-worker-{worker.index}")
        logger.info("worker %d started (pid %d)", worker.index, worker.process.pid)

    async def keep_worker(self, worker: Worker, port: int) -> None:
        """Run one worker slot: start it, wait for it, start it again after a failure until the node stops."""
        while not self.stop_requested.is_set():
            await self.start_worker(worker, port)
            assert worker.process is not None
            code = await worker.process.wait()
            if worker.handoff is not None:
                worker.handoff.close()
                worker.handoff = None
            if worker.hub_task is not None:
                worker.hub_task.cancel()  # its line's end makes the hub forget the worker (its routes and subscriptions)
            if self.stop_requested.is_set():
                logger.info("worker %d exited (%s)", worker.index, code)
                return
            lived = time.monotonic() - worker.started_at
            worker.failures = 0 if lived > STABLE_AFTER_S else worker.failures + 1
            delay = RESTART_BACKOFF_S[min(worker.failures, len(RESTART_BACKOFF_S) - 1)]
            logger.error("worker %d exited with %s after %.0f s; starting it again in %.0f s", worker.index, code, lived, delay)
            await asyncio.sleep(delay)

    def signal_workers(self, sig: int) -> None:
        for worker in self.workers:
            if worker.process is not None and worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(sig)

    # -- connections -----------------------------------------------------------------------------------------------

    async def accept_forever(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, address = await loop.sock_accept(listener)
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):  # out of descriptors: let connections end, then go on
                    logger.warning("supervisor: out of file descriptors; pausing accept")
                    await asyncio.sleep(0.1)
                    continue
                raise
            if self._waiting >= MAX_WAITING_CONNECTIONS:
                self._answer(conn, TOO_MANY)
                continue
            peer = address[0] if isinstance(address, tuple) else None
            client = None if is_trusted(peer, self.settings.trusted_proxies) else peer
            if client is not None and not self.clients.begin_waiting(client):
                self._answer(conn, CLIENT_FULL)
                continue
            self._waiting += 1
            task = asyncio.create_task(self.route(conn, client))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def route(self, conn: socket.socket, client: str | None) -> None:
        """Peek the request line, choose the worker, hand the socket over; or answer and close. `client`: the address
        it comes from, unless that is a trusted proxy (then the workers see who is behind it)."""
        try:
            head = await self.peek_request_line(conn)
        except TimeoutError:
            self._answer(conn, TOO_SLOW)
            return
        except OSError:
            conn.close()
            return
        finally:
            self._waiting -= 1
            if client is not None:
                self.clients.end_waiting(client)
        if not head:
            conn.close()
            return
        target = request_target(head)
        if target is None:
            self._answer(conn, BAD_REQUEST)
            return
        if client is not None and not self.clients.admits(client):  # each worker caps only its own share of them
            self._answer(conn, CLIENT_FULL)
            return
        key, follow = affinity_key(target), following_key(target)
        wanted = metrics_worker(target)
        for _ in range(self.count):
            index = wanted if wanted is not None and wanted in self.table.loads else self.table.choose(key, follow=follow)
            if index is None:
                break
            if await self.hand_over(self.workers[index], conn):
                if client is not None:
                    self.clients.handed(client, index)
                return
            self.table.gone(index)  # it died between its report and now: the next one takes the connection
            wanted = None
        self._answer(conn, NOT_READY)

    async def peek_request_line(self, conn: socket.socket) -> bytes:
        """The first bytes of the request, left in the socket for the worker; empty if the client closed."""
        conn.setblocking(False)
        delay = 0.005
        async with asyncio.timeout(self.settings.http_header_timeout_s):
            while True:
                await readable(conn)
                head = conn.recv(PEEK_BYTES, socket.MSG_PEEK)
                if not head or b"\n" in head or len(head) >= PEEK_BYTES:
                    return head
                # The rest of the line is on its way; peeking again at once would spin on the same bytes.
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)

    async def hand_over(self, worker: Worker, conn: socket.socket) -> bool:
        if worker.handoff is None:
            return False
        try:
            while True:
                try:
                    socket.send_fds(worker.handoff, [b"c"], [conn.fileno()])
                    break
                except BlockingIOError:
                    await writable(worker.handoff)
        except OSError:
            return False
        conn.close()
        return True

    @staticmethod
    def _answer(conn: socket.socket, response: bytes) -> None:
        with contextlib.suppress(OSError):
            conn.setblocking(False)
            conn.send(response)
        conn.close()

    # -- the node --------------------------------------------------------------------------------------------------

    def bind(self) -> socket.socket:
        infos = socket.getaddrinfo(self.settings.host, self.settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        listener = socket.socket(family, kind, proto)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(2048)
        listener.setblocking(False)
        return listener

    async def run(self) -> None:
        listener = self.bind()
        port = listener.getsockname()[1]
        loop = asyncio.get_running_loop()
        signals = 0

        def on_signal(sig: int) -> None:
            nonlocal signals
            signals += 1
            self.stop_requested.set()
            if sig == signal.SIGTERM and signals == 1:
                logger.warning("SIGTERM: the workers drain (live interviews finish); a second signal stops them at once")
                self.signal_workers(signal.SIGTERM)
            else:
                self.signal_workers(signal.SIGINT)

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        self.hub.start()
        recogniser_keeper = None
        if self.recogniser is not None:
            # The workers decode on it: it is up before them (they would otherwise each load Whisper).
            recogniser_keeper = asyncio.create_task(self.recogniser.keep(self.stop_requested), name="recogniser")
            if not await self.recogniser.ready():
                logger.error("the shared recogniser is not ready; the workers start without it and decode once it is")
        keepers = [asyncio.create_task(self.keep_worker(w, port), name=f"worker-{w.index}") for w in self.workers]
        acceptor = asyncio.create_task(self.accept_forever(listener), name="supervisor-accept")
        logger.info("node %s: %d workers behind http://%s:%d", self.settings.node_id, self.count, self.settings.host, port)
        print(f"Listening on http://{self.settings.host}:{port} with {self.count} worker processes", flush=True)
        try:
            await asyncio.gather(*keepers)
        finally:
            acceptor.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(acceptor, *self._tasks, return_exceptions=True)
            if self.recogniser is not None:  # the last worker has drained: nobody needs it
                await self.recogniser.stop()
            if recogniser_keeper is not None:
                recogniser_keeper.cancel()
                await asyncio.gather(recogniser_keeper, return_exceptions=True)
            await self.hub.close()
            listener.close()


async def readable(sock: socket.socket) -> None:
    await _ready(sock, writing=False)


async def writable(sock: socket.socket) -> None:
    await _ready(sock, writing=True)


async def _ready(sock: socket.socket, *, writing: bool) -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not future.done():
            future.set_result(None)

    (loop.add_writer if writing else loop.add_reader)(sock, ready)
    try:
        await future
    finally:
        (loop.remove_writer if writing else loop.remove_reader)(sock)
