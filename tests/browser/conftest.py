"""The portal in real headless Chromium (Debian's package, driven by Playwright through its
executable path; never `playwright install`), against the whole running stack (`stack`
fixture of tests/stack.py: every service, the sandboxes and the gateway, CAPTCHA off).

Every page a test visits is checked with axe-core (WCAG 2.1 A and AA) and photographed
into artifacts/screenshots/."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "services" / "gateway" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="session")
async def browser():
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    assert executable, "Chromium is missing: run scripts/install_browser.sh"
    assert AXE.exists(), "axe-core is missing: run `npm ci` in services/gateway"
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=executable, args=ARGS)
        yield b
        await b.close()


@pytest.fixture
async def page(browser, stack, request):
    # bypass_csp lets the test inject axe-core; the portal itself allows no inline script.
    context = await browser.new_context(base_url=stack.gateway_url, bypass_csp=True,
                                        viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.test_name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)
    page.step = 0
    yield page
    await context.close()


async def check_page(page: Page, name: str) -> None:
    """axe-core finds no WCAG 2.1 AA violation here; the page is saved as a screenshot."""
    page.step += 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{page.test_name}-{page.step:02d}-{name}.png"),
                          full_page=True)
    await page.add_script_tag(path=str(AXE))
    violations = await page.evaluate(
        """async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))
             .violations.map(v => `${v.id} (${v.impact}): ${v.help} at ` +
                             v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))""",
        AXE_TAGS)
    assert violations == [], f"{name}: {violations}"


async def choose(page: Page, input_id: str) -> None:
    """USWDS draws its own radio buttons; a person clicks the label."""
    await page.click(f"label[for='{input_id}']")
