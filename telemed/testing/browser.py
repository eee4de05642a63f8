"""Real headless Chromium for browser tests (Playwright's sync API, Debian's Chromium).

Fixtures: `browser` (one Chromium per session), `page` (a fresh context per test, which fails
the test on a CSP violation or a JavaScript error), `make_page(**context_options)` for more
pages or other options, and `browser_errors` (what the pages reported, for a test that
provokes an error on purpose). Helpers: `assert_accessible(page)` runs axe-core, and
`login(page, live_asgi, user)` signs in through the real form (and the two-step challenge).

Playwright's sync API refuses to run inside a running asyncio loop: browser tests are plain
sync tests marked `@pytest.mark.browser`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Request, sync_playwright

from accounts.mfa.testing import totp_code_unused, totp_device_enrol
from accounts.services.mfa import totp_device_confirmed
from accounts.tests.factories import TEST_PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # Without these Chromium keeps calling hosts that are unreachable from the test machine.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # A synthetic camera and microphone with no permission prompt, for consultations.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # Otherwise Chromium offers no 127.0.0.1 ICE candidate and loopback calls never connect.
    "--allow-loopback-in-peer-connection",
]
AXE_PATH = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
DESKTOP_VIEWPORT = {"width": 1280, "height": 800}


class _PlaywrightLoop:
    """Hide Playwright's event loop from everything that is not a browser test.

    Playwright's sync API runs its asyncio loop in a greenlet of the main thread and leaves
    that loop marked as this thread's running loop between calls. For the rest of the session,
    Django would then refuse ORM calls (SynchronousOnlyOperation) and pytest-asyncio could not
    run its own loop. So the mark is removed while no browser test runs, and put back for the
    length of one (the dispatcher greenlet expects it when it resumes inside the loop).
    """

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def park(self) -> None:
        self.loop = asyncio._get_running_loop()
        asyncio._set_running_loop(None)

    def resume(self) -> None:
        asyncio._set_running_loop(self.loop)


@pytest.fixture(scope="session")
def _playwright_browser() -> Iterator[tuple[Browser, _PlaywrightLoop]]:
    loop = _PlaywrightLoop()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        loop.park()
        yield chromium, loop
        loop.resume()
        chromium.close()


@pytest.fixture
def browser(_playwright_browser, monkeypatch) -> Iterator[Browser]:
    """The session's Chromium, usable for the length of one test."""
    chromium, loop = _playwright_browser
    loop.resume()
    # Only the mark of Playwright's loop makes this thread look async: the test itself is
    # sync, and the ORM is as safe here as in any other sync test.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    try:
        yield chromium
    finally:
        loop.park()


@dataclass
class BrowserErrors:
    """Console errors and uncaught exceptions of one test's page, in the order they came."""

    messages: list[str] = field(default_factory=list)
    documents: set[str] = field(default_factory=set)

    def on_request(self, request: Request) -> None:
        if request.resource_type == "document":
            self.documents.add(request.url)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if message.text.startswith("Failed to load resource"):
            # Chromium logs every 4xx/5xx response as a console error. For a page the test
            # navigated to (a 404 page under test) the test asserts the status itself; a failed
            # stylesheet, script or image is still a defect and is kept.
            if message.location.get("url") in self.documents:
                return
            # Connection-level failures (net::ERR_...) are the test's own doing: a navigation
            # that cut a load short, or the live server stopping before a lazy favicon fetch.
            if "net::ERR_" in message.text:
                return
        where = message.location.get("url", "")
        self.messages.append(f"console error: {message.text} ({where})")

    def on_pageerror(self, error: Exception) -> None:
        self.messages.append(f"uncaught JavaScript error: {error}")

    def take(self) -> list[str]:
        """Return and forget what was collected, for a test that expects these errors."""
        taken, self.messages = self.messages, []
        return taken


@pytest.fixture
def browser_errors() -> BrowserErrors:
    return BrowserErrors()


@pytest.fixture
def make_page(browser: Browser, browser_errors: BrowserErrors) -> Iterator[Callable[..., Page]]:
    """Open pages, each in its own browser context (own cookies), with `new_context` options

    (say `java_script_enabled=False`). Every such page fails the test on a console error or an
    uncaught exception; contexts are closed after the test.
    """
    contexts: list[BrowserContext] = []

    def open_page(**context_options) -> Page:
        context_options.setdefault("viewport", DESKTOP_VIEWPORT)
        context_options.setdefault("locale", "en-GB")
        context = browser.new_context(**context_options)
        contexts.append(context)
        context.set_default_timeout(10_000)
        new_page = context.new_page()
        new_page.on("request", browser_errors.on_request)
        new_page.on("console", browser_errors.on_console)
        new_page.on("pageerror", browser_errors.on_pageerror)
        return new_page

    try:
        yield open_page
        for context in contexts:
            for open_ in context.pages:
                # A round trip makes Playwright deliver console events still queued from the page.
                open_.evaluate("() => 0")
    finally:
        for context in contexts:
            context.close()
    errors = browser_errors.take()
    assert not errors, "the page reported errors:\n" + "\n".join(errors)


@pytest.fixture
def page(make_page: Callable[..., Page]) -> Page:
    """A desktop-sized page in a fresh browser context; see `make_page`."""
    return make_page()


@functools.cache
def _axe_source() -> str:
    if not AXE_PATH.exists():
        pytest.fail(f"axe-core is missing ({AXE_PATH}): run `npm ci` in the project root.", pytrace=False)
    return AXE_PATH.read_text(encoding="utf-8")


def _describe_violation(violation: dict) -> str:
    lines = [f"- [{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})"]
    for node in violation["nodes"]:
        target = " ".join(str(part) for part in node["target"])
        summary = " ".join(node.get("failureSummary", "").split())
        lines.append(f"    {target}: {summary}")
    return "\n".join(lines)


def assert_accessible(page: Page) -> list[dict]:
    """Run axe-core on the page as it is now; fail listing every serious or critical violation.

    Returns the violations of lesser impact, for a test that wants to look at them.
    """
    # evaluate(), not add_script_tag(): the page's CSP forbids inline scripts, and code
    # evaluated through the DevTools protocol is not subject to it.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        AXE_TAGS,
    )
    violations = results["violations"]
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"axe-core found accessibility violations on {page.url}:\n" + "\n".join(
        _describe_violation(v) for v in blocking
    )
    return violations


def login(page: Page, live_asgi, user, password: str = TEST_PASSWORD) -> None:
    """Sign `user` in through the login form, as a person would; fail if the form refuses.

    A user with an authenticator also passes the two-step challenge with a fresh code. Staff
    without one get one enrolled first (staff must use MFA), so that they land where staff
    who set it up would, not on the setup page.
    """
    device = totp_device_confirmed(user=user)
    if device is None and user.is_staff_role:
        device = totp_device_enrol(user)
    page.goto(f"{live_asgi.url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    if "/accounts/login/" in page.url:
        pytest.fail(f"signing in as {user.email} failed: still on {page.url}", pytrace=False)
    if device is None:
        return
    if "/accounts/mfa/challenge/" not in page.url:
        pytest.fail(f"signing in as {user.email} did not ask for a code: on {page.url}", pytrace=False)
    page.get_by_label("Code").fill(totp_code_unused(device))
    with page.expect_navigation():
        page.get_by_role("button", name="Verify").click()
    if "/accounts/mfa/" in page.url:
        pytest.fail(f"the two-step code of {user.email} was refused: still on {page.url}", pytrace=False)
