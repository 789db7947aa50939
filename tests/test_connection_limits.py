"""Connections from outside, over real sockets: slow headers are cut off, one address cannot hold the node's
connections, the node holds no more than its cap, and an honest client still gets in during the attack."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.ops.connection_limits import ConnectionGuard
from tests.conftest import LiveServer, make_settings, serving

PARTIAL_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: node\r\n"  # headers never finished


class SlowLoris:
    """Raw connections that send a request's first line and then one header line every `every_s`, never the end."""

    def __init__(self, port: int, every_s: float = 0.2) -> None:
        self.port, self.every_s = port, every_s
        self.answers: list[tuple[float, bytes]] = []  # (seconds after opening, what the node sent before closing)
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self, count: int) -> None:
        for _ in range(count):
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            self._tasks.append(asyncio.create_task(self._dribble(reader, writer)))

    async def _dribble(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opened = time.monotonic()
        reading = asyncio.create_task(reader.read())  # everything until the node closes the connection
        try:
            line = PARTIAL_REQUEST
            while not reading.done():
                with contextlib.suppress(ConnectionError):  # a refused connection may be closed before we write
                    writer.write(line)
                    await writer.drain()
                line = b"X-Dribble: 1\r\n"
                await asyncio.wait({reading}, timeout=self.every_s)
            self.answers.append((time.monotonic() - opened, reading.result()))
        finally:
            reading.cancel()
            writer.close()

    async def ended(self, timeout_s: float) -> None:
        await asyncio.wait_for(asyncio.gather(*self._tasks), timeout_s)

    def statuses(self) -> list[int]:
        return sorted(int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0 for _, answer in self.answers)


@contextlib.asynccontextmanager
async def honest_client(source: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=source), timeout=5) as client:
        yield client


async def test_slow_headers_are_cut_off_and_one_address_cannot_hold_the_nodes_connections(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", http_header_timeout_s=1.0, max_connections_per_client=10, trusted_proxies=[])
    async with serving(settings) as server:
        attack = SlowLoris(settings.port)
        await attack.open(30)
        # While the attack holds its connections, a candidate from another address is served.
        async with honest_client("127.0.0.2") as client:
            assert (await client.get(f"{server.url}/healthz")).status_code == 200
        await attack.ended(timeout_s=10)
        assert attack.statuses() == [408] * 10 + [429] * 20
        refused_at = [at for at, answer in attack.answers if b" 429 " in answer]
        cut_at = [at for at, answer in attack.answers if b" 408 " in answer]
        assert max(refused_at) < 0.5, "over the per-address cap: refused at once"
        assert all(0.9 < at < 3 for at in cut_at), "dribbling headers does not keep a connection: cut at the header timeout"
        assert all(b'"status": 429' in a for _, a in attack.answers if b" 429 " in a), "a problem document says why"
        guard = guard_of(server)
        assert guard.open_connections == 0 and guard.headers_timed_out == 10 and guard.refused_client_full == 20


async def test_a_keep_alive_connection_gets_no_more_time_for_its_next_request(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", http_header_timeout_s=1.0, http_keep_alive_s=30)
    async with serving(settings):
        reader, writer = await asyncio.open_connection("127.0.0.1", settings.port)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n")
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            writer.write(PARTIAL_REQUEST)  # the next request on the same connection, never finished
            rest = await asyncio.wait_for(reader.read(), 5)
            assert b"HTTP/1.1 408" in rest and time.monotonic() - started < 3
        finally:
            writer.close()


async def test_the_node_holds_no_more_connections_than_its_cap_and_recovers(tmp_path: Path) -> None:
    # From a trusted proxy (loopback, the default) the per-address cap does not apply; the node's own cap does.
    settings = make_settings(tmp_path / "data", http_header_timeout_s=1.0, max_connections=20)
    async with serving(settings) as server:
        attack = SlowLoris(settings.port)
        await attack.open(25)
        await attack.ended(timeout_s=10)
        assert attack.statuses() == [408] * 20 + [503] * 5
        response = await server.http.get(f"{server.url}/healthz")
        assert response.status_code == 200, "the held connections were cut: the node takes new ones again"


def guard_of(server: LiveServer) -> ConnectionGuard:
    guard = server.app.state.connection_guard
    assert isinstance(guard, ConnectionGuard)
    return guard


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", None])
def test_loopback_proxies_are_trusted_by_default_and_others_are_not(peer: str | None) -> None:
    guard = ConnectionGuard.from_settings(make_settings(Path("/nonexistent")))
    assert guard.trusted(peer)
    assert not guard.trusted("203.0.113.9") and not guard.trusted("not-an-address")
