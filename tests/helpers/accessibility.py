"""axe-core (through axe-playwright-python, which ships it) on a page as it is now: every critical or serious finding,
with where it is, so a failing test says what to fix."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

from tests.helpers.browser import ARTIFACTS

_axe = Axe()
BLOCKING = ("critical", "serious")


async def blocking_findings(page: Page) -> list[dict[str, Any]]:
    results = await _axe.run(page)
    return [
        {"rule": v["id"], "impact": v["impact"], "help": v["help"], "where": [n["target"] for n in v["nodes"]][:5]}
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]


async def check_state(page: Page, name: str) -> None:
    """Screenshot the page's state into test-artifacts/ and require no critical or serious axe-core finding."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"state-{name}.png"), full_page=True)
    findings = await blocking_findings(page)
    assert findings == [], f"{name}: {findings}"


# Cumulative layout shift as Chrome's web-vitals count it: every layout-shift entry not caused by recent input.
_CLS_SCRIPT = """
window.__cls = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__cls += entry.value;
}).observe({ type: "layout-shift", buffered: true });
"""


async def track_layout_shift(page: Page) -> None:
    """Count layout shifts from the next navigation on (call before `goto`)."""
    await page.add_init_script(_CLS_SCRIPT)


async def layout_shift(page: Page) -> float:
    value: float = await page.evaluate("window.__cls")
    return value


async def tab_to(page: Page, selector: str, presses: int = 80) -> None:
    """Press Tab until the element `selector` names has the focus, as a keyboard user would reach it."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if await page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} was not reached with the keyboard in {presses} presses of Tab")
