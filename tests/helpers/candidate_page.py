"""Walking the candidate page's steps in a test: device check, consent, practice (skipped), start."""

from __future__ import annotations

from playwright.async_api import Page


async def pass_device_check(page: Page) -> None:
    """Open the devices the interview needs (none for a text one) and go on once the check passes."""
    await page.wait_for_selector("#device-step", state="visible")
    if await page.is_visible("#device-check"):
        await page.click("#device-check")
    await page.wait_for_selector("#device-continue:not([disabled])")
    await page.click("#device-continue")


async def give_consent(page: Page) -> None:
    await page.wait_for_selector("#consent-step", state="visible")
    await page.check("#consent")
    await page.click("#consent-continue")


async def start_interview(page: Page) -> None:
    """From a freshly loaded page to the interview, skipping the practice question."""
    await pass_device_check(page)
    await give_consent(page)
    await page.click("#start")
