"""The patient's side: "My prescriptions", one prescription, the paper (PDF), and what a proxy,
an outsider and an anonymous visitor meet."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.context_processors import ACTING_FOR_SESSION_KEY
from audit.models import AuditEvent
from prescriptions.models import Prescription
from prescriptions.tests.conftest import ATORVASTATIN
from prescriptions.tests.test_pages_prescriber import METFORMIN, detail, signed_in, text

pytestmark = pytest.mark.django_db

LIST = "/prescriptions/"


def written(prescriber, patient, *items):
    from prescriptions.services.prescribing import prescription_create

    return prescription_create(actor=prescriber, patient=patient, items=list(items) or [METFORMIN])


def dispensed(prescription, quantity: int, position: int = 1):
    from prescriptions.services.dispensing import dispense_record

    return dispense_record(
        prescription=prescription,
        dispense_code=prescription.dispense_code,
        lines=[(position, quantity)],
        pharmacy="High Street Pharmacy",
        pharmacist="P. Harmacist",
    )


def acting_for(client, proxy, patient):
    client.force_login(proxy)
    session = client.session
    session[ACTING_FOR_SESSION_KEY] = patient.pk
    session.save()
    return client


def test_the_list_is_named_list():
    assert reverse("prescriptions:list") == LIST


def test_the_patient_sees_a_valid_prescription_with_its_paper_and_a_refill_request_form(client, patient, signed):
    response = signed_in(client, patient).get(LIST)

    assert response.status_code == 200
    page = text(response)
    content = response.content.decode()
    assert "My prescriptions" in page
    assert f"Prescription {signed.public_id}" in page
    assert "Valid" in page and f"valid until {signed.valid_until:%-d %b %Y}" in page
    assert "Atorvastatin 20 mg (tablet)" in page
    assert "1 tablet, Once daily at night, for 28 days · by mouth" in page
    assert "Left to dispense: 84 tablets, 2 refills left." in page
    assert f'href="{reverse("prescriptions:pdf", args=[signed.pk])}"' in content
    assert "Download PDF" in page
    assert f'action="{reverse("prescriptions:refill_request", args=[signed.pk])}"' in content
    assert "Request refill" in page and "Note for your doctor (optional)" in page
    assert AuditEvent.objects.filter(
        action="records.chart.view", actor=patient, patient=patient, reason__startswith="prescriptions"
    ).exists()


def test_a_draft_is_not_shown_to_the_patient_and_its_pages_are_404(client, prescriber, patient):
    draft = written(prescriber, patient)
    signed_in(client, patient)

    page = text(client.get(LIST))

    assert "Metformin" not in page and "Draft" not in page
    for name in ("prescriptions:detail", "prescriptions:edit", "prescriptions:pdf"):
        assert client.get(reverse(name, args=[draft.pk])).status_code == 404
    for name in ("prescriptions:sign", "prescriptions:cancel", "prescriptions:refill_request"):
        assert client.post(reverse(name, args=[draft.pk]), {"reason": "x", "note": "x"}).status_code == 404
    assert AuditEvent.objects.filter(
        action="prescriptions.prescription.view", actor=patient, outcome="denied", target_id=str(draft.pk)
    ).exists()


def test_a_partly_dispensed_prescription_says_what_is_left_and_the_refills_left(client, patient, signed):
    dispensed(signed, 28)
    dispensed(signed, 10)

    response = signed_in(client, patient).get(LIST)
    page = text(response)
    one = text(client.get(detail(signed)))

    assert "Partly dispensed" in page
    assert "Dispensed so far: 38 tablets. Left to dispense: 46 tablets, 1 refill left." in page
    assert "High Street Pharmacy" in one and "28 tablets" in one and "10 tablets" in one


def test_a_fully_dispensed_prescription_says_so_and_stays_current(client, patient, signed):
    dispensed(signed, 84)

    page = text(signed_in(client, patient).get(LIST))

    assert "Dispensed Prescription" in page or "Dispensed" in page.split("Current", 1)[1]
    assert "Left to dispense: 0 tablets, 0 refills left." in page


def test_an_expired_prescription_says_expired(client, patient, signed):
    later = timezone.now() + dt.timedelta(days=signed.valid_days + 2)

    with time_machine.travel(later, tick=False):
        page = text(signed_in(client, patient).get(LIST))

    assert "Expired" in page.split("Current", 1)[1]


def test_active_prescriptions_come_before_dispensed_ones(client, prescriber, patient, sign):
    old = sign(written(prescriber, patient))
    dispensed(old, 56)
    active = sign(written(prescriber, patient, ATORVASTATIN))

    page = text(signed_in(client, patient).get(LIST))

    assert page.index(active.public_id) < page.index(old.public_id)


def test_a_replaced_prescription_links_to_its_replacement(client, prescriber, patient, signed, sign):
    from prescriptions.services.prescribing import prescription_revise

    replacement = sign(prescription_revise(actor=prescriber, prescription=signed))

    response = signed_in(client, patient).get(LIST)

    page = text(response)
    assert "Past: cancelled or replaced" in page
    assert f"Replaced by prescription {replacement.public_id}" in page
    assert f'href="{detail(replacement)}"' in response.content.decode()


def test_the_patient_downloads_the_paper_as_an_uncached_pdf_attachment_and_it_is_audited(client, patient, signed):
    response = signed_in(client, patient).get(reverse("prescriptions:pdf", args=[signed.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="prescription-{signed.public_id}.pdf"'
    assert "no-store" in response["Cache-Control"]
    assert response.content.startswith(b"%PDF")
    assert AuditEvent.objects.filter(
        action="prescriptions.prescription.pdf", actor=patient, patient=patient, outcome="success"
    ).exists()


def test_the_detail_page_shows_who_signed_when_and_the_key(client, patient, signed):
    page = text(signed_in(client, patient).get(detail(signed)))

    assert f"Prescription {signed.public_id}" in page
    assert f"Signed {timezone.localtime(signed.signed_at):%-d %b %Y}" in page
    assert "Dr Dana Doctor, licence GMC 7654321" in page
    assert signed.signing_key.fingerprint[:4].upper() in page
    assert "Download PDF" in page and "Request refill" in page
    assert "Warnings overridden" not in page and "Sign prescription" not in page and "Revise" not in page


def test_a_proxy_acting_for_the_patient_sees_their_prescriptions_but_not_drafts(
    client, proxy, prescriber, patient, signed
):
    draft = written(prescriber, patient)

    response = acting_for(client, proxy, patient).get(LIST)

    page = text(response)
    assert "Prescriptions of Pat Patient" in page
    assert signed.public_id in page and "Request refill" in page and "Metformin" not in page
    assert "Download PDF" in text(client.get(detail(signed)))
    assert client.get(reverse("prescriptions:pdf", args=[signed.pk])).status_code == 200
    assert client.get(detail(draft)).status_code == 404


def test_a_proxy_who_has_not_switched_sees_their_own_empty_list(client, proxy, signed):
    client.force_login(proxy)

    page = text(client.get(LIST))

    assert "My prescriptions" in page and "No current prescriptions." in page
    assert signed.public_id not in page


@pytest.mark.parametrize("name", ["prescriptions:detail", "prescriptions:pdf"])
def test_another_patient_meets_a_404(client, outsider_patient, signed, name):
    response = signed_in(client, outsider_patient).get(reverse(name, args=[signed.pk]))

    assert response.status_code == 404


def test_another_patients_list_shows_nothing_of_this_one(client, outsider_patient, patient, signed):
    response = signed_in(client, outsider_patient).get(LIST + f"?patient={patient.pk}")

    assert signed.public_id not in text(response)


def test_anonymous_visitors_are_sent_to_sign_in_for_the_paper(client, signed):
    response = client.get(reverse("prescriptions:pdf", args=[signed.pk]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_my_health_links_to_my_prescriptions(client, patient):
    response = signed_in(client, patient).get(reverse("records:my_health"))

    assert f'<a href="{LIST}">My prescriptions</a>' in response.content.decode()


def test_the_list_reads_in_the_same_number_of_queries_however_many_prescriptions(
    client, prescriber, patient, sign, django_assert_max_num_queries
):
    from prescriptions.services.prescribing import prescription_cancel, prescription_revise
    from prescriptions.services.refills import refill_request_create

    signed_in(client, patient)
    first = sign(written(prescriber, patient))
    refill_request_create(actor=patient, prescription=first)
    with django_assert_max_num_queries(100) as few:
        assert client.get(LIST).status_code == 200
    for _ in range(3):
        rx = sign(written(prescriber, patient, ATORVASTATIN, METFORMIN), override_reason="On purpose.")
        dispensed(rx, 5)
        replacement = sign(prescription_revise(actor=prescriber, prescription=rx), override_reason="On purpose.")
        refill_request_create(actor=patient, prescription=replacement, note="Soon out.")
        extra = sign(written(prescriber, patient), override_reason="On purpose.")
        prescription_cancel(actor=prescriber, prescription=extra, reason="Not needed.")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(LIST)

    assert Prescription.objects.filter(patient=patient).count() == 10
    assert text(response).count("Refill requested on") == 4
    assert text(response).count("Replaced by prescription") == 3


def test_a_prescription_changed_behind_the_portals_back_says_it_no_longer_matches_its_signature(
    client, patient, signed
):
    from prescriptions.tests.support import triggers_disabled

    with triggers_disabled():
        Prescription.objects.filter(pk=signed.pk).update(valid_days=366)

    page = text(signed_in(client, patient).get(detail(signed)))

    assert "Does not match its signature" in page
    assert "It must not be dispensed." in page
