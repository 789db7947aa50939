"""The candidate's experience: the result endpoint, and the page's steps, languages, WeChat handling,
reconnects and chat in headless Chromium with a fake camera and microphone."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack
from playwright.async_api import Browser, BrowserContext, Page
from websockets.asyncio.client import connect

from loadtests.whip_client import WhipPublisher
from server.cluster.event_bus import interview_topic
from server.domain.interview import Interview
from server.live.candidate_messages import Pong
from tests.conftest import API_KEY, LiveServer, free_port, make_settings, serving
from tests.helpers.accessibility import check_state
from tests.helpers.browser import ARTIFACTS, WECHAT_ANDROID, chromium
from tests.helpers.candidate_page import give_consent, pass_welcome, start_interview
from tests.helpers.interviews import numbered_questions
from tests.helpers.media_files import speech_then_pause
from tests.helpers.wechat_fake import FakeWeChat, running, serving_with

WECHAT_IOS_14_3 = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 14_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.2(0x18000239) NetType/WIFI Language/zh_CN"
)
WECHAT_IOS_13 = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 13_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/7.0.20(0x17001428) NetType/WIFI Language/zh_CN"
)
# What only HR may see of a report; none of it may reach the candidate.
HR_ONLY = {
    "recommendation",
    "reasons",
    "evidence",
    "flags",
    "emotion_distribution",
    "dominant_emotion",
    "video",
    "match",
    "key_points_hit",
    "key_points_missed",
    "transcript",
    "typed",
    "delivery",
    "weights",
    "candidate_name",
}


def bank(count: int, language: str = "en", think_seconds: int = 10, answer_seconds: int = 120) -> list[dict[str, Any]]:
    return numbered_questions(count, language, think_seconds, answer_seconds)


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"experience-{name}.png"), full_page=True)


async def run_text_interview(server: LiveServer, interview_id: str, token: str, answers: list[str]) -> None:
    """Answer every question of a text interview over the candidate websocket until it completes."""
    url = server.url.replace("http://", "ws://") + f"/ws/interviews/{interview_id}?token={token}"
    async with connect(url) as ws:
        await ws.send(json.dumps({"v": 1, "type": "ready"}))
        pending = list(answers)
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if message["type"] == "completed":
                return
            if message["type"] == "question":
                qid = message["question"]["id"]
                await ws.send(json.dumps({"v": 1, "type": "answer.text", "question_id": qid, "text": pending.pop(0)}))
                await ws.send(json.dumps({"v": 1, "type": "answer.done", "question_id": qid}))


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


# ---- the result endpoint, over HTTP ----


async def test_the_result_needs_this_interviews_invite(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule(candidate_sees_result=True)
    _, other_token = await live_server.schedule(candidate_sees_result=True)
    url = f"{live_server.url}/api/v1/interviews/{interview.id}/result"
    missing = await live_server.http.get(url)
    assert missing.status_code == 401 and missing.json()["code"] == "missing_token"
    forged = await live_server.http.get(url, headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
    assert forged.status_code == 401 and forged.json()["code"] == "invalid_token"
    hr_key = await live_server.http.get(url, headers={"Authorization": f"Bearer {API_KEY}"})
    assert hr_key.status_code == 401
    other = await live_server.http.get(url, params={"token": other_token})
    assert other.status_code == 403 and other.json()["code"] == "wrong_interview"


async def test_the_result_is_refused_when_the_company_does_not_share_it(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule(questions=1, mode="text", question_bank=bank(1))
    await run_text_interview(live_server, interview.id, token, ["I would add an index."])
    assert (await live_server.interview_state(interview.id))["interview"]["status"] == "completed"
    response = await live_server.http.get(
        f"{live_server.url}/api/v1/interviews/{interview.id}/result", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403 and response.json()["code"] == "result_not_shared"
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_the_result_waits_for_the_report_then_shows_scores_and_suggestions_without_hr_fields(live_server: LiveServer) -> None:
    interview, token = await live_server.schedule(questions=2, mode="text", question_bank=bank(2), candidate_sees_result=True)
    url = f"{live_server.url}/api/v1/interviews/{interview.id}/result"
    early = await live_server.http.get(url, params={"token": token})
    assert early.status_code == 409 and early.json()["code"] == "result_not_ready" and early.headers["retry-after"] == "2"

    await run_text_interview(live_server, interview.id, token, ["I would add an index and read the query plan.", "No idea."])
    response = await live_server.http.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    result = response.json()
    report = (
        await live_server.http.get(f"{live_server.url}/api/v1/interviews/{interview.id}/report", headers={"X-API-Key": API_KEY})
    ).json()["report"]
    assert result["overall"] == report["recommendation"]["overall"] is not None
    assert result["competencies"] == {"skills": report["competencies"]["skills"]["score"]}
    assert [(q["text"], q["score"], q["answered"]) for q in result["questions"]] == [
        (q["text"], q["score"], q["answered"]) for q in report["questions"]
    ]
    assert result["questions"][0]["text"] == "Question number 1?" and result["questions"][0]["score"] > result["questions"][1]["score"]
    assert result["suggestions"] == report["suggestions"] and result["suggestions"]
    assert keys_of(result) & HR_ONLY == set()
    assert response.headers["cache-control"] == "no-store"


# ---- the page, in Chromium ----


@pytest.fixture(scope="module")
def sentences_with_pauses(media_dir: Path) -> Path:
    """One spoken sentence, then 1.2 s of silence, looping: each loop is an utterance with a final transcript,
    and the pause is far too short (under the 8 s of silence that ends an answer) to end the answer by itself."""
    text = "I have six years of experience with Python and Postgres."
    return speech_then_pause(media_dir / "sentences-with-pauses.wav", text, 0, 1.2)


@pytest.fixture(scope="module")
async def browser(sentences_with_pauses: Path, face_y4m: Path) -> AsyncIterator[Browser]:
    async with chromium(sentences_with_pauses, face_y4m) as launched:
        yield launched


async def open_page(browser: Browser, user_agent: str | None = None, **options: Any) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(user_agent=user_agent, viewport={"width": 480, "height": 900}, **options)
    # Count camera/microphone requests, so a test can tell the page never tried them.
    await context.add_init_script(
        """(() => { window.__getUserMediaCalls = 0; const md = navigator.mediaDevices;
             if (!md) return; const original = md.getUserMedia.bind(md);
             md.getUserMedia = (c) => { window.__getUserMediaCalls += 1; return original(c); }; })()"""
    )
    page = await context.new_page()
    page.on("console", lambda msg: print(f"[page] {msg.type}: {msg.text}"))
    page.on("response", lambda r: print(f"[page] {r.status} {r.request.method} {r.url}") if r.status >= 400 else None)
    return context, page


@pytest.fixture
async def scoring_server(tmp_path: Path, scoring_engine) -> AsyncIterator[LiveServer]:  # type: ignore[no-untyped-def]
    async with serving(make_settings(tmp_path / "data"), None, scoring_engine) as live:
        yield live


async def at_first_question(
    server: LiveServer, browser: Browser, user_agent: str | None = None, **spec: Any
) -> tuple[Interview, BrowserContext, Page]:
    """Schedule an interview, open its page and go through to the first question (practice skipped)."""
    interview, token = await server.schedule(**spec)
    context, page = await open_page(browser, user_agent)
    await page.goto(f"{server.url}/i/{token}")
    await start_interview(page)
    await page.wait_for_function("document.getElementById('question-text').textContent === 'Question number 1?'", timeout=30_000)
    return interview, context, page


async def visible_text(page: Page, selector: str) -> str:
    return await page.inner_text(selector)


async def outbound_video_codec(page: Page) -> str:
    return await page.evaluate(
        """async () => {
            const stats = await window.interview.pc.getStats(); let video = null; const codecs = {};
            stats.forEach((r) => { if (r.type === 'outbound-rtp' && r.kind === 'video') video = r;
                                   if (r.type === 'codec') codecs[r.id] = r.mimeType; });
            return codecs[video.codecId];
        }"""
    )


@pytest.mark.webrtc
@pytest.mark.browser
async def test_a_candidate_goes_from_the_device_check_through_practice_and_a_spoken_interview_to_their_result(
    scoring_server: LiveServer, browser: Browser
) -> None:
    server = scoring_server
    interview, token = await server.schedule(
        questions=2, mode="video", question_bank=bank(2, think_seconds=2, answer_seconds=60), candidate_sees_result=True
    )
    context, page = await open_page(browser)
    await page.goto(f"{server.url}/i/{token}")

    # Welcome: the role, how many questions, how long, how it works, and the choice of how to answer.
    await page.wait_for_selector("#welcome-step", state="visible")
    assert await page.get_attribute("html", "lang") == "en"
    welcome = await visible_text(page, "#welcome-step")
    assert "Backend engineer" in welcome and "Up to 2 questions" in welcome and "I'm done" in welcome
    await check_state(page, "desktop-en-welcome")
    await page.click("#welcome-continue")

    # Device check: camera preview, a moving microphone meter, a measured websocket round trip.
    await page.wait_for_selector("#device-step", state="visible")
    await page.click("#device-check")
    await page.wait_for_function("window.interview.micDbfs > -50 && window.interview.networkRttMs !== null", timeout=10_000)
    await page.wait_for_function("document.getElementById('device-preview').videoWidth > 0")
    assert await page.text_content("#camera-status") == "Working"
    assert re.fullmatch(r"Good \(\d+ ms round trip\)", await page.text_content("#network-status"))
    await check_state(page, "desktop-en-device-check")
    await page.click("#device-continue")

    # Consent says what a video interview analyses, emotion included since the server analyses it.
    hello = await page.evaluate("window.interview.info")
    assert hello["emotion_analysis"] is True and hello["show_result"] is True
    consent = await visible_text(page, "#consent-step")
    assert "camera and microphone" in consent and "facial expressions are analysed" in consent and "180 days" in consent
    await check_state(page, "desktop-en-consent")
    await give_consent(page, emotion=False)
    consents = (await server.interview_state(interview.id))["consents"]
    assert [c["items"] for c in consents][-1] == {"recording": True, "ai_scoring": True, "emotion_analysis": False}

    # Practice: a local countdown with the level meter; the server hears nothing of it.
    await page.click("#practice-try")
    await page.wait_for_function("window.interview.practicePhase === 'answer'", timeout=10_000)
    assert re.fullmatch(r"Time to answer: \d+ s", await page.text_content("#practice-countdown"))
    await check_state(page, "desktop-en-practice")
    assert (await server.interview_state(interview.id))["interview"]["status"] == "scheduled"
    await page.click("#start")

    for number in (1, 2):
        await page.wait_for_function(
            f"document.getElementById('question-text').textContent === 'Question number {number}?'", timeout=20_000
        )
        if number == 1:
            await page.wait_for_function("window.interview.countdownPhase === 'think'")
            assert re.fullmatch(r"Time to think: \d s", await page.text_content("#countdown"))
        await page.wait_for_function("window.interview.countdownPhase === 'answer'", timeout=10_000)
        assert re.fullmatch(r"Time to answer: (\d:\d\d|\d+ s)", await page.text_content("#countdown"))
        # Captions are off until the candidate asks for them; then their own words come back as they speak.
        if number == 1:
            assert await page.is_hidden("#caption")
            await page.click("#captions-toggle")
        await page.wait_for_function("document.getElementById('caption-final').textContent.length > 10", timeout=45_000)
        assert await page.is_visible("#recording") and await page.is_visible("#answer-meter")
        if number == 1:
            await check_state(page, "desktop-en-interview")
        await page.click("#answer-done")

    await page.wait_for_selector("#result", state="visible", timeout=30_000)
    await check_state(page, "desktop-en-result")
    report = (await server.http.get(f"{server.url}/api/v1/interviews/{interview.id}/report", headers={"X-API-Key": API_KEY})).json()[
        "report"
    ]
    overall = report["recommendation"]["overall"]
    # The page rounds half up (JavaScript's Math.round); Python's round() would take 14.5 to 14.
    assert await page.text_content("#result-overall") == (f"{math.floor(overall + 0.5)} / 100" if overall is not None else "—")
    questions = await page.locator("#result-questions li .label").all_text_contents()
    assert questions == ["Question number 1?", "Question number 2?"]
    assert await page.locator("#result-suggestions li").all_text_contents() == report["suggestions"]
    competencies = await page.locator("#result-competencies li .label").all_text_contents()
    assert "Skills" in competencies
    assert await page.is_hidden("#done-step")
    await context.close()


@pytest.mark.webrtc
@pytest.mark.browser
async def test_the_continue_button_stays_where_it_is_while_the_camera_preview_starts(live_server: LiveServer, browser: Browser) -> None:
    # A candidate taps "Continue" as soon as it is enabled; a preview that grows once the camera's size is known would
    # move the button from under their finger (a test's click, too, landed on the preview once and the page stayed put).
    _, token = await live_server.schedule(mode="video")
    context, page = await open_page(browser)
    await page.goto(f"{live_server.url}/i/{token}")
    await pass_welcome(page)
    await page.wait_for_selector("#device-step", state="visible")
    # Where the button is at the moment it becomes enabled, which is when a quick tap lands.
    await page.evaluate(
        """(() => { const button = document.getElementById('device-continue');
             new MutationObserver(() => { if (!button.disabled && !window.enabledAt) {
               const r = button.getBoundingClientRect(); window.enabledAt = [r.x, r.y]; } })
               .observe(button, { attributes: true, attributeFilter: ['disabled'] }); })()"""
    )
    await page.click("#device-check")
    await page.wait_for_function("window.enabledAt && document.getElementById('device-preview').videoWidth > 0")
    await page.evaluate("new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))")
    now = await page.evaluate(
        "(() => { const r = document.getElementById('device-continue').getBoundingClientRect(); return [r.x, r.y]; })()"
    )
    assert now == await page.evaluate("window.enabledAt")
    await context.close()


@pytest.mark.webrtc
@pytest.mark.browser
async def test_a_chinese_job_shows_the_page_in_chinese_and_the_switch_turns_it_to_english(
    live_server: LiveServer, browser: Browser
) -> None:
    _, token = await live_server.schedule(questions=1, language="zh", job_title="后端工程师")
    context, page = await open_page(browser)
    await page.goto(f"{live_server.url}/i/{token}")
    await page.wait_for_selector("#welcome-step", state="visible")
    assert await page.text_content("#welcome-continue") == "开始"
    await pass_welcome(page)
    await page.wait_for_selector("#device-step", state="visible")
    await page.click("#device-check")
    await page.wait_for_function("window.interview.networkRttMs !== null && window.interview.micDbfs !== null")
    assert await page.get_attribute("html", "lang") == "zh-CN"
    assert await page.text_content("#greeting") == "Alex Chen，您好。"
    assert await page.text_content("#device-title") == "检查摄像头和麦克风"
    assert await page.text_content("#language-switch") == "English"
    # Every visible string of the step is Chinese: no Latin letters at all.
    device = await visible_text(page, "#device-step")
    assert re.search(r"[A-Za-z]", device) is None, device
    await screenshot(page, "zh-device-check")
    await page.click("#device-continue")
    consent = await visible_text(page, "#consent-step")
    assert "摄像头和麦克风" in consent and re.search(r"[A-Za-z]", consent) is None, consent
    chat = await visible_text(page, "#chat")
    assert "有疑问" in chat and re.search(r"[A-Za-z]", chat) is None, chat

    await page.click("#language-switch")
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.text_content("#greeting") == "Welcome, Alex Chen."
    consent = await visible_text(page, "#consent-step")
    assert "camera and microphone" in consent and re.search(r"[\u4e00-\u9fff]", consent) is None, consent
    assert await page.text_content("#language-switch") == "中文"
    await screenshot(page, "zh-switched-to-english")
    await context.close()

    # ?lang= beats the job's language from the first paint.
    context, page = await open_page(browser)
    await page.goto(f"{live_server.url}/i/{token}?lang=en")
    await pass_welcome(page)
    await page.wait_for_selector("#device-step", state="visible")
    assert await page.text_content("#device-title") == "Check your camera and microphone"
    assert await page.get_attribute("html", "lang") == "en"
    await context.close()


@pytest.mark.webrtc
@pytest.mark.browser
@pytest.mark.parametrize("user_agent", [WECHAT_ANDROID, WECHAT_IOS_14_3], ids=["wechat-android", "wechat-ios-14.3"])
async def test_wechat_in_app_browsers_reach_the_interview_with_camera_and_microphone(
    live_server: LiveServer, browser: Browser, user_agent: str
) -> None:
    interview, context, page = await at_first_question(live_server, browser, user_agent, questions=2)
    await page.wait_for_function("window.interview.pc.connectionState === 'connected'")
    support = await page.evaluate("window.interview.support")
    assert support["wechat"] is True and support["canCapture"] is True
    codec = (await outbound_video_codec(page)).lower()
    # H.264 first everywhere it is offered: the evidence video then plays on any owner's phone.
    assert codec == "video/h264", codec
    state = await live_server.interview_state(interview.id)
    assert state["interview"]["status"] == "in_progress" and state["interview"]["mode"] == "video"
    assert state["media"]["state"] == "connected" and state["media"]["tracks"] == ["audio", "video"]
    await screenshot(page, f"wechat-{'ios' if support['ios'] else 'android'}")
    await context.close()


@pytest.mark.webrtc
@pytest.mark.browser
async def test_a_blocked_camera_is_explained_and_the_candidate_goes_on_with_a_voice_interview(
    live_server: LiveServer, browser: Browser
) -> None:
    interview, token = await live_server.schedule(questions=2)
    context, page = await open_page(browser)
    # The browser refuses the camera as it does when the candidate blocked it; the microphone stays allowed.
    await context.add_init_script(
        """(() => { const md = navigator.mediaDevices; const original = md.getUserMedia.bind(md);
             md.getUserMedia = (c) => c.video ? Promise.reject(new DOMException('Permission denied', 'NotAllowedError'))
                                              : original(c); })()"""
    )
    await page.goto(f"{live_server.url}/i/{token}")
    await pass_welcome(page)
    await page.wait_for_selector("#device-step", state="visible")
    await page.click("#device-check")
    await page.wait_for_selector("#device-error", state="visible")
    assert (await page.text_content("#device-error")).startswith("You blocked the camera.")
    assert await page.text_content("#camera-status") == "Not available"
    assert await page.is_visible("#use-voice") and await page.is_visible("#use-text") and await page.is_disabled("#device-continue")
    await screenshot(page, "camera-blocked")
    await page.click("#use-voice")
    assert "through your microphone" in await visible_text(page, "#consent-step")
    await give_consent(page)
    await page.click("#start")
    await page.wait_for_function("document.getElementById('question-text').textContent === 'Question number 1?'", timeout=20_000)
    state = await live_server.interview_state(interview.id)
    assert state["interview"]["mode"] == "voice" and state["media"]["tracks"] == ["audio"]
    assert await page.is_hidden("#preview")
    await context.close()


@pytest.mark.webrtc
@pytest.mark.browser
@pytest.mark.parametrize("mode", ["video", "voice"])
async def test_wechat_on_ios_13_never_tries_the_camera_and_completes_as_a_text_interview(
    live_server: LiveServer, browser: Browser, mode: str
) -> None:
    interview, token = await live_server.schedule(questions=2, mode=mode, question_bank=bank(2))
    context, page = await open_page(browser, WECHAT_IOS_13)
    await page.goto(f"{live_server.url}/i/{token}")
    await pass_welcome(page)
    await page.wait_for_selector("#unsupported", state="visible")
    assert await page.is_hidden("#device-check") and await page.is_visible("#use-text")
    assert "iOS 14.3" in await visible_text(page, "#device-step")
    await screenshot(page, f"wechat-ios13-fallback-{mode}")
    await page.click("#use-text")
    assert "in writing" in await visible_text(page, "#consent-step")
    await give_consent(page)
    await page.click("#start")
    answers = ["I would add an index and read the query plan.", "I would write a postmortem."]
    for number, answer in enumerate(answers, start=1):
        await page.wait_for_function(f"document.getElementById('question-text').textContent === 'Question number {number}?'")
        assert await page.is_hidden("#preview") and await page.is_hidden("#answer-done")
        await page.fill("#answer-text", answer)
        await page.click("#send-answer")
    await page.wait_for_selector("#done-step", state="visible")
    await screenshot(page, f"wechat-ios13-done-{mode}")
    assert await page.evaluate("window.__getUserMediaCalls") == 0
    state = await live_server.interview_state(interview.id)
    assert state["interview"]["mode"] == "text" and state["interview"]["status"] == "completed"
    assert [(a["question_id"], a["text"]) for a in state["answers"] if a["kind"] == "text"] == [("q1", answers[0]), ("q2", answers[1])]
    await context.close()


@pytest.mark.webrtc
@pytest.mark.browser
async def test_after_the_server_loses_the_media_the_page_publishes_again_and_the_interview_continues_at_the_same_question(
    live_server: LiveServer, browser: Browser
) -> None:
    interview, context, page = await at_first_question(live_server, browser, questions=2)
    await page.wait_for_function("window.interview.pc.connectionState === 'connected'")
    before = (await live_server.interview_state(interview.id))["media"]
    first_resource = await page.evaluate("window.interview.whip.resource")

    # The network drops: the server's side of the media session fails.
    session = live_server.services.registry.media_of(interview.id)
    assert session is not None and session.id == before["session_id"]
    await live_server.services.registry.close_media(session, "failed")

    await page.wait_for_function("window.interview.reconnects >= 1 && window.interview.pc.connectionState === 'connected'", timeout=30_000)
    after = (await live_server.interview_state(interview.id))["media"]
    assert after is not None and after["session_id"] != before["session_id"] and after["state"] == "connected"
    assert await page.evaluate("window.interview.whip.resource") not in (None, first_resource)
    questions = [m["question"]["id"] for m in await page.evaluate("window.interview.messages") if m["type"] == "question"]
    assert questions == ["q1", "q1"], "the current question is sent again, not a new one"
    assert await page.text_content("#question-text") == "Question number 1?"
    assert (await live_server.interview_state(interview.id))["scored_answers"] == []
    await screenshot(page, "reconnected")

    # And the interview goes on from there.
    await page.click("#answer-done")
    await page.wait_for_function("document.getElementById('question-text').textContent === 'Question number 2?'")
    await context.close()


@pytest.mark.webrtc
@pytest.mark.browser
@pytest.mark.parametrize("language", ["en", "zh"])
async def test_a_node_with_no_room_asks_the_candidate_to_keep_the_page_open_and_connects_them_once_it_has(
    tmp_path: Path, browser: Browser, language: str
) -> None:
    async with serving(make_settings(tmp_path / "data", max_live_sessions=1, overload_retry_after_s=1)) as server:
        other, other_token = await server.schedule()
        occupying = WhipPublisher(server.url, other.id, other_token, server.http)
        await occupying.publish([AudioStreamTrack()])  # another candidate takes the node's only place
        interview, token = await server.schedule(questions=1, language=language)
        context, page = await open_page(browser)
        await page.goto(f"{server.url}/i/{token}")
        await start_interview(page)
        await page.wait_for_selector("#connection-notice", state="visible")
        expected = "keep this page open" if language == "en" else "请保持此页面打开"
        assert expected in (await page.text_content("#connection-notice") or "")
        assert await page.is_hidden("#media-failed"), "nothing has failed: no other ways are offered, only patience"
        await check_state(page, f"server-busy-{language}")

        await occupying.close()
        await page.wait_for_function("document.getElementById('question-text').textContent === 'Question number 1?'", timeout=30_000)
        assert await page.is_hidden("#connection-notice")
        assert (await server.interview_state(interview.id))["media"]["state"] == "connected"
        await context.close()


@pytest.mark.webrtc
@pytest.mark.browser
async def test_when_the_server_drops_the_socket_the_page_reopens_it_and_keeps_the_question_and_the_draft(
    live_server: LiveServer, browser: Browser
) -> None:
    interview, context, page = await at_first_question(live_server, browser, questions=2, mode="text", question_bank=bank(2))
    await page.fill("#answer-text", "An unfinished dra")

    # More than the socket's outbox holds: the server closes it with 1013 ("try again").
    live = live_server.services.registry.find_live(interview.id)
    assert live is not None
    closes = await page.evaluate_handle(
        "(() => { const codes = []; window.interview.socket.addEventListener('close', (e) => codes.push(e.code)); return codes; })()"
    )
    for _ in range(400):
        live.fan_out.to_candidate(Pong())
    await page.wait_for_function(
        "window.interview.reconnects >= 1 && window.interview.socket.readyState === WebSocket.OPEN", timeout=20_000
    )
    assert await closes.json_value() == [1013]
    questions = [m["question"]["id"] for m in await page.evaluate("window.interview.messages") if m["type"] == "question"]
    assert questions == ["q1", "q1"]
    assert await page.input_value("#answer-text") == "An unfinished dra"
    await page.fill("#answer-text", "An unfinished draft, now finished.")
    await page.click("#send-answer")
    await page.wait_for_function("document.getElementById('question-text').textContent === 'Question number 2?'")
    answers = (await live_server.interview_state(interview.id))["answers"]
    assert [(a["question_id"], a["text"]) for a in answers if a["kind"] == "text"] == [("q1", "An unfinished draft, now finished.")]
    await context.close()


@pytest.mark.webrtc
@pytest.mark.browser
async def test_chat_questions_reach_the_server_and_replies_show_with_their_sender(live_server: LiveServer, browser: Browser) -> None:
    interview, context, page = await at_first_question(live_server, browser, questions=1, mode="text", question_bank=bank(1))
    await page.fill("#chat-input", "May I use my notes?")
    await page.click("#chat-send")

    # The server answers at once, from its FAQ or with the notice that HR was asked.
    await page.wait_for_function("document.querySelectorAll('#chat-log li').length >= 2")
    answers = (await live_server.interview_state(interview.id))["answers"]
    assert [a["text"] for a in answers if a["kind"] == "chat"] == ["May I use my notes?"]
    reply = next(m for m in await page.evaluate("window.interview.messages") if m["type"] == "chat")
    label = {"faq": "Help", "system": "Notice", "hr": "HR"}[reply["sender"]]
    log = await page.locator("#chat-log li").all_inner_texts()
    assert log[:2] == ["You May I use my notes?", f"{label} {reply['text']}" + (" (passed to HR)" if reply["escalated"] else "")]

    # A reply from HR, however it reaches this interview, shows as HR's.
    live_server.services.bus.publish(interview_topic(interview.id), {"type": "chat.reply", "text": "Yes, notes are fine."})
    await page.wait_for_function("document.querySelectorAll('#chat-log li.chat-hr').length === 1")
    assert (await page.locator("#chat-log li").all_inner_texts())[-1] == "HR Yes, notes are fine."
    await screenshot(page, "chat")
    await context.close()


@pytest.mark.webrtc
@pytest.mark.browser
async def test_in_wechat_the_page_offers_the_wechat_profile_and_shows_the_avatar_once_shared(tmp_path: Path, browser: Browser) -> None:
    async with running(FakeWeChat(free_port())) as wechat, serving_with(tmp_path, wechat) as server:
        interview, token = await server.schedule()
        context, page = await open_page(browser, WECHAT_ANDROID)
        await page.goto(f"{server.url}/i/{token}")
        # Offered, not forced: the page itself loads first (WeChat's rules forbid a login on opening).
        await page.wait_for_selector("#wechat-login", state="visible")
        assert await page.text_content("#wechat-login") == "Use my WeChat name and photo"  # an English job
        assert (await page.get_attribute("#wechat-login", "href")).startswith("/wechat/oauth/start?token=")  # type: ignore[union-attr]
        assert await page.is_hidden("#avatar")
        await page.click("#wechat-login")
        # Through the (local) WeChat consent and back to the invite, now with the shared avatar.
        # (The browser keeps WeChat's "#wechat_redirect" fragment across the redirects back.)
        await page.wait_for_url(re.compile(re.escape(f"{server.url}/i/{token}") + "(#.*)?$"))
        await page.wait_for_function("window.interview.info && window.interview.info.avatar_url !== null")
        assert await page.get_attribute("#avatar", "src") == wechat.user.headimgurl
        assert await page.is_hidden("#wechat-login")
        stored = await server.services.store.wechat_profile(interview.id)
        assert stored is not None and stored.nickname == wechat.user.nickname
        await context.close()
