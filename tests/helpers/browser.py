"""Headless Chromium for the page tests: its binary, flags for a fake camera and microphone, where screenshots go."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# The in-app browsers candidates open invite links in.
WECHAT_ANDROID = (
    "Mozilla/5.0 (Linux; Android 12; Pixel 6 Build/SQ3A.220705.003; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 MMWEBSDK/20230303 MMWEBID/2585 "
    "MicroMessenger/8.0.34.2340(0x28002237) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64"
)


def chromium_flags(speech_wav: Path, face_y4m: Path) -> list[str]:
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={speech_wav}",
        f"--use-file-for-fake-video-capture={face_y4m}",
        "--allow-loopback-in-peer-connection",
    ]


@contextlib.asynccontextmanager
async def chromium(speech_wav: Path, face_y4m: Path, drop: tuple[str, ...] = ()) -> AsyncIterator[Browser]:
    """Headless Chromium whose fake microphone and camera play these files (without the flags in `drop`)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (apt-get install chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[f for f in chromium_flags(speech_wav, face_y4m) if f not in drop]
        )
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def logged_page(speech_wav: Path, face_y4m: Path) -> AsyncIterator[Page]:
    """A page in such a Chromium whose console, and any answer of 400 or more, goes to the test's output."""
    async with chromium(speech_wav, face_y4m) as browser:
        page = await browser.new_page()
        page.on("console", lambda msg: print(f"[page] {msg.type}: {msg.text}"))
        page.on("response", lambda response: response.status >= 400 and print(f"[page] {response.status} {response.url}"))
        yield page
