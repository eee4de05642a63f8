"""The patient's own access log ("who viewed my chart"), from the audit trail."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services.access import breakglass_open
from accounts.tests.factories import otp_verified_user
from records.tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db

LOG = "/api/v1/me/access-log/"


def chart_url(patient) -> str:
    return f"/api/v1/patients/{patient.pk}/chart/"


def test_the_patient_sees_who_viewed_their_chart_in_plain_words(signed_in, patient, doctor, nurse):
    signed_in(doctor).get(chart_url(patient))
    signed_in(patient).get(chart_url(patient))

    events = signed_in(patient).get(LOG).json()["results"]

    views = [event for event in events if event["what"] == "Viewed your chart"]
    [view] = views
    assert view["who"] == {"id": doctor.pk, "name": "Dr Dana Doctor", "role": "doctor"}
    assert (view["role"], view["outcome"], view["breakglass"], view["breakglass_reason"]) == (
        "doctor",
        "success",
        False,
        None,
    )
    assert view["occurred_at"].endswith("Z")
    # The patient's own reading is not in their log of others.
    assert all(event["who"]["id"] != patient.pk for event in events)


def test_a_refused_attempt_is_shown_as_denied(signed_in, patient, outsider_doctor):
    signed_in(outsider_doctor).get(chart_url(patient))

    [attempt] = signed_in(patient).get(LOG).json()["results"]

    assert (attempt["who"]["id"], attempt["outcome"], attempt["what"]) == (
        outsider_doctor.pk,
        "denied",
        "Viewed your chart",
    )


def test_break_glass_access_is_flagged_with_the_clinicians_reason(signed_in, patient, outsider_doctor):
    breakglass_open(actor=otp_verified_user(outsider_doctor), patient=patient, reason="Found unconscious at home")
    signed_in(outsider_doctor).get(chart_url(patient))

    events = signed_in(patient).get(LOG).json()["results"]

    view = next(event for event in events if event["what"] == "Viewed your chart")
    assert (view["breakglass"], view["breakglass_reason"]) == (True, "Found unconscious at home")
    assert all(event["breakglass"] for event in events)


def test_newest_first_and_paginated(signed_in, patient, doctor):
    for _ in range(3):
        signed_in(doctor).get(chart_url(patient))

    body = signed_in(patient).get(LOG, {"page_size": 2}).json()

    # One line per look (the generic "opened your chart" gate row is not repeated).
    assert body["count"] == 3
    assert len(body["results"]) == 2
    times = [event["occurred_at"] for event in body["results"]]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize("persona", ["doctor", "nurse", "admin", "outsider_patient"])
def test_staff_and_a_patient_whose_email_is_not_verified_have_none(request, signed_in, persona):
    assert_error(signed_in(request.getfixturevalue(persona)).get(LOG), 404, "not_found")


def test_a_proxy_reads_their_own_log_never_the_patients(signed_in, patient, proxy, doctor):
    signed_in(doctor).get(chart_url(patient))

    body = signed_in(proxy).get(LOG).json()

    assert body["count"] == 0


def test_anonymous_callers_are_asked_to_authenticate(api):
    assert_error(api.get(LOG), 401, "not_authenticated")


def test_the_log_costs_the_same_queries_however_long_it_is(
    signed_in, patient, doctor, nurse, django_assert_max_num_queries
):
    signed_in(doctor).get(chart_url(patient))
    client = signed_in(patient)
    client.get(LOG)
    with CaptureQueriesContext(connection) as short:
        client.get(LOG)
    # Taken now: the next requests reset the connection's query log that `short` reads.
    queries = len(short)
    for _ in range(4):
        signed_in(nurse).get(chart_url(patient))
        signed_in(doctor).get(chart_url(patient))

    with django_assert_max_num_queries(queries):
        assert client.get(LOG).json()["count"] == 9
