"""A server in its own process (`interview-server serve`), for tests that kill it or read its output."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from loadtests.whip_client import give_consent
from tests.conftest import API_KEY, ASSET_DIR

HR = {"X-API-Key": API_KEY}


def start_server(data_dir: Path, port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "INTERVIEW_DATA_DIR": str(data_dir),
        "INTERVIEW_PORT": str(port),
        "INTERVIEW_SCORING": "false",
        "INTERVIEW_ADMISSION_CONTROL": "false",  # a busy test machine must not refuse the test's interviews
        "INTERVIEW_ASSET_DIR": str(ASSET_DIR),  # prepared by scripts/test.sh: the server fetches nothing
        "INTERVIEW_API_KEYS": API_KEY,
        "INTERVIEW_SECRET_KEY": "kill-test-secret-0123456789abcdef",
        "INTERVIEW_WEBHOOK_ALLOW_HTTP": "true",
        "INTERVIEW_WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
        "INTERVIEW_WEBHOOK_RETRY_SCHEDULE_S": ",".join(["0.3"] * 40),
        # A SIGKILL during an attempt leaves it claimed for timeout + CLAIM_MARGIN_S: keep that inside the wait below.
        "INTERVIEW_WEBHOOK_TIMEOUT_S": "2",
        **(extra_env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(data_dir.parent / "server.log", "ab"),
    )


async def wait_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the server exited"
            try:
                if (await http.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError("server did not come up")


async def schedule_one_question(
    http: httpx.AsyncClient, base: str, candidate: str, mode: str = "text", api_key: str | None = None
) -> tuple[str, str]:
    """A one-question interview ("Why?") scheduled through the HR API with the candidate's consent given: its id and token."""
    body = {
        "job": {"title": "Backend engineer", "language": "en"},
        "candidate": {"name": candidate},
        "mode": mode,
        "max_questions": 1,
        "question_bank": [{"id": "q1", "competency": "skills", "difficulty": "standard", "text": {"en": "Why?"}}],
    }
    headers = HR if api_key is None else {"X-API-Key": api_key}
    response = await http.post(f"{base}/api/v1/interviews", json=body, headers=headers)
    assert response.status_code == 201, response.text
    interview_id, token = response.json()["interview"]["id"], response.json()["invite_token"]
    await give_consent(http, f"{base}/api/v1/interviews/{interview_id}", token)
    return interview_id, token


async def complete_text_interview(http: httpx.AsyncClient, base: str, api_key: str | None = None) -> str:
    interview_id, token = await schedule_one_question(http, base, "Kill Test", api_key=api_key)
    async with connect(base.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}") as ws:
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        await ws.send(json.dumps({"v": 1, "type": "answer.text", "question_id": "q1", "text": "Because."}))
        await ws.send(json.dumps({"v": 1, "type": "answer.done", "question_id": "q1"}))
        while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "completed":
            pass
    return interview_id
