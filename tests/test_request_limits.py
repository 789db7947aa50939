"""Limits on what one client may send the API and the candidate's socket: body size, nesting depth, open pages per
interview, chat messages. Each is answered with a clear problem or error, never a 500 or a dead socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from server.live.live_interview import CHAT_BURST, MAX_CANDIDATE_SOCKETS
from tests.conftest import API_KEY, LiveServer, make_settings, serving
from tests.helpers.interviews import next_of, receive_json, ws_url

HR = {"X-API-Key": API_KEY}
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with serving(make_settings(tmp_path / "data")) as live:
        yield live


async def test_a_body_over_the_limit_is_refused_before_it_is_read_whole(server: LiveServer) -> None:
    declared = await raw_post(server, {"Content-Length": str(20 << 20)}, [b"{" + b" " * 1024])
    assert declared.startswith(b"HTTP/1.1 413") and b'"code":"body_too_large"' in declared
    # Chunked, so no length is declared: the limit holds while the body streams in.
    chunk = b" " * (64 << 10)
    streamed = await raw_post(server, {"Transfer-Encoding": "chunked"}, [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 40)
    assert streamed.startswith(b"HTTP/1.1 413") and b"application/problem+json" in streamed
    assert (await server.http.get(f"{server.url}/healthz")).status_code == 200


async def raw_post(server: LiveServer, headers: dict[str, str], parts: list[bytes]) -> bytes:
    """What the node answers to a POST whose body it will not take in full; sent over a plain socket, as an attacker
    would, and read while the rest is still being offered (the node closes the connection after its answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.settings.port)
    fields = "".join(f"{name}: {value}\r\n" for name, value in {"Host": "node", "X-API-Key": API_KEY, **headers}.items())
    writer.write(f"POST /api/v1/interviews HTTP/1.1\r\n{fields}\r\n".encode())
    answer = asyncio.ensure_future(reader.read())
    try:
        for part in parts:
            if answer.done():
                break
            writer.write(part)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        return await asyncio.wait_for(answer, 5)
    finally:
        answer.cancel()
        writer.close()


async def test_json_nested_too_deep_is_a_422_not_a_500(server: LiveServer) -> None:
    response = await server.http.post(f"{server.url}/api/v1/interviews", content=DEEP, headers=HR)
    assert response.status_code == 422 and response.json()["code"] == "invalid_interview"
    endpoint = await server.http.post(f"{server.url}/api/v1/webhooks/endpoints", content=f'{{"url": {DEEP}}}', headers=HR)
    assert endpoint.status_code == 422


async def open_socket(server: LiveServer, interview_id: str, token: str) -> ClientConnection:
    ws = await connect(ws_url(server.url, interview_id, token))
    assert (await receive_json(ws))["type"] == "hello"
    return ws


async def test_a_deeply_nested_socket_message_is_refused_like_any_bad_json(server: LiveServer) -> None:
    interview, token = await server.schedule(mode="text")
    ws = await open_socket(server, interview.id, token)
    try:
        await ws.send("[" * 5_000 + "]" * 5_000)  # under the message size limit, deeper than Python parses
        assert (await next_of(ws, "error"))["code"] == "invalid_json"
    finally:
        await ws.close()
    again = await open_socket(server, interview.id, token)  # the interview is unharmed
    await again.close()


async def test_one_interview_opens_only_a_few_candidate_pages_at_once(server: LiveServer) -> None:
    interview, token = await server.schedule(mode="text")
    sockets = [await open_socket(server, interview.id, token) for _ in range(MAX_CANDIDATE_SOCKETS)]
    try:
        with pytest.raises(InvalidStatus) as refused:
            await connect(ws_url(server.url, interview.id, token))
        assert refused.value.response.status_code == 429
        await sockets.pop().close()
        await asyncio.wait_for(wait_for_room(server, interview.id, token), 5)
    finally:
        for ws in sockets:
            await ws.close()


async def wait_for_room(server: LiveServer, interview_id: str, token: str) -> None:
    while True:
        try:
            ws = await open_socket(server, interview_id, token)
        except InvalidStatus:
            await asyncio.sleep(0.05)
            continue
        await ws.close()
        return


async def test_chat_floods_are_slowed_and_the_socket_stays_open(server: LiveServer) -> None:
    interview, token = await server.schedule(mode="text")
    ws = await open_socket(server, interview.id, token)
    try:
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        for i in range(CHAT_BURST + 20):
            await ws.send(json.dumps({"v": 1, "type": "chat", "text": f"question {i}?"}))
        error = await next_of(ws, "error")
        assert error["code"] == "chat_too_fast"
        await ws.send(json.dumps({"v": 1, "type": "ping"}))
        await next_of(ws, "pong")
    finally:
        await ws.close()
