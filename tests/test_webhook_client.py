"""The webhook client against receivers that misbehave: every answer bounded, every connection to an allowed address,
kept alive while the receiver keeps it, and a closed or broken one never taken for an answer."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvloop

from hrms_bridge.destinations import DestinationPolicy
from hrms_bridge.pinned_transport import MAX_HEAD_BYTES, ConnectError, PinnedSession, ReadError, RemoteProtocolError
from tests.helpers.tls import self_signed

LOOPBACK = DestinationPolicy(allow_http=True, allow_private=True)
HEADERS = {"content-type": "application/json", "webhook-id": "msg_1"}
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return head, await reader.readexactly(length)


@asynccontextmanager
async def receiver(handle: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback receiver running `handle` per connection; yields its base URL and the ports clients came from."""
    peers: list[int] = []

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[1])
        try:
            await handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(accepted, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", peers


@asynccontextmanager
async def session(timeout_s: float = 5.0, tls: ssl.SSLContext | None = None) -> AsyncIterator[PinnedSession]:
    client = PinnedSession(LOOPBACK, timeout_s, "interview-server-webhooks/1", max_connections=8, tls=tls)
    try:
        yield client
    finally:
        await client.aclose()


async def test_requests_go_out_whole_and_one_connection_carries_them_while_the_receiver_keeps_it() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            seen.append(await read_request(reader))
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy")

    async with receiver(keep_alive) as (url, peers), session() as client:
        answers = [await client.post(f"{url}/hooks/a b?x=1&y=%20", b'{"n": %d}' % n, HEADERS) for n in range(5)]
    assert answers == [(503, "7")] * 5
    assert len(peers) == 1, "kept alive: one connection for five requests"
    head, body = seen[0]
    assert head.startswith(b"POST /hooks/a%20b?x=1&y=%20 HTTP/1.1\r\n") and b"\r\nwebhook-id: msg_1\r\n" in head
    assert body == b'{"n": 0}' and b"Host: 127.0.0.1:" in head


def test_the_client_works_on_uvloop_the_servers_event_loop() -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(test_requests_go_out_whole_and_one_connection_carries_them_while_the_receiver_keeps_it())
        runner.run(test_an_endless_answer_is_cut_off_not_read())


async def test_a_receiver_that_closes_kept_connections_gets_the_next_request_on_a_new_one() -> None:
    async def one_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")  # says keep-alive, then closes: a timeout elapsed
        await writer.drain()

    async with receiver(one_each) as (url, peers), session() as client:
        for _ in range(3):
            assert await client.post(url + "/", b"{}", HEADERS) == (200, None)
            await asyncio.sleep(0.05)  # the receiver's close arrives while the connection is idle
    assert len(peers) == 3


async def test_a_request_on_a_kept_connection_the_receiver_drops_unanswered_goes_again_on_a_new_one() -> None:
    connections = 0

    async def drops_the_second(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        if connections == 1:  # the first connection's next request meets a close (its idle timeout ran out just then)
            await read_request(reader)

    async with receiver(drops_the_second) as (url, peers), session() as client:
        assert await client.post(url + "/", b"{}", HEADERS) == (200, None)
        assert await client.post(url + "/", b"{}", HEADERS) == (200, None), "sent again on a new connection"
    assert len(peers) == 2


async def test_an_answer_without_a_length_ends_with_its_connection_and_its_status_stands() -> None:
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 202 Accepted\r\n\r\nqueued")
        await writer.drain()

    async with receiver(until_close) as (url, _), session() as client:
        assert await client.post(url + "/", b"{}", HEADERS) == (202, None)


async def test_an_endless_answer_is_cut_off_not_read() -> None:
    async def endless_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(50 * MAX_HEAD_BYTES // 1000):
            writer.write(b"x-filler: " + b"a" * 1000 + b"\r\n")
            await writer.drain()

    async def endless_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(10_000):
            writer.write(b"400\r\n" + b"b" * 1024 + b"\r\n")
            await writer.drain()

    async with receiver(endless_head) as (url, _), session() as client:
        with pytest.raises(RemoteProtocolError, match="head is over"):
            await client.post(url + "/", b"{}", HEADERS)
    async with receiver(endless_body) as (url, peers), session() as client:
        assert await client.post(url + "/", b"{}", HEADERS) == (200, None), "the status stands; the body is left unread"
        assert await client.post(url + "/", b"{}", HEADERS) == (200, None)
    assert len(peers) == 2, "a connection whose answer was cut off is not used again"


async def test_what_is_not_an_answer_is_an_error_never_a_status() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")  # closed before the head is whole
        await writer.drain()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with receiver(garbage) as (url, _), session() as client:
        with pytest.raises(RemoteProtocolError):
            await client.post(url + "/", b"{}", HEADERS)
    async with receiver(hang_up) as (url, _), session() as client:
        with pytest.raises(ReadError):
            await client.post(url + "/", b"{}", HEADERS)
    async with receiver(silent) as (url, _), session(timeout_s=0.3) as client:
        with pytest.raises(TimeoutError):
            await client.post(url + "/", b"{}", HEADERS)
    async with session() as client:
        with pytest.raises(ConnectError):
            await client.post("http://127.0.0.1:9/", b"{}", HEADERS)  # nothing listens on discard here


async def test_https_verifies_the_certificate_for_the_urls_name(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "127.0.0.1")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)

    async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    trusting = ssl.create_default_context(cafile=str(cert))
    other = tmp_path / "other"
    other.mkdir()
    trusting_another = ssl.create_default_context(cafile=str(self_signed(other, "127.0.0.1")[0]))
    async with receiver(ok, server_tls) as (url, _):
        async with session(tls=trusting) as client:
            assert await client.post(url + "/", b"{}", HEADERS) == (204, None)
        async with session(tls=trusting_another) as client:
            with pytest.raises(ConnectError, match="certificate verify failed"):
                await client.post(url + "/", b"{}", HEADERS)
        async with session() as client:  # certifi's authorities: none of them signed it
            with pytest.raises(ConnectError, match="certificate verify failed"):
                await client.post(url + "/", b"{}", HEADERS)


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    async with session() as client:
        with pytest.raises(ValueError, match="control characters"):
            await client.post("http://127.0.0.1:9/", b"{}", {"webhook-id": "x\r\nInjected: 1"})
