"""The people who decide, end to end in headless Chromium (fake camera and microphone): HR signs in, watches a live
interview from the board (captions, stills, scores, flags, emotion, chat), reviews it with each answer's video and
transcript, shares it with a business owner by e-mail (a real local SMTP server); the owner watches and recommends
from the link on a phone; HR sees that live and decides with a note and a confirmation. Every page passes axe-core in
Chinese and English, is usable by keyboard, and does not shift as it loads."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import API_KEY, LiveServer, make_settings, serving
from tests.helpers.accessibility import check_state, layout_shift, tab_to, track_layout_shift
from tests.helpers.browser import ARTIFACTS, CHROMIUM, chromium_flags
from tests.helpers.candidate_page import start_interview
from tests.helpers.mail_server import Mailbox, mail_server
from tests.helpers.media_files import make_speech_wav

pytestmark = [pytest.mark.webrtc, pytest.mark.browser]

QUESTIONS = [
    {
        "id": f"q{n}",
        "competency": "skills",
        "difficulty": "standard",
        "think_seconds": 1,
        "answer_seconds": 40,
        "text": {"en": f"Question number {n}?"},
        "key_points": [{"id": "p", "text": {"en": "Mentions the test"}, "keywords": {"en": ["test", "testing"]}}],
    }
    for n in (1, 2)
]


@pytest.fixture
async def browser(media_dir: Path, face_y4m: Path) -> AsyncIterator[Browser]:
    """Chromium whose fake microphone answers in one sentence, then is silent for four seconds (and loops)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (apt-get install chromium)")
    speech = make_speech_wav(media_dir / "testing-answer.wav", "In my last project I wrote a test for every change we made. I'm done.")
    answer = media_dir / "testing-answer-then-pause.wav"
    subprocess.run(["sox", str(speech), str(answer), "pad", "0.5", "4.0"], check=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_flags(answer, face_y4m))
        yield browser
        await browser.close()


@pytest.fixture
async def scoring_server(tmp_path: Path, scoring_engine) -> AsyncIterator[tuple[LiveServer, Mailbox]]:  # type: ignore[no-untyped-def]
    with mail_server() as (mailbox, smtp):
        async with serving(make_settings(tmp_path / "data", company_name="Acme", **smtp), None, scoring_engine) as live:
            yield live, mailbox


async def new_page(browser: Browser, name: str, width: int, height: int = 1000, locale: str = "en-GB") -> Page:
    context = await browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    page = await context.new_page()
    page.on("console", lambda msg: print(f"[{name}] {msg.type}: {msg.text}") if msg.type in ("error", "warning") else None)
    return page


async def board_counts(hr: Page, job_title: str) -> dict[str, str]:
    return await hr.evaluate(
        """(title) => { const job = [...document.querySelectorAll('.job')].find((j) => j.querySelector('h3').textContent === title);
                        return job ? { ...job.dataset } : null; }""",
        job_title,
    )


async def test_hr_watches_reviews_shares_and_decides_while_the_owner_recommends(
    scoring_server: tuple[LiveServer, Mailbox], browser: Browser
) -> None:
    server, mailbox = scoring_server
    await server.schedule(job_title="Platform engineer")  # another candidate, still waiting
    interview, token = await server.schedule(
        questions=2, job_title="Platform engineer", question_bank=QUESTIONS, candidate_sees_result=True
    )

    # Sign in with the keyboard alone: name, key, Enter.
    hr = await new_page(browser, "hr", 1280, locale="zh-CN")
    await track_layout_shift(hr)
    await hr.goto(f"{server.url}/hr")
    await hr.wait_for_selector("#login", state="visible")
    assert await hr.is_hidden("#workspace")  # nothing behind the form
    await check_state(hr, "hr-sign-in-zh")
    await tab_to(hr, "#reviewer")
    await hr.keyboard.type("Li Na")
    await hr.keyboard.press("Tab")
    await hr.keyboard.type(API_KEY)
    await hr.keyboard.press("Enter")
    await hr.wait_for_selector(f"tr[data-interview='{interview.id}']")
    await hr.wait_for_function("document.querySelector('.job') !== null")
    counts = await board_counts(hr, "Platform engineer")
    assert counts["scheduled"] == "2" and counts["inProgress"] == "0" and counts["decided"] == "0"
    assert await hr.text_content("#connection") == "实时"  # the badge speaks the page's language
    await check_state(hr, "hr-workspace-zh")
    assert await layout_shift(hr) <= 0.1

    # The list's search and the keyboard: a row's link opens the candidate's review.
    await hr.fill("#f-q", "Alex")
    await hr.press("#f-q", "Enter")
    await hr.wait_for_function("window.dashboard.order.length === 2")
    await tab_to(hr, f"tr[data-interview='{interview.id}'] a")
    await hr.keyboard.press("Enter")
    await hr.wait_for_function(f"window.dashboard.selected === '{interview.id}' && window.dashboard.review !== null")

    candidate = await new_page(browser, "candidate", 480)
    await candidate.goto(f"{server.url}/i/{token}")
    await start_interview(candidate)

    # Live on the review page: the question with the one planned after it, captions, stills, faces, emotion, chat.
    await hr.wait_for_function("document.getElementById('current-question').textContent === '1. Question number 1?'", timeout=30_000)
    assert await hr.text_content("#next-planned") == "Question number 2?"
    await candidate.fill("#chat-input", "Is the salary negotiable?")
    await candidate.click("#chat-send")
    await hr.wait_for_selector("#chat-log li.escalated", timeout=10_000)
    assert await hr.is_visible("#needs-reply")
    await hr.fill("#chat-reply", "Yes, within the band for the role.")
    await hr.press("#chat-reply", "Enter")
    await candidate.wait_for_function(
        "window.interview.messages.some((m) => m.type === 'chat' && m.sender === 'hr' && m.text.startsWith('Yes, within'))", timeout=10_000
    )
    await hr.wait_for_function("document.getElementById('needs-reply').hidden")
    await hr.wait_for_function("document.getElementById('cap-final').textContent.includes('test')", timeout=45_000)
    await hr.wait_for_function("window.dashboard.snapshots > 0 && !document.getElementById('snapshot').hidden", timeout=20_000)
    await hr.wait_for_function("window.dashboard.faces.length > 2 && window.dashboard.chartPoints > 2", timeout=20_000)
    assert await hr.get_attribute("#flags .flag", "data-flag") in ("face_present", "face_absent")
    await hr.wait_for_selector("#answers li[data-index='0']", timeout=45_000)
    assert int(await hr.text_content("#answers li[data-index='0'] .answer-score") or 0) >= 50  # "test" was said
    await check_state(hr, "hr-live-zh")

    # The review once it ends: each answer with its video as the browser sent it, and a transcript line plays it.
    await hr.wait_for_function("window.dashboard.review && window.dashboard.review.summary.complete", timeout=90_000)
    await hr.wait_for_function("document.querySelectorAll('#review video').length === 2", timeout=20_000)
    first_video = "document.querySelector('#review video')"
    await hr.wait_for_function(f"{first_video}.readyState >= 1 && {first_video}.duration > 2", timeout=20_000)
    await hr.click("#review .transcript button.seek")
    await hr.wait_for_function(f"!{first_video}.paused || {first_video}.currentTime > 0", timeout=10_000)
    await hr.evaluate(f"{first_video}.pause()")
    answer_files = [r for r in await server.services.store.recordings(interview.id) if r.question_index is not None]
    # Chromium sends H.264 when asked first: MP4 files, which play on every owner's phone (iOS too).
    assert [r.media_type for r in answer_files] == ["video/mp4", "video/mp4"], answer_files
    assert "test" in (await hr.text_content("#review .transcript") or "")
    assert "test" in (await hr.text_content("#review .transcript mark") or "")  # the words that made the key point
    assert await hr.is_hidden("#live")
    await check_state(hr, "hr-review-zh")
    await hr.click("#lang-switch")
    await hr.wait_for_function("document.documentElement.lang === 'en'")
    await check_state(hr, "hr-review-en")

    # Share with the business owner: the link arrives by e-mail.
    await hr.fill("#s-name", "Wang Qiang")
    await hr.fill("#s-email", "wang@example.test")
    await hr.fill("#s-message", "Worth a look before Friday.")
    await hr.click("#share-form button[type=submit]")
    await hr.wait_for_function("window.dashboard.lastShare && window.dashboard.lastShare.mail === 'sent'", timeout=10_000)
    await hr.wait_for_selector("#shares li")
    assert len(mailbox.messages) == 1
    link = next(line for line in mailbox.body(0).splitlines() if "/r/" in line).strip()

    # The owner, on a phone: watches an answer and recommends.
    owner = await new_page(browser, "owner", 390, 844)
    await track_layout_shift(owner)
    await owner.goto(link)
    await owner.wait_for_selector("article.review video")
    owner_video = "document.querySelector('article.review video')"
    await owner.wait_for_function(f"{owner_video}.readyState >= 1 && {owner_video}.duration > 2", timeout=20_000)
    await owner.click("article.review .transcript button.seek")
    await owner.wait_for_function(f"!{owner_video}.paused || {owner_video}.currentTime > 0", timeout=10_000)
    await owner.evaluate(f"{owner_video}.pause()")
    assert await layout_shift(owner) <= 0.1
    await check_state(owner, "owner-phone-video-en")
    await owner.check("#candidate-1 input[value='recommend']")
    await owner.fill("#candidate-1-comment", "Writes tests for every change. Hire.")
    await owner.click("#candidate-1 button[type=submit]")
    await owner.wait_for_function("window.ownerReview.sent.length === 1")

    # HR sees it at once, then decides: a note and a confirmation, kept with who decided.
    await hr.wait_for_selector("#owner-reviews li.recommend", timeout=10_000)
    assert "Writes tests for every change." in (await hr.text_content("#owner-reviews") or "")
    await hr.check("#decision-form input[value='advance']")
    await hr.click("#decision-form button[type=submit]")
    assert "Write why" in (await hr.text_content("#decision-feedback") or "")  # a decision needs a note
    await hr.fill("#decision-note", "Strong testing habits; the owner recommends.")
    await hr.click("#decision-form button[type=submit]")
    await hr.wait_for_selector("#confirm[open]")
    await check_state(hr, "hr-confirm-en")
    await hr.click("#confirm-yes")
    await hr.wait_for_selector("#decisions li[data-decision='advance']", timeout=10_000)
    assert "Li Na" in (await hr.text_content("#decisions") or "")
    decisions = await server.services.store.decisions(interview.id)
    assert [(d.decision, d.note, d.decided_by) for d in decisions] == [("advance", "Strong testing habits; the owner recommends.", "Li Na")]
    assert (await server.interview_state(interview.id))["interview"]["status"] == "decided"

    # Back on the workspace the board counts the decision.
    await hr.click("#back")
    await hr.wait_for_function(
        "(() => { const j = [...document.querySelectorAll('.job')].find((x) => x.querySelector('h3').textContent === 'Platform engineer');"
        " return j && j.dataset.decided === '1'; })()",
        timeout=10_000,
    )
    # The inbox keeps the candidate's question, answered and read (it was read on the review page).
    await hr.wait_for_selector(f"#inbox li[data-interview='{interview.id}']")
    assert await hr.get_attribute(f"#inbox li[data-interview='{interview.id}']", "class") == ""
    assert await hr.locator(f"#inbox li[data-interview='{interview.id}'] .unread").count() == 0
    await check_state(hr, "hr-workspace-en")

    await candidate.wait_for_selector("#result", state="visible", timeout=30_000)
    await candidate.screenshot(path=str(ARTIFACTS / "hr-candidate-result.png"), full_page=True)
