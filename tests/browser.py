"""Headless Chromium for the tests that look at pages as a user would (Playwright driving Debian's `chromium`).

The browser is the system's (`apt-get install -y chromium`; `.ci/run` installs it): Playwright downloads
nothing. Without one the tests are skipped, unless REQUIRE_BROWSER=1 (set by CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    """The system Chromium's executable, or None."""
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


@dataclass
class PageLog:
    """What a page reported while it loaded: console errors and failed requests."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A headless Chromium (playwright.sync_api.Browser), shared by the session's tests."""
    executable = chromium_path()
    if executable is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but no Chromium on PATH (apt-get install -y chromium)")
        pytest.skip("no Chromium on PATH (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def open_page(browser, url: str, *, width: int = 1400, height: int = 900):
    """A new page at `url`, with a PageLog of its console errors and failed requests: (page, log)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    log = PageLog()
    page.on("console", lambda message: log.console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: log.console_errors.append(str(error)))
    page.on("requestfailed", lambda request: log.failed_requests.append(request.url))
    page.goto(url)
    return page, log
