"""Headless Chromium for the tests that look at what a person sees: a page opened from disk with the
network off, its console errors and failed requests recorded, and a screenshot taken."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BLANK_PNG_BYTES = 20_000
"""A blank page's full-page screenshot is about 4 KB; a page with content is far over this."""


@dataclass(frozen=True)
class Seen:
    console_errors: list[str]
    failed_requests: list[str]
    text_length: int
    screenshot: Path


def need_chromium() -> str:
    """Chromium's path, or a skip saying why there is none (set-up installs it where it can)."""
    if CHROMIUM is None:
        pytest.skip("no chromium: `make setup` installs Debian's chromium only as root with apt-get")
    return CHROMIUM


def look_offline(page: Path, screenshot: Path) -> Seen:
    """Open ``page`` as a person would, from disk with no network, and record what went wrong."""
    from playwright.sync_api import sync_playwright

    chromium = need_chromium()
    errors: list[str] = []
    failed: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=True, viewport={"width": 1280, "height": 800})
            tab = context.new_page()
            tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
            tab.goto(page.resolve().as_uri(), wait_until="load")
            tab.wait_for_timeout(300)  # scripts that run after load (tables, charts)
            text_length = len(tab.inner_text("body"))
            tab.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return Seen(errors, failed, text_length, screenshot)


def assert_renders(seen: Seen) -> None:
    """No console error, no failed request, text on the page, and a screenshot that is not blank."""
    assert not seen.console_errors, seen.console_errors[:5]
    assert not seen.failed_requests, seen.failed_requests[:5]
    assert seen.text_length > 200, seen.text_length
    assert seen.screenshot.stat().st_size > BLANK_PNG_BYTES, seen.screenshot
