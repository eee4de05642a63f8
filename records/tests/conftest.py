"""Fixtures shared by the records tests: verified staff logins and a small chart.

The personas (`patient`, `doctor`, `nurse`, `proxy`, the outsiders) come from the root
conftest; staff are OTP-verified here because the policy shows them nothing otherwise.
"""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.utils import timezone

from accounts.tests.factories import otp_verified_user


@pytest.fixture
def clinician(doctor):
    """The patient's doctor, OTP-verified (may do everything clinical on the chart)."""
    return otp_verified_user(doctor)


@pytest.fixture
def nurse_verified(nurse):
    """The patient's care-team nurse, OTP-verified (reads, records vitals, acknowledges)."""
    return otp_verified_user(nurse)


@pytest.fixture
def chart(patient, clinician):
    """One entry of each structured section for `patient`, written through the services.

    `home_reading` is the patient's own (awaiting acknowledgement), `clinic_vitals` the
    doctor's; `note` is signed, `draft` is not.
    """
    from records.services import chart as services
    from records.services import notes

    signed = notes.note_create(
        actor=clinician,
        patient=patient,
        subjective="Headaches in the morning.",
        assessment="Hypertension, improving.",
        plan="Continue lisinopril 10 mg.",
    )
    return SimpleNamespace(
        patient=patient,
        allergy=services.allergy_record(
            actor=clinician, patient=patient, substance="Penicillin", reaction="Hives", severity="moderate"
        ),
        condition=services.condition_record(actor=clinician, patient=patient, description="Hypertension", code="i10"),
        medication=services.medication_record(
            actor=clinician, patient=patient, name="Lisinopril", dose="10 mg", frequency="Once daily"
        ),
        immunization=services.immunization_record(
            actor=clinician,
            patient=patient,
            vaccine="Influenza",
            administered_on=timezone.localdate() - dt.timedelta(days=30),
        ),
        home_reading=services.vitals_record(
            actor=patient, patient=patient, measurements={"systolic_mmhg": 142, "diastolic_mmhg": 91}
        ),
        clinic_vitals=services.vitals_record(
            actor=clinician,
            patient=patient,
            measurements={"weight_kg": "70", "height_cm": "175", "heart_rate_bpm": 68},
            measured_at=timezone.now() - dt.timedelta(days=1),
        ),
        note=notes.note_sign(signed, actor=clinician),
        draft=notes.note_create(actor=clinician, patient=patient, subjective="Follow-up planned."),
    )


@pytest.fixture
def run_together():
    """run_together([job, ...]) -> each job's result or exception, the jobs started in threads at
    the same instant, each on its own database connection (use with a transactional database)."""
    import threading

    from django.db import connection

    def run(jobs):
        barrier = threading.Barrier(len(jobs))
        results = [None] * len(jobs)

        def worker(index):
            try:
                barrier.wait(timeout=30)
                results[index] = jobs[index]()
            except Exception as exc:  # the test inspects what each thread met
                results[index] = exc
            finally:
                connection.close()

        threads = [threading.Thread(target=worker, args=(index,)) for index in range(len(jobs))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads), "a thread never finished"
        return results

    return run
