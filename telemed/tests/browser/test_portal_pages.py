"""The page frame in real Chromium: accessibility, keyboard, sign-in, errors, phones, CSP."""

import pytest
from playwright.sync_api import Page, expect

from telemed.testing.browser import BrowserErrors, assert_accessible, login

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
INVALID_LOGIN = "Please enter a correct email address and password."


def submit_login(page: Page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def test_the_anonymous_home_page_says_what_the_portal_is_and_offers_sign_in(page, live_asgi):
    response = page.goto(f"{live_asgi.url}/")

    assert response.status == 200
    expect(page).to_have_title("Home · Telemed Demo Clinic")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("video consultations")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link")).to_have_text(["Home", "Sign in"])
    expect(nav.get_by_role("link", name="Home")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("main").get_by_role("link", name="Sign in")).to_have_attribute("href", "/accounts/login/")
    expect(page.get_by_role("main").get_by_role("link", name="Create a patient account")).to_have_attribute(
        "href", "/accounts/register/"
    )
    for landmark in ("banner", "navigation", "main", "contentinfo"):
        expect(page.get_by_role(landmark)).to_have_count(1)
    assert_accessible(page)


def test_the_skip_link_is_the_first_tab_stop_and_moves_focus_to_the_main_content(page, live_asgi):
    page.goto(f"{live_asgi.url}/")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).not_to_be_in_viewport()

    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")

    expect(page.get_by_role("main")).to_be_focused()
    page.keyboard.press("Tab")
    # The next stop is inside main: the header's links were skipped.
    assert page.evaluate("() => document.activeElement.closest('main') !== null")


def test_a_patient_signs_in_through_the_form_and_lands_on_a_greeting_with_the_patient_menu(page, live_asgi, patient):
    login(page, live_asgi, patient)

    assert page.url == f"{live_asgi.url}/"
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Pat Patient")
    expect(page.get_by_role("main")).to_contain_text("You are signed in as Patient")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Home")).to_be_visible()
    expect(nav.get_by_role("link", name="Sign in")).to_have_count(0)
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert_accessible(page)


def test_a_doctor_signs_in_twice_in_a_row_with_a_new_code_each_time(page, live_asgi, doctor):
    # The second sign-in needs a code of a later 30 s step: each code is accepted once.
    for _ in range(2):
        login(page, live_asgi, doctor)
        expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Dr Dana Doctor")
        with page.expect_navigation():
            page.get_by_role("button", name="Sign out").click()


@pytest.mark.parametrize("persona", ["patient", "admin"])
def test_no_link_in_the_account_menu_is_dead(page, live_asgi, request, persona):
    login(page, live_asgi, request.getfixturevalue(persona))
    hrefs = (
        page.get_by_role("navigation", name="Account")
        .get_by_role("link")
        .evaluate_all("links => links.map(a => a.href)")
    )

    assert len(hrefs) == 4
    for href in hrefs:
        assert page.request.get(href).status == 200, href


@pytest.mark.parametrize("persona", ["patient", "admin"])
def test_no_link_in_the_menu_is_dead(page, live_asgi, request, persona):
    login(page, live_asgi, request.getfixturevalue(persona))
    hrefs = (
        page.get_by_role("navigation", name="Main").get_by_role("link").evaluate_all("links => links.map(a => a.href)")
    )

    assert hrefs
    for href in hrefs:
        assert page.request.get(href).status == 200, href


def test_signing_out_is_a_post_that_ends_the_session(page, live_asgi, patient):
    login(page, live_asgi, patient)

    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_a_wrong_password_and_an_unknown_email_get_the_same_accessible_error(page, live_asgi, patient):
    messages = []
    for email in (patient.email, "nobody@example.test"):
        submit_login(page, live_asgi.url, email, "not-the-password")

        assert page.url.endswith("/accounts/login/")
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text(INVALID_LOGIN)
        email_input = page.get_by_label("Email")
        expect(email_input).to_have_value(email)
        expect(email_input).to_have_attribute("aria-invalid", "true")
        expect(email_input).to_have_accessible_description(alert.inner_text())
        expect(page.get_by_label("Password")).to_have_accessible_description(alert.inner_text())
        messages.append(alert.inner_text())

    assert messages[0] == messages[1]
    assert_accessible(page)


def test_the_login_form_has_the_autocomplete_hints_password_managers_need(page, live_asgi):
    page.goto(f"{live_asgi.url}/accounts/login/")

    expect(page.get_by_label("Email")).to_have_attribute("autocomplete", "email")
    expect(page.get_by_label("Email")).to_have_attribute("type", "email")
    expect(page.get_by_label("Password")).to_have_attribute("autocomplete", "current-password")
    assert_accessible(page)


def test_signing_in_and_out_works_without_javascript(make_page, live_asgi, patient):
    page = make_page(java_script_enabled=False)

    login(page, live_asgi, patient)
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Pat Patient")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()

    expect(page.get_by_role("link", name="Sign in").first).to_be_visible()


def test_a_missing_page_gets_the_friendly_404_page(page, live_asgi):
    response = page.goto(f"{live_asgi.url}/no-such-page")

    assert response.status == 404
    expect(page).to_have_title("Page not found · Telemed Demo Clinic")
    expect(page.get_by_role("heading", level=1)).to_have_text("We cannot find that page")
    expect(page.get_by_role("link", name="Go to the home page")).to_have_attribute("href", "/")
    assert_accessible(page)


@pytest.fixture
def live_asgi_with_failing_pages(transactional_db, settings, request):
    """The live server on a URLconf that also has pages failing on purpose (forked with it).
    It names `transactional_db` itself: `live_asgi` is asked for by name inside, so the root
    conftest would not see that this test commits (and its audit rows would outlive it)."""
    settings.ROOT_URLCONF = "telemed.tests.pages_urls"
    return request.getfixturevalue("live_asgi")


@pytest.mark.parametrize(
    ("path", "status", "heading"),
    [
        ("/test/boom/", 500, "Something went wrong on our side"),
        ("/test/suspicious/", 400, "We could not understand that request"),
        ("/test/forbidden/", 403, "You do not have access to this page"),
    ],
)
def test_the_other_error_pages_are_friendly_styled_and_accessible(
    live_asgi_with_failing_pages, page, path, status, heading
):
    response = page.goto(f"{live_asgi_with_failing_pages.url}{path}")

    assert response.status == status
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.get_by_role("link", name="Go to the home page")).to_have_attribute("href", "/")
    # The stylesheet loaded and applies (the minimal pages must not look broken either).
    expect(page.get_by_role("link", name="Go to the home page")).to_have_css("color", "rgb(255, 255, 255)")
    assert_accessible(page)


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/no-such-page"])
def test_pages_fit_a_360px_phone_without_horizontal_scrolling(make_page, live_asgi, path):
    page = make_page(viewport=PHONE, is_mobile=True, has_touch=True)
    page.goto(f"{live_asgi.url}{path}")

    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert_accessible(page)


def test_the_signed_in_home_page_fits_a_360px_phone(make_page, live_asgi, admin):
    page = make_page(viewport=PHONE, is_mobile=True, has_touch=True)
    login(page, live_asgi, admin)

    assert page.url == f"{live_asgi.url}/"
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Ada Admin")
    # The admin's menu and account menu are the longest there are: they wrap, not scroll.
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Staff & accounts")).to_be_visible()
    expect(page.get_by_role("navigation", name="Account").get_by_role("link", name="Active sessions")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    expect(page.get_by_role("button", name="Sign out")).to_be_in_viewport()
    assert_accessible(page)


def test_pages_carry_a_csp_without_inline_script_and_run_none(page, live_asgi, browser_errors: BrowserErrors):
    response = page.goto(f"{live_asgi.url}/")

    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert page.evaluate("() => [...document.scripts].filter(s => !s.src).length") == 0
    assert page.evaluate("() => document.querySelectorAll('[style]').length") == 0
    # htmx loaded and configured itself without an inline <style> the CSP would refuse.
    assert page.evaluate("() => typeof window.htmx") == "object"
    assert browser_errors.messages == []


def test_the_browser_refuses_an_inline_script_and_the_page_fixture_notices(
    page, live_asgi, browser_errors: BrowserErrors
):
    page.goto(f"{live_asgi.url}/")

    page.evaluate(
        """() => {
            const script = document.createElement('script');
            script.textContent = 'window.inlineScriptRan = true';
            document.head.append(script);
        }"""
    )

    assert page.evaluate("() => window.inlineScriptRan === true") is False
    reported = browser_errors.take()
    assert any("Content Security Policy" in message for message in reported), reported


def test_assert_accessible_fails_listing_a_serious_violation(page, live_asgi):
    page.goto(f"{live_asgi.url}/")
    page.evaluate("() => document.querySelector('main').append(document.createElement('input'))")

    with pytest.raises(AssertionError) as failure:
        assert_accessible(page)

    assert "[critical] label: Form elements must have labels" in str(failure.value)
