"""Shared personas (STYLE.md "Tests") and project-wide fixtures.

`patient` and `doctor` share a care relationship; `nurse` is on the patient's care team;
the outsiders have none with anyone, and must meet 404s and refused sockets. `patient` has a
verified email (an unverified patient sees no health data); `proxy` acts for `patient` with
every scope. Staff need an OTP-verified login for health data: see
`accounts.tests.factories.otp_force_login` / `otp_verified_user`.
"""

import pytest

from accounts.tests.factories import (
    AdminFactory,
    CareRelationshipFactory,
    DoctorFactory,
    NurseFactory,
    PatientFactory,
    ProxyGrantFactory,
    VerifiedPatientFactory,
)
from audit.testing import audit_trail_purge

pytest_plugins = ["telemed.testing.live", "telemed.testing.browser"]


@pytest.fixture
def patient(db):
    # Verified email: an unverified patient sees no health data (accounts.policy).
    return VerifiedPatientFactory(email="patient@example.test", full_name="Pat Patient")


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


@pytest.fixture
def proxy(db, patient):
    """A parent acting for `patient` with every scope (records, appointments, messaging)."""
    user = VerifiedPatientFactory(email="proxy@example.test", full_name="Paula Proxy")
    ProxyGrantFactory(patient=patient, proxy=user, scopes=["records.view", "appointments.manage", "messaging"])
    return user


def _commits_for_real(request) -> bool:
    if "transactional_db" in request.fixturenames or "live_asgi" in request.fixturenames:
        return True
    marker = request.node.get_closest_marker("django_db")
    return bool(marker and marker.kwargs.get("transaction"))


@pytest.fixture(autouse=True)
def _audit_trail_purged_before_flush(request):
    """Tests that really commit leave audit rows that the append-only guards keep Django's
    flush from removing; purge them (guards lifted) before the flush runs."""
    if not _commits_for_real(request):
        yield
        return
    if "transactional_db" in request.fixturenames:
        # Set it up as our dependency so that its flush is torn down after our purge.
        request.getfixturevalue("transactional_db")
    yield
    audit_trail_purge()
