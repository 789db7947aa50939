"""The candidate page in headless Chromium with a fake camera and microphone, end to end over WHIP."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.async_api import Page, async_playwright

from tests.conftest import LiveServer, make_settings, start_server
from tests.media_files import best_envelope_correlation, read_wav_mono
from tests.webrtc_helpers import CapturingConsumer

pytestmark = [pytest.mark.webrtc, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def chromium_flags(speech_wav: Path, face_y4m: Path) -> list[str]:
    return [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={speech_wav}", f"--use-file-for-fake-video-capture={face_y4m}",
        "--allow-loopback-in-peer-connection",
    ]


@pytest.fixture
async def capture() -> CapturingConsumer:
    return CapturingConsumer()


@pytest.fixture
async def server(tmp_path: Path, capture: CapturingConsumer) -> AsyncIterator[LiveServer]:
    settings = make_settings(tmp_path / "data")
    uv, task, app = await start_server(settings, capture)
    async with httpx.AsyncClient(timeout=20) as http:
        yield LiveServer(app=app, settings=settings, http=http)
    uv.should_exit = True
    await task


@pytest.fixture
async def page(speech_wav: Path, face_y4m: Path) -> AsyncIterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (apt-get install chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_flags(speech_wav, face_y4m))
        page = await browser.new_page()
        page.on("console", lambda msg: print(f"[page] {msg.type}: {msg.text}"))
        yield page
        await browser.close()


async def outbound_video(page: Page) -> dict:
    return await page.evaluate(
        """async () => {
            const stats = await window.interview.pc.getStats();
            let video = null; const codecs = {};
            stats.forEach((r) => {
                if (r.type === 'outbound-rtp' && r.kind === 'video') video = r;
                if (r.type === 'codec') codecs[r.id] = r.mimeType;
            });
            return { framesSent: video.framesSent, width: video.frameWidth, height: video.frameHeight,
                     codec: codecs[video.codecId] };
        }"""
    )


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_candidate_page_streams_to_the_server_and_gets_the_first_question(
    server: LiveServer, capture: CapturingConsumer, page: Page, speech_wav: Path, codec: str
) -> None:
    interview, token = await server.schedule()
    await page.goto(f"{server.url}/i/{token}?codec={codec}")
    await page.wait_for_function("document.getElementById('greeting').textContent.includes('Alex Chen')")
    await page.check("#consent")
    await page.click("#start")

    await page.wait_for_function("window.interview.messages.some((m) => m.type === 'question')", timeout=15_000)
    timing = await page.evaluate(
        "({ connectedAt: window.interview.connectedAt, questionAt: window.interview.messages.find((m) => m.type === 'question').at })"
    )
    assert timing["questionAt"] - timing["connectedAt"] < 2000, timing
    assert await page.text_content("#question-text") == "Question number 1?"

    await asyncio.sleep(6.0)
    sent = await outbound_video(page)
    await asyncio.sleep(0.3)
    ingest = capture.ingests[0]
    decoded = ingest.stats.video_frames
    print(f"\n{codec}: sent {sent}, server decoded {decoded} frames, audio {ingest.stats.audio_seconds:.1f} s")
    assert sent["codec"].lower() == f"video/{codec}"
    assert decoded >= 0.9 * sent["framesSent"], f"decoded {decoded} of {sent['framesSent']}"

    received = np.concatenate([c.samples for c in capture.chunks])
    reference, rate = read_wav_mono(speech_wav)
    r = best_envelope_correlation(received, 16_000, reference, rate)
    print(f"{codec}: loudness envelope correlation r = {r:.3f}")
    assert r >= 0.9

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"candidate-{codec}.png"))
    await page.click("#answer-done")
    await page.wait_for_function("document.getElementById('question-text').textContent === 'Question number 2?'")
