"""HR's recruiting page for a job, in Chromium on a phone and a desktop, in Chinese and English: booking hours set with
the form, the poster shown and downloadable, a spreadsheet imported and screened with each bad row named, the booked
times listed, and HR's own calendar link; axe-core finds nothing critical or serious in any of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page

from tests.conftest import API_KEY, LiveServer, make_settings, serving
from tests.helpers.accessibility import check_state, tab_to
from tests.helpers.browser import chromium
from tests.helpers.mail_server import mail_server

pytestmark = pytest.mark.browser
HR = {"X-API-Key": API_KEY}
JOB = {
    "title": "后端工程师",
    "role": "backend_engineer",
    "language": "zh",
    "screening": {"min_education": "bachelor", "min_years_experience": 3, "on_pass": "invite"},
}
GOOD = "编号,姓名,邮箱,学历,工作年限,技能\nc-1,陈亚历,alex@example.test,本科,5,Python\nc-2,王芳,wang@example.test,大专,6,Python\n"
BAD = "编号,姓名,邮箱,学历,工作年限\nc-3,,x@example.test,本科,5\nc-4,李雷,li@example.test,魔法师,5\n"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[LiveServer]:
    with mail_server() as (_, smtp):
        async with serving(make_settings(tmp_path / "data", company_name="Acme", **smtp)) as server:
            yield server


async def signed_in(page: Page, server: LiveServer) -> None:
    await page.goto(f"{server.url}/hr")
    await page.fill("#reviewer", "李娜")
    await page.fill("#api-key", API_KEY)
    await page.press("#api-key", "Enter")
    await page.wait_for_selector(".job a[href='#/recruiting/backend']")


async def test_hr_sets_booking_hours_imports_candidates_and_gets_a_calendar_link_on_an_accessible_page(
    server: LiveServer, tmp_path: Path, speech_wav: Path, face_y4m: Path
) -> None:
    assert (await server.http.put(f"{server.url}/api/v1/jobs/backend", json=JOB, headers=HR)).status_code == 201
    (tmp_path / "good.csv").write_text(GOOD, encoding="utf-8")
    (tmp_path / "bad.csv").write_text(BAD, encoding="utf-8")

    async with chromium(speech_wav, face_y4m) as browser:
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", timezone_id="Asia/Shanghai")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await signed_in(page, server)

        # From the board's card to the job's recruiting page, by keyboard.
        await tab_to(page, ".job a[href='#/recruiting/backend']")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#recruiting-view:not([hidden]) #r-poster:not([hidden])")
        assert "后端工程师" in (await page.text_content("#r-title") or "")
        assert "还不能预约" in (await page.text_content("#r-summary") or "")
        await check_state(page, "hr-recruiting-phone-zh")

        # The screening rules, as the HRMS set them, edited here: two years are enough, and a yes/no question.
        assert await page.input_value("#r-min_education") == "bachelor" and await page.input_value("#r-min_years") == "3"
        await page.fill("#r-min_years", "2")
        await page.click("#r-add-knockout")
        await page.fill("#r-knockouts .zh", "您能在上海工作吗？")
        await page.click("#r-rules-form button[type=submit]")
        await page.wait_for_selector("#r-rules-saved .ok")
        rules = (await server.http.get(f"{server.url}/api/v1/jobs/backend", headers=HR)).json()["screening"]
        assert rules["min_years_experience"] == 2 and rules["min_education"] == "bachelor" and rules["on_pass"] == "invite"
        assert rules["knockout_questions"] == [{"id": "q1", "text": {"zh": "您能在上海工作吗？"}, "required_answer": True}]
        await check_state(page, "hr-recruiting-rules")
        await page.click("#r-knockouts .knockout button")  # removed again: the import below has no answers to give
        await page.evaluate("document.getElementById('r-rules-saved').replaceChildren()")
        await page.click("#r-rules-form button[type=submit]")
        await page.wait_for_selector("#r-rules-saved .ok")

        # Booking hours: every weekday 09:00-12:00 (the form's first row), 45 minutes, a colleague, saved.
        await page.fill("#r-slot_minutes", "45")
        await page.fill("#r-min_notice_hours", "0")
        await tab_to(page, "#r-add-attendee")
        await page.keyboard.press("Enter")
        await page.fill("#r-attendees .email", "lina@example.test")
        await page.fill("#r-attendees .name", "李娜")
        await page.click("#r-form button[type=submit]")
        await page.wait_for_selector("#r-saved .ok")
        assert "个时间可以预约" in (await page.text_content("#r-summary") or "")
        stored = (await server.http.get(f"{server.url}/api/v1/jobs/backend/availability", headers=HR)).json()
        assert stored["slot_minutes"] == 45 and stored["timezone"] == "Asia/Shanghai"
        assert stored["weekly"] == [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00:00", "end": "12:00:00"}]
        assert stored["calendar_attendees"] == [{"email": "lina@example.test", "name": "李娜"}]
        await page.fill("#r-slot_minutes", "5")  # too short: the server's reason is shown, nothing changes
        await page.click("#r-form button[type=submit]")
        await page.wait_for_selector("#r-saved .error")
        await check_state(page, "hr-recruiting-save-refused")

        # A bad spreadsheet: each bad row named, nothing imported; a good one: screened, the one who passes invited.
        await page.set_input_files("#r-import-file", str(tmp_path / "bad.csv"))
        await page.click("#r-import-form button[type=submit]")
        await page.wait_for_selector("#r-import-result .error li")
        rows = await page.locator("#r-import-result li").all_text_contents()
        assert len(rows) == 2 and rows[0].startswith("第 2 行") and rows[1].startswith("第 3 行")
        await page.set_input_files("#r-import-file", str(tmp_path / "good.csv"))
        await page.click("#r-import-form button[type=submit]")
        await page.wait_for_selector("#r-import-result table")
        outcomes = await page.locator("#r-import-result tbody tr").all_text_contents()
        assert "陈亚历" in outcomes[0] and "已邀请" in outcomes[0]
        assert "王芳" in outcomes[1] and "未入选" in outcomes[1] and "学历" in outcomes[1]
        await check_state(page, "hr-recruiting-imported")

        # HR's own calendar link.
        await page.fill("#r-feed-email", "lina@example.test")
        await page.click("#r-feed-form button[type=submit]")
        await page.wait_for_selector("#r-feed-url")
        feed = await page.input_value("#r-feed-url")
        assert feed.startswith("webcal://") and feed.endswith(".ics")
        await check_state(page, "hr-recruiting-feed")

        # In English, and on a desktop.
        await page.click("#lang-switch")
        await page.wait_for_function("document.documentElement.lang === 'en'")
        assert (await page.text_content("#r-availability-title")) == "When candidates can book"
        await check_state(page, "hr-recruiting-phone-en")
        assert errors == []
        await context.close()

        context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        page = await context.new_page()
        await signed_in(page, server)
        await page.goto(f"{server.url}/hr#/recruiting/backend")
        await page.wait_for_selector("#recruiting-view:not([hidden]) #r-poster:not([hidden])")
        async with page.expect_download() as download:
            await page.click("#r-pdf")
        assert (await download.value).suggested_filename == "poster-backend.pdf"
        await check_state(page, "hr-recruiting-desktop-en")

        # A job whose rules queue candidates for HR: invited by keyboard from the queue.
        queued = {**JOB, "title": "Designer", "screening": {**JOB["screening"], "on_pass": "queue_for_hr"}}  # type: ignore[dict-item]
        assert (await server.http.put(f"{server.url}/api/v1/jobs/designer", json=queued, headers=HR)).status_code == 201
        imported = await server.http.post(
            f"{server.url}/api/v1/imports/candidates?job_id=designer", content=GOOD.encode(), headers={**HR, "Content-Type": "text/csv"}
        )
        assert imported.status_code == 200, imported.text
        await page.goto(f"{server.url}/hr#/recruiting/designer")
        await page.wait_for_selector("#r-queue li[data-candidate='c-1']")
        await check_state(page, "hr-recruiting-queue-en")
        await tab_to(page, "#r-queue li[data-candidate='c-1'] button:not(.secondary)")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#r-queue-result .ok")
        assert "陈亚历" in (await page.text_content("#r-queue-result") or "")
        applications = (await server.http.get(f"{server.url}/api/v1/jobs/designer/applications", headers=HR)).json()["applications"]
        assert {a["candidate_id"]: (a["status"], a["decided_by"]) for a in applications}["c-1"] == ("invited", "hr:李娜")
        await context.close()
