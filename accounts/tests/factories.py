import datetime as dt

import factory
from django.utils import timezone

from accounts.models import (
    BREAKGLASS_DURATION,
    BreakGlassAccess,
    CareRelationship,
    PatientProfile,
    ProviderProfile,
    ProxyGrant,
    Role,
    Scope,
    User,
    mrn_generate,
)

TEST_PASSWORD = "correct-horse-battery-staple-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    role = Role.PATIENT
    is_active = True

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or TEST_PASSWORD)
        if create:
            obj.save(update_fields=["password"])


class PatientFactory(UserFactory):
    role = Role.PATIENT


class VerifiedPatientFactory(PatientFactory):
    """A patient who followed the verification link: only they see their own health data."""

    email_verified_at = factory.LazyFunction(timezone.now)


class DoctorFactory(UserFactory):
    role = Role.DOCTOR


class NurseFactory(UserFactory):
    role = Role.NURSE


class AdminFactory(UserFactory):
    role = Role.ADMIN
    is_staff = True


class CareRelationshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CareRelationship

    patient = factory.SubFactory(PatientFactory)
    provider = factory.SubFactory(DoctorFactory)
    kind = CareRelationship.Kind.ASSIGNMENT


class PatientProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientProfile

    user = factory.SubFactory(PatientFactory)
    mrn = factory.LazyFunction(mrn_generate)
    legal_name = factory.LazyAttribute(lambda o: o.user.full_name)


class ProviderProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderProfile

    user = factory.SubFactory(DoctorFactory)
    specialty = "General practice"


class ProxyGrantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProxyGrant

    patient = factory.SubFactory(PatientFactory)
    proxy = factory.SubFactory(PatientFactory)
    granted_by = factory.LazyAttribute(lambda o: o.patient)
    scopes = factory.LazyFunction(lambda: [Scope.RECORDS_VIEW.value])
    relationship = "parent"
    starts_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.starts_at + dt.timedelta(days=30))


class BreakGlassAccessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BreakGlassAccess

    clinician = factory.SubFactory(DoctorFactory)
    patient = factory.SubFactory(PatientFactory)
    reason = "Unconscious in the emergency department"
    opened_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.opened_at + BREAKGLASS_DURATION)


def otp_device_for(user: User):
    """A confirmed TOTP device of `user` (created once)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Test authenticator", confirmed=True)


def otp_force_login(client, user: User):
    """Sign `client` in as `user` with an OTP-verified session, as django-otp's login would."""
    from django_otp import DEVICE_ID_SESSION_KEY

    device = otp_device_for(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def otp_verified_user(user: User) -> User:
    """`user` as OTPMiddleware presents a verified login (for calling policy and services)."""
    device = otp_device_for(user)
    user.otp_device = device
    user.is_verified = lambda: True
    return user
