"""Every log line is JSON with the request id; no secret and no health data reaches a log.

Logging is configured with the project's own LOGGING (JSON, as with DEBUG=0), its console
handler pointed at a buffer; the process's stdout/stderr are captured as well, so a handler
left over from Django's defaults would be caught too.
"""

import copy
import io
import json
import logging
import logging.config

import pytest
from django.test import Client

from accounts.tests.factories import TEST_PASSWORD

frame = pytest.mark.urls("telemed.tests.urls")

PASSWORD_CANARY = "Canary-Passw0rd-q7Zx"
SESSION_CANARY = "canarysession4b1e9f0c2d7a"
JWT_CANARY = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlQ2FuYXJ5"
DIAGNOSIS_CANARY = "CanaryDiagnosisZebraFever"
MEDICATION_CANARY = "CanaryMedicationZebrazole"
CANARIES = [PASSWORD_CANARY, SESSION_CANARY, JWT_CANARY, DIAGNOSIS_CANARY, MEDICATION_CANARY]


@pytest.fixture
def log_buffer(settings):
    config = copy.deepcopy(settings.LOGGING)
    buffer = io.StringIO()
    config["handlers"]["console"]["stream"] = buffer
    config["handlers"]["console"]["formatter"] = "json"
    config["root"]["level"] = "DEBUG"
    logging.config.dictConfig(config)
    yield buffer
    logging.config.dictConfig(settings.LOGGING)


def _lines(buffer):
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


@frame
@pytest.mark.django_db
def test_each_log_line_is_json_with_the_request_id_of_its_request(client, log_buffer):
    response = client.get("/tests/logs/")
    missing = client.get("/no-such-page/")
    logging.getLogger("telemed.tests").warning("outside any request")

    lines = _lines(log_buffer)
    assert lines, "nothing was logged"
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= set(line), line
    by_message = {line["message"]: line for line in lines}
    assert by_message["visited the logging view"]["request_id"] == response["X-Request-ID"]
    assert by_message["visited the logging view"]["level"] == "INFO"
    assert by_message["Not Found: /no-such-page/"]["request_id"] == missing["X-Request-ID"]
    assert by_message["Not Found: /no-such-page/"]["logger"] == "django.request"
    assert by_message["outside any request"]["request_id"] == "-"
    assert response["X-Request-ID"] != missing["X-Request-ID"]


@frame
@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/tests/logs/", "/no-such-page/", "/tests/breaks/", "/api/v1/ping/"])
def test_every_response_carries_a_request_id(path):
    response = Client(raise_request_exception=False).get(path)

    assert len(response["X-Request-ID"]) >= 8


@pytest.mark.django_db
def test_a_well_formed_incoming_request_id_is_kept(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a9c2e-0001")

    assert response["X-Request-ID"] == "lb-7f3a9c2e-0001"


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["short", "has spaces in it", "x" * 65, "semi;colon;header", "<script>alert(1)"])
def test_a_malformed_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)

    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


@frame
@pytest.mark.django_db
def test_no_secret_or_health_data_reaches_any_log(patient, log_buffer, capfd):
    browser = Client(raise_request_exception=False)
    browser.cookies["sessionid"] = SESSION_CANARY
    credentials = {"HTTP_AUTHORIZATION": f"Bearer {JWT_CANARY}"}
    health_query = {"diagnosis": DIAGNOSIS_CANARY, "medication": MEDICATION_CANARY, "token": JWT_CANARY}

    browser.get("/no-such-page/", health_query, **credentials)
    browser.get("/tests/breaks/", health_query, **credentials)
    browser.post("/accounts/login/", {"username": patient.email, "password": PASSWORD_CANARY})
    browser.post(
        f"/tests/api/validation-error/?diagnosis={DIAGNOSIS_CANARY}",
        json.dumps({"diagnosis": DIAGNOSIS_CANARY, "age": MEDICATION_CANARY}),
        content_type="application/json",
        **credentials,
    )
    # What a careless developer might write; the redacting filter masks the credentials.
    careless = logging.getLogger("telemed.tests.careless")
    careless.info("login failed for password=%s", PASSWORD_CANARY)
    careless.info("refresh with token: %s and %s", JWT_CANARY, f"Authorization: Bearer {JWT_CANARY}")
    careless.warning("cookie sessionid=%s", SESSION_CANARY)
    careless.error("fetching /api/v1/records/?q=%s failed", DIAGNOSIS_CANARY)

    captured = capfd.readouterr()
    everything = log_buffer.getvalue() + captured.out + captured.err
    messages = [line["message"] for line in _lines(log_buffer)]
    # The requests did log: the assertion below is about what they logged.
    assert "Not Found: /no-such-page/" in messages
    assert "Internal Server Error: /tests/breaks/" in messages
    # The canary is no valid JWT: the API refuses it (401) before the view would answer 400.
    assert "Unauthorized: /tests/api/validation-error/" in messages
    assert any("RuntimeError: the view broke" in line.get("exc_info", "") for line in _lines(log_buffer))
    for canary in CANARIES:
        assert canary not in everything, canary
    assert TEST_PASSWORD not in everything
    assert len([m for m in messages if "[redacted]" in m]) == 4


@pytest.mark.django_db
def test_with_debug_the_plain_console_format_redacts_too(settings):
    config = copy.deepcopy(settings.LOGGING)
    buffer = io.StringIO()
    config["handlers"]["console"]["stream"] = buffer
    config["handlers"]["console"]["formatter"] = "plain"
    logging.config.dictConfig(config)
    try:
        try:
            raise ValueError(f"bad token={JWT_CANARY}")
        except ValueError:
            logging.getLogger("telemed.tests").exception("GET /x?diagnosis=%s", DIAGNOSIS_CANARY)
    finally:
        logging.config.dictConfig(settings.LOGGING)

    output = buffer.getvalue()
    assert "ValueError: bad token=[redacted]" in output
    assert "GET /x?[redacted]" in output
    assert JWT_CANARY not in output
    assert DIAGNOSIS_CANARY not in output


def test_the_secret_of_a_calendar_feed_url_never_reaches_a_log():
    from telemed.logging import redact

    line = redact('"GET /appointments/calendar/feed/Zx9-feed_SECRET123.ics HTTP/1.1" 404')

    assert "Zx9-feed_SECRET123" not in line
    assert "/appointments/calendar/feed/[redacted].ics" in line
