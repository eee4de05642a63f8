"""The demo prescriptions written by `seed_demo` (prescriptions.services.demo)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from prescriptions.models import Prescription, PrescriptionStatus, PrescriptionWarning, RefillRequest, RefillStatus
from prescriptions.selectors import prescription_verify
from prescriptions.services.demo import DEMO_PRESCRIPTIONS
from prescriptions.verification import Verdict

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO(), stderr=StringIO())


def _of(email: str):
    return Prescription.objects.filter(patient__email=email).order_by("pk")


def test_every_demo_patient_has_signed_prescriptions_that_verify(seeded):
    patients = {spec.patient for spec in DEMO_PRESCRIPTIONS}
    for email in patients:
        prescriptions = list(_of(email))
        assert prescriptions, email
        for prescription in prescriptions:
            assert prescription.status == PrescriptionStatus.SIGNED
            assert prescription.patient_birth_date is not None, "the paper prints the date of birth"
            assert prescription.prescriber_licence.startswith("GMC ")
            verdict = prescription_verify(prescription.public_id, prescription.check_code).verdict
            assert verdict in (Verdict.VALID, Verdict.DISPENSED), (email, verdict)


def test_paula_has_refills_left_after_her_first_month(seeded):
    lisinopril = _of("paula.patel@demo.telemed.test").get()
    state = prescription_verify(lisinopril.public_id, lisinopril.check_code)

    assert state.verdict == Verdict.VALID
    [item] = state.items
    assert (item.item.medication, item.dispensed, item.refills_left) == ("Lisinopril", 28, 5)


def test_a_refill_request_waits_in_dr_bakers_queue(seeded):
    request = RefillRequest.objects.get()

    assert request.status == RefillStatus.OPEN
    assert request.prescription.prescriber.email == "dr.baker@demo.telemed.test"
    assert prescription_verify(request.prescription.public_id, request.prescription.check_code).verdict == (
        Verdict.DISPENSED
    )


def test_repeat_prescriptions_record_why_the_already_taken_warning_was_overridden(seeded):
    warnings = PrescriptionWarning.objects.filter(prescription__patient__email="paula.patel@demo.telemed.test")

    assert [warning.kind for warning in warnings] == ["duplicate"]
    assert "Repeat prescription" in warnings[0].override_reason


def test_a_second_run_writes_nothing(seeded, settings):
    before = (Prescription.objects.count(), RefillRequest.objects.count())
    out = StringIO()

    call_command("seed_demo_prescriptions", stdout=out)

    assert (Prescription.objects.count(), RefillRequest.objects.count()) == before
    assert "0 signed" in out.getvalue()


def test_it_refuses_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("seed_demo_prescriptions", stdout=StringIO())


def test_it_needs_the_demo_users_first(settings):
    settings.DEBUG = True
    User.objects.filter(email__endswith="@demo.telemed.test").delete()

    with pytest.raises(CommandError, match=r"run `manage.py seed_demo` first"):
        call_command("seed_demo_prescriptions", stdout=StringIO())
