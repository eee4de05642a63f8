from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from accounts.management.commands.seed_demo import DEMO_CARE, DEMO_PASSWORD, DEMO_USERS
from accounts.mfa.testing import otp_force_login
from accounts.models import CareRelationship, PatientProfile, Role, User
from accounts.policy import chart_access


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def debug_on(settings):
    settings.DEBUG = True


@pytest.mark.django_db
def test_it_creates_the_demo_clinic(debug_on):
    output = seed()

    assert User.objects.count() == 7
    assert dict(User.objects.values_list("email", "role")) == {d.email: str(d.role) for d in DEMO_USERS}
    assert User.objects.filter(role=Role.DOCTOR).count() == 2
    assert User.objects.filter(role=Role.NURSE).count() == 1
    assert User.objects.filter(role=Role.PATIENT).count() == 3
    assert CareRelationship.objects.filter(ended_at__isnull=True).count() == len(DEMO_CARE) == 7
    assert "Telemed Demo Clinic" in output
    assert DEMO_PASSWORD in output


@pytest.mark.django_db
def test_every_demo_user_can_sign_in_with_the_published_password(debug_on):
    seed()

    for demo in DEMO_USERS:
        # django-axes needs the request to count failures (AUTHENTICATION_BACKENDS).
        user = authenticate(RequestFactory().post("/accounts/login/"), email=demo.email, password=DEMO_PASSWORD)
        assert user is not None, demo.email
        assert user.full_name == demo.full_name


@pytest.mark.django_db
def test_the_admin_can_use_the_django_admin(debug_on, client):
    seed()
    admin = User.objects.get(email="admin@demo.telemed.test")
    assert admin.is_staff and admin.is_superuser and admin.role == Role.ADMIN
    assert not User.objects.filter(is_superuser=True).exclude(pk=admin.pk).exists()

    otp_force_login(client, admin)
    assert client.get("/admin/accounts/user/").status_code == 200


@pytest.mark.django_db
def test_the_nurse_is_on_every_demo_patients_care_team_and_each_doctor_has_patients(debug_on):
    seed()

    nurse = User.objects.get(role=Role.NURSE)
    patients = set(User.objects.filter(role=Role.PATIENT))
    assert {c.patient for c in CareRelationship.objects.filter(provider=nurse)} == patients
    for doctor in User.objects.filter(role=Role.DOCTOR):
        assert CareRelationship.objects.filter(provider=doctor).exists(), doctor.email


@pytest.mark.django_db
def test_running_it_twice_changes_nothing(debug_on):
    seed()
    users_before = list(User.objects.order_by("pk").values())
    care_before = list(CareRelationship.objects.order_by("pk").values())
    profiles_before = list(PatientProfile.objects.order_by("pk").values())

    output = seed()

    assert list(User.objects.order_by("pk").values()) == users_before
    assert list(CareRelationship.objects.order_by("pk").values()) == care_before
    assert list(PatientProfile.objects.order_by("pk").values()) == profiles_before
    assert "0 users created" in output


@pytest.mark.django_db
def test_a_rerun_restores_a_tampered_demo_profile_but_keeps_a_changed_password(debug_on):
    seed()
    doctor = User.objects.get(email="dr.adams@demo.telemed.test")
    doctor.role = Role.PATIENT
    doctor.set_password("a-password-the-user-chose-77")
    doctor.save()

    seed()

    doctor.refresh_from_db()
    assert doctor.role == Role.DOCTOR
    assert doctor.check_password("a-password-the-user-chose-77")

    seed("--reset-passwords")

    doctor.refresh_from_db()
    assert doctor.check_password(DEMO_PASSWORD)


@pytest.mark.django_db
def test_it_refuses_to_run_when_debug_is_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG"):
        seed()

    assert User.objects.count() == 0


@pytest.mark.django_db
def test_force_runs_it_when_debug_is_off(settings):
    settings.DEBUG = False

    seed("--force")

    assert User.objects.count() == 7


@pytest.mark.django_db
def test_the_demo_password_passes_the_password_validators():
    # A validator added later must not make `make run` fail on a fresh machine.
    for demo in DEMO_USERS:
        validate_password(DEMO_PASSWORD, User(email=demo.email, full_name=demo.full_name))


@pytest.mark.django_db
def test_demo_patients_are_verified_have_a_record_number_and_may_open_their_own_chart(debug_on):
    seed()

    for patient in User.objects.filter(role=Role.PATIENT):
        assert patient.email_verified_at is not None
        assert patient.patient_profile.mrn.startswith("TM-")
        assert chart_access(patient, patient).allowed
