import datetime as dt

import factory
from django.utils import timezone

from accounts.models import ProviderProfile
from appointments.models import (
    Appointment,
    AppointmentType,
    AvailabilityException,
    Modality,
    WaitlistEntry,
    WaitlistOffer,
    WeeklyAvailability,
)


class AppointmentTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppointmentType

    name = factory.Sequence(lambda n: f"Video consultation {n}")
    modality = Modality.VIDEO
    duration_minutes = 20
    buffer_before_minutes = 0
    buffer_after_minutes = 10
    minimum_notice_minutes = 60
    booking_horizon_days = 60
    cancellation_window_hours = 24


class WeeklyAvailabilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WeeklyAvailability

    weekday = 0
    start_time = dt.time(9, 0)
    end_time = dt.time(12, 0)


class AvailabilityExceptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AvailabilityException

    kind = AvailabilityException.Kind.TIME_OFF


def working_week(provider, *, time_zone="Europe/Paris", start=dt.time(9, 0), end=dt.time(12, 0), weekdays=range(7)):
    """`provider` works every listed weekday from `start` to `end` in `time_zone`."""
    ProviderProfile.objects.update_or_create(user=provider, defaults={"time_zone": time_zone})
    for weekday in weekdays:
        WeeklyAvailabilityFactory(provider=provider, weekday=weekday, start_time=start, end_time=end)


class AppointmentFactory(factory.django.DjangoModelFactory):
    """A confirmed appointment written directly (no services): for tests that need one to exist."""

    class Meta:
        model = Appointment

    appointment_type = factory.SubFactory(AppointmentTypeFactory)
    starts_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=3))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + dt.timedelta(minutes=o.appointment_type.duration_minutes))
    blocked_from = factory.LazyAttribute(lambda o: o.starts_at)
    blocked_until = factory.LazyAttribute(lambda o: o.ends_at)
    status = Appointment.Status.CONFIRMED
    booked_by = factory.LazyAttribute(lambda o: o.patient)


class WaitlistEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WaitlistEntry

    appointment_type = factory.SubFactory(AppointmentTypeFactory)
    earliest_date = factory.LazyFunction(lambda: timezone.now().date())
    latest_date = factory.LazyFunction(lambda: timezone.now().date() + dt.timedelta(days=14))
    joined_by = factory.LazyAttribute(lambda o: o.patient)


class WaitlistOfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WaitlistOffer

    provider = factory.LazyAttribute(lambda o: o.entry.provider)
    appointment_type = factory.LazyAttribute(lambda o: o.entry.appointment_type)
    starts_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=2))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + dt.timedelta(minutes=o.appointment_type.duration_minutes))
    blocked_from = factory.LazyAttribute(lambda o: o.starts_at)
    blocked_until = factory.LazyAttribute(lambda o: o.ends_at)
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(hours=2))
