"""Every records endpoint is in the OpenAPI schema, with its request and response types."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

# path -> {method: the request body's content type, or None}
JSON, MULTIPART = "application/json", "multipart/form-data"
ENDPOINTS = {
    "/api/v1/patients/{patient_id}/chart/": {"get": None},
    "/api/v1/patients/{patient_id}/allergies/": {"get": None, "post": JSON},
    "/api/v1/patients/{patient_id}/conditions/": {"get": None, "post": JSON},
    "/api/v1/patients/{patient_id}/medications/": {"get": None, "post": JSON},
    "/api/v1/patients/{patient_id}/immunizations/": {"get": None, "post": JSON},
    "/api/v1/patients/{patient_id}/vitals/": {"get": None, "post": JSON},
    "/api/v1/patients/{patient_id}/notes/": {"get": None, "post": JSON},
    "/api/v1/patients/{patient_id}/documents/": {"get": None, "post": MULTIPART},
    "/api/v1/records/{kind}/{entry_id}/": {"get": None, "patch": JSON},
    "/api/v1/records/{kind}/{entry_id}/entered-in-error/": {"post": JSON},
    "/api/v1/records/vitals/{vitals_id}/acknowledge/": {"post": None},
    "/api/v1/records/vitals/{vitals_id}/entered-in-error/": {"post": JSON},
    "/api/v1/records/notes/{note_id}/": {"get": None, "patch": JSON, "delete": None},
    "/api/v1/records/notes/{note_id}/sign/": {"post": None},
    "/api/v1/records/notes/{note_id}/amendments/": {"post": JSON},
    "/api/v1/records/documents/{public_id}/": {"get": None},
    "/api/v1/records/documents/{public_id}/download/": {"get": None},
    "/api/v1/records/documents/{public_id}/entered-in-error/": {"post": JSON},
    "/api/v1/me/access-log/": {"get": None},
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        return APIClient().get("/api/schema/", {"format": "json"}).json()


def test_every_records_endpoint_is_described_with_its_types(schema):
    paths = schema["paths"]

    for path, methods in ENDPOINTS.items():
        assert path in paths, path
        for method, body in methods.items():
            operation = paths[path][method]
            success = next(code for code in operation["responses"] if code.startswith("2"))
            if success != "204":
                assert operation["responses"][success]["content"], (path, method)
            assert "404" in operation["responses"], (path, method)
            if body is None:
                assert "requestBody" not in operation, (path, method)
            else:
                assert "$ref" in operation["requestBody"]["content"][body]["schema"], (path, method)


def test_an_entrys_kind_is_one_of_the_four_sections(schema):
    operation = schema["paths"]["/api/v1/records/{kind}/{entry_id}/"]["get"]

    kind = next(parameter for parameter in operation["parameters"] if parameter["name"] == "kind")
    assert sorted(kind["schema"]["enum"]) == ["allergies", "conditions", "immunizations", "medications"]


def test_vitals_are_numbers_named_with_their_units(schema):
    vitals = schema["components"]["schemas"]["VitalSigns"]["properties"]

    for name in ("systolic_mmhg", "heart_rate_bpm", "temperature_c", "spo2_pct", "weight_kg", "height_cm", "bmi"):
        assert vitals[name]["type"] in ("integer", "number"), name


def test_a_download_is_a_binary_file(schema):
    responses = schema["paths"]["/api/v1/records/documents/{public_id}/download/"]["get"]["responses"]

    assert responses["200"]["content"]["application/octet-stream"]["schema"]["format"] == "binary"
    assert "application/json" in responses["409"]["content"]
