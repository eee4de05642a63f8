"""Signing: only the author, with a fresh authenticator code; what a signature fixes for ever."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts.models import ProviderProfile
from accounts.tests.factories import CareRelationshipFactory, DoctorFactory, PatientProfileFactory, otp_verified_user
from prescriptions import document
from prescriptions.errors import PrescriptionsError, PrescriptionsForbiddenError, UnacknowledgedWarnings
from prescriptions.models import PrescriberKey, PrescriptionStatus
from prescriptions.selectors import prescriber_key_active
from prescriptions.services.prescribing import prescription_create, prescription_sign
from prescriptions.tests.conftest import AMOXICILLIN, ATORVASTATIN
from prescriptions.tests.support import denied, stored, succeeded

pytestmark = pytest.mark.django_db

SIGN = "prescriptions.prescription.sign"


METFORMIN = {**ATORVASTATIN, "medication": "Metformin", "strength": "500 mg", "frequency": "Twice daily"}


def unsigned(prescription) -> bool:
    row = stored(prescription)
    return row.status == PrescriptionStatus.DRAFT and row.signed_at is None and row.signature == ""


def another_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- Who signs -------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["nurse_verified", "patient", "admin"])
def test_nobody_but_a_doctor_signs(request, persona, draft, authenticator):
    user = request.getfixturevalue(persona)
    if user.is_staff_role:
        user = otp_verified_user(user)
    code = authenticator.code()

    with authenticator.signing(), pytest.raises(PrescriptionsForbiddenError) as refused:
        prescription_sign(actor=user, prescription=draft, otp_code=code)

    assert refused.value.status_code == 403
    assert unsigned(draft)
    event = denied(SIGN, actor=user).get()
    assert (event.target_id, event.patient) == (str(draft.pk), draft.patient)


def test_a_doctor_who_did_not_write_it_does_not_sign_it(draft, patient):
    colleague = otp_verified_user(DoctorFactory())
    CareRelationshipFactory(patient=patient, provider=colleague)

    with pytest.raises(PrescriptionsForbiddenError, match="Only the doctor who wrote"):
        prescription_sign(actor=colleague, prescription=draft, otp_code="123456")

    assert unsigned(draft)
    assert denied(SIGN, actor=colleague).get().reason == "not the author"


# --- The code --------------------------------------------------------------------------------


def test_without_a_code_nothing_is_signed(draft, prescriber):
    with pytest.raises(PrescriptionsError) as refused:
        prescription_sign(actor=prescriber, prescription=draft, otp_code="  ")

    assert refused.value.code == "otp_code_required"
    assert unsigned(draft)


def test_a_wrong_code_signs_nothing_and_is_audited(draft, prescriber, authenticator):
    code = authenticator.code()

    with authenticator.signing(), pytest.raises(PrescriptionsError) as refused:
        prescription_sign(actor=prescriber, prescription=draft, otp_code=another_code(code))

    assert refused.value.code == "otp_code_invalid"
    assert unsigned(draft)
    assert denied(SIGN, actor=prescriber, target_id=str(draft.pk)).count() == 1
    assert not PrescriberKey.objects.exists()


def test_the_code_that_signed_one_prescription_does_not_sign_another(draft, prescriber, patient, authenticator):
    second = prescription_create(actor=prescriber, patient=patient, items=[METFORMIN])
    code = authenticator.code()

    with authenticator.signing():
        prescription_sign(actor=prescriber, prescription=draft, otp_code=code)
        with pytest.raises(PrescriptionsError) as refused:
            prescription_sign(actor=prescriber, prescription=second, otp_code=code)

    assert refused.value.code == "otp_code_invalid"
    assert stored(draft).status == PrescriptionStatus.SIGNED
    assert unsigned(second)
    assert denied(SIGN, actor=prescriber, target_id=str(second.pk)).count() == 1


def test_a_code_signs_once_the_clock_reaches_a_new_step(draft, prescriber, patient, authenticator, sign):
    sign(draft)
    second = prescription_create(actor=prescriber, patient=patient, items=[METFORMIN])

    sign(second)

    assert stored(second).status == PrescriptionStatus.SIGNED


# --- Refusals that need no code keep the code ------------------------------------------------


def test_unacknowledged_warnings_do_not_use_up_the_code(prescriber, patient, chart, authenticator):
    draft = prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN])
    code = authenticator.code()

    with authenticator.signing():
        with pytest.raises(UnacknowledgedWarnings):
            prescription_sign(actor=prescriber, prescription=draft, otp_code=code)
        prescription_sign(actor=prescriber, prescription=draft, otp_code=code, override_reason="Tolerated before.")

    assert stored(draft).status == PrescriptionStatus.SIGNED


def test_a_missing_licence_number_does_not_use_up_the_code(draft, prescriber, authenticator):
    ProviderProfile.objects.filter(user=prescriber).update(licence_number="  ")
    code = authenticator.code()

    with authenticator.signing():
        with pytest.raises(PrescriptionsError) as refused:
            prescription_sign(actor=prescriber, prescription=draft, otp_code=code)
        assert (refused.value.status_code, refused.value.code) == (409, "prescriber_licence_missing")
        assert unsigned(draft)
        ProviderProfile.objects.filter(user=prescriber).update(licence_number="GMC 1111111")
        prescription_sign(actor=prescriber, prescription=draft, otp_code=code)

    assert stored(draft).prescriber_licence == "GMC 1111111"


def test_signing_again_is_refused_without_using_up_the_code(signed, prescriber, patient, authenticator):
    other = prescription_create(actor=prescriber, patient=patient, items=[METFORMIN])
    signature = signed.signature
    code = authenticator.code()

    with authenticator.signing():
        with pytest.raises(PrescriptionsError) as refused:
            prescription_sign(actor=prescriber, prescription=signed, otp_code=code)
        prescription_sign(actor=prescriber, prescription=other, otp_code=code)

    assert (refused.value.status_code, refused.value.code) == (409, "prescription_signed")
    assert stored(signed).signature == signature
    assert stored(other).status == PrescriptionStatus.SIGNED


# --- What signing fixes ----------------------------------------------------------------------


@pytest.fixture
def identified(patient):
    """The patient's profile: legal name, date of birth, record number."""
    return PatientProfileFactory(user=patient, legal_name="Patricia Anne Patient", date_of_birth=dt.date(1980, 4, 2))


def test_the_signed_prescription_holds_the_identities_dates_and_a_valid_signature(
    settings, identified, draft, prescriber, patient, sign
):
    signed = stored(sign(draft))

    assert signed.status == PrescriptionStatus.SIGNED
    assert signed.signed_at.microsecond == 0
    assert signed.valid_until == timezone.localdate(signed.signed_at) + dt.timedelta(days=180)
    assert (signed.patient_name, signed.patient_birth_date, signed.patient_mrn) == (
        "Patricia Anne Patient",
        dt.date(1980, 4, 2),
        identified.mrn,
    )
    assert (signed.prescriber_name, signed.prescriber_licence, signed.prescriber_jurisdiction) == (
        prescriber.full_name,
        "GMC 7654321",
        "United Kingdom",
    )
    assert signed.clinic_name == settings.CLINIC_NAME
    assert signed.signing_key == prescriber_key_active(prescriber)
    assert len(signed.signature) == 128
    assert document.integrity_ok(signed)
    event = succeeded(SIGN, actor=prescriber, patient=patient).get()
    assert signed.public_id in event.reason and signed.signing_key.fingerprint in event.reason


def test_a_later_change_of_name_or_licence_leaves_the_signed_snapshot_alone(identified, signed, prescriber):
    identified.legal_name = "Patricia Newname"
    identified.save()
    ProviderProfile.objects.filter(user=prescriber).update(licence_number="GMC 0000001")

    row = stored(signed)

    assert (row.patient_name, row.prescriber_licence) == ("Patricia Anne Patient", "GMC 7654321")
    assert document.integrity_ok(row)


def test_the_validity_runs_in_the_clinics_calendar(settings, draft, sign):
    settings.TIME_ZONE = "Pacific/Auckland"
    # 20:00 UTC on 1 December is 09:00 on 2 December in Auckland.
    with time_machine.travel(dt.datetime(2026, 12, 1, 20, 0, tzinfo=dt.UTC), tick=False):
        signed = stored(sign(draft))

    assert signed.valid_until == dt.date(2026, 12, 2) + dt.timedelta(days=180)


def test_a_short_validity_is_kept(prescriber, patient, sign):
    draft = prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN], valid_days=7)

    signed = stored(sign(draft))

    assert signed.valid_until - timezone.localdate(signed.signed_at) == dt.timedelta(days=7)
