"""Shared personas (STYLE.md "Tests") and project-wide fixtures.

`patient` and `doctor` share a care relationship; `nurse` is on the patient's care team;
the outsiders have none with anyone, and must meet 404s and refused sockets.
"""

import pytest

from accounts.tests.factories import (
    AdminFactory,
    CareRelationshipFactory,
    DoctorFactory,
    NurseFactory,
    PatientFactory,
)

pytest_plugins = ["telemed.testing.live"]


@pytest.fixture
def patient(db):
    return PatientFactory(email="patient@example.test", full_name="Pat Patient")


@pytest.fixture
def doctor(db, patient):
    user = DoctorFactory(email="doctor@example.test", full_name="Dr Dana Doctor")
    CareRelationshipFactory(patient=patient, provider=user)
    return user


@pytest.fixture
def nurse(db, patient):
    user = NurseFactory(email="nurse@example.test", full_name="Nico Nurse")
    CareRelationshipFactory(patient=patient, provider=user)
    return user


@pytest.fixture
def admin_user(db):
    return AdminFactory(email="admin@example.test", full_name="Ada Admin")


@pytest.fixture
def admin(admin_user):
    return admin_user


@pytest.fixture
def outsider_patient(db):
    return PatientFactory(email="outsider.patient@example.test", full_name="Otto Outsider")


@pytest.fixture
def outsider_doctor(db):
    return DoctorFactory(email="outsider.doctor@example.test", full_name="Dr Olga Outsider")
