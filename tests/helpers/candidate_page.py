"""Walking the candidate page's steps in a test: welcome, device check, consent, practice (skipped), start."""

from __future__ import annotations

from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError


async def pass_welcome(page: Page, mode: str | None = None) -> None:
    """Read the welcome, choose how to answer (`mode`; the scheduled one if None) and begin."""
    await page.wait_for_selector("#welcome-step", state="visible")
    if mode is not None:
        await page.check(f"input[name=mode][value={mode}]")
    await page.click("#welcome-continue")


async def pass_device_check(page: Page) -> None:
    """Open the devices the interview needs (none for a text one) and go on once the check passes."""
    await page.wait_for_selector("#welcome-step, #device-step", state="visible")
    if await page.is_visible("#welcome-step"):
        await pass_welcome(page)
    await page.wait_for_selector("#device-step", state="visible")
    if await page.is_visible("#device-check"):
        await page.click("#device-check")
    await page.wait_for_selector("#device-continue:not([disabled])")
    await page.click("#device-continue")


async def give_consent(page: Page, emotion: bool = True) -> None:
    """Tick recording and AI scoring, and facial emotion analysis where it is asked (unless `emotion` is False)."""
    try:
        await page.wait_for_selector("#consent-step", state="visible")
    except PlaywrightTimeoutError:
        # Say where the page is instead (a failure once showed only that the step stayed hidden).
        where = await page.evaluate(
            "({step: window.interview.step, checks: window.interview.checks, messages: window.interview.messages.map((m) => m.type)})"
        )
        raise AssertionError(f"the consent step never showed; the page is at {where}") from None
    await page.check("#consent-recording")
    await page.check("#consent-ai")
    if emotion and await page.is_visible("#consent-emotion"):
        await page.check("#consent-emotion")
    await page.click("#consent-continue")
    await page.wait_for_selector("#practice-step", state="visible")


async def start_interview(page: Page) -> None:
    """From a freshly loaded page to the interview, skipping the practice question."""
    await pass_device_check(page)
    await give_consent(page)
    await page.click("#start")
