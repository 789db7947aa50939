"""Node logs: JSON lines tagged with the interview they concern, and never an invite token."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from server.ops.logs import OWN_LOGGERS, InterviewContextMiddleware, configure_logging
from tests.conftest import API_KEY, free_port
from tests.helpers.processes import wait_healthy

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhYmMifQ.c2lnbmF0dXJlX2hlcmU"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    own = [logging.getLogger(name) for name in OWN_LOGGERS]
    saved = (root.handlers[:], root.level, [logger.level for logger in own])
    configure_logging("info", "json", node="node-a", stream=stream)
    yield stream
    root.handlers[:], root.level, levels = saved
    for logger, level in zip(own, levels, strict=True):
        logger.setLevel(level)


async def test_records_made_while_handling_an_interview_carry_its_id(json_log: io.StringIO) -> None:
    async def report(request: Request) -> PlainTextResponse:
        logging.getLogger("server.test").info("report asked for")
        return PlainTextResponse("ok")

    async def health(request: Request) -> PlainTextResponse:
        logging.getLogger("server.test").info("health asked for")
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/api/v1/interviews/{interview_id}/report", report), Route("/healthz", health)],
        middleware=[Middleware(InterviewContextMiddleware)],
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        await client.get("/api/v1/interviews/3f2a9c/report")
        await client.get("/healthz")
    lines = [r for line in json_log.getvalue().splitlines() if (r := json.loads(line))["logger"] == "server.test"]
    assert [(r["message"], r["interview_id"], r["node"], r["level"]) for r in lines] == [
        ("report asked for", "3f2a9c", "node-a", "INFO"),
        ("health asked for", None, "node-a", "INFO"),
    ]
    assert {"time", "logger"} <= set(lines[0])


def test_invite_tokens_are_cut_out_of_access_log_paths(json_log: io.StringIO) -> None:
    access = logging.getLogger("uvicorn.access")
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/i/{TOKEN}", "1.1", 200)
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/ws/hr?token={TOKEN}", "1.1", 101)
    short_code = "Xy3_kL9-QwErTyUiOpAsDf"  # a short invite link opens the interview as well as the token does
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/s/{short_code}", "1.1", 302)
    text = json_log.getvalue()
    assert TOKEN not in text and short_code not in text
    assert [json.loads(line)["message"].split('"')[1] for line in text.splitlines()] == [
        "GET /i/<token> HTTP/1.1",
        "GET /ws/hr?token=<token> HTTP/1.1",
        "GET /s/<token> HTTP/1.1",
    ]


async def test_serve_writes_json_lines_without_tokens(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "INTERVIEW_DATA_DIR": str(tmp_path / "data"),
        "INTERVIEW_PORT": str(port),
        "INTERVIEW_SCORING": "false",
        "INTERVIEW_API_KEYS": API_KEY,
        "INTERVIEW_SECRET_KEY": "log-test-secret-0123456789abcdef",
        "INTERVIEW_LOG_FORMAT": "json",
        "INTERVIEW_ASSET_DIR": str(tmp_path / "assets"),
    }
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            base = f"http://127.0.0.1:{port}"
            await wait_healthy(base, process)
            async with httpx.AsyncClient() as http:
                await http.get(f"{base}/i/{TOKEN}")
        finally:
            process.terminate()
            process.wait(timeout=20)
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message", "node"} <= set(r) for r in records)
    assert any("/i/<token>" in r["message"] for r in records)
    assert TOKEN not in log_path.read_text()


def test_library_chatter_stays_below_warning_while_the_servers_own_info_shows(json_log: io.StringIO) -> None:
    # onnxruntime's quantiser logs every tensor through the root logger at INFO (62 lines at the first start).
    logging.info('Quantization parameters for tensor:"Reshape_194" not specified')
    logging.getLogger("aioice.ice").info("connection state changed")
    logging.getLogger("server.cli").info("demo interview ready")
    logging.getLogger("aiortc").warning("a library's warning still shows")
    assert [json.loads(line)["message"] for line in json_log.getvalue().splitlines()] == [
        "demo interview ready",
        "a library's warning still shows",
    ]


def test_a_peer_that_makes_a_library_warn_on_every_frame_gets_one_line_not_a_flood(json_log: io.StringIO) -> None:
    aiortc = logging.getLogger("aiortc.rtcrtpreceiver")
    for _ in range(1000):  # what a garbage RTP stream made aiortc log: one WARNING per undecodable frame
        aiortc.warning("RTCRtpReceiver(%s) failed to decode %s frame: %s", "video", "VP8", "Invalid data")
    aiortc.warning("RTCRtpReceiver(%s) another problem", "audio")
    for _ in range(3):
        logging.getLogger("server.rtc").warning("the server's own warnings all show")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert [line["logger"] for line in lines] == ["aiortc.rtcrtpreceiver"] * 2 + ["server.rtc"] * 3
