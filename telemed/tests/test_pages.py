"""The page frame through Django's test client: menus per role, home, login, error pages, CSP."""

import html as html_lib
import re

import pytest
from django.contrib.auth import get_user_model

from accounts.mfa.testing import otp_force_login
from accounts.tests.factories import TEST_PASSWORD

TEST_URLS = "telemed.tests.pages_urls"
NAV_LINK = re.compile(r'<a class="site-nav__link" href="([^"]+)"[^>]*>([^<]+)</a>')
CARD_LINK = re.compile(r'<a class="card__link" href="([^"]+)">([^<]+)</a>')
ACCOUNT_LINK = re.compile(r'<a class="account-nav__link" href="([^"]+)"[^>]*>([^<]+)</a>')
ADMIN_SECTIONS = ["Staff & accounts", "Invite staff", "Care teams", "Emergency access"]
ACCOUNT_MENU = ["Profile", "Proxy access", "Security", "Active sessions"]


def _labels(pattern: re.Pattern, response) -> list[str]:
    return [html_lib.unescape(label) for _, label in pattern.findall(response.content.decode())]


def menu(response) -> list[str]:
    return _labels(NAV_LINK, response)


def cards(response) -> list[str]:
    return _labels(CARD_LINK, response)


def account_menu(response) -> list[str]:
    return _labels(ACCOUNT_LINK, response)


def sign_in(client, user):
    """Staff pages need an OTP-verified session (accounts.middleware.StaffOtpRequiredMiddleware)."""
    if user.is_staff_role:
        otp_force_login(client, user)
    else:
        client.force_login(user)


def get_as(client, user, url="/"):
    if user is not None:
        sign_in(client, user)
    return client.get(url)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("persona", "expected_menu"),
    [
        (None, ["Home", "Sign in"]),
        ("patient", ["Home", "Appointments", "Messages", "My health", "Prescriptions"]),
        ("doctor", ["My schedule", "Charts", "Prescriptions", "Inbox", "Emergency access"]),
        ("nurse", ["Front desk", "Charts", "Prescriptions", "Inbox", "Emergency access"]),
        # No inbox: admins hold no health data (the messaging pages are 404s for them).
        ("admin", ["Front desk", *ADMIN_SECTIONS, "Admin"]),
        ("outsider_patient", ["Home", "Appointments", "Messages", "My health", "Prescriptions"]),
    ],
)
def test_the_menu_shows_only_the_sections_of_the_role_that_exist(client, request, persona, expected_menu):
    user = request.getfixturevalue(persona) if persona else None

    response = get_as(client, user)

    assert response.status_code == 200
    assert menu(response) == expected_menu
    html = response.content.decode()
    assert ('aria-label="Main"' in html) == bool(expected_menu)


@pytest.mark.django_db
@pytest.mark.urls(TEST_URLS)
@pytest.mark.parametrize(
    ("persona", "expected_menu", "expected_cards"),
    [
        (None, ["Home", "Sign in"], []),
        (
            "patient",
            ["Home", "Appointments", "Messages", "My health", "Prescriptions"],
            ["Appointments", "Messages", "My health", "Prescriptions"],
        ),
        (
            "doctor",
            ["My schedule", "Charts", "Prescriptions", "Inbox", "Emergency access"],
            ["My schedule", "Charts", "Prescriptions", "Inbox", "Emergency access"],
        ),
        (
            "nurse",
            ["Front desk", "Charts", "Prescriptions", "Inbox", "Emergency access"],
            ["Front desk", "Charts", "Prescriptions", "Inbox", "Emergency access"],
        ),
        (
            "admin",
            ["Front desk", *ADMIN_SECTIONS, "Admin"],
            ["Front desk", *ADMIN_SECTIONS, "Admin"],
        ),
    ],
)
def test_a_section_appears_once_its_url_name_resolves(client, request, persona, expected_menu, expected_cards):
    user = request.getfixturevalue(persona) if persona else None

    response = get_as(client, user)

    assert menu(response) == expected_menu
    assert cards(response) == expected_cards


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("persona", "expected"),
    [(None, []), ("patient", ACCOUNT_MENU), ("doctor", ACCOUNT_MENU), ("nurse", ACCOUNT_MENU), ("admin", ACCOUNT_MENU)],
)
def test_every_signed_in_user_has_an_account_menu_with_profile_proxies_security_and_sessions(
    client, request, persona, expected
):
    user = request.getfixturevalue(persona) if persona else None

    response = get_as(client, user)

    assert account_menu(response) == expected
    html = response.content.decode()
    assert ('aria-label="Account"' in html) == bool(expected)
    # Navigation, not something to open from the home page.
    assert not set(cards(response)) & set(ACCOUNT_MENU)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("persona", "url"),
    [
        ("patient", "/accounts/profile/"),
        ("patient", "/accounts/proxies/"),
        ("patient", "/accounts/security/"),
        ("patient", "/accounts/sessions/"),
        ("doctor", "/accounts/security/"),
        ("admin", "/accounts/staff/users/"),
        ("admin", "/accounts/staff/invite/"),
        ("admin", "/accounts/staff/care-teams/"),
        ("admin", "/accounts/staff/emergency-access/"),
    ],
)
def test_the_menus_link_to_the_account_pages_and_each_opens(client, request, persona, url):
    page = get_as(client, request.getfixturevalue(persona)).content.decode()

    assert url in {href for href, _ in NAV_LINK.findall(page) + ACCOUNT_LINK.findall(page)}
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_the_account_menu_marks_the_page_the_user_is_on(client, patient):
    client.force_login(patient)

    html = client.get("/accounts/sessions/").content.decode()

    assert '<a class="account-nav__link" href="/accounts/sessions/" aria-current="page">Active sessions</a>' in html
    assert '<a class="account-nav__link" href="/accounts/security/">Security</a>' in html


@pytest.mark.django_db
@pytest.mark.urls(TEST_URLS)
def test_the_current_section_is_marked_for_assistive_technology(client):
    html = client.get("/accounts/login/").content.decode()

    assert '<a class="site-nav__link" href="/accounts/login/" aria-current="page">Sign in</a>' in html
    assert '<a class="site-nav__link" href="/">Home</a>' in html


@pytest.mark.django_db
@pytest.mark.urls(TEST_URLS)
def test_a_page_inside_a_section_marks_the_section_as_current(client, patient):
    client.force_login(patient)

    html = client.get("/appointments/book/").content.decode()

    assert '<a class="site-nav__link" href="/appointments/" aria-current="true">Appointments</a>' in html
    assert '<a class="site-nav__link" href="/">Home</a>' in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("persona", "greeting", "role"),
    [
        ("patient", "Hello, Pat Patient", "Patient"),
        ("doctor", "Hello, Dr Dana Doctor", "Doctor"),
        ("nurse", "Hello, Nico Nurse", "Nurse"),
        ("admin", "Hello, Ada Admin", "Clinic admin"),
    ],
)
def test_home_greets_a_signed_in_user_by_name_and_role(client, request, persona, greeting, role):
    response = get_as(client, request.getfixturevalue(persona))

    html = response.content.decode()
    assert f'<h1 id="greeting">{greeting}</h1>' in html
    assert f'<span class="role-badge">{role}</span>' in html
    assert 'action="/accounts/logout/"' in html
    assert 'name="csrfmiddlewaretoken"' in html


@pytest.mark.django_db
def test_home_tells_a_visitor_what_the_portal_is_and_how_to_sign_in_or_register(client):
    response = client.get("/")

    html = response.content.decode()
    assert "video consultations" in html
    assert '<a class="button" href="/accounts/login/">Sign in</a>' in html
    assert '<a class="button button--quiet" href="/accounts/register/">Create a patient account</a>' in html
    assert "Accounts are created by the clinic" not in html
    assert "Sign out" not in html
    assert '<html lang="en">' in html
    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html


@pytest.mark.django_db
def test_a_user_name_is_escaped_in_the_greeting(client):
    user = get_user_model().objects.create_user("mallory@example.test", TEST_PASSWORD, full_name="<b>Mallory</b>")

    response = get_as(client, user)

    assert "Hello, &lt;b&gt;Mallory&lt;/b&gt;" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.urls(TEST_URLS)
def test_messages_are_announced_politely_and_errors_assertively(client):
    html = client.get("/test/messages/").content.decode()

    assert '<p class="message message--success" role="status">Your appointment is booked.</p>' in html
    assert '<p class="message message--error" role="alert">The payment failed.</p>' in html


@pytest.mark.django_db
def test_signing_out_needs_a_post(client, patient):
    client.force_login(patient)

    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


# --- Login ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_login_form_labels_its_fields_and_hints_autocomplete(client):
    html = client.get("/accounts/login/?next=/somewhere/").content.decode()

    assert '<label for="id_username">Email</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert 'autocomplete="email"' in html
    assert 'autocomplete="current-password"' in html
    assert '<input type="hidden" name="next" value="/somewhere/">' in html
    assert "aria-invalid" not in html


@pytest.mark.django_db
def test_a_patient_signs_in_with_email_and_password(client, patient):
    response = client.post("/accounts/login/", {"username": patient.email, "password": TEST_PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(patient.pk)


@pytest.mark.django_db
def test_a_wrong_password_and_an_unknown_email_get_the_same_linked_error(client, patient):
    pages = [
        client.post("/accounts/login/", {"username": email, "password": "wrong-password-123"}).content.decode()
        for email in (patient.email, "nobody@example.test")
    ]

    errors = [re.search(r'<div class="form-error" id="login-error" role="alert">(.*?)</div>', p, re.S) for p in pages]
    assert errors[0] and errors[1]
    assert "Please enter a correct email address and password." in errors[0].group(1)
    assert errors[0].group(1) == errors[1].group(1)
    for page in pages:
        assert page.count('aria-invalid="true" aria-describedby="login-error"') == 2


@pytest.mark.django_db
def test_a_missing_field_gets_its_own_linked_error(client):
    html = client.post("/accounts/login/", {"username": "", "password": "x"}).content.decode()

    assert '<p class="field__error" id="id_username-error">This field is required.</p>' in html
    assert 'aria-invalid="true" aria-describedby="id_username-error"' in html


# --- Error pages ----------------------------------------------------------------------------


@pytest.fixture
def production_errors(settings, client):
    settings.DEBUG = False
    client.raise_request_exception = False
    return client


@pytest.mark.django_db
def test_a_missing_page_gets_the_friendly_404(production_errors):
    response = production_errors.get("/no-such-page")

    assert response.status_code == 404
    assert "errors/404.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert "We cannot find that page" in html
    assert '<a class="button" href="/">Go to the home page</a>' in html


@pytest.mark.django_db
@pytest.mark.urls(TEST_URLS)
def test_a_crash_gets_the_friendly_500_without_touching_the_database(
    production_errors, patient, django_assert_num_queries
):
    production_errors.force_login(patient)

    # Two reads by the session-timeout middleware (the session and its user) before the view
    # runs; the error page itself reads and writes nothing.
    with django_assert_num_queries(2):
        response = production_errors.get("/test/boom/")

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert 'href="/"' in html
    assert "Pat Patient" not in html


@pytest.mark.django_db
@pytest.mark.urls(TEST_URLS)
def test_the_500_page_has_a_plain_fallback_when_its_template_fails(production_errors, monkeypatch):
    def broken_render(*args, **kwargs):
        raise ValueError("Missing staticfiles manifest entry")

    monkeypatch.setattr("telemed.views.loader.render_to_string", broken_render)

    response = production_errors.get("/test/boom/")

    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.urls(TEST_URLS)
def test_a_forbidden_page_gets_the_friendly_403(production_errors):
    response = production_errors.get("/test/forbidden/")

    assert response.status_code == 403
    html = response.content.decode()
    assert "You do not have access to this page" in html
    assert "not yours" not in html


@pytest.mark.django_db
@pytest.mark.urls(TEST_URLS)
def test_a_bad_request_gets_the_friendly_400(production_errors):
    response = production_errors.get("/test/suspicious/")

    assert response.status_code == 400
    html = response.content.decode()
    assert "We could not understand that request" in html
    assert "forged" not in html


@pytest.mark.django_db
def test_an_expired_form_gets_a_403_that_explains_it(settings, client):
    settings.CSRF_FAILURE_VIEW = "telemed.views.csrf_failure"
    client.handler.enforce_csrf_checks = True

    response = client.post("/accounts/login/", {"username": "a@example.test", "password": "x"})

    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()


# --- Content Security Policy ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_csp_allows_only_the_sites_own_scripts_and_styles(client):
    policy = client.get("/")["Content-Security-Policy"]

    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


@pytest.mark.django_db
@pytest.mark.urls(TEST_URLS)
@pytest.mark.parametrize("persona", [None, "patient", "admin"])
@pytest.mark.parametrize(
    ("url", "page_scripts"),
    [
        ("/", ["/static/vendor/htmx.min.js", "/static/js/time-zone.js"]),
        ("/accounts/login/", ["/static/vendor/htmx.min.js", "/static/js/time-zone.js"]),
        ("/no-such-page", ["/static/vendor/htmx.min.js", "/static/js/time-zone.js"]),
        # The minimal error pages (400, 500) load no script at all.
        ("/test/boom/", []),
        ("/test/suspicious/", []),
    ],
)
def test_no_page_has_inline_script_or_style(production_errors, request, persona, url, page_scripts):
    if persona:
        sign_in(production_errors, request.getfixturevalue(persona))
        if page_scripts:
            # The warning before the idle timeout, on every full page of a signed-in user.
            page_scripts = [*page_scripts, "/static/js/session-timeout.js"]

    html = production_errors.get(url).content.decode()

    assert re.findall(r"<script\b[^>]*>", html) == [f'<script src="{src}" defer>' for src in page_scripts]
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
