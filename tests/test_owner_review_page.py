"""The business owner's page in Chromium, on a phone and a desktop, in Chinese and English: axe-core finds nothing
critical or serious, nothing shifts as it loads, and a keyboard alone records a recommendation that HR hears."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import API_KEY, LiveServer, make_settings, serving
from tests.helpers.accessibility import check_state, layout_shift, tab_to, track_layout_shift
from tests.helpers.browser import chromium
from tests.helpers.processes import complete_text_interview

pytestmark = pytest.mark.browser
HR = {"X-API-Key": API_KEY}


async def test_an_owner_recommends_from_the_link_with_the_keyboard_alone(tmp_path: Path, speech_wav: Path, face_y4m: Path) -> None:
    async with serving(make_settings(tmp_path / "data", company_name="Acme")) as server:
        await run(server, speech_wav, face_y4m)


async def run(server: LiveServer, speech_wav: Path, face_y4m: Path) -> None:
    first = await complete_text_interview(server.http, server.url)
    second = await complete_text_interview(server.http, server.url)
    body = {"interview_ids": [first, second], "owner_name": "王强", "owner_email": "wang@example.test", "message": "周五前请看一下。"}
    link = (await server.http.post(f"{server.url}/api/v1/shares", json=body, headers=HR)).json()["link"]

    async with chromium(speech_wav, face_y4m) as browser:
        for name, viewport in (("phone", {"width": 390, "height": 844}), ("desktop", {"width": 1280, "height": 900})):
            context = await browser.new_context(viewport=viewport, locale="zh-CN")
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error, seen=errors: seen.append(str(error)))
            await track_layout_shift(page)
            await page.goto(link)
            await page.wait_for_selector("article.review")
            assert await page.get_attribute("html", "lang") == "zh-CN"
            assert await page.locator("article.review").count() == 2
            assert "周五前请看一下。" in (await page.text_content("#message") or "")
            await check_state(page, f"owner-{name}-zh")
            assert await layout_shift(page) <= 0.1
            await page.click("#lang-switch")
            await page.wait_for_function("document.documentElement.lang === 'en'")
            assert await page.text_content("#title") == "Candidates to review"
            await check_state(page, f"owner-{name}-en")
            assert errors == []
            await context.close()

        # The keyboard alone: the first candidate's choice, a comment, and send.
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
        page = await context.new_page()
        await page.goto(link)
        await page.wait_for_selector("article.review")
        await tab_to(page, "#candidate-1 input[value='recommend']")
        await page.keyboard.press("Space")
        await tab_to(page, "#candidate-1-comment")
        await page.keyboard.type("Clear answers; I would hire.")
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.type") == "submit"
        await page.keyboard.press("Enter")
        await page.wait_for_function("window.ownerReview.sent.length === 1")
        assert "建议录用" in (await page.text_content("#candidate-1-feedback") or "")  # the share is in Chinese
        await check_state(page, "owner-recommended")
        await context.close()

    reviews = await server.services.store.owner_reviews(first)
    assert [(r.owner_name, r.recommendation, r.comment) for r in reviews] == [("王强", "recommend", "Clear answers; I would hire.")]
