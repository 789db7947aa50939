"""The candidate page in headless Chromium with a fake camera and microphone, end to end over WHIP."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from playwright.async_api import Page, async_playwright

from tests.conftest import API_KEY, LiveServer, make_settings, serving
from tests.helpers.browser import ARTIFACTS, CHROMIUM, chromium_flags, logged_page
from tests.helpers.candidate_page import start_interview
from tests.helpers.media_files import best_envelope_correlation, make_speech_wav, read_wav_mono
from tests.helpers.waiting import eventually, wait_until
from tests.helpers.webrtc import CapturingConsumer

pytestmark = [pytest.mark.webrtc, pytest.mark.browser]


@pytest.fixture
async def page(speech_wav: Path, face_y4m: Path) -> AsyncIterator[Page]:
    async with logged_page(speech_wav, face_y4m) as page:
        yield page


async def outbound_video(page: Page) -> dict:
    return await page.evaluate(
        """async () => {
            const stats = await window.interview.pc.getStats();
            let video = null; const codecs = {};
            stats.forEach((r) => {
                if (r.type === 'outbound-rtp' && r.kind === 'video') video = r;
                if (r.type === 'codec') codecs[r.id] = r.mimeType;
            });
            return { framesSent: video.framesSent, fps: video.framesPerSecond, width: video.frameWidth,
                     height: video.frameHeight, codec: codecs[video.codecId] };
        }"""
    )


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_candidate_page_streams_to_the_server_and_gets_the_first_question(
    capturing_server: LiveServer, capture: CapturingConsumer, page: Page, speech_wav: Path, codec: str
) -> None:
    server = capturing_server
    _interview, token = await server.schedule()
    await page.goto(f"{server.url}/i/{token}?codec={codec}")
    await page.wait_for_function("document.getElementById('greeting').textContent.includes('Alex Chen')")
    await start_interview(page)

    await page.wait_for_function("window.interview.messages.some((m) => m.type === 'question')", timeout=15_000)
    # In the order the server sent them on the socket: the media connected, then the first question. (The page's own
    # peer-connection event is no measure: a consent hiccup under load fires "connected" again, later.)
    kinds = await page.evaluate(
        "window.interview.messages.filter((m) => m.type === 'question' || (m.type === 'media' && m.state === 'connected'))"
        ".map((m) => m.type)"
    )
    assert kinds[:2] == ["media", "question"], f"the first question waits for the media connection: {kinds}"
    assert await page.text_content("#question-text") == "Question number 1?"

    # Six seconds of video at the page's 15 fps go out; nearly every frame sent by then must be decoded
    # (frames still in flight are not losses, so the check waits for them).
    async def sent_frames() -> bool:
        return (await outbound_video(page))["framesSent"] >= 90

    await eventually(sent_frames, timeout=30, what="six seconds of video sent")
    sent = await outbound_video(page)
    ingest = capture.ingests[0]
    await wait_until(lambda: ingest.stats.video_frames >= 0.9 * sent["framesSent"], timeout=10, what="90 % of sent frames decoded")
    decoded = ingest.stats.video_frames
    print(f"\n{codec}: sent {sent}, server decoded {decoded} frames, audio {ingest.stats.audio_seconds:.1f} s")
    assert sent["codec"].lower() == f"video/{codec}"
    assert decoded >= 0.9 * sent["framesSent"], f"decoded {decoded} of {sent['framesSent']}"
    # The fake camera gives 30 frames a second; the page sends at most 15 (the server looks at 5).
    assert sent["fps"] is not None and sent["fps"] <= 16, sent

    received = np.concatenate([c.samples for c in capture.chunks])
    reference, rate = read_wav_mono(speech_wav)
    r = best_envelope_correlation(received, 16_000, reference, rate)
    print(f"{codec}: loudness envelope correlation r = {r:.3f}")
    assert r >= 0.9

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"candidate-{codec}.png"))
    await page.click("#answer-done")
    await page.wait_for_function("document.getElementById('question-text').textContent === 'Question number 2?'")


@pytest.fixture
async def scoring_server(tmp_path: Path, scoring_engine) -> AsyncIterator[LiveServer]:  # type: ignore[no-untyped-def]
    async with serving(make_settings(tmp_path / "data"), None, scoring_engine) as live:
        yield live


@pytest.fixture
async def sentences_page(speech_wav: Path, media_dir: Path, face_y4m: Path) -> AsyncIterator[Page]:
    """A page whose fake microphone says the speech clip, then is silent for three seconds (and loops): a candidate
    speaking in sentences, each one utterance of its own (a pause under two seconds would join them into one, scored
    only when it reaches 28 s). Played without the pause, the loop is one unbroken segment of speech until that
    limit, in which only the early finals at its short pauses are decoded: whether a partial ever came in the
    test's wait depended on where that limit fell."""
    paused = media_dir / "speech-then-3s-pause.wav"
    if not paused.exists():
        subprocess.run(["sox", str(speech_wav), str(paused), "pad", "0", "3"], check=True)
    async with logged_page(paused, face_y4m) as page:
        yield page


async def test_live_captions_reach_the_page_while_the_microphone_speaks(scoring_server: LiveServer, sentences_page: Page) -> None:
    page = sentences_page
    interview, token = await scoring_server.schedule()
    await page.goto(f"{scoring_server.url}/i/{token}")
    await start_interview(page)
    # Captions are off until the candidate asks for them, and nobody from HR watches: no partial is decoded at all
    # (an early final that a pause did not end still shows as a partial: it was decoded anyway).
    await page.wait_for_function("window.interview.messages.some((m) => m.type === 'caption' && m.final)", timeout=45_000)
    stats = (await scoring_server.http.get(f"{scoring_server.url}/api/v1/stats", headers={"X-API-Key": API_KEY})).json()
    decoded = stats["models"]["transcription"]
    # A final is decoded as such, or as the early final its pause started (which then answered for it).
    assert decoded["partials"] == 0 and decoded["finals"] + decoded["early"] >= 1, decoded

    await page.click("#captions-toggle")

    async def partials_decoded() -> bool:
        stats = (await scoring_server.http.get(f"{scoring_server.url}/api/v1/stats", headers={"X-API-Key": API_KEY})).json()
        return bool(stats["models"]["transcription"]["partials"] >= 1)

    await eventually(partials_decoded, timeout=45, what="partial captions decoded once the candidate reads them")
    # And an utterance shows partials before its final.
    await page.wait_for_function(
        """(() => { const m = window.interview.messages; const p = m.find((x) => x.type === 'caption' && !x.final);
                    return p && m.some((x) => x.type === 'caption' && x.final && x.utterance === p.utterance); })()""",
        timeout=45_000,
    )
    messages = await page.evaluate("window.interview.messages")
    partials = [m for m in messages if m["type"] == "caption" and not m["final"]]
    final = next(m for m in messages if m["type"] == "caption" and m["final"] and m["utterance"] == partials[0]["utterance"])
    speech_started = [m for m in messages if m["type"] == "speech" and m["state"] == "started" and m["at"] <= partials[0]["at"]][-1]
    print(
        f"\nfirst partial {partials[0]['at'] - speech_started['at']:.0f} ms after speech start: {partials[0]['stable']!r} + {partials[0]['unstable']!r}"
    )
    print(f"final: {final['stable']!r} ({final['language']})")
    assert partials[0]["at"] < final["at"], "a partial caption arrives before the final one"
    assert final["language"] == "en"
    words = set(final["stable"].lower().replace(".", "").replace(",", "").split())
    assert {"name", "alex"} <= words, final["stable"]  # "Good morning," may be a segment of its own before it
    await page.wait_for_function("document.getElementById('caption-final').textContent.length > 10")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "candidate-captions.png"))

    # What is scored is stored: the first sentence, as one utterance of the first question.
    async def first_utterance_stored() -> bool:
        return bool((await scoring_server.interview_state(interview.id))["transcripts"])

    await eventually(first_utterance_stored, timeout=30, what="the first utterance's transcript stored")
    state = await scoring_server.interview_state(interview.id)
    assert state["interview"]["status"] == "in_progress"
    stored = state["transcripts"][0]
    assert stored["question_id"] == "q1" and {"name", "alex"} <= set(stored["text"].lower().replace(".", "").replace(",", "").split())
    stats = (await scoring_server.http.get(f"{scoring_server.url}/api/v1/stats", headers={"X-API-Key": API_KEY})).json()
    assert stats["media_sessions"] == 1
    assert stats["models"]["vad"]["requests"] > 100 and stats["models"]["faces"]["requests"] > 5
    decoded = stats["models"]["transcription"]
    assert decoded["finals"] + decoded["early"] >= 1 and decoded["partials"] >= 1, decoded
    video = state["video"]
    assert video["seconds"] >= 3 and video["face_present_seconds"] >= video["seconds"] - 1, video
    assert video["multiple_faces_seconds"] == 0
    metrics = (await scoring_server.http.get(f"{scoring_server.url}/metrics")).text
    assert "interview_media_sessions 1.0" in metrics and 'interview_model_requests_total{model="vad"}' in metrics
    lag_count = next(line for line in metrics.splitlines() if line.startswith("interview_final_transcript_lag_seconds_count"))
    assert float(lag_count.split()[-1]) >= 1


async def test_a_text_interview_in_the_browser_runs_to_the_thank_you_page(scoring_server: LiveServer, page: Page) -> None:
    interview, token = await scoring_server.schedule(questions=2, mode="text")
    await page.goto(f"{scoring_server.url}/i/{token}")
    await page.wait_for_function("document.getElementById('consent-text').textContent.includes('in writing')")
    await start_interview(page)
    for number, answer in ((1, "I would add an index and read the query plan."), (2, "I would write a postmortem with the team.")):
        await page.wait_for_function(f"document.getElementById('question-text').textContent === 'Question number {number}?'")
        assert await page.is_hidden("#preview")
        await page.fill("#answer-text", answer)
        await page.click("#send-answer")
    await page.wait_for_selector("#done-step", state="visible")
    report = (
        await scoring_server.http.get(f"{scoring_server.url}/api/v1/interviews/{interview.id}/report", headers={"X-API-Key": API_KEY})
    ).json()["report"]
    assert [(q["question_id"], q["typed"]) for q in report["questions"]] == [
        ("q1", ["I would add an index and read the query plan."]),
        ("q2", ["I would write a postmortem with the team."]),
    ]


@pytest.fixture
async def answer_then_pause_page(media_dir: Path, face_y4m: Path) -> AsyncIterator[Page]:
    """Chromium whose fake microphone says one sentence and a closing phrase, then stays silent for four seconds
    (and loops)."""
    speech = make_speech_wav(media_dir / "short-answer.wav", "I have six years of experience with Python and Postgres. I'm done.")
    paused = media_dir / "answer-then-pause.wav"
    subprocess.run(["sox", str(speech), str(paused), "pad", "0.5", "4.0"], check=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_flags(paused, face_y4m))
        yield await browser.new_page()
        await browser.close()


async def test_the_next_question_follows_a_spoken_closing_phrase(scoring_server: LiveServer, answer_then_pause_page: Page) -> None:
    page = answer_then_pause_page
    interview, token = await scoring_server.schedule(questions=2, mode="voice")
    await page.goto(f"{scoring_server.url}/i/{token}")
    await start_interview(page)
    await page.wait_for_function("document.getElementById('question-text').textContent === 'Question number 2?'", timeout=45_000)
    messages = await page.evaluate("window.interview.messages")
    closing = next(m for m in messages if m["type"] == "caption" and m["final"] and "done" in m["stable"].lower())
    second = next(m for m in messages if m["type"] == "question" and m["index"] == 1)
    delay_ms = second["at"] - closing["at"]
    print(f"\nnext question {delay_ms:.0f} ms after the page showed the closing phrase's caption")
    assert 0 <= delay_ms < 5000
    assert await page.is_hidden("#preview")  # voice-only: no camera
    state = await scoring_server.interview_state(interview.id)
    first = state["scored_answers"][0]
    # "experience", not "Python": Whisper base hears espeak's "Python" as "Ivan" now and then through the browser's audio path.
    assert first["end_reason"] == "closing_phrase" and "experience" in " ".join(t["text"] for t in first["transcript"]).lower()
