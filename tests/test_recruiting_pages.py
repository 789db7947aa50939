"""The registration page a poster opens and the booking page an invitation opens, in Chromium on a phone and a
desktop, in Chinese and English: axe-core finds nothing critical or serious in any state, nothing shifts as they load,
and a keyboard alone applies, books a time, and finds the booking confirmed."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from playwright.async_api import Browser, Page

from tests.conftest import API_KEY, LiveServer, make_settings, serving
from tests.helpers.accessibility import check_state, layout_shift, tab_to, track_layout_shift
from tests.helpers.browser import chromium
from tests.helpers.mail_server import Mailbox, mail_server
from tests.helpers.qr_codes import qr_codes
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.browser
HR = {"X-API-Key": API_KEY}
ZONE = "Asia/Shanghai"
JOB = {
    "title": "后端工程师",
    "role": "backend_engineer",
    "language": "zh",
    "screening": {
        "knockout_questions": [
            {"id": "shanghai", "text": {"zh": "您能在上海工作吗？", "en": "Can you work in Shanghai?"}, "required_answer": True}
        ],
        "on_pass": "invite",
    },
}
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
async def recruiting_server(tmp_path: Path) -> AsyncIterator[tuple[LiveServer, Mailbox]]:
    with mail_server() as (mailbox, smtp):
        async with serving(make_settings(tmp_path / "data", company_name="Acme", **smtp)) as server:
            yield server, mailbox


async def open_job(server: LiveServer) -> str:
    """The job with two days of slots from tomorrow; the registration link its poster's QR code holds."""
    assert (await server.http.put(f"{server.url}/api/v1/jobs/backend", json=JOB, headers=HR)).status_code == 201
    day = datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=1)
    availability = {
        "timezone": ZONE,
        "windows": [{"start": f"{day + timedelta(days=n)}T09:00", "end": f"{day + timedelta(days=n)}T11:00"} for n in (0, 1)],
        "min_notice_hours": 0,
        "calendar_attendees": [{"email": "lina@example.test", "name": "李娜"}],
    }
    assert (await server.http.put(f"{server.url}/api/v1/jobs/backend/availability", json=availability, headers=HR)).status_code == 201
    poster = await server.http.get(f"{server.url}/api/v1/jobs/backend/poster", params={"format": "png"}, headers=HR)
    [code] = qr_codes(Image.open(io.BytesIO(poster.content)))
    return code


async def opened(browser: Browser, url: str, viewport: dict[str, int], locale: str, ready: str) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport=viewport, locale=locale, timezone_id="Europe/London")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await track_layout_shift(page)
    await page.goto(url)
    await page.wait_for_selector(ready)
    return page, errors


async def test_a_candidate_registers_and_books_a_time_with_the_keyboard_alone_on_pages_axe_finds_nothing_serious_in(
    recruiting_server: tuple[LiveServer, Mailbox], speech_wav: Path, face_y4m: Path
) -> None:
    server, mailbox = recruiting_server
    apply_url = await open_job(server)

    async with chromium(speech_wav, face_y4m) as browser:
        # The registration page, as the poster's QR code opens it, in both languages and on both screens.
        for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page, errors = await opened(browser, apply_url, viewport, "zh-CN", "#form-section:not([hidden])")
            assert await page.get_attribute("html", "lang") == "zh-CN"
            assert await page.text_content("#lang-switch") == "English"  # the other language, in its own words
            assert "您能在上海工作吗？" in (await page.text_content("#questions") or "")
            await check_state(page, f"apply-{name}-zh")
            assert await layout_shift(page) <= 0.1
            await page.click("#lang-switch")
            await page.wait_for_function("document.documentElement.lang === 'en'")
            assert "Can you work in Shanghai?" in (await page.text_content("#questions") or "")
            await check_state(page, f"apply-{name}-en")
            await page.click("#submit")  # nothing filled in: the form says what is missing, in words
            assert "name" in (await page.text_content("#form-error") or "").lower()
            await check_state(page, f"apply-{name}-missing")
            assert errors == []
            await page.context.close()

        # The keyboard alone, on a phone: name, e-mail, the knock-out question, consent, send.
        page, errors = await opened(browser, apply_url, PHONE, "zh-CN", "#form-section:not([hidden])")
        await tab_to(page, "#name")
        await page.keyboard.type("陈亚历")
        await tab_to(page, "#email")
        await page.keyboard.type("alex@example.test")
        await tab_to(page, "#q0-yes")
        await page.keyboard.press("Space")
        await tab_to(page, "#consent")
        await page.keyboard.press("Space")
        await tab_to(page, "#submit")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#done:not([hidden])")
        assert await page.evaluate("document.activeElement.id") == "done"
        await check_state(page, "apply-invited")
        await tab_to(page, "#next")
        await page.keyboard.press("Enter")

        # The invitation's booking page: pick the first free time, book it, see it confirmed in the phone's own zone.
        await page.wait_for_selector("#picker:not([hidden]) input[name='slot']")
        assert "Europe/London" in (await page.text_content("#zone-note") or "")
        await check_state(page, "booking-picker-zh")
        await tab_to(page, "input[name='slot']:not([disabled])")
        await page.keyboard.press("Space")
        chosen = await page.evaluate("document.activeElement.value")
        await tab_to(page, "#book")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#booked:not([hidden])")
        assert await page.evaluate("document.activeElement.id") == "booked-title"
        await check_state(page, "booking-booked-zh")
        await page.click("#lang-switch")
        await page.wait_for_function("document.documentElement.lang === 'en'")
        assert "Europe/London" in (await page.text_content("#booked-when") or "")
        assert await page.text_content("#lang-switch") == "中文"
        await check_state(page, "booking-booked-en")

        # Changing opens the list again with a way back; the desktop shows the same booking.
        await tab_to(page, "#change")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#picker:not([hidden])")
        await check_state(page, "booking-changing-en")
        booking_url = page.url
        interview_id = await page.get_attribute("meta[name='interview']", "content")
        assert errors == []
        await page.context.close()
        page, errors = await opened(browser, booking_url, DESKTOP, "en-GB", "#booked:not([hidden])")
        await check_state(page, "booking-booked-desktop")
        assert errors == []
        await page.context.close()

    # What the keyboard chose is what HR sees booked, and both calendars were sent it.
    booking = (await server.http.get(f"{server.url}/api/v1/interviews/{interview_id}/booking", headers=HR)).json()
    assert booking["booking"]["status"] == "booked"
    assert datetime.fromisoformat(booking["booking"]["starts_at"]) == datetime.fromisoformat(chosen)

    def invited() -> list[str]:
        return sorted(to[0] for to, message in mailbox.messages if any(p.get_content_type() == "text/calendar" for p in message.walk()))

    await wait_until(lambda: invited() == ["alex@example.test", "lina@example.test"], what="both calendar invitations")
