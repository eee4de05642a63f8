"""Dispensing against the paper's one-time code: partial, full, never more than prescribed."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from accounts.tests.factories import otp_verified_user
from prescriptions.errors import PrescriptionsError
from prescriptions.models import Dispense, Prescription
from prescriptions.services.dispensing import dispense_code_matches, dispense_record
from prescriptions.services.prescribing import prescription_cancel, prescription_create, prescription_revise
from prescriptions.tests.conftest import AMOXICILLIN, ATORVASTATIN
from prescriptions.tests.support import denied, succeeded, triggers_disabled
from prescriptions.verification import Verdict, Verification

pytestmark = pytest.mark.django_db

DISPENSE = "prescriptions.dispense"


def dispense(prescription, *lines, code=None, actor=None):
    return dispense_record(
        prescription=prescription,
        dispense_code=prescription.dispense_code if code is None else code,
        lines=list(lines),
        pharmacy="High Street Pharmacy",
        pharmacist="Ann Chemist",
        actor=actor,
    )


def state(verification, position=1):
    line = next(line for line in verification.items if line.item.position == position)
    return line.dispensed, line.remaining, line.refills_left


def test_partial_dispenses_count_down_what_is_left_and_the_refills(signed):
    # 28 tablets, 2 refills: 84 in all, a first fill and two refills of 28.
    steps = [(10, (10, 74, 2)), (18, (28, 56, 2)), (1, (29, 55, 1)), (27, (56, 28, 1)), (27, (83, 1, 0))]
    for quantity, expected in steps:
        result = dispense(signed, (1, quantity))
        assert (result.verdict, state(result)) == (Verdict.VALID, expected), quantity

    result = dispense(signed, (1, 1))

    assert (result.verdict, state(result)) == (Verdict.DISPENSED, (84, 0, 0))
    assert list(Dispense.objects.values_list("quantity", flat=True)) == [10, 18, 1, 27, 27, 1]
    assert succeeded(DISPENSE, patient=signed.patient).count() == 6


def test_exactly_all_is_dispensed_in_one_go(signed):
    result = dispense(signed, (1, 84))

    assert (result.verdict, state(result)) == (Verdict.DISPENSED, (84, 0, 0))


def test_more_than_is_left_is_refused_and_nothing_is_recorded(signed):
    dispense(signed, (1, 80))

    with pytest.raises(PrescriptionsError) as refused:
        dispense(signed, (1, 5))

    assert (refused.value.status_code, refused.value.code) == (409, "prescription_over_dispense")
    assert "4 tablets left to dispense, 5 asked" in refused.value.message
    assert Dispense.objects.count() == 1
    event = denied(DISPENSE, target_id=str(signed.pk)).get()
    assert event.reason == "refused: prescription_over_dispense"


def test_more_than_prescribed_is_refused_from_the_start(signed):
    with pytest.raises(PrescriptionsError) as refused:
        dispense(signed, (1, 85))

    assert refused.value.code == "prescription_over_dispense"
    assert not Dispense.objects.exists()


def test_one_line_over_the_limit_refuses_the_whole_dispense(prescriber, patient, sign):
    two = sign(prescription_create(actor=prescriber, patient=patient, items=[ATORVASTATIN, AMOXICILLIN]))

    with pytest.raises(PrescriptionsError, match="Item 2"):
        dispense(two, (1, 28), (2, 22))

    assert not Dispense.objects.exists()
    result = dispense(two, (1, 28), (2, 21))
    assert (state(result, 1), state(result, 2)) == ((28, 56, 2), (21, 0, 0))


def test_lines_for_one_item_add_up(signed):
    with pytest.raises(PrescriptionsError, match="84 tablets left to dispense, 85 asked"):
        dispense(signed, (1, 80), (1, 5))

    assert state(dispense(signed, (1, 40), (1, 2), (1, 0))) == (42, 42, 1)


def test_a_wrong_dispense_code_is_refused_and_audited(signed):
    wrong = "00000000" if signed.dispense_code != "00000000" else "11111111"

    with pytest.raises(PrescriptionsError) as refused:
        dispense(signed, (1, 28), code=wrong)

    assert (refused.value.status_code, refused.value.code) == (403, "dispense_code_invalid")
    assert not Dispense.objects.exists()
    assert denied(DISPENSE, target_id=str(signed.pk), reason="wrong dispense code").count() == 1


def test_the_dispense_code_may_be_typed_loosely():
    prescription = Prescription(dispense_code="AB12CD34")

    assert dispense_code_matches(prescription, " ab12-cd34 ")
    assert dispense_code_matches(prescription, "AB12 CD34")
    assert not dispense_code_matches(prescription, "AB12CD3")
    assert not dispense_code_matches(prescription, "")


@pytest.mark.parametrize(
    ("lines", "pharmacy", "message"),
    [
        ([(1, 0)], "High Street Pharmacy", "Enter a quantity for at least one item."),
        ([], "High Street Pharmacy", "Enter a quantity for at least one item."),
        ([(1, -1)], "High Street Pharmacy", "Quantities are whole numbers."),
        ([(1, 2.5)], "High Street Pharmacy", "Quantities are whole numbers."),
        ([(1, True)], "High Street Pharmacy", "Quantities are whole numbers."),
        ([("first", 1)], "High Street Pharmacy", "Items are named by their number."),
        ([(3, 1)], "High Street Pharmacy", "This prescription has no item 3."),
        ([(1, 1)], "  ", "Name the pharmacy and the pharmacist."),
    ],
)
def test_bad_input_is_refused_with_a_message(signed, lines, pharmacy, message):
    with pytest.raises(PrescriptionsError) as refused:
        dispense_record(
            prescription=signed,
            dispense_code=signed.dispense_code,
            lines=lines,
            pharmacy=pharmacy,
            pharmacist="Ann Chemist",
        )

    assert (refused.value.status_code, refused.value.message) == (400, message)
    assert not Dispense.objects.exists()


def test_a_signed_in_pharmacist_is_recorded(signed, nurse):
    # Any signed-in user the interface lets through; a nurse stands in for a pharmacy account.
    user = otp_verified_user(nurse)

    dispense(signed, (1, 28), actor=user)

    row = Dispense.objects.get()
    assert (row.recorded_by, row.pharmacy, row.pharmacist, row.quantity) == (
        user,
        "High Street Pharmacy",
        "Ann Chemist",
        28,
    )
    event = succeeded(DISPENSE, actor=user).get()
    assert event.reason == "High Street Pharmacy (Ann Chemist): item 1 x 28"


# --- Not dispensable -------------------------------------------------------------------------


def _cancelled(signed, prescriber, sign):
    prescription_cancel(actor=prescriber, prescription=signed, reason="Wrong strength.")


def _superseded(signed, prescriber, sign):
    sign(prescription_revise(actor=prescriber, prescription=signed))


def _tampered(signed, prescriber, sign):
    with triggers_disabled():
        Prescription.objects.filter(pk=signed.pk).update(prescriber_licence="GMC 0000000")


def _dispensed(signed, prescriber, sign):
    dispense(signed, (1, 84))


@pytest.mark.parametrize(
    ("make", "verdict"),
    [
        (_cancelled, "Cancelled by the prescriber"),
        (_superseded, "Replaced by a newer prescription"),
        (_tampered, "Invalid"),
        (_dispensed, "Already dispensed in full"),
    ],
)
def test_what_does_not_verify_as_valid_is_not_dispensed(signed, prescriber, sign, make, verdict):
    make(signed, prescriber, sign)
    before = Dispense.objects.count()

    with pytest.raises(PrescriptionsError) as refused:
        dispense(signed, (1, 1))

    assert (refused.value.status_code, refused.value.code) == (409, "prescription_not_dispensable")
    assert refused.value.message.startswith(f"Not dispensable: {verdict}")
    assert Dispense.objects.count() == before
    assert denied(DISPENSE, reason="refused: prescription_not_dispensable").count() == 1


def test_an_expired_prescription_is_not_dispensed(signed):
    with time_machine.travel(signed.valid_until + dt.timedelta(days=1)), pytest.raises(PrescriptionsError) as refused:
        dispense(signed, (1, 1))

    assert refused.value.message.startswith("Not dispensable: Expired.")
    assert not Dispense.objects.exists()


# --- Races -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("each", "after", "refusal"),
    [
        # Both ask for all that is left: the second finds it dispensed in full.
        (24, (84, 0, 0), "prescription_not_dispensable"),
        # Both ask for most of it: the second would go over.
        (20, (80, 4, 0), "prescription_over_dispense"),
    ],
)
def test_two_pharmacies_taking_the_last_tablets_at_once_take_them_once(signed, run_together, each, after, refusal):
    dispense(signed, (1, 60))

    results = run_together([lambda: dispense(signed, (1, each)) for _ in range(2)])

    done = [result for result in results if isinstance(result, Verification)]
    refused = [result for result in results if isinstance(result, PrescriptionsError)]
    assert len(done) == 1 and len(refused) == 1, results
    assert refused[0].code == refusal
    assert state(done[0]) == after
    assert sum(Dispense.objects.values_list("quantity", flat=True)) == after[0] <= 84
