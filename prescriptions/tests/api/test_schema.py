"""Every prescriptions endpoint is in the OpenAPI schema, with its request and response types,
and the schema stays valid OpenAPI 3."""

from __future__ import annotations

import pytest
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

JSON = "application/json"
# path -> {method: (the request body's content type or None, the error statuses it documents)}
ENDPOINTS = {
    "/api/v1/prescriptions/": {"get": (None, {"400", "404"}), "post": (JSON, {"400", "403", "404"})},
    "/api/v1/prescriptions/{prescription_id}/": {
        "get": (None, {"404"}),
        "patch": (JSON, {"400", "403", "404", "409"}),
    },
    "/api/v1/prescriptions/{prescription_id}/check/": {"post": (None, {"403", "404"})},
    "/api/v1/prescriptions/{prescription_id}/sign/": {"post": (JSON, {"400", "403", "404", "409"})},
    "/api/v1/prescriptions/{prescription_id}/cancel/": {"post": (JSON, {"400", "403", "404", "409"})},
    "/api/v1/prescriptions/{prescription_id}/revise/": {"post": (None, {"403", "404", "409"})},
    "/api/v1/prescriptions/{prescription_id}/pdf/": {"get": (None, {"404"})},
    "/api/v1/prescriptions/{prescription_id}/refill-requests/": {"post": (JSON, {"403", "404", "409"})},
    "/api/v1/refill-requests/": {"get": (None, {"400", "404"})},
    "/api/v1/refill-requests/{refill_id}/approve/": {"post": (JSON, {"400", "403", "404", "409"})},
    "/api/v1/refill-requests/{refill_id}/decline/": {"post": (JSON, {"400", "403", "404", "409"})},
    "/api/v1/prescriber-keys/": {"get": (None, {"401"})},
    "/api/v1/prescriber-keys/rotate/": {"post": (None, {"403"})},
    "/api/v1/verify/rx/{public_id}/": {"get": (None, {"400", "404", "429"})},
    "/api/v1/verify/rx/{public_id}/dispense/": {"post": (JSON, {"400", "403", "404", "409", "429"})},
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        return APIClient().get("/api/schema/", {"format": "json"}).json()


def component(schema, reference: dict) -> dict:
    return schema["components"]["schemas"][reference["$ref"].rsplit("/", 1)[-1]]


def test_the_schema_is_valid_openapi_3(schema):
    validate_schema(schema)  # raises on anything that is not OpenAPI 3


def test_every_prescriptions_endpoint_is_described_with_its_types(schema):
    paths = schema["paths"]

    for path, methods in ENDPOINTS.items():
        assert path in paths, path
        for method, (body, errors) in methods.items():
            operation = paths[path][method]
            responses = operation["responses"]
            success = next(code for code in responses if code.startswith("2"))
            assert responses[success]["content"], (path, method)
            assert errors <= set(responses), (path, method, set(responses))
            for code in errors:
                error = responses[code]["content"][JSON]["schema"]
                assert {"detail", "code"} <= set(component(schema, error)["properties"]), (path, method, code)
            if body is None:
                assert "requestBody" not in operation, (path, method)
            else:
                assert "$ref" in operation["requestBody"]["content"][body]["schema"], (path, method)


def test_an_unacknowledged_warning_409_carries_the_warnings(schema):
    for path in ("/api/v1/prescriptions/{prescription_id}/sign/", "/api/v1/refill-requests/{refill_id}/approve/"):
        conflict = schema["paths"][path]["post"]["responses"]["409"]["content"][JSON]["schema"]
        properties = component(schema, conflict)["properties"]
        assert {"detail", "code", "warnings"} <= set(properties), path
        warning = component(schema, properties["warnings"]["items"])
        assert set(warning["properties"]) == {"item_position", "kind", "severity", "message"}


def test_a_prescription_has_its_state_items_and_open_refill_request(schema):
    prescription = schema["components"]["schemas"]["Prescription"]["properties"]

    assert {"state", "items", "refills_left", "open_refill_request", "status"} <= set(prescription)
    [state] = prescription["state"]["allOf"]
    assert "partly_dispensed" in component(schema, state)["enum"]
    item = component(schema, prescription["items"]["items"])
    assert {"medication", "dispensed", "remaining", "refills_left"} <= set(item["properties"])


def test_the_paper_is_a_binary_pdf(schema):
    responses = schema["paths"]["/api/v1/prescriptions/{prescription_id}/pdf/"]["get"]["responses"]

    assert responses["200"]["content"]["application/pdf"]["schema"]["format"] == "binary"
    assert JSON in responses["404"]["content"]


def test_the_public_endpoints_need_no_credentials_and_the_others_do(schema):
    paths = schema["paths"]

    assert paths["/api/v1/verify/rx/{public_id}/"]["get"].get("security") in (None, [], [{}])
    assert paths["/api/v1/verify/rx/{public_id}/dispense/"]["post"].get("security") in (None, [], [{}])
    assert {"jwtAuth": []} in paths["/api/v1/prescriptions/"]["get"]["security"]
