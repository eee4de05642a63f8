"""Safety checks: the shipped table, matching medicines in free text, and the warnings a
prescriber meets at signing (allergies, interactions, duplicates) and overrides with a reason."""

from __future__ import annotations

import json

import pytest

from prescriptions import safety
from prescriptions.errors import UnacknowledgedWarnings
from prescriptions.models import PrescriptionWarning, WarningKind, WarningSeverity
from prescriptions.services.prescribing import (
    prescription_cancel,
    prescription_check,
    prescription_create,
    prescription_revise,
)
from prescriptions.tests.conftest import AMOXICILLIN, ATORVASTATIN
from prescriptions.tests.support import stored, succeeded
from records.tests.factories import AllergyFactory, MedicationFactory

pytestmark = pytest.mark.django_db

Candidate, AllergyFact = safety.Candidate, safety.AllergyFact


def item(name: str, **overrides) -> dict:
    return {**ATORVASTATIN, "medication": name, "refills": 0, **overrides}


def kinds(warnings) -> list[tuple[int, str, str]]:
    return [(warning.item_position, warning.kind, warning.severity) for warning in warnings]


# --- The table -------------------------------------------------------------------------------


def test_the_table_loads_and_every_rule_names_a_known_medicine_or_class():
    raw = json.loads(safety.TABLE_PATH.read_text(encoding="utf-8"))
    table = safety.table()
    classes = {name for members in table.drugs.values() for name in members}
    known = set(table.drugs) | classes
    severities = set(WarningSeverity.values)

    assert raw["about"] and "NOT exhaustive" in raw["about"] and table.version
    assert len(table.drugs) == len(raw["drugs"]) >= 50
    assert all(name == name.lower().strip() for name in known)
    unknown = [
        (rule["a"], rule["b"]) for rule in table.interactions if rule["a"] not in known or rule["b"] not in known
    ]
    assert unknown == []
    assert all(rule["severity"] in severities and rule["message"].strip() for rule in table.interactions)
    assert [term for term in table.allergy_terms.values() if term not in known] == []
    assert [rule for rule in table.cross_reactions if rule["allergy"] not in known or rule["drug"] not in classes] == []
    assert all(rule["severity"] in severities for rule in table.cross_reactions)
    # A rule written twice (either way round) would warn twice.
    pairs = [frozenset((rule["a"], rule["b"])) for rule in table.interactions]
    assert len(pairs) == len(set(pairs))


# --- Matching medicines in free text ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Amoxicillin 500 mg capsules", {"amoxicillin", "penicillins", "beta-lactams"}),
        ("AMOXICILLIN", {"amoxicillin", "penicillins", "beta-lactams"}),
        ("Co-amoxiclav 625 mg", {"co-amoxiclav", "amoxicillin", "penicillins", "beta-lactams"}),
        ("Co-trimoxazole 960 mg", {"co-trimoxazole", "trimethoprim", "sulfamethoxazole", "sulfonamides"}),
        ("Glyceryl trinitrate spray", {"glyceryl trinitrate", "nitrates"}),
        ("Amoxicillinum", set()),
        ("Pseudoamoxicillin", set()),
        ("Zzyzxamab 10 mg", set()),
    ],
)
def test_a_medicine_is_recognised_as_a_whole_word_with_its_classes(text, expected):
    assert safety.medicine_terms(text) == expected


def test_a_penicillin_allergy_warns_against_every_penicillin():
    allergy = [AllergyFact("penicillin", "rash")]
    for name in ("Amoxicillin 500 mg capsules", "Co-amoxiclav 625 mg", "Phenoxymethylpenicillin", "Flucloxacillin"):
        warnings = safety.check([Candidate(name, 1)], allergies=allergy, current=[])
        assert kinds(warnings) == [(1, WarningKind.ALLERGY, WarningSeverity.SERIOUS)], name
        assert "allergic to penicillin (reaction: rash)" in warnings[0].message


def test_a_severe_allergy_makes_the_warning_a_contraindication():
    warnings = safety.check([Candidate("Amoxicillin", 1)], allergies=[AllergyFact("Penicillin", "", True)], current=[])

    assert kinds(warnings) == [(1, WarningKind.ALLERGY, WarningSeverity.CONTRAINDICATED)]


def test_an_allergy_to_a_class_or_a_medicine_named_otherwise_still_warns():
    assert safety.check([Candidate("Ibuprofen", 1)], allergies=[AllergyFact("NSAIDs")], current=[])
    assert safety.check([Candidate("Co-trimoxazole", 1)], allergies=[AllergyFact("Sulfa drugs")], current=[])
    assert safety.check([Candidate("Paracetamol", 1)], allergies=[AllergyFact("Acetaminophen")], current=[])


def test_a_penicillin_allergy_gives_a_caution_for_a_cephalosporin():
    warnings = safety.check([Candidate("Cefalexin 500 mg", 1)], allergies=[AllergyFact("Penicillin")], current=[])

    assert kinds(warnings) == [(1, WarningKind.ALLERGY, WarningSeverity.CAUTION)]
    assert "Cross-reactivity between penicillins and cephalosporins" in warnings[0].message


def test_an_unrelated_allergy_or_an_unknown_medicine_warns_of_nothing():
    assert safety.check([Candidate("Ibuprofen", 1)], allergies=[AllergyFact("Latex")], current=[]) == []
    assert safety.check([Candidate("Zzyzxamab", 1)], allergies=[], current=[Candidate("Warfarin")]) == []
    assert safety.check([Candidate("Warfarin", 1)], allergies=[], current=[Candidate("Zzyzxamab")]) == []


def test_interactions_are_found_either_way_round_with_the_worst_rule():
    one_way = safety.check([Candidate("Ibuprofen 400 mg", 1)], allergies=[], current=[Candidate("Warfarin 3 mg")])
    other_way = safety.check([Candidate("Warfarin 3 mg", 1)], allergies=[], current=[Candidate("Ibuprofen 400 mg")])
    worst = safety.check([Candidate("Simvastatin", 1)], allergies=[], current=[Candidate("Clarithromycin")])

    assert kinds(one_way) == kinds(other_way) == [(1, WarningKind.INTERACTION, WarningSeverity.SERIOUS)]
    assert "which the patient already takes" in one_way[0].message
    assert kinds(worst) == [(1, WarningKind.INTERACTION, WarningSeverity.CONTRAINDICATED)]


def test_two_items_of_one_prescription_that_interact_warn_once():
    warnings = safety.check(
        [Candidate("Sildenafil", 1), Candidate("Isosorbide mononitrate", 2)], allergies=[], current=[]
    )

    assert kinds(warnings) == [(1, WarningKind.INTERACTION, WarningSeverity.CONTRAINDICATED)]
    assert "also on this prescription" in warnings[0].message


def test_a_medicine_already_taken_or_twice_on_one_prescription_is_a_duplicate():
    taken = safety.check([Candidate("Lisinopril 20 mg", 1)], allergies=[], current=[Candidate("Lisinopril")])
    twice = safety.check([Candidate("Ibuprofen", 1), Candidate("Ibuprofen 200 mg", 2)], allergies=[], current=[])

    assert kinds(taken) == [(1, WarningKind.DUPLICATE, WarningSeverity.CAUTION)]
    assert kinds(twice) == [(1, WarningKind.DUPLICATE, WarningSeverity.CAUTION)]
    assert "also on this prescription" in twice[0].message


# --- At prescribing --------------------------------------------------------------------------


def test_prescribing_amoxicillin_to_a_patient_allergic_to_penicillin_warns(prescriber, patient, chart):
    draft = prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN])

    warnings = prescription_check(actor=prescriber, prescription=draft)

    assert kinds(warnings) == [(1, WarningKind.ALLERGY, WarningSeverity.SERIOUS)]
    assert warnings[0].message == "Amoxicillin: the patient is allergic to Penicillin (reaction: Hives)."
    assert succeeded("prescriptions.prescription.check", actor=prescriber, patient=patient).get().reason == (
        "1 warning(s)"
    )


def test_signing_over_a_warning_without_a_reason_is_refused_with_the_warnings(prescriber, patient, chart, sign):
    draft = prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN])

    with pytest.raises(UnacknowledgedWarnings) as refused:
        sign(draft, "   ")

    assert (refused.value.status_code, refused.value.code) == (409, "prescription_warnings_unacknowledged")
    assert refused.value.warnings == [
        {
            "item_position": 1,
            "kind": "allergy",
            "severity": "serious",
            "message": "Amoxicillin: the patient is allergic to Penicillin (reaction: Hives).",
        }
    ]
    assert stored(draft).status == "draft"
    assert not PrescriptionWarning.objects.exists()


def test_an_override_stores_each_warning_with_the_reason_and_audits_it(prescriber, patient, chart, sign):
    MedicationFactory(patient=patient, recorded_by=prescriber, name="Warfarin", dose="3 mg")
    draft = prescription_create(actor=prescriber, patient=patient, items=[AMOXICILLIN, item("Ibuprofen 400 mg")])

    signed = sign(draft, "Tolerated amoxicillin in 2024; short course, INR checked.")

    rows = list(signed.warnings.order_by("item_position", "pk"))
    # The allergy; ibuprofen with warfarin and with the chart's lisinopril.
    assert [(row.item_position, row.kind) for row in rows] == [(1, "allergy"), (2, "interaction"), (2, "interaction")]
    assert {row.override_reason for row in rows} == {"Tolerated amoxicillin in 2024; short course, INR checked."}
    assert {row.overridden_by for row in rows} == {prescriber}
    events = succeeded("prescriptions.warning.override", actor=prescriber, patient=patient)
    assert events.count() == 3
    # The reason is health text: kept encrypted with each warning, named by it in the trail.
    assert sorted(event.reason for event in events) == sorted(
        f"{row.kind} ({row.severity}), item {row.item_position}; reason kept with warning {row.pk}" for row in rows
    )


def test_a_medication_on_the_chart_interacts(prescriber, patient, chart):
    MedicationFactory(patient=patient, recorded_by=prescriber, name="Warfarin", dose="3 mg")
    draft = prescription_create(actor=prescriber, patient=patient, items=[item("Ibuprofen 400 mg")])

    warnings = prescription_check(actor=prescriber, prescription=draft)

    # Warfarin (bleeding) and the chart's lisinopril (kidneys, blood pressure).
    assert sorted(kinds(warnings)) == [
        (1, WarningKind.INTERACTION, WarningSeverity.CAUTION),
        (1, WarningKind.INTERACTION, WarningSeverity.SERIOUS),
    ]
    assert any("Warfarin, which the patient already takes" in warning.message for warning in warnings)


def test_a_stopped_medication_or_an_inactive_allergy_does_not_warn(prescriber, patient):
    MedicationFactory(patient=patient, recorded_by=prescriber, name="Warfarin", status="stopped")
    AllergyFactory(patient=patient, recorded_by=prescriber, substance="Ibuprofen", status="resolved")
    draft = prescription_create(actor=prescriber, patient=patient, items=[item("Ibuprofen 400 mg")])

    assert prescription_check(actor=prescriber, prescription=draft) == []


def test_another_active_prescription_interacts(prescriber, patient, sign):
    sign(prescription_create(actor=prescriber, patient=patient, items=[item("Warfarin 3 mg")]))
    draft = prescription_create(actor=prescriber, patient=patient, items=[item("Naproxen 250 mg")])

    warnings = prescription_check(actor=prescriber, prescription=draft)

    assert kinds(warnings) == [(1, WarningKind.INTERACTION, WarningSeverity.SERIOUS)]
    assert "Naproxen 250 mg with Warfarin 3 mg" in warnings[0].message


def test_the_same_medicine_on_another_active_prescription_is_a_duplicate(prescriber, patient, signed):
    draft = prescription_create(actor=prescriber, patient=patient, items=[item("Atorvastatin 40 mg")])

    warnings = prescription_check(actor=prescriber, prescription=draft)

    assert kinds(warnings) == [(1, WarningKind.DUPLICATE, WarningSeverity.CAUTION)]


def test_the_prescription_being_replaced_does_not_count_against_its_revision(prescriber, signed, sign):
    revision = prescription_revise(actor=prescriber, prescription=signed)

    assert prescription_check(actor=prescriber, prescription=revision) == []
    assert stored(sign(revision)).status == "signed"


def test_a_cancelled_prescription_does_not_count(prescriber, patient, signed):
    prescription_cancel(actor=prescriber, prescription=signed, reason="Stopped.")
    draft = prescription_create(actor=prescriber, patient=patient, items=[item("Atorvastatin 40 mg")])

    assert prescription_check(actor=prescriber, prescription=draft) == []
