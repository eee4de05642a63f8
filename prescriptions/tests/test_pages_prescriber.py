"""The prescriber's pages: the desk, the editor, the safety check, signing with a fresh code,
cancelling and revising; and who meets a 403 or a 404 there."""

import html
import re

import pytest
from django.urls import reverse

from accounts.tests.factories import CareRelationshipFactory, DoctorFactory, otp_force_login, otp_verified_user
from appointments.tests.factories import AppointmentFactory
from audit.models import AuditEvent
from prescriptions.models import Prescription, PrescriptionStatus, PrescriptionWarning
from prescriptions.tests.conftest import AMOXICILLIN, ATORVASTATIN

pytestmark = pytest.mark.django_db

METFORMIN = dict(
    ATORVASTATIN, medication="Metformin", strength="500 mg", frequency="Twice a day with meals", quantity=56, refills=0
)


def text(response) -> str:
    """The page's visible text, roughly: tags out, entities decoded, spaces squeezed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def signed_in(client, user):
    """A client signed in as `user` (staff with an OTP-verified session, as the portal needs)."""
    if user.is_staff_role:
        return otp_force_login(client, user)
    client.force_login(user)
    return client


EMPTY_ROW = {
    "medication": "",
    "strength": "",
    "form": "tablet",
    "dose": "",
    "route": "oral",
    "frequency": "",
    "duration": "",
    "quantity": "",
    "quantity_unit": "tablets",
    "refills": "0",
    "substitution_allowed": True,
    "instructions": "",
}


def editor_post(items, **extra) -> dict[str, str]:
    """What a browser posts from the editor for these item dicts (rows item-0 …, at least three,
    the empty ones with their defaults), plus the header fields."""
    rows = max(3, len(items))
    data = {"rows": str(rows), "valid_days": "180", "appointment": "", "intent": "save"}
    for index, item in enumerate([*items, *[EMPTY_ROW] * (rows - len(items))]):
        for name, value in item.items():
            if name == "substitution_allowed":
                if value:
                    data[f"item-{index}-{name}"] = "on"
            else:
                data[f"item-{index}-{name}"] = str(value)
    data.update(extra)
    return data


def new_url(patient) -> str:
    return reverse("prescriptions:new") + f"?patient={patient.pk}"


def detail(prescription) -> str:
    return reverse("prescriptions:detail", args=[prescription.pk])


def sign_post(client, authenticator, prescription, **fields):
    """POST the sign form with a fresh authenticator code (unless `otp_code` is given)."""
    data = {"otp_code": authenticator.code(), **fields}
    with authenticator.signing():
        return client.post(reverse("prescriptions:sign", args=[prescription.pk]), data)


# --- The desk ---------------------------------------------------------------------------------


def test_the_doctor_sees_drafts_signed_prescriptions_and_how_many_refills_wait(client, prescriber, patient, signed):
    from prescriptions.services.prescribing import prescription_create
    from prescriptions.services.refills import refill_request_create

    prescription_create(actor=prescriber, patient=patient, items=[METFORMIN])
    refill_request_create(actor=patient, prescription=signed, note="Two left.")

    response = signed_in(client, prescriber).get(reverse("prescriptions:list"))

    assert response.status_code == 200
    page = text(response)
    assert "Your drafts" in page and "Recently signed" in page
    assert f"Prescription {signed.public_id}" in page
    assert "Draft by Dr Dana Doctor" in page
    assert "For Pat Patient" in page
    assert "Refill requests (1)" in page
    assert f'<option value="{patient.pk}">' in response.content.decode()
    assert "Write a prescription" in page and "See their prescriptions" in page


def test_the_desk_reads_in_the_same_number_of_queries_however_many_prescriptions(
    client, prescriber, patient, sign, django_assert_max_num_queries
):
    from prescriptions.services.prescribing import prescription_create

    signed_in(client, prescriber)
    sign(prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN]))
    prescription_create(actor=prescriber, patient=patient, items=[METFORMIN])
    with django_assert_max_num_queries(100) as few:
        assert client.get(reverse("prescriptions:list")).status_code == 200
    for _ in range(4):
        more = prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN, METFORMIN])
        sign(more, override_reason="Both on purpose.")
        prescription_create(actor=prescriber, patient=patient, items=[METFORMIN])

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("prescriptions:list"))

    assert text(response).count("Draft by Dr Dana Doctor") == 5


def test_a_clinician_reads_a_patients_prescriptions_from_the_chart(client, prescriber, patient, signed):
    from prescriptions.services.prescribing import prescription_create

    prescription_create(actor=prescriber, patient=patient, items=[METFORMIN])
    chart = signed_in(client, prescriber).get(reverse("records:chart", args=[patient.pk]))
    listed = client.get(reverse("prescriptions:list") + f"?patient={patient.pk}")

    assert f'href="/prescriptions/?patient={patient.pk}"' in chart.content.decode()
    assert "Write a prescription" in text(chart)
    page = text(listed)
    assert "Prescriptions of Pat Patient" in page
    assert "Drafts, not signed" in page
    assert "Atorvastatin" in page and "Valid" in page
    assert AuditEvent.objects.filter(
        action="records.chart.view", actor=prescriber, patient=patient, reason__startswith="prescriptions"
    ).exists()


def test_a_nurse_picks_a_patient_and_reads_their_prescriptions_without_any_form(
    client, nurse_verified, patient, signed
):
    picker = signed_in(client, nurse_verified).get(reverse("prescriptions:list"))
    listed = client.get(reverse("prescriptions:list") + f"?patient={patient.pk}")
    page = client.get(detail(signed))

    assert f'href="/prescriptions/?patient={patient.pk}"' in picker.content.decode()
    assert "Only a doctor writes, signs or cancels one." in text(picker)
    assert "Atorvastatin" in text(listed)
    assert "Write a prescription" not in text(listed)
    assert page.status_code == 200
    assert 'action="/prescriptions/' not in page.content.decode()


def test_the_menu_offers_prescriptions_to_doctors_and_nurses(client, prescriber, nurse_verified):
    doctor_home = signed_in(client, prescriber).get("/")
    client.logout()
    nurse_home = signed_in(client, nurse_verified).get("/")

    for response in (doctor_home, nurse_home):
        assert '<a class="site-nav__link" href="/prescriptions/">Prescriptions</a>' in response.content.decode()


# --- The editor -------------------------------------------------------------------------------


def test_the_editor_offers_three_medicine_rows_the_patients_visits_and_a_save_button(client, prescriber, patient):
    visit = AppointmentFactory(patient=patient, provider=prescriber)

    response = signed_in(client, prescriber).get(new_url(patient))

    assert response.status_code == 200
    content = response.content.decode()
    page = text(response)
    assert "New prescription" in page
    for label in ("Medicine", "Strength", "Form", "Dose", "Route", "How often", "For how long", "Quantity", "Unit"):
        assert f">{label}</label>" in content
    assert "Refills" in page and "Instructions for the patient" in page
    assert 'name="item-2-medication"' in content and 'name="item-3-medication"' not in content
    assert f'<option value="{visit.pk}">' in content
    assert "Valid for (days)" in page
    assert "Save draft" in page and "Add more rows" in page


def test_writing_a_prescription_saves_a_draft_and_shows_its_safety_check(client, prescriber, patient, chart):
    signed_in(client, prescriber)

    response = client.post(new_url(patient), editor_post([ATORVASTATIN], valid_days="90"))

    prescription = Prescription.objects.get(patient=patient)
    assert response["Location"] == detail(prescription)
    assert prescription.status == PrescriptionStatus.DRAFT
    assert prescription.valid_days == 90
    item = prescription.items.get()
    assert (item.medication, item.quantity, item.refills, item.substitution_allowed) == ("Atorvastatin", 28, 2, True)
    page = text(client.get(response["Location"]))
    assert "The draft was saved." in page
    assert "Draft prescription" in page and "Draft: not signed" in page
    assert "No warnings against this patient's recorded allergies and medicines." in page
    assert "Authenticator code" in page and "Sign prescription" in page
    assert "Reason to override" not in page
    assert AuditEvent.objects.filter(action="prescriptions.prescription.check", actor=prescriber).exists()


def test_a_bad_quantity_is_shown_next_to_the_field_and_nothing_is_stored(client, prescriber, patient):
    signed_in(client, prescriber)

    response = client.post(new_url(patient), editor_post([dict(ATORVASTATIN, quantity="0"), AMOXICILLIN]))

    assert response.status_code == 400
    assert not Prescription.objects.exists()
    content = response.content.decode()
    assert (
        '<p class="field__error" id="id_item-0-quantity-error">Ensure this value is greater than or equal to 1.</p>'
        in content
    )
    quantity_input = re.search(r'<input[^>]*name="item-0-quantity"[^>]*>', content).group(0)
    assert 'aria-invalid="true"' in quantity_input
    assert "Nothing was saved." in text(response)
    # The empty third row is left out, not refused.
    assert 'id="id_item-2-medication-error"' not in content
    assert content.count('class="field__error"') == 1
    # What was typed stays in the form.
    assert 'value="Amoxicillin"' in content


def test_an_empty_editor_asks_for_a_medicine_and_stores_nothing(client, prescriber, patient):
    response = signed_in(client, prescriber).post(new_url(patient), editor_post([]))

    assert response.status_code == 400
    assert "Add at least one medicine." in text(response)
    assert not Prescription.objects.exists()


def test_more_rows_keep_what_was_typed_and_save_nothing(client, prescriber, patient):
    data = editor_post([ATORVASTATIN, AMOXICILLIN, ATORVASTATIN], intent="more")

    response = signed_in(client, prescriber).post(new_url(patient), data)

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="item-5-medication"' in content and 'name="item-6-medication"' not in content
    assert 'value="Amoxicillin"' in content
    assert not Prescription.objects.exists()


def test_an_appointment_of_another_patient_is_refused_on_its_field(client, prescriber, patient, outsider_patient):
    elsewhere = AppointmentFactory(patient=outsider_patient, provider=prescriber)

    response = signed_in(client, prescriber).post(
        new_url(patient), editor_post([ATORVASTATIN], appointment=str(elsewhere.pk))
    )

    assert response.status_code == 400
    assert "Select a valid choice." in text(response)
    assert not Prescription.objects.exists()


def test_the_author_edits_a_draft(client, prescriber, draft):
    signed_in(client, prescriber)
    editor = client.get(reverse("prescriptions:edit", args=[draft.pk]))

    response = client.post(
        reverse("prescriptions:edit", args=[draft.pk]), editor_post([dict(ATORVASTATIN, quantity="56"), AMOXICILLIN])
    )

    assert 'value="Atorvastatin"' in editor.content.decode()
    assert "Edit the draft prescription" in text(editor)
    assert response["Location"] == detail(draft)
    assert [(item.medication, item.quantity) for item in draft.items.order_by("position")] == [
        ("Atorvastatin", 56),
        ("Amoxicillin", 21),
    ]


def test_a_signed_prescription_is_not_edited(client, prescriber, signed):
    response = signed_in(client, prescriber).get(reverse("prescriptions:edit", args=[signed.pk]), follow=True)

    assert "A signed prescription is never edited: revise it" in text(response)
    assert response.redirect_chain[-1][0] == detail(signed)


def test_another_doctor_of_the_care_team_reads_the_draft_but_may_not_edit_or_sign_it(
    client, prescriber, patient, draft, authenticator
):
    colleague = DoctorFactory(full_name="Dr Cole League")
    CareRelationshipFactory(patient=patient, provider=colleague)
    signed_in(client, colleague)

    page = client.get(detail(draft))
    editor = client.get(reverse("prescriptions:edit", args=[draft.pk]))
    edit = client.post(reverse("prescriptions:edit", args=[draft.pk]), editor_post([AMOXICILLIN]))
    signing = client.post(reverse("prescriptions:sign", args=[draft.pk]), {"otp_code": "123456"})

    assert page.status_code == 200
    assert "Sign prescription" not in text(page)
    assert editor.status_code == 403 and edit.status_code == 403 and signing.status_code == 403
    assert "Only the doctor who wrote this prescription may change or sign it." in text(signing)
    draft.refresh_from_db()
    assert draft.status == PrescriptionStatus.DRAFT
    assert draft.items.get().medication == "Atorvastatin"


@pytest.mark.parametrize("persona", ["nurse_verified", "patient"])
def test_only_a_caring_doctor_opens_the_editor(client, request, patient, persona):
    user = request.getfixturevalue(persona)

    response = signed_in(client, user).get(new_url(patient))

    assert response.status_code == 403
    assert "Only a doctor caring for this patient" in text(response)


# --- Signing ----------------------------------------------------------------------------------


def test_signing_with_a_fresh_code_signs_and_shows_who_signed_and_the_key(client, prescriber, draft, authenticator):
    signed_in(client, prescriber)

    response = sign_post(client, authenticator, draft)

    draft.refresh_from_db()
    assert response["Location"] == detail(draft)
    assert draft.status == PrescriptionStatus.SIGNED
    page = text(client.get(detail(draft)))
    assert "The prescription is signed." in page
    assert f"Prescription {draft.public_id}" in page
    assert "Dr Dana Doctor, licence GMC 7654321 (United Kingdom)" in page
    assert draft.signing_key.fingerprint[:4].upper() in page
    assert "Nothing dispensed yet." in page
    assert "Revise" in page and "Cancel this prescription" in page


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "Enter the 6-digit code from your authenticator app to sign."),
        ("000000", "That code is not right or was already used."),
    ],
)
def test_signing_without_a_right_code_fails_clearly_and_leaves_a_draft(
    client, prescriber, draft, authenticator, code, message
):
    signed_in(client, prescriber)

    response = sign_post(client, authenticator, draft, otp_code=code)

    assert response.status_code == 400
    assert message in text(response)
    assert 'id="id_otp_code-error"' in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == PrescriptionStatus.DRAFT


def test_a_code_that_signed_once_does_not_sign_again(client, prescriber, patient, draft, authenticator):
    from prescriptions.services.prescribing import prescription_create

    other = prescription_create(actor=prescriber, patient=patient, items=[METFORMIN])
    signed_in(client, prescriber)
    code = authenticator.code()

    with authenticator.signing():
        first = client.post(reverse("prescriptions:sign", args=[draft.pk]), {"otp_code": code})
        second = client.post(reverse("prescriptions:sign", args=[other.pk]), {"otp_code": code})

    assert first.status_code == 302
    assert second.status_code == 400
    assert "That code is not right or was already used." in text(second)
    other.refresh_from_db()
    assert other.status == PrescriptionStatus.DRAFT


def test_an_allergy_warning_is_shown_and_signing_without_a_reason_is_refused(
    client, prescriber, patient, chart, authenticator
):
    from prescriptions.services.prescribing import prescription_create

    draft = prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN])
    signed_in(client, prescriber)
    page = client.get(detail(draft))

    response = sign_post(client, authenticator, draft)

    assert "1 safety warning" in text(page) and "Reason to override" in text(page)
    assert response.status_code == 409
    refused = text(response)
    assert "1 safety warning to review: give a reason to override before signing" in refused
    assert "Allergy" in refused and "Penicillin" in refused
    assert 'id="id_override_reason-error"' in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == PrescriptionStatus.DRAFT
    assert not PrescriptionWarning.objects.exists()


def test_with_a_reason_the_warning_is_overridden_stored_and_audited(client, prescriber, patient, chart, authenticator):
    from prescriptions.services.prescribing import prescription_create

    draft = prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN])
    signed_in(client, prescriber)

    response = sign_post(client, authenticator, draft, override_reason="Tolerated amoxicillin in 2023.")

    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == PrescriptionStatus.SIGNED
    warning = PrescriptionWarning.objects.get(prescription=draft)
    assert (warning.kind, warning.override_reason) == ("allergy", "Tolerated amoxicillin in 2023.")
    assert AuditEvent.objects.filter(
        action="prescriptions.warning.override",
        actor=prescriber,
        patient=patient,
        reason=f"allergy (serious), item 1; reason kept with warning {warning.pk}",
    ).exists()
    # The reason is health text: encrypted with the warning, never in the audit trail in clear.
    assert not AuditEvent.objects.filter(reason__contains="Tolerated").exists()
    page = text(client.get(detail(draft)))
    assert "Warnings overridden at signing" in page
    assert "Reason: Tolerated amoxicillin in 2023." in page


def test_a_nurse_cannot_sign(client, nurse_verified, draft):
    response = signed_in(client, nurse_verified).post(
        reverse("prescriptions:sign", args=[draft.pk]), {"otp_code": "123456"}
    )

    assert response.status_code == 403
    assert "Only a doctor caring for this patient may do this." in text(response)
    draft.refresh_from_db()
    assert draft.status == PrescriptionStatus.DRAFT


def test_a_patient_cannot_sign_their_signed_prescription_again(client, patient, signed):
    response = signed_in(client, patient).post(reverse("prescriptions:sign", args=[signed.pk]), {"otp_code": "1"})

    assert response.status_code == 403


def test_a_doctor_without_a_licence_number_is_told_why_they_cannot_sign(
    client, patient, prescriber, draft, authenticator
):
    from accounts.models import ProviderProfile

    ProviderProfile.objects.filter(user=prescriber).update(licence_number="")
    signed_in(client, prescriber)

    response = sign_post(client, authenticator, draft)

    assert response.status_code == 409
    assert "Your profile has no licence number" in text(response)


# --- Cancelling and revising ------------------------------------------------------------------


def test_cancelling_needs_a_reason(client, prescriber, signed):
    response = signed_in(client, prescriber).post(reverse("prescriptions:cancel", args=[signed.pk]), {"reason": " "})

    assert response.status_code == 400
    assert "Say why the prescription is cancelled." in text(response)
    signed.refresh_from_db()
    assert signed.status == PrescriptionStatus.SIGNED


def test_a_cancelled_prescription_shows_the_reason_to_the_patient(client, prescriber, patient, signed):
    signed_in(client, prescriber)
    response = client.post(reverse("prescriptions:cancel", args=[signed.pk]), {"reason": "Dose changed by phone."})
    client.logout()

    page = text(signed_in(client, patient).get(reverse("prescriptions:list")))

    assert response["Location"] == detail(signed)
    assert "Past: cancelled or replaced" in page
    assert "Cancelled on" in page and "Reason: Dose changed by phone." in page
    assert "No current prescriptions." in page


def test_cancelling_twice_says_it_is_already_cancelled(client, prescriber, signed):
    signed_in(client, prescriber)
    client.post(reverse("prescriptions:cancel", args=[signed.pk]), {"reason": "Wrong patient."})

    again = client.post(reverse("prescriptions:cancel", args=[signed.pk]), {"reason": "Again."})

    assert again.status_code == 409
    assert "This prescription is already cancelled." in text(again)


def test_another_doctor_caring_for_the_patient_may_cancel_a_signed_prescription(client, patient, signed):
    colleague = DoctorFactory(full_name="Dr Cole League")
    CareRelationshipFactory(patient=patient, provider=colleague)

    response = signed_in(client, colleague).post(
        reverse("prescriptions:cancel", args=[signed.pk]), {"reason": "Allergy found at the visit."}
    )

    signed.refresh_from_db()
    assert response.status_code == 302
    assert (signed.status, signed.cancelled_by) == (PrescriptionStatus.CANCELLED, colleague)
    assert "by Dr Cole League. Reason: Allergy found at the visit." in text(client.get(detail(signed)))


def test_a_nurse_cannot_cancel(client, nurse_verified, signed):
    response = signed_in(client, nurse_verified).post(
        reverse("prescriptions:cancel", args=[signed.pk]), {"reason": "No."}
    )

    assert response.status_code == 403
    signed.refresh_from_db()
    assert signed.status == PrescriptionStatus.SIGNED


def test_revising_starts_a_draft_that_replaces_the_signed_one_once_signed(
    client, prescriber, patient, signed, authenticator
):
    signed_in(client, prescriber)

    response = client.post(reverse("prescriptions:revise", args=[signed.pk]))
    revision = Prescription.objects.get(supersedes=signed)
    again = client.post(reverse("prescriptions:revise", args=[signed.pk]))
    signing = sign_post(client, authenticator, revision)

    assert response["Location"] == reverse("prescriptions:edit", args=[revision.pk])
    assert again["Location"] == detail(revision)
    assert signing.status_code == 302
    signed.refresh_from_db()
    assert signed.status == PrescriptionStatus.SUPERSEDED
    client.logout()
    page = text(signed_in(client, patient).get(detail(signed)))
    assert f"Replaced by Prescription {revision.public_id}" in page


# --- Who meets what ---------------------------------------------------------------------------


PAGES = [
    ("get", "prescriptions:detail"),
    ("get", "prescriptions:edit"),
    ("post", "prescriptions:sign"),
    ("post", "prescriptions:cancel"),
    ("post", "prescriptions:revise"),
]


@pytest.mark.parametrize("persona", ["outsider_doctor", "outsider_patient", "admin"])
@pytest.mark.parametrize(("method", "name"), PAGES)
def test_outsiders_meet_a_404(client, request, signed, draft, persona, method, name):
    user = request.getfixturevalue(persona)
    signed_in(client, user)

    for prescription in (signed, draft):
        response = getattr(client, method)(reverse(name, args=[prescription.pk]), {"reason": "x", "otp_code": "1"})
        assert response.status_code == 404


@pytest.mark.parametrize("persona", ["outsider_doctor", "admin"])
def test_outsiders_cannot_open_the_editor_for_a_patient(client, request, patient, persona):
    user = request.getfixturevalue(persona)

    response = signed_in(client, user).get(new_url(patient))

    assert response.status_code == 404


def test_an_admin_has_no_prescriptions_page(client, admin):
    response = signed_in(client, admin).get(reverse("prescriptions:list"))

    assert response.status_code == 404
    assert AuditEvent.objects.filter(action="prescriptions.page.open", actor=admin, outcome="denied").exists()


def test_an_outsider_doctor_cannot_list_a_patients_prescriptions(client, outsider_doctor, patient, signed):
    response = signed_in(client, outsider_doctor).get(reverse("prescriptions:list") + f"?patient={patient.pk}")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "name", "needs_pk"),
    [("get", "prescriptions:list", False), ("get", "prescriptions:new", False), *[(m, n, True) for m, n in PAGES]],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, signed, method, name, needs_pk):
    url = reverse(name, args=[signed.pk]) if needs_pk else reverse(name)

    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_a_staff_session_without_a_second_factor_is_sent_to_verify_it(client, prescriber, draft):
    client.force_login(otp_verified_user(prescriber))

    response = client.get(detail(draft))

    assert response.status_code == 302
    assert "mfa" in response["Location"]


def test_revising_a_cancelled_prescription_says_why_not(client, prescriber, signed):
    from prescriptions.services.prescribing import prescription_cancel

    prescription_cancel(actor=prescriber, prescription=signed, reason="Stopped.")

    response = signed_in(client, prescriber).post(reverse("prescriptions:revise", args=[signed.pk]))

    assert response.status_code == 409
    assert "Only a signed, active prescription is revised." in text(response)


@pytest.mark.parametrize("value", ["abc", "-1", "0", "99999999999999999999"])
def test_a_patient_id_that_is_not_one_is_a_404(client, prescriber, value):
    signed_in(client, prescriber)

    assert client.get(reverse("prescriptions:list") + f"?patient={value}").status_code == 404
    assert client.get(reverse("prescriptions:new") + f"?patient={value}").status_code == 404


def test_signing_a_prescription_signed_meanwhile_says_so(client, prescriber, signed, authenticator):
    signed_in(client, prescriber)

    response = sign_post(client, authenticator, signed)

    assert response.status_code == 409
    assert "A signed prescription is never edited" in text(response)
