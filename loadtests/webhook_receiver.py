"""The webhook benchmark's receiver: a process of its own, a bare HTTP/1.1 server that answers 200 and notes each request.

    python -m loadtests.webhook_receiver PORT LOG [ANSWER_AFTER_MS]

It stands for an HRMS on another machine, so it does as little as a receiver can and imports nothing of the server's: as
part of `loadtests.bench_webhooks` it imported the whole server (seconds of CPU on a slow day, counted as the receiver's
cost per request when they ran into the measured time), and its asyncio streams server spent about twice this one's CPU
on each request. Every 0.2 s it writes how many requests came (LOG.count) and how many distinct (webhook-id, path)
pairs (LOG.unique), the first time once it is listening; on SIGTERM it writes LOG: one line per request, `sent_at` (from
the body), when it came, its webhook-id and its path. ANSWER_AFTER_MS (default 0) holds each answer that long, as an HR
system that does some work before it answers.
"""

from __future__ import annotations

import asyncio
import gc
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import httptools
import uvloop

_SENT_AT = re.compile(rb'"sent_at":\s*([0-9.eE+-]+)')
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


class _Connection(asyncio.Protocol):
    """One connection: requests parsed by httptools (llhttp), each answered 200 once its body is in."""

    def __init__(self, seen: list[str], unique: set[bytes], answer_after_s: float) -> None:
        self._seen, self._unique, self._answer_after_s = seen, unique, answer_after_s
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._webhook_id = b""
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            assert self._transport is not None
            self._transport.close()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._url, self._webhook_id, self._body = b"", b"", []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"webhook-id":
            self._webhook_id = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        at = time.time()
        assert self._transport is not None
        if self._answer_after_s:
            asyncio.get_running_loop().call_later(self._answer_after_s, self._answer)
        else:
            self._transport.write(_OK)
        sent_at = _SENT_AT.search(b"".join(self._body))
        self._unique.add(self._webhook_id + b" " + self._url)
        self._seen.append(f"{sent_at.group(1).decode() if sent_at else at} {at} {self._webhook_id.decode()} {self._url.decode()}")

    def _answer(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(_OK)


async def serve(port: int, log: Path, answer_after_s: float = 0.0) -> None:
    seen: list[str] = []
    unique: set[bytes] = set()  # (webhook-id, path): one event at one endpoint
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(seen, unique, answer_after_s), "127.0.0.1", port, backlog=1024)
    count, distinct = log.with_suffix(".count"), log.with_suffix(".unique")
    async with server:
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        while not stop.is_set():  # how many so far, for the bench to wait on without asking the store
            distinct.write_text(str(len(unique)))
            count.write_text(str(len(seen)))
            await asyncio.wait([asyncio.ensure_future(stop.wait())], timeout=0.2)
    log.write_text("\n".join(seen))


async def start_process(command: list[str], ready: Path, what: str, timeout_s: float = 60.0) -> subprocess.Popen[bytes]:
    """`command` in a process of its own, once it has written `ready` (killed, and an error, if it exits or runs out
    of time first): measured from then, a process's start (importing the server takes seconds) is not counted."""
    process = subprocess.Popen(command)
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{what} did not start")
        await asyncio.sleep(0.05)
    return process


async def start_receiver(port: int, log: Path, answer_after_ms: float = 0.0) -> subprocess.Popen[bytes]:
    """The receiver in a process of its own, once it is listening on `port`."""
    command = [sys.executable, "-m", "loadtests.webhook_receiver", str(port), str(log), str(answer_after_ms)]
    return await start_process(command, log.with_suffix(".count"), f"the webhook receiver on port {port}")


def main() -> None:
    # It holds a list of a million strings and nothing cyclic: the collector walking that list took a tenth of its time.
    gc.disable()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(int(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.0))


if __name__ == "__main__":
    main()
