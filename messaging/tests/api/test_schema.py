"""Every messaging endpoint is in the OpenAPI schema with its request and response types, the
schema stays valid OpenAPI 3, and generating it warns about nothing (no enum name collisions)."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import reset_generator_stats
from drf_spectacular.validation import validate_schema

from messaging.events import message_frame
from messaging.tests.api.conftest import said

pytestmark = pytest.mark.django_db

JSON = "application/json"
C = "/api/v1/conversations/{conversation_id}"
# path -> {method: (the request body's content type or None, the statuses it documents)}
ENDPOINTS = {
    "/api/v1/conversations/": {"get": (None, {"200", "401", "403"})},
    "/api/v1/conversations/care-team/": {"post": (JSON, {"200", "201", "400", "403", "404"})},
    "/api/v1/conversations/queries/": {"post": (JSON, {"200", "201", "400", "403", "404", "409"})},
    f"{C}/": {"get": (None, {"200", "404"})},
    f"{C}/messages/": {
        "get": (None, {"200", "400", "404"}),
        "post": (JSON, {"200", "201", "400", "403", "404", "409"}),
    },
    f"{C}/messages/{{seq}}/retract/": {"post": (None, {"200", "403", "404", "409"})},
    f"{C}/read/": {"post": (JSON, {"200", "400", "404"})},
    f"{C}/claim/": {"post": (None, {"200", "403", "404"})},
    f"{C}/status/": {"post": (JSON, {"200", "400", "403", "404"})},
    "/api/v1/inbox/": {"get": (None, {"200", "400", "403"})},
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        return APIClient().get("/api/schema/", {"format": "json"}).json()


def component(schema, reference: dict) -> dict:
    return schema["components"]["schemas"][reference["$ref"].rsplit("/", 1)[-1]]


def test_the_schema_is_valid_openapi_3(schema):
    validate_schema(schema)


def test_every_messaging_endpoint_is_described_with_its_types(schema):
    paths = schema["paths"]

    for path, methods in ENDPOINTS.items():
        assert path in paths, path
        for method, (body, statuses) in methods.items():
            operation = paths[path][method]
            responses = operation["responses"]
            assert operation["operationId"].startswith("messaging_"), (path, method)
            assert statuses <= set(responses), (path, method, set(responses))
            for code in statuses:
                content = responses[code]["content"][JSON]["schema"]
                if code.startswith("4"):
                    assert {"detail", "code"} <= set(component(schema, content)["properties"]), (path, method, code)
                else:
                    assert "$ref" in content, (path, method, code)
            if body is None:
                assert "requestBody" not in operation, (path, method)
            else:
                assert "$ref" in operation["requestBody"]["content"][body]["schema"], (path, method)
            assert {"jwtAuth": []} in operation["security"], (path, method)


def test_a_message_in_the_schema_is_the_frame_a_client_gets(schema, patient, care):
    frame = message_frame(said(patient, care))

    message = schema["components"]["schemas"]["Message"]
    assert set(message["properties"]) == set(frame)
    assert set(component(schema, message["properties"]["sender"])["properties"]) == set(frame["sender"])


def test_a_page_of_messages_has_both_cursors(schema):
    page = schema["components"]["schemas"]["MessagePage"]["properties"]

    assert {"results", "last_seq", "next_after_seq", "next_before_seq"} == set(page)
    assert page["next_after_seq"]["nullable"] is True


def test_conversation_enums_have_names_of_their_own(schema):
    components = schema["components"]["schemas"]

    assert components["ConversationKindEnum"]["enum"] == ["care_team", "query"]
    assert components["QueryStatusEnum"]["enum"] == ["open", "answered", "closed"]
    # The safety warnings' kind keeps the name it had before conversations had one.
    assert components["KindEnum"]["enum"] == ["allergy", "interaction", "duplicate"]


def test_generating_the_schema_warns_about_nothing(capsys):
    # Warnings are remembered per process: count only this generation's. `--fail-on-warn`
    # raises on any, `--validate` on invalid OpenAPI.
    reset_generator_stats()

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", os.devnull)

    assert "Warning" not in capsys.readouterr().err
