"""Every appointments endpoint is in the OpenAPI schema, with its request and response types."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

# path -> {method: request body expected}
ENDPOINTS = {
    "/api/v1/slots/": {"get": False},
    "/api/v1/providers/": {"get": False},
    "/api/v1/appointment-types/": {"get": False},
    "/api/v1/appointments/": {"get": False, "post": True},
    "/api/v1/appointments/{appointment_id}/": {"get": False},
    "/api/v1/appointments/{appointment_id}/cancel/": {"post": True},
    "/api/v1/appointments/{appointment_id}/reschedule/": {"post": True},
    "/api/v1/appointments/{appointment_id}/status/": {"post": True},
    "/api/v1/appointments/{appointment_id}/ics/": {"get": False},
    "/api/v1/waitlist/": {"get": False, "post": True},
    "/api/v1/waitlist/{entry_id}/": {"get": False, "delete": False},
    "/api/v1/waitlist/offers/{offer_id}/": {"get": False},
    "/api/v1/waitlist/offers/{offer_id}/accept/": {"post": False},
    "/api/v1/waitlist/offers/{offer_id}/decline/": {"post": False},
}


def test_every_appointments_endpoint_is_described_with_its_types(api):
    paths = api.get("/api/schema/", {"format": "json"}).json()["paths"]

    for path, methods in ENDPOINTS.items():
        assert path in paths, path
        for method, has_body in methods.items():
            operation = paths[path][method]
            success = next(code for code in operation["responses"] if code.startswith("2"))
            if success != "204":
                assert operation["responses"][success]["content"], (path, method)
            assert any(code.startswith("4") for code in operation["responses"]), (path, method)
            if has_body:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                assert "$ref" in schema, (path, method)


def test_the_slot_query_parameters_are_described(api):
    operation = api.get("/api/schema/", {"format": "json"}).json()["paths"]["/api/v1/slots/"]["get"]

    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert set(parameters) == {"provider", "type", "from", "to", "tz"}
    assert parameters["provider"]["required"] is True
    assert parameters["provider"]["schema"]["type"] == "array"
