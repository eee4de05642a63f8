"""The API frame: one error shape, pagination limits, an OpenAPI schema and docs without a CDN."""

import re
import uuid

import pytest
from drf_spectacular.validation import validate_schema
from rest_framework.views import APIView

from telemed.api.throttling import AnonRateThrottle, UserRateThrottle

pytestmark = [pytest.mark.django_db]
frame = pytest.mark.urls("telemed.tests.urls")


@frame
def test_an_application_error_keeps_its_status_and_code(client):
    response = client.get("/tests/api/application-error/")

    assert response.status_code == 409
    assert response.json() == {"detail": "That slot is no longer free.", "code": "slot_taken"}


@frame
def test_an_application_error_subclass_brings_its_own_status(client):
    response = client.get("/tests/api/conflict-error/")

    assert response.status_code == 409
    assert response.json() == {"detail": "Already booked.", "code": "already_booked"}


@frame
def test_a_validation_error_names_each_field(client):
    response = client.post("/tests/api/validation-error/", {"diagnosis": "far too long", "age": -1}, "application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"]
    assert set(body["fields"]) == {"diagnosis", "age"}
    assert all(isinstance(messages, list) and messages for messages in body["fields"].values())


@frame
def test_a_bare_validation_error_lands_under_non_field_errors(client):
    response = client.get("/tests/api/bare-validation-error/")

    assert response.status_code == 400
    assert response.json()["fields"] == {"non_field_errors": ["Pick a slot first."]}


@frame
def test_a_django_validation_error_from_a_service_has_the_same_shape(client):
    response = client.get("/tests/api/django-validation-error/")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["fields"] == {"starts_at": ["Must be in the future."]}


@frame
def test_an_anonymous_caller_is_told_to_authenticate(client):
    response = client.get("/tests/api/authenticated-only/")

    assert response.status_code in (401, 403)
    assert response.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }


@frame
def test_http404_becomes_not_found_without_leaking_its_message(client):
    response = client.get("/tests/api/not-found/")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


@frame
def test_django_permission_denied_becomes_permission_denied(client):
    response = client.get("/tests/api/permission-denied/")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@frame
def test_a_throttled_caller_gets_429_with_the_throttled_code(client):
    run = {"HTTP_X_TEST_RUN": uuid.uuid4().hex}
    assert client.get("/tests/api/throttled/", **run).status_code == 200

    response = client.get("/tests/api/throttled/", **run)

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert response.json()["detail"]
    assert int(response["Retry-After"]) > 0


@pytest.fixture
def anon_rate_of_two(monkeypatch):
    """The anonymous rate down to 2 a minute (DRF reads the rates once, into the class)."""
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {**AnonRateThrottle.THROTTLE_RATES, "anon": "2/min"})


def _fresh_address() -> str:
    # Counters live in the cache, shared between tests (and runs, on Redis): one address per test.
    n = uuid.uuid4().int
    return f"198.18.{n % 250 + 1}.{(n >> 8) % 250 + 1}"


def test_the_api_throttles_with_the_classes_that_count_by_client_address():
    assert APIView.throttle_classes == [AnonRateThrottle, UserRateThrottle]


@frame
def test_a_spoofed_x_forwarded_for_does_not_reset_the_anonymous_counter(client, anon_rate_of_two):
    # REMOTE_ADDR is no trusted proxy: the header is the client's own invention, new each time.
    address = _fresh_address()
    for n in range(2):
        response = client.get("/tests/api/open/", REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR=f"192.0.2.{n + 1}")
        assert response.status_code == 200

    response = client.get("/tests/api/open/", REMOTE_ADDR=address, HTTP_X_FORWARDED_FOR="192.0.2.99")

    assert response.status_code == 429
    assert response.json()["code"] == "throttled"


@frame
def test_behind_a_trusted_proxy_each_client_address_has_its_own_anonymous_counter(client, settings, anon_rate_of_two):
    proxy, first, second = _fresh_address(), _fresh_address(), _fresh_address()
    settings.TRUSTED_PROXIES = [proxy]
    via_proxy = {"REMOTE_ADDR": proxy}
    for _ in range(2):
        assert client.get("/tests/api/open/", HTTP_X_FORWARDED_FOR=first, **via_proxy).status_code == 200

    assert client.get("/tests/api/open/", HTTP_X_FORWARDED_FOR=first, **via_proxy).status_code == 429
    # A client may prepend anything; the proxy's own entry (the rightmost) is what counts.
    assert client.get("/tests/api/open/", HTTP_X_FORWARDED_FOR=f"{first}, {second}", **via_proxy).status_code == 200


@frame
def test_lists_are_paginated_by_20_by_default(client):
    body = client.get("/tests/api/numbers/").json()

    assert body["count"] == 250
    assert body["results"] == list(range(1, 21))
    assert "page=2" in body["next"]


@frame
@pytest.mark.parametrize(("asked", "served"), [(5, 5), (100, 100), (1000, 100)])
def test_page_size_is_honoured_up_to_100(client, asked, served):
    body = client.get("/tests/api/numbers/", {"page_size": asked}).json()

    assert len(body["results"]) == served


def test_the_ping_endpoint_answers_for_a_signed_in_user(client, patient):
    client.force_login(patient)

    response = client.get("/api/v1/ping/")

    assert response.status_code == 200
    assert response.json() == {"user_id": patient.pk, "role": patient.role}


def test_the_schema_is_valid_openapi_3_and_describes_ping(client):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)  # raises on anything that is not OpenAPI 3
    assert schema["openapi"].startswith("3.")
    ping = schema["paths"]["/api/v1/ping/"]["get"]
    reference = ping["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    assert component["properties"]["user_id"]["type"] == "integer"
    assert component["properties"]["role"]["type"] == "string"


def test_the_docs_page_loads_only_same_origin_files_and_no_inline_script(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert len(scripts) == 3
    for attributes, body in scripts:
        assert body.strip() == "", "inline script"
        assert re.search(r'src="/[^/]', attributes), attributes
    assert "<style" not in html
    assert "cdn" not in html.lower()
    assert re.search(r"\bhttps?://|src=\"//|href=\"//", html) is None
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


def test_every_file_the_docs_page_names_is_served(client):
    html = client.get("/api/docs/").content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(url.endswith("swagger-ui-bundle.js") for url in urls)

    for url in urls:
        response = client.get(url.replace("&amp;", "&"))
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert body, url


def test_the_docs_init_script_is_served_as_javascript_pointing_at_the_schema(client):
    html = client.get("/api/docs/").content.decode()
    script_url = re.findall(r'<script src="([^"]+)"', html)[-1].replace("&amp;", "&")
    assert script_url.startswith("/api/docs/?")

    response = client.get(script_url)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in response.content.decode()
    assert "/api/schema/" in response.content.decode()
