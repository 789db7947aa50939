"""Headless Chromium for the page tests: its binary, flags for a fake camera and microphone, where screenshots go."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


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
