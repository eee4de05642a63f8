""" "Who viewed my chart": the patient's access log page."""

import html
import re
import zoneinfo

import pytest
from django.urls import reverse

from accounts.context_processors import ACTING_FOR_SESSION_KEY
from accounts.services.access import breakglass_open
from accounts.tests.factories import otp_force_login, otp_verified_user
from audit.models import AuditEvent
from audit.services import audit_record

pytestmark = pytest.mark.django_db

URL = "/records/access-log/"
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def text(response) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def entries(response) -> list[str]:
    content = response.content.decode()
    items = re.findall(r'<li class="log__item[^"]*">(.*?)</li>', content, flags=re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", item)).split()) for item in items]


def test_the_url_is_named_access_log():
    assert reverse("records:access_log") == URL


def test_the_patient_sees_who_opened_their_chart_with_role_and_time(client, patient, doctor, nurse):
    otp_force_login(client, doctor).get(reverse("records:chart", args=[patient.pk]))
    client.logout()
    otp_force_login(client, nurse).get(reverse("records:chart", args=[patient.pk]))
    client.logout()
    client.force_login(patient)
    client.get(reverse("records:my_health"))
    client.cookies["tz"] = "Europe/Paris"

    response = client.get(URL)

    assert response.status_code == 200
    lines = entries(response)
    assert any("Nico Nurse (nurse) Viewed your chart" in line for line in lines)
    assert any("Dr Dana Doctor (doctor) Viewed your chart" in line for line in lines)
    # Newest first, and the patient's own visits are not listed.
    assert lines.index(next(line for line in lines if "Nico Nurse" in line)) < lines.index(
        next(line for line in lines if "Dr Dana Doctor" in line)
    )
    assert not any("Pat Patient" in line for line in lines)
    assert "Times in Europe/Paris." in text(response)
    seen = AuditEvent.objects.get(action="records.chart.view", actor=doctor).occurred_at.astimezone(PARIS)
    assert f"{seen.day} {seen:%b %Y, %H:%M} Dr Dana Doctor" in " ".join(lines)
    assert AuditEvent.objects.filter(action="records.access_log.view", actor=patient, outcome="success").exists()


def test_break_glass_is_flagged_with_the_reason_and_refusals_are_shown(client, patient, outsider_doctor):
    otp_force_login(client, outsider_doctor)
    assert client.get(reverse("records:chart", args=[patient.pk])).status_code == 404
    breakglass_open(
        actor=otp_verified_user(outsider_doctor), patient=patient, reason="Found unconscious, no ID but this patient's"
    )
    client.get(reverse("records:chart", args=[patient.pk]))
    client.logout()
    client.force_login(patient)

    response = client.get(URL)

    lines = entries(response)
    refused = [line for line in lines if "Refused" in line]
    flagged = [line for line in lines if "Emergency access" in line]
    assert refused and all("Dr Olga Outsider" in line for line in refused)
    assert flagged
    assert all("Reason given: Found unconscious, no ID but this patient's" in line for line in flagged)
    assert any("Viewed your chart" in line for line in flagged)
    assert "log__item--breakglass" in response.content.decode()


def test_the_log_is_paginated(client, patient, doctor):
    for _ in range(55):
        audit_record(
            actor=otp_verified_user(doctor),
            action="records.chart.view",
            target_type="records.chart",
            target_id=patient.pk,
            patient=patient,
            reason="summary; via care",
        )
    client.force_login(patient)

    first = client.get(URL)
    second = client.get(URL, {"page": 2})

    assert len(entries(first)) == 50
    assert len(entries(second)) == 5
    assert "Page 1 of 2" in text(first)
    assert 'href="?page=2"' in first.content.decode()


def test_nobody_but_the_patient_reads_it(client, patient, proxy, doctor, outsider_patient):
    # A proxy acting for the patient: their own (empty) log, never the patient's.
    otp_force_login(client, doctor).get(reverse("records:chart", args=[patient.pk]))
    client.logout()
    client.force_login(proxy)
    session = client.session
    session[ACTING_FOR_SESSION_KEY] = patient.pk
    session.save()
    assert "Dr Dana Doctor" not in text(client.get(URL))
    client.logout()

    assert otp_force_login(client, doctor).get(URL).status_code == 404
    client.logout()
    client.force_login(outsider_patient)
    assert client.get(URL).status_code == 404
    assert AuditEvent.objects.filter(
        actor=outsider_patient, action="records.access_log.view", outcome="denied"
    ).exists()


def test_one_visit_is_one_line_not_one_per_audit_record(client, patient, doctor):
    otp_force_login(client, doctor).get(reverse("records:chart", args=[patient.pk]))
    client.logout()
    client.force_login(patient)

    lines = entries(client.get(URL))

    # The policy's "opened your chart" and the chart's "viewed" record are the same visit.
    assert AuditEvent.objects.filter(actor=doctor, patient=patient).count() == 2
    (visit,) = [line for line in lines if "Dr Dana Doctor" in line]
    assert "Viewed your chart" in visit
