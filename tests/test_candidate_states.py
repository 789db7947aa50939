"""Every state of the candidate's page, on a desktop, in WeChat on Android and on an iPhone, in Chinese and English:
each is screenshotted into test-artifacts/ and checked with axe-core (no critical or serious finding). And the
ways a nervous candidate on a phone gets through: a network that blocks media, a reload, a keyboard only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from server.domain.interview import Interview
from tests.conftest import LiveServer, make_settings, serving
from tests.helpers.accessibility import check_state
from tests.helpers.browser import WECHAT_ANDROID, chromium
from tests.helpers.candidate_page import give_consent, pass_welcome, start_interview
from tests.helpers.interviews import numbered_questions
from tests.helpers.media_files import speech_then_pause

pytestmark = [pytest.mark.browser, pytest.mark.webrtc]

IPHONE_IOS_17 = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
WECHAT_IOS_14_2 = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 14_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.1(0x1800012a) NetType/WIFI Language/zh_CN"
)
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}


def bank(count: int, language: str, think_seconds: int = 1, answer_seconds: int = 40, silence: int = 3) -> list[dict[str, Any]]:
    return numbered_questions(count, language, think_seconds, answer_seconds, end_silence_seconds=silence)


@pytest.fixture(scope="module")
def a_word_then_quiet(media_dir: Path) -> Path:
    """A candidate who says a few words, then thinks in silence for a long while (the fake microphone loops it)."""
    return speech_then_pause(media_dir / "a-word-then-quiet.wav", "Let me think about that.", 0.3, 20)


@pytest.fixture(scope="module")
async def browser(a_word_then_quiet: Path, face_y4m: Path) -> AsyncIterator[Browser]:
    async with chromium(a_word_then_quiet, face_y4m) as launched:
        yield launched


@pytest.fixture
async def node(tmp_path: Path, scoring_engine) -> AsyncIterator[LiveServer]:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "data", company_name="Acme", privacy_policy_url="https://acme.example/privacy", retention_days=90)
    async with serving(settings, None, scoring_engine) as live:
        yield live


async def open_page(browser: Browser, user_agent: str | None, device: dict[str, Any]) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(user_agent=user_agent, **device)
    page = await context.new_page()
    page.on("console", lambda msg: print(f"[page] {msg.type}: {msg.text}") if msg.type == "error" else None)
    return context, page


@pytest.mark.parametrize(
    ("device", "user_agent", "language"),
    [
        ("desktop", None, "zh"),
        ("android-wechat", WECHAT_ANDROID, "zh"),
        ("android-wechat", WECHAT_ANDROID, "en"),
        ("iphone", IPHONE_IOS_17, "en"),
        ("iphone", IPHONE_IOS_17, "zh"),
    ],
    ids=["desktop-zh", "android-wechat-zh", "android-wechat-en", "iphone-en", "iphone-zh"],
)
async def test_every_state_of_a_spoken_interview_reads_well_and_passes_axe(
    node: LiveServer, browser: Browser, device: str, user_agent: str | None, language: str
) -> None:
    interview, token = await node.schedule(
        questions=2, language=language, mode="video", question_bank=bank(2, language), candidate_sees_result=True, consent=False
    )
    context, page = await open_page(browser, user_agent, PHONE if device != "desktop" else DESKTOP)
    name = f"{device}-{language}"
    await page.goto(f"{node.url}/i/{token}")

    await page.wait_for_selector("#welcome-step", state="visible")
    welcome = await page.inner_text("#welcome-step")
    assert ("Acme" in welcome) and (("2" in welcome) if language == "zh" else ("Up to 2 questions" in welcome))
    await check_state(page, f"{name}-welcome")
    await pass_welcome(page)

    await page.wait_for_selector("#device-step", state="visible")
    await page.click("#device-check")
    await page.wait_for_selector("#device-continue:not([disabled])")
    await check_state(page, f"{name}-device-check")
    await page.click("#device-continue")

    await page.wait_for_selector("#consent-step", state="visible")
    assert await page.get_attribute("#privacy-link", "href") == "https://acme.example/privacy"
    assert "90" in await page.inner_text("#consent-retention")
    await check_state(page, f"{name}-consent")
    await give_consent(page)
    await check_state(page, f"{name}-practice")
    await page.click("#start")

    # The first question, with the self-view small, "recording" and the microphone level while answering.
    await page.wait_for_function("window.interview.question !== null", timeout=20_000)
    await page.wait_for_selector("#recording", state="visible", timeout=10_000)
    await check_state(page, f"{name}-question")
    # The candidate said a few words and went quiet: a hint comes before the silence ends the answer.
    await page.wait_for_selector("#silence-hint", state="visible", timeout=30_000)
    await check_state(page, f"{name}-still-thinking")
    await page.wait_for_function("window.interview.question.index === 1", timeout=30_000)
    await page.click("#answer-done")
    await page.wait_for_selector("#result", state="visible", timeout=30_000)
    await check_state(page, f"{name}-result")
    state = await node.interview_state(interview.id)
    assert [a["end_reason"] for a in state["scored_answers"]] == ["silence", "candidate_done"]
    await context.close()


async def test_a_network_that_blocks_media_is_noticed_in_seconds_and_the_candidate_goes_on_in_writing(
    tmp_path: Path, a_word_then_quiet: Path, face_y4m: Path, scoring_engine: object
) -> None:
    # Chromium without leave to use loopback for WebRTC, the only network in the test's namespace: it has no address
    # to send media from, so no candidate pair can ever connect, as on a network that blocks WebRTC.
    settings = make_settings(tmp_path / "data", company_name="Acme")
    no_loopback = ("--allow-loopback-in-peer-connection",)
    async with serving(settings, None, scoring_engine) as node, chromium(a_word_then_quiet, face_y4m, drop=no_loopback) as blocked:
        interview, token = await node.schedule(questions=1, mode="video", question_bank=bank(1, "en"), consent=False)
        context, page = await open_page(blocked, WECHAT_ANDROID, PHONE)
        await page.goto(f"{node.url}/i/{token}?lang=en")
        await start_interview(page)
        await page.wait_for_selector("#media-failed", state="visible", timeout=20_000)
        await check_state(page, "android-wechat-en-media-blocked")
        await page.click("#switch-text")
        await page.wait_for_function("document.getElementById('question-text').textContent === 'Question number 1?'", timeout=15_000)
        assert await page.is_visible("#text-answer") and await page.is_hidden("#media-failed")
        state = await node.interview_state(interview.id)
        assert state["interview"]["mode"] == "text" and state["interview"]["status"] == "in_progress"
        await page.fill("#answer-text", "I would add an index.")
        await page.click("#send-answer")
        await page.wait_for_selector("#done-step", state="visible", timeout=15_000)
        await context.close()


async def started_voice_interview(
    node: LiveServer, browser: Browser, user_agent: str | None, questions: int, think_seconds: int
) -> tuple[Interview, BrowserContext, Page]:
    """A voice interview (answers end only when the candidate says so) that a phone's page has just started."""
    interview, token = await node.schedule(
        questions=questions,
        mode="voice",
        question_bank=bank(questions, "en", think_seconds=think_seconds, answer_seconds=120, silence=60),
        consent=False,
    )
    context, page = await open_page(browser, user_agent, PHONE)
    await page.goto(f"{node.url}/i/{token}?lang=en")
    await start_interview(page)
    return interview, context, page


async def test_a_reload_goes_straight_back_to_the_same_question_with_its_time_left(node: LiveServer, browser: Browser) -> None:
    _, context, page = await started_voice_interview(node, browser, None, questions=1, think_seconds=5)
    await page.wait_for_function("window.interview.countdownPhase === 'answer'", timeout=20_000)
    await page.reload()

    # Welcome, device check, consent and practice were done in this browser: one tap (for the microphone) and back.
    await page.wait_for_selector("#resume-step", state="visible")
    await check_state(page, "iphone-en-welcome-back")
    await page.click("#resume")
    await page.wait_for_function("document.getElementById('question-text').textContent === 'Question number 1?'", timeout=20_000)
    left = await page.evaluate("(window.interview.countdown.answerEnds - performance.now()) / 1000")
    assert 100 < left < 120, left  # of 125 s (5 to think, 120 to answer): the time spent before the reload is not given back
    await context.close()


async def press_tab_to(page: Page, selector: str, limit: int = 40) -> None:
    """Tab through the page until `selector` has the focus (a control Tab cannot reach fails the test)."""
    for _ in range(limit):
        if await page.evaluate("(s) => document.activeElement?.matches(s) ?? false", selector):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


async def test_a_whole_interview_can_be_taken_with_the_keyboard_alone(node: LiveServer, browser: Browser) -> None:
    interview, token = await node.schedule(questions=2, mode="text", question_bank=bank(2, "en", think_seconds=0), consent=False)
    context, page = await open_page(browser, WECHAT_IOS_14_2, PHONE)
    await page.goto(f"{node.url}/i/{token}?lang=en")
    await page.wait_for_selector("#welcome-step", state="visible")
    await press_tab_to(page, "#welcome-continue")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#device-continue:not([disabled])")
    await press_tab_to(page, "#device-continue")
    await page.keyboard.press("Enter")
    await press_tab_to(page, "#consent-recording")
    await page.keyboard.press("Space")
    await press_tab_to(page, "#consent-ai")
    await page.keyboard.press("Space")
    await press_tab_to(page, "#consent-continue")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#practice-step", state="visible")
    await press_tab_to(page, "#start")
    await page.keyboard.press("Enter")
    for number in (1, 2):
        await page.wait_for_function(
            f"document.getElementById('question-text').textContent === 'Question number {number}?'", timeout=15_000
        )
        if number == 1:
            await check_state(page, "iphone-wechat-14.2-en-text-question")
        await press_tab_to(page, "#answer-text")
        await page.keyboard.type("I would add an index and read the query plan.")
        await press_tab_to(page, "#send-answer")
        await page.keyboard.press("Enter")
    await page.wait_for_selector("#done-step", state="visible", timeout=15_000)
    await check_state(page, "iphone-wechat-14.2-en-done")
    state = await node.interview_state(interview.id)
    assert state["interview"]["status"] == "completed" and len(state["consents"]) == 1
    await context.close()


async def test_a_link_that_cannot_be_used_is_explained_in_both_languages(node: LiveServer, browser: Browser) -> None:
    context, page = await open_page(browser, WECHAT_ANDROID, PHONE)
    response = await page.goto(f"{node.url}/i/not-a-valid-token")
    assert response is not None and response.status == 401
    text = await page.inner_text("main")
    assert "面试链接无法使用" in text and "This interview link cannot be used" in text
    await check_state(page, "android-wechat-invalid-link")
    favicon = await node.http.get(f"{node.url}/favicon.ico")
    assert favicon.status_code == 200 and favicon.headers["content-type"].startswith("image/svg+xml")
    await context.close()


async def test_media_lost_for_good_mid_interview_is_offered_writing_and_the_interview_goes_on(node: LiveServer, browser: Browser) -> None:
    interview, context, page = await started_voice_interview(node, browser, IPHONE_IOS_17, questions=2, think_seconds=1)
    await page.wait_for_function("window.interview.question !== null && window.interview.pcState === 'connected'", timeout=20_000)

    # The node can take no more media and this session drops: every reconnect is refused (503), as when the
    # candidate's network stops carrying media for good.
    node.settings.max_live_sessions = 0
    session = node.services.registry.media_of(interview.id)
    assert session is not None
    await node.services.registry.close_media(session, "failed")
    await page.wait_for_selector("#media-failed", state="visible", timeout=20_000)
    await check_state(page, "iphone-en-media-lost")
    await page.click("#switch-text")
    await page.fill("#answer-text", "I would add an index and read the query plan.")
    await page.click("#send-answer")
    await page.wait_for_function("document.getElementById('question-text').textContent === 'Question number 2?'", timeout=15_000)
    answered = (await node.interview_state(interview.id))["scored_answers"]
    assert [(a["question_id"], a["typed"]) for a in answered] == [("q1", ["I would add an index and read the query plan."])]
    assert await page.is_visible("#text-answer") and await page.is_hidden("#media-failed")
    await context.close()
